import { runStorms } from './sections/storms.js';
const cuts = (process.env.CUTS ?? '').split(',').filter(Boolean).map(Number);
const t0 = performance.now();
const r = await runStorms({ stormConsoles: Number(process.env.N ?? 1000), stormCutsMs: cuts } as never, (m) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1)}] ${m}`));
console.log(JSON.stringify(r));
process.exit(0);

/**
 * The memory picture: RSS against active consoles, ipmi-sol-bridge (one process) vs socat + ipmitool (three
 * processes per console), both axes logarithmic. A dependency-free SVG written next to latest.json.
 *
 *   npx tsx bench/plot.ts [bench/results/latest.json]   -> bench/results/memory.svg
 * (bench/run.ts also writes it after every run.)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface MemoryRow {
  active: number;
  oursRss: number;
  baselineRss: number;
  baselineMeasured: boolean;
}

const W = 720;
const H = 420;
const M = { left: 96, right: 190, top: 40, bottom: 56 };
const MiB = 1024 * 1024;

function log10(v: number): number {
  return Math.log(v) / Math.LN10;
}

/** rows: ours and the baseline at 1/100/1000 consoles; measured: the baseline's real points (1..20 consoles). */
export function memorySvg(rows: MemoryRow[], perConsoleBaselineMiB: number, measuredBaseline: { active: number; rssBytes: number }[] = []): string {
  const xs = rows.map((r) => r.active);
  const ys = rows.flatMap((r) => [r.oursRss / MiB, r.baselineRss / MiB]);
  const x0 = log10(Math.min(...xs));
  const x1 = log10(Math.max(...xs));
  const y0 = Math.floor(log10(Math.min(...ys)));
  const y1 = Math.ceil(log10(Math.max(...ys)));
  const px = (v: number) => M.left + ((log10(v) - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (mib: number) => H - M.bottom - ((log10(mib) - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const line = (pts: [number, number][], attrs: string) =>
    `<polyline fill="none" ${attrs} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`;
  const dots = (pts: [number, number][], color: string) =>
    pts.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${color}"/>`).join('');
  const ours = rows.map((r) => [r.active, r.oursRss / MiB] as [number, number]);
  const measured = (measuredBaseline.length > 0 ? measuredBaseline.map((m) => ({ active: m.active, baselineRss: m.rssBytes })) : rows.filter((r) => r.baselineMeasured))
    .map((r) => [r.active, r.baselineRss / MiB] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  const lastMeasured = measured.at(-1);
  const extrapolated = rows
    .filter((r) => !r.baselineMeasured && r.active > (lastMeasured?.[0] ?? 0))
    .map((r) => [r.active, r.baselineRss / MiB] as [number, number]);
  const grid: string[] = [];
  for (let e = y0; e <= y1; e++) {
    const v = 10 ** e;
    const label = `${v.toLocaleString('en-US')} MiB`;
    grid.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`);
    grid.push(`<text x="${M.left - 8}" y="${py(v) + 4}" text-anchor="end">${label}</text>`);
  }
  for (const v of xs) {
    grid.push(`<line y1="${M.top}" y2="${H - M.bottom}" x1="${px(v)}" x2="${px(v)}" stroke="#eee"/>`);
    grid.push(`<text x="${px(v)}" y="${H - M.bottom + 18}" text-anchor="middle">${v}</text>`);
  }
  const last = rows.at(-1)!;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${M.left}" y="22" font-size="15" font-weight="bold">Memory (RSS) against active consoles</text>
${grid.join('\n')}
<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">active consoles (log scale)</text>
${line(ours, 'stroke="#1b7f3b" stroke-width="2.5"')}${dots(ours, '#1b7f3b')}
${line(measured, 'stroke="#c0392b" stroke-width="2.5"')}${dots(measured, '#c0392b')}
${lastMeasured ? line([lastMeasured, ...extrapolated], 'stroke="#c0392b" stroke-width="2" stroke-dasharray="6 5"') : ''}
<text x="${W - M.right + 10}" y="${py(last.oursRss / MiB) + 4}" fill="#1b7f3b">ipmi-sol-bridge</text>
<text x="${W - M.right + 10}" y="${py(last.oursRss / MiB) + 19}" fill="#1b7f3b">${(last.oursRss / MiB).toFixed(0)} MiB, one process</text>
<text x="${W - M.right + 10}" y="${py(last.baselineRss / MiB) + 4}" fill="#c0392b">socat + ipmitool</text>
<text x="${W - M.right + 10}" y="${py(last.baselineRss / MiB) + 19}" fill="#c0392b">${perConsoleBaselineMiB.toFixed(1)} MiB a console</text>
<text x="${W - M.right + 10}" y="${py(last.baselineRss / MiB) + 34}" fill="#c0392b">(dots: ${measured.length} measured;</text>
<text x="${W - M.right + 10}" y="${py(last.baselineRss / MiB) + 49}" fill="#c0392b">dashed: extrapolated)</text>
</svg>
`;
}

interface LatestJson {
  fakeBmc: { memory: { baseline: { active: number; rssBytes: number }[] } };
  figures: {
    fakeBmc: { memory: { rows: MemoryRow[]; baselinePerConsole: { rssBytes: number } } };
  };
}

export function writeMemoryPlot(latestJsonPath: string): string {
  const r = JSON.parse(readFileSync(latestJsonPath, 'utf8')) as LatestJson;
  const mem = r.figures.fakeBmc.memory;
  const out = join(dirname(latestJsonPath), 'memory.svg');
  writeFileSync(out, memorySvg(mem.rows, mem.baselinePerConsole.rssBytes / MiB, r.fakeBmc.memory.baseline));
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = process.argv[2] ?? fileURLToPath(new URL('./results/latest.json', import.meta.url));
  process.stdout.write(`${writeMemoryPlot(path)}\n`);
}

/**
 * Fake BMCs for the benchmark in their own process (so they do not share a CPU queue or an RSS figure with the
 * bridge or the clients), plus a UDP echo socket to measure the loopback round trip between two Node processes.
 *
 * stdin, first line: JSON FarmProcessConfig (password included). stdout: one JSON line
 * `{ "ready": true, "farms": { name: ports[] }, "udpEchoPort": n }`. `exit` or stdin closing -> exit 0.
 * Storm commands, one JSON line answered each: `cut` / `restore` (every farm drops every datagram, or stops),
 * `counters <name>` (that farm's FakeBmcFarmCounters), `reset` (zero every farm's counters).
 */
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';
import { startFakeBmcFarm, type FakeBmcFarm, type FakeBmcSolHost } from '../fixtures/fake-bmc/index.js';
import { createBenchHost } from './lib/hosts.js';

export interface FarmProcessConfig {
  username: string;
  password: string;
  farms: { name: string; count: number; host: 'bench' | 'generator' | 'echo' }[];
}

function solHost(kind: 'bench' | 'generator' | 'echo'): FakeBmcSolHost {
  if (kind === 'bench') return { host: 'custom', connect: createBenchHost };
  return { host: kind };
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('farm-process: no configuration on stdin');
  const config = JSON.parse(first.value) as FarmProcessConfig;
  const users = [{ name: config.username, password: config.password, privilege: 4 }];
  const farms: FakeBmcFarm[] = [];
  const ports: Record<string, number[]> = {};
  const byName = new Map<string, FakeBmcFarm>();
  for (const spec of config.farms) {
    const farm = await startFakeBmcFarm({ count: spec.count, address: '127.0.0.1', basePort: 0, users, sol: solHost(spec.host) });
    farms.push(farm);
    byName.set(spec.name, farm);
    ports[spec.name] = farm.ports;
  }
  const echo = dgram.createSocket('udp4');
  echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
  process.stdout.write(JSON.stringify({ ready: true, farms: ports, udpEchoPort: echo.address().port }) + '\n');
  const shutdown = async (): Promise<void> => {
    echo.close();
    await Promise.all(farms.map((f) => f.close()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  for (;;) {
    const next = await lines.next();
    const [command, name] = next.done ? ['exit'] : next.value.trim().split(/\s+/);
    if (command === 'exit') break;
    if (command === 'cut' || command === 'restore' || command === 'reset') {
      for (const farm of farms) {
        if (command === 'cut') farm.cut();
        else if (command === 'restore') farm.restore();
        else farm.resetCounters();
      }
      process.stdout.write(JSON.stringify({ ok: true, at: Date.now() }) + '\n');
    } else if (command === 'counters') {
      process.stdout.write(JSON.stringify(byName.get(name ?? '')?.counters() ?? null) + '\n');
    }
  }
  await shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`farm-process: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

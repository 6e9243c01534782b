/**
 * The boot storm's fake BMCs in their own process (so the bridge's CPU can be read alone): groups of nodes whose
 * serial hosts print a boot log at line rate (fixtures/fake-bmc/boot-log.ts) when told to boot.
 *
 * stdin, first line: JSON StormFarmConfig (password included). stdout: `{ "ready": true, "groups": { name: ports[] } }`,
 * then one JSON line per command: `boot NAME` (every node of the group starts printing now; answers how many had
 * an active SOL host), `stats NAME` (the group's counters summed). `exit` or stdin closing -> exit 0.
 */
import { createInterface } from 'node:readline';
import { BOOT_LOG_CHUNK_BYTES, BootLogHost, FakeBmc, LinePacer, bootLogBytes } from '../fixtures/fake-bmc/index.js';

export interface StormFarmGroup {
  name: string;
  count: number;
  /** node i prints bootLogBytes(seedBase + i, bootBytes) */
  seedBase: number;
  bootBytes: number;
  /** hosts echo typed bytes as 0x80 | byte */
  echo: boolean;
}

export interface StormFarmConfig {
  username: string;
  password: string;
  baud: number;
  groups: StormFarmGroup[];
}

export interface StormFarmStats {
  nodes: number;
  hostsStarted: number;
  hostsDone: number;
  solPacketsSent: number;
  solRetransmits: number;
  solGiveUps: number;
  solBytesToConsole: number;
  solBytesToHost: number;
  txDatagrams: number;
  rxDatagrams: number;
  dropped: number;
}

interface Group {
  spec: StormFarmGroup;
  bmcs: FakeBmc[];
  hosts: (BootLogHost | undefined)[];
  started: BootLogHost[];
}

async function startGroup(spec: StormFarmGroup, config: StormFarmConfig, pacer: LinePacer): Promise<Group> {
  const users = [{ name: config.username, password: config.password, privilege: 4 }];
  const group: Group = { spec, bmcs: [], hosts: [], started: [] };
  const BATCH = 64;
  for (let i = 0; i < spec.count; i += BATCH) {
    const batch: FakeBmc[] = [];
    for (let j = i; j < Math.min(spec.count, i + BATCH); j++) {
      const connect = (): BootLogHost['duplex'] => {
        const host = new BootLogHost({ log: bootLogBytes(spec.seedBase + j, spec.bootBytes), pacer, echo: spec.echo });
        group.hosts[j] = host;
        return host.duplex;
      };
      const bmc = new FakeBmc({ address: '127.0.0.1', port: 0, name: `${spec.name}-${j}`, users, sol: { host: 'custom', connect } });
      group.bmcs.push(bmc);
      batch.push(bmc);
    }
    await Promise.all(batch.map((b) => b.listen()));
  }
  return group;
}

/**
 * Every host of the group starts now, each at its own phase within one chunk's line time (nodes of one power
 * event do not print in lockstep).
 */
function boot(group: Group, pacer: LinePacer): { started: number; notActive: number } {
  const now = performance.now();
  const chunkMs = (BOOT_LOG_CHUNK_BYTES * 1000) / pacer.bytesPerSecond;
  group.hosts.forEach((host, i) => {
    if (!host || host.duplex.destroyed) return;
    host.start(now + ((i * 7919) % 1000) / 1000 * chunkMs);
    group.started.push(host);
  });
  return { started: group.started.length, notActive: group.spec.count - group.started.length };
}

function stats(group: Group): StormFarmStats {
  const s: StormFarmStats = { nodes: group.bmcs.length, hostsStarted: group.started.length, hostsDone: group.started.filter((h) => h.done).length, solPacketsSent: 0, solRetransmits: 0, solGiveUps: 0, solBytesToConsole: 0, solBytesToHost: 0, txDatagrams: 0, rxDatagrams: 0, dropped: 0 };
  for (const b of group.bmcs) {
    s.solPacketsSent += b.stats.solPacketsSent;
    s.solRetransmits += b.stats.solRetransmits;
    s.solGiveUps += b.stats.solGiveUps;
    s.solBytesToConsole += b.stats.solBytesToConsole;
    s.solBytesToHost += b.stats.solBytesToHost;
    s.txDatagrams += b.stats.txDatagrams;
    s.rxDatagrams += b.stats.rxDatagrams;
    s.dropped += Object.values(b.stats.dropped).reduce((a, c) => a + c, 0);
  }
  return s;
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('storm-farm: no configuration on stdin');
  const config = JSON.parse(first.value) as StormFarmConfig;
  const pacer = new LinePacer(config.baud);
  const groups = new Map<string, Group>();
  for (const spec of config.groups) groups.set(spec.name, await startGroup(spec, config, pacer));
  process.stdout.write(JSON.stringify({ ready: true, groups: Object.fromEntries([...groups].map(([k, g]) => [k, g.bmcs.map((b) => b.port)])) }) + '\n');
  const shutdown = async (): Promise<void> => {
    pacer.stop();
    await Promise.all([...groups.values()].flatMap((g) => g.bmcs.map((b) => b.close())));
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  for (;;) {
    const next = await lines.next();
    if (next.done || next.value.trim() === 'exit') break;
    const [cmd, name] = next.value.trim().split(/\s+/);
    const group = groups.get(name ?? '');
    if (!group) process.stdout.write(JSON.stringify({ error: `no group ${name}` }) + '\n');
    else if (cmd === 'boot') process.stdout.write(JSON.stringify(boot(group, pacer)) + '\n');
    else if (cmd === 'stats') process.stdout.write(JSON.stringify(stats(group)) + '\n');
    else process.stdout.write(JSON.stringify({ error: `unknown command ${cmd}` }) + '\n');
  }
  await shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`storm-farm: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

/**
 * Boot storm (issue 12): N nodes boot at once, each printing its boot log at serial line rate (115200 baud,
 * paced by the fake BMC's host in a farm process of its own), through one bridge process with every console
 * captured (history + a log file per node) and one TCP client per console reading everything. Measured: the
 * bridge's CPU (alone in its process) per console, per MB and per SOL packet, byte-exactness of every client
 * stream and every log file, wall time against the line-rate time, keystroke echo on a few consoles while they
 * print, RSS per console; then the same boot through socat + ipmitool for a smaller number of consoles.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BOOT_LOG_CHUNK_BYTES, bootLogBytes } from '../../fixtures/fake-bmc/index.js';
import { freeTcpPort } from '../../spec/helpers/peers.js';
import { startSocatConsole, type SocatConsole } from '../lib/baseline.js';
import { startNodeChild, type NodeChild } from '../lib/node-child.js';
import { measureStormFloor, type StormFloor } from '../lib/storm-floor.js';
import { pool } from '../lib/pool.js';
import { cpuOf, cpuSeconds, cpuSplit, processTree, pssBytes, rssBytes, sampleTree } from '../lib/proc.js';
import { summarize, type Summary } from '../lib/stats.js';
import { StormClient, splitEchoes, type StormCheck } from '../lib/storm-client.js';
import { sleep } from '../lib/trials.js';
import type { BootStormConfig, Log } from '../lib/config.js';
import type { StormBridgeConfig, StormBridgeMetrics } from '../storm-bridge.js';
import type { StormFarmConfig, StormFarmStats } from '../storm-farm.js';

/** Seeds of the baseline's nodes start here (ours: 0..N-1), so no two nodes print the same log. */
const BASELINE_SEED_BASE = 100_000;
/** A keystroke whose echo takes longer counts as a failure (echoes queue behind a late console's backlog). */
const ECHO_TIMEOUT_MS = 30_000;
/** After the storm, how long log files may take to reach their full length (writes are asynchronous). */
const LOG_FILE_WAIT_MS = 30_000;
/** RSS samples during a storm. */
const RSS_SAMPLE_MS = 250;
/** A storm may take this much longer than its line-rate time before clients give up. */
const STORM_GRACE = (idealMs: number): number => idealMs * 3 + 60_000;

export interface StormMemory {
  /** bridge process before any console was started (ours only) */
  beforeConsolesBytes?: number;
  /** all consoles open (and, for ours, captured, after a full GC), before the boot */
  beforeStormBytes: number;
  peakBytes: number;
  meanBytes: number;
  /** PSS at the peak-time sample closest to mid-storm */
  midStormPssBytes: number;
  /** ours: (peak - before consoles) / N; baseline: peak summed RSS / N */
  perConsoleBytes: number;
  /** ours: (all consoles open and captured, before the boot - before consoles) / consoles */
  openPerConsoleBytes?: number;
}

export interface StormSide {
  consoles: number;
  bootBytes: number;
  totalBytes: number;
  /** client streams equal to their node's boot log, byte for byte */
  exact: number;
  notExact: (StormCheck & { console: number })[];
  /** boot command -> the last console's last byte (or the deadline) */
  wallS: number;
  /** bootBytes at line rate, plus the largest start phase */
  idealS: number;
  completeS: Summary;
  cpuS: number;
  cpuSPerConsole: number;
  cpuSPerMB: number;
  /** SOL data packets the BMCs sent these consoles (farm counters; retransmissions included) */
  packets: number;
  bmcRetransmits: number;
  bmcGiveUps: number;
  bytesPerPacket: number;
  cpuUsPerPacket: number;
  farmCpuS: number;
  /** CPU of the bench process itself (the clients and their byte checks) over the storm */
  clientsCpuS: number;
  /** 1-minute load average at the boot and at the end: other work on the machine skews every figure */
  loadAvg1: [number, number];
  memory: StormMemory;
}

export interface BootStormResults {
  config: BootStormConfig;
  ours: StormSide & {
    /** summed over the bridge's consoles: SOL packets from the BMC (data + ACKs), sent, retransmitted */
    bridge: {
      packetsReceived: number;
      packetsSent: number;
      retransmits: number;
      reconnects: number;
      logBytesDropped: number;
      viewersDropped: number;
      states: Record<string, number>;
      /** the bridge's CPU seconds over the storm, user and system apart */
      cpuUserS: number;
      cpuSystemS: number;
      /** process.memoryUsage() of the bridge right after the storm */
      heapUsedBytes: number;
      arrayBuffersBytes: number;
      /** V8's committed young generation and old space at their peaks during the storm */
      youngPeakBytes: number;
      oldPeakBytes: number;
      /** garbage collections during the storm: scavenges and mark-compacts, with their summed pauses */
      gc: { minor: number; minorMs: number; major: number; majorMs: number };
    };
    logs: { checked: number; exact: number; notExact: string[] };
    /** keystrokes on consoles that print their boot log, and on as many quiet consoles of the same bridge */
    echo: { printing: EchoResult; quiet: EchoResult };
  };
  baseline?: StormSide;
  /** Node's floor for the same I/O at the same console count (bench/lib/storm-floor.ts), measured after both sides */
  floor?: StormFloor;
}

export interface EchoResult {
  consoles: number;
  how: string;
  samples: number;
  failures: number;
  ms: Summary;
}

interface FarmReady {
  groups: Record<string, number[]>;
}
interface BridgeReady {
  rssBeforeConsoles: number;
  consoles: { nodeId: string; port: number }[];
}

class RssSampler {
  private readonly values: number[] = [];
  private readonly timer: NodeJS.Timeout;
  constructor(read: () => number, everyMs: number) {
    this.timer = setInterval(() => this.values.push(read()), everyMs);
  }
  stop(): { peak: number; mean: number } {
    clearInterval(this.timer);
    const v = this.values.length ? this.values : [0];
    return { peak: Math.max(...v), mean: v.reduce((a, b) => a + b, 0) / v.length };
  }
}

/** Boot every node of `group` now; resolve when every client has its whole log (or the deadline passed). */
interface StormRun {
  wallS: number;
  idealS: number;
  clientsCpuS: number;
  loadAvg1: [number, number];
}

async function storm(farm: NodeChild<FarmReady>, group: string, clients: StormClient[], cfg: BootStormConfig, log: Log): Promise<StormRun> {
  const idealMs = (cfg.bootBytes / (cfg.baud / 10)) * 1000;
  for (const c of clients) c.arm();
  const load0 = loadavg()[0]!;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const booted = await farm.request<{ started: number; notActive: number }>(`boot ${group}`);
  if (booted.notActive > 0) log(`boot storm: ${booted.notActive} ${group} nodes had no active SOL host at boot`);
  const deadline = t0 + STORM_GRACE(idealMs);
  await Promise.all(clients.map((c) => c.whenDone(deadline)));
  // the largest start phase is one chunk's line time (storm-farm.ts)
  const cpu = process.cpuUsage(cpu0);
  return {
    wallS: (performance.now() - t0) / 1000,
    idealS: (idealMs + (BOOT_LOG_CHUNK_BYTES * 1000) / (cfg.baud / 10)) / 1000,
    clientsCpuS: (cpu.user + cpu.system) / 1e6,
    loadAvg1: [load0, loadavg()[0]!],
  };
}

function side(cfg: BootStormConfig, clients: StormClient[], r: StormRun, cpuS: number, farmCpuS: number, fs0: StormFarmStats, fs1: StormFarmStats, memory: StormMemory): StormSide {
  const checks = clients.map((c) => c.check());
  const total = clients.length * cfg.bootBytes;
  const packets = fs1.solPacketsSent - fs0.solPacketsSent + (fs1.solRetransmits - fs0.solRetransmits);
  return {
    consoles: clients.length,
    bootBytes: cfg.bootBytes,
    totalBytes: total,
    exact: checks.filter((c) => c.exact).length,
    notExact: checks.map((c, i) => ({ ...c, console: i })).filter((c) => !c.exact).slice(0, 10),
    wallS: r.wallS,
    idealS: r.idealS,
    completeS: summarize(checks.filter((c) => c.completeMs !== undefined).map((c) => c.completeMs! / 1000)),
    cpuS,
    cpuSPerConsole: cpuS / clients.length,
    cpuSPerMB: cpuS / (total / 1e6),
    packets,
    bmcRetransmits: fs1.solRetransmits - fs0.solRetransmits,
    bmcGiveUps: fs1.solGiveUps - fs0.solGiveUps,
    bytesPerPacket: (fs1.solBytesToConsole - fs0.solBytesToConsole) / Math.max(1, fs1.solPacketsSent - fs0.solPacketsSent),
    cpuUsPerPacket: (cpuS * 1e6) / Math.max(1, packets),
    farmCpuS,
    clientsCpuS: r.clientsCpuS,
    loadAvg1: r.loadAvg1,
    memory,
  };
}

/** Type on the echo consoles until `stop()` says the storm is over (one key each at least); echo round trips in ms. */
function typeDuringStorm(clients: StormClient[], intervalMs: number, stop: () => boolean): Promise<{ ms: number[]; failures: number }> {
  const ms: number[] = [];
  let failures = 0;
  return Promise.all(
    clients.map(async (c, i) => {
      await sleep(((i + 1) * intervalMs) / (clients.length + 1));
      let k = 0;
      do {
        try {
          ms.push(await c.echo(String.fromCharCode(0x61 + (k++ % 26)), ECHO_TIMEOUT_MS));
        } catch {
          failures++;
        }
        await sleep(intervalMs * (0.5 + Math.random()));
      } while (!stop() && !c.closed);
    }),
  ).then(() => ({ ms, failures }));
}

/** Compare every node's log file with its boot log (echo bytes taken out); waits for the writes to land. */
async function checkLogs(dir: string, nodeIds: string[], expected: (i: number) => Buffer): Promise<{ checked: number; exact: number; notExact: string[] }> {
  const notExact: string[] = [];
  let exact = 0;
  const deadline = performance.now() + LOG_FILE_WAIT_MS;
  for (let i = 0; i < nodeIds.length; i++) {
    const want = expected(i);
    for (;;) {
      let got: Buffer;
      try {
        got = splitEchoes(readFileSync(join(dir, `${nodeIds[i]}.log`)), () => undefined);
      } catch {
        got = Buffer.alloc(0);
      }
      if (got.equals(want)) {
        exact++;
        break;
      }
      if (got.length > want.length || performance.now() > deadline) {
        if (notExact.length < 10) notExact.push(`${nodeIds[i]}: ${got.length} of ${want.length} bytes`);
        break;
      }
      await sleep(100);
    }
  }
  return { checked: nodeIds.length, exact, notExact };
}

async function waitActive(bridge: NodeChild<BridgeReady>, n: number, timeoutMs: number): Promise<StormBridgeMetrics> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const m = await bridge.request<StormBridgeMetrics>('metrics');
    if ((m.states.active ?? 0) >= n || performance.now() > end) return m;
    await sleep(200);
  }
}

async function runOurs(cfg: BootStormConfig, farm: NodeChild<FarmReady>, dir: string, log: Log, cleanups: (() => Promise<void>)[]): Promise<BootStormResults['ours']> {
  const logDir = join(dir, 'logs');
  const ports = farm.ready.groups.ours!;
  const quietPorts = farm.ready.groups.quiet ?? [];
  const bridge = await startNodeChild<BridgeReady>(
    'storm-bridge',
    {
      nodes: [...ports.map((port, i) => ({ nodeId: `node-${i}`, host: '127.0.0.1', port })), ...quietPorts.map((port, i) => ({ nodeId: `quiet-${i}`, host: '127.0.0.1', port }))],
      username: 'admin',
      password: 'password',
      cipherSuite: cfg.cipherSuite,
      logDir,
      ...(cfg.sharedTransport ? { sharedTransport: true } : {}),
      ...(cfg.logFlushMs !== undefined ? { logFlushMs: cfg.logFlushMs } : {}),
    } satisfies StormBridgeConfig,
    { readyTimeoutMs: 120_000, nodeArgs: ['--expose-gc', ...(cfg.semiSpaceMiB !== undefined ? [`--max-semi-space-size=${cfg.semiSpaceMiB}`] : [])] },
  );
  cleanups.unshift(() => bridge.stop());
  const before = await waitActive(bridge, ports.length + quietPorts.length, 60_000);
  log(`boot storm: bridge pid ${bridge.pid}, ${before.states.active ?? 0}/${ports.length + quietPorts.length} consoles active and captured (${quietPorts.length} quiet)`);
  const logs = ports.map((_, i) => bootLogBytes(i, cfg.bootBytes));
  const all = await pool(bridge.ready.consoles, 100, (c, i) => StormClient.connect(c.port, logs[i] ?? Buffer.alloc(0)));
  cleanups.unshift(async () => void (await Promise.all(all.map((c) => c.close()))));
  const clients = all.slice(0, ports.length);
  const quiet = all.slice(ports.length);
  for (const c of quiet) c.arm();
  await sleep(500);
  const rssBeforeStorm = (await bridge.request<{ rss: number }>('gc')).rss;
  const sampler = new RssSampler(() => rssBytes(bridge.pid), RSS_SAMPLE_MS);
  const f0 = await farm.request<StormFarmStats>('stats ours');
  const m0 = await bridge.request<StormBridgeMetrics>('metrics');
  const cpu0 = cpuSplit(bridge.pid);
  const farm0 = cpuSeconds(farm.pid);
  let over = false;
  let midPss = 0;
  const mid = setTimeout(() => (midPss = pssBytes(bridge.pid)), (cfg.bootBytes / (cfg.baud / 10)) * 500);
  const typing = typeDuringStorm(clients.slice(0, cfg.echoConsoles), cfg.echoIntervalMs, () => over);
  const typingQuiet = typeDuringStorm(quiet, cfg.echoIntervalMs, () => over);
  const r = await storm(farm, 'ours', clients, cfg, log);
  over = true;
  const cpu1 = cpuSplit(bridge.pid);
  const cpuS = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
  const farmCpuS = cpuSeconds(farm.pid) - farm0;
  clearTimeout(mid);
  const rss = sampler.stop();
  const echo = await typing;
  const echoQuiet = await typingQuiet;
  const f1 = await farm.request<StormFarmStats>('stats ours');
  const m1 = await bridge.request<StormBridgeMetrics>('metrics');
  const memory: StormMemory = {
    beforeConsolesBytes: bridge.ready.rssBeforeConsoles,
    beforeStormBytes: rssBeforeStorm,
    peakBytes: rss.peak,
    meanBytes: rss.mean,
    midStormPssBytes: midPss,
    perConsoleBytes: (rss.peak - bridge.ready.rssBeforeConsoles) / ports.length,
    openPerConsoleBytes: (rssBeforeStorm - bridge.ready.rssBeforeConsoles) / (ports.length + quietPorts.length),
  };
  const s = side(cfg, clients, r, cpuS, farmCpuS, f0, f1, memory);
  const logCheck = await checkLogs(logDir, bridge.ready.consoles.slice(0, ports.length).map((c) => c.nodeId), (i) => logs[i]!);
  log(`boot storm (ours): ${s.exact}/${s.consoles} exact, logs ${logCheck.exact}/${logCheck.checked} exact, ${s.wallS.toFixed(1)} s (line rate ${s.idealS.toFixed(1)} s), bridge CPU ${cpuS.toFixed(2)} s = ${s.cpuSPerMB.toFixed(3)} s/MB, ${s.cpuUsPerPacket.toFixed(1)} us/packet (${s.packets} packets of ${s.bytesPerPacket.toFixed(0)} B), echo p50/p99 ${summarize(echo.ms).p50.toFixed(2)}/${summarize(echo.ms).p99.toFixed(2)} ms printing, ${summarize(echoQuiet.ms).p50.toFixed(2)}/${summarize(echoQuiet.ms).p99.toFixed(2)} ms quiet`);
  return {
    ...s,
    bridge: {
      packetsReceived: m1.packetsReceived - m0.packetsReceived,
      packetsSent: m1.packetsSent - m0.packetsSent,
      retransmits: m1.retransmits - m0.retransmits,
      reconnects: m1.reconnects - m0.reconnects,
      logBytesDropped: m1.logBytesDropped,
      viewersDropped: m1.viewersDropped,
      states: m1.states,
      cpuUserS: cpu1.user - cpu0.user,
      cpuSystemS: cpu1.system - cpu0.system,
      heapUsedBytes: m1.heapUsed,
      arrayBuffersBytes: m1.arrayBuffers,
      youngPeakBytes: m1.youngPeakBytes,
      oldPeakBytes: m1.oldPeakBytes,
      gc: {
        minor: m1.gc.minor - m0.gc.minor,
        minorMs: m1.gc.minorMs - m0.gc.minorMs,
        major: m1.gc.major - m0.gc.major,
        majorMs: m1.gc.majorMs - m0.gc.majorMs,
      },
    },
    logs: logCheck,
    echo: {
      printing: echoResult(echo, Math.min(cfg.echoConsoles, clients.length), 'of the storm (the first ones): their hosts echo typed bytes (as 0x80|byte) while printing their logs', cfg),
      quiet: echoResult(echoQuiet, quiet.length, 'more in the same bridge, captured too, whose hosts print nothing and echo', cfg),
    },
  };
}

function echoResult(r: { ms: number[]; failures: number }, consoles: number, what: string, cfg: BootStormConfig): EchoResult {
  const how = `${consoles} consoles ${what}; one key per ${cfg.echoIntervalMs / 2}-${(cfg.echoIntervalMs * 3) / 2} ms on each, from boot until every log is complete`;
  return { consoles, how, samples: r.ms.length, failures: r.failures, ms: summarize(r.ms) };
}

async function runBaseline(cfg: BootStormConfig, farm: NodeChild<FarmReady>, dir: string, log: Log, cleanups: (() => Promise<void>)[]): Promise<StormSide> {
  const pwFile = join(dir, 'password');
  writeFileSync(pwFile, 'password\n', { mode: 0o600 });
  const ports = farm.ready.groups.base!;
  const socats: SocatConsole[] = [];
  for (const bmcPort of ports) {
    const s = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort, pwFile, user: 'admin', cipherSuite: cfg.cipherSuite });
    socats.push(s);
    cleanups.unshift(() => s.stop());
  }
  const logs = ports.map((_, i) => bootLogBytes(BASELINE_SEED_BASE + i, cfg.bootBytes));
  const clients = await pool(socats, 20, (s, i) => StormClient.connect(s.port, logs[i]!));
  cleanups.unshift(async () => void (await Promise.all(clients.map((c) => c.close()))));
  // ipmitool prints its banner once SOL is up: then the console is live
  const end = performance.now() + 60_000;
  while (clients.some((c) => !/SOL Session operational/.test(c.preText)) && performance.now() < end) await sleep(100);
  const live = clients.filter((c) => /SOL Session operational/.test(c.preText)).length;
  if (live < clients.length) log(`boot storm (baseline): only ${live}/${clients.length} ipmitool sessions came up`);
  await sleep(300);
  const roots = socats.map((s) => s.pid);
  const pids = [...new Set(roots.flatMap((p) => processTree(p)))];
  const rssBeforeStorm = sampleTree(roots).rss;
  const sampler = new RssSampler(() => sampleTree(roots).rss, 1000);
  let midPss = 0;
  const mid = setTimeout(() => (midPss = sampleTree(roots).pss), (cfg.bootBytes / (cfg.baud / 10)) * 500);
  const f0 = await farm.request<StormFarmStats>('stats base');
  const cpu0 = cpuOf(pids);
  const farm0 = cpuSeconds(farm.pid);
  const r = await storm(farm, 'base', clients, cfg, log);
  const cpuS = cpuOf(pids) - cpu0;
  const farmCpuS = cpuSeconds(farm.pid) - farm0;
  clearTimeout(mid);
  const rss = sampler.stop();
  const f1 = await farm.request<StormFarmStats>('stats base');
  const memory: StormMemory = { beforeStormBytes: rssBeforeStorm, peakBytes: rss.peak, meanBytes: rss.mean, midStormPssBytes: midPss, perConsoleBytes: rss.peak / ports.length };
  const s = side(cfg, clients, r, cpuS, farmCpuS, f0, f1, memory);
  log(`boot storm (socat+ipmitool): ${s.exact}/${s.consoles} exact, ${s.wallS.toFixed(1)} s, CPU ${cpuS.toFixed(2)} s = ${s.cpuSPerMB.toFixed(3)} s/MB, ${s.cpuUsPerPacket.toFixed(1)} us/packet, ${(s.memory.perConsoleBytes / 2 ** 20).toFixed(1)} MiB per console (${pids.length} processes)`);
  return s;
}

export async function runBootStorm(config: { storm: BootStormConfig }, log: Log): Promise<BootStormResults> {
  const cfg = config.storm;
  const dir = mkdtempSync(join(tmpdir(), 'ipmi-boot-storm-'));
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const groups: StormFarmConfig['groups'] = [{ name: 'ours', count: cfg.consoles, seedBase: 0, bootBytes: cfg.bootBytes, echo: true }];
    if (cfg.echoConsoles > 0) groups.push({ name: 'quiet', count: cfg.echoConsoles, seedBase: 0, bootBytes: 0, echo: true });
    if (cfg.baselineConsoles > 0) groups.push({ name: 'base', count: cfg.baselineConsoles, seedBase: BASELINE_SEED_BASE, bootBytes: cfg.bootBytes, echo: false });
    const farm = await startNodeChild<FarmReady>('storm-farm', { username: 'admin', password: 'password', baud: cfg.baud, groups } satisfies StormFarmConfig, { readyTimeoutMs: 120_000 });
    cleanups.unshift(() => farm.stop());
    log(`boot storm: farm pid ${farm.pid}: ${groups.map((g) => `${g.count} ${g.name}`).join(', ')}; ${cfg.bootBytes} B per node at ${cfg.baud} baud`);
    const ours = await runOurs(cfg, farm, dir, log, cleanups);
    while (cleanups.length > 1) await cleanups.shift()!().catch(() => undefined); // bridge and clients gone, farm stays
    const baseline = cfg.baselineConsoles > 0 ? await runBaseline(cfg, farm, dir, log, cleanups) : undefined;
    while (cleanups.length > 0) await cleanups.shift()!().catch(() => undefined); // nothing else running during the floor
    const floor = cfg.floorSeconds > 0 ? await measureStormFloor(cfg.consoles, cfg.floorSeconds, log) : undefined;
    return { config: cfg, ours, ...(baseline ? { baseline } : {}), ...(floor ? { floor } : {}) };
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

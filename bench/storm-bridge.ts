/**
 * The bridge under the boot storm, alone in its own process: a ConsoleManager with every console captured
 * (history + a log file per node in `logDir`), so that its CPU and RSS can be read from /proc.
 *
 * stdin, first line: JSON StormBridgeConfig. stdout: `{ "ready": true, "rssBeforeConsoles": n, "consoles": [...] }`
 * (RSS read before any console was started), then per command: `metrics` -> StormBridgeMetrics; `exit` (or stdin
 * closing) -> stop all, exit 0; `gc` -> a full GC (when run with --expose-gc), then `{ rss }`.
 *
 * Where the memory goes: the V8 heap's young generation (new space + new large objects) and old space are sampled
 * every HEAP_SAMPLE_MS; each `metrics` answer gives their peaks since the previous one, and the GCs so far by kind.
 */
import { constants as perfConstants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import { ConsoleManager, UdpTransport, type IpmiConsoleOptions } from '../lib/index.js';

export interface StormBridgeConfig {
  nodes: { nodeId: string; host: string; port: number }[];
  username: string;
  password: string;
  cipherSuite: number;
  logDir: string;
  /** one UDP socket for every session instead of one per session (the default) */
  sharedTransport?: boolean;
  /** the console logs' flushMs (coalesced log writes); unset: the library's default */
  logFlushMs?: number;
}

export interface StormBridgeMetrics {
  states: Record<string, number>;
  /** summed over every console: SOL packets from the BMC (data and ACKs), packets we sent, our retransmits */
  packetsReceived: number;
  packetsSent: number;
  retransmits: number;
  bytesFromConsole: number;
  logBytesDropped: number;
  viewersDropped: number;
  reconnects: number;
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  /** committed V8 young generation (new space + new large object space), peak since the previous `metrics` */
  youngPeakBytes: number;
  /** committed V8 old space (old, code and large object spaces), peak since the previous `metrics` */
  oldPeakBytes: number;
  /** garbage collections since the start: scavenges and mark-compacts, with their summed pause */
  gc: { minor: number; minorMs: number; major: number; majorMs: number };
}

/** How often the heap spaces are sampled for their peaks. */
const HEAP_SAMPLE_MS = 50;
const heapPeaks = { young: 0, old: 0 };
const gcs = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };

function sampleHeap(): void {
  let young = 0;
  let old = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') young += s.space_size;
    else if (s.space_name === 'old_space' || s.space_name === 'code_space' || s.space_name === 'large_object_space') old += s.space_size;
  }
  heapPeaks.young = Math.max(heapPeaks.young, young);
  heapPeaks.old = Math.max(heapPeaks.old, old);
}

function watchHeap(): void {
  setInterval(sampleHeap, HEAP_SAMPLE_MS).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
        gcs.minor++;
        gcs.minorMs += e.duration;
      } else if (e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) {
        gcs.major++;
        gcs.majorMs += e.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('storm-bridge: no configuration on stdin');
  const config = JSON.parse(first.value) as StormBridgeConfig;
  const rssBeforeConsoles = process.memoryUsage().rss;
  watchHeap();
  const transport = config.sharedTransport ? await UdpTransport.create({ bindAddress: '127.0.0.1', recvBufferSize: 4 << 20 }) : undefined;
  const manager = new ConsoleManager<IpmiConsoleOptions>({
    address: '127.0.0.1',
    portRange: '20000:30000',
    idleTimeoutMs: 600_000,
    capture: true,
    logDir: config.logDir,
    ...(config.logFlushMs !== undefined ? { log: { flushMs: config.logFlushMs } } : {}),
  });
  manager.on('console-event', () => undefined); // errors are counted in metrics, never thrown
  const consoles: { nodeId: string; port: number }[] = [];
  const BATCH = 100;
  for (let i = 0; i < config.nodes.length; i += BATCH) {
    const batch = config.nodes.slice(i, i + BATCH);
    const infos = await Promise.all(
      batch.map((node) =>
        manager.startConsole(node.nodeId, {
          host: node.host,
          port: node.port,
          username: config.username,
          password: config.password,
          cipherSuite: config.cipherSuite,
          ...(transport ? { transport } : {}),
        }),
      ),
    );
    batch.forEach((node, j) => consoles.push({ nodeId: node.nodeId, port: Number(new URL(infos[j]!.url).port) }));
  }
  process.stdout.write(JSON.stringify({ ready: true, rssBeforeConsoles, consoles }) + '\n');

  const shutdown = async (): Promise<void> => {
    await manager.stopAll();
    await transport?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  for (;;) {
    const next = await lines.next();
    if (next.done || next.value.trim() === 'exit') break;
    if (next.value.trim() === 'metrics') process.stdout.write(JSON.stringify(metrics(manager)) + '\n');
    if (next.value.trim() === 'gc') {
      // started with --expose-gc by the bench: RSS of live data, not of garbage not yet collected
      (globalThis as { gc?: () => void }).gc?.();
      process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss }) + '\n');
    }
  }
  await shutdown();
}

function metrics(manager: ConsoleManager<IpmiConsoleOptions>): StormBridgeMetrics {
  const mem = process.memoryUsage();
  sampleHeap();
  const m: StormBridgeMetrics = {
    states: {},
    packetsReceived: 0,
    packetsSent: 0,
    retransmits: 0,
    bytesFromConsole: 0,
    logBytesDropped: 0,
    viewersDropped: 0,
    reconnects: 0,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    arrayBuffers: mem.arrayBuffers,
    youngPeakBytes: heapPeaks.young,
    oldPeakBytes: heapPeaks.old,
    gc: { ...gcs },
  };
  heapPeaks.young = 0;
  heapPeaks.old = 0;
  for (const s of manager.metricsSamples()) {
    m.states[s.state] = (m.states[s.state] ?? 0) + 1;
    m.packetsReceived += s.packetsReceived ?? 0;
    m.packetsSent += s.packetsSent ?? 0;
    m.retransmits += s.retransmits ?? 0;
    m.bytesFromConsole += s.bytesFromConsole;
    m.logBytesDropped += s.logBytesDropped ?? 0;
    m.viewersDropped += s.viewersDropped;
    m.reconnects += s.reconnects;
  }
  return m;
}

main().catch((error: unknown) => {
  process.stderr.write(`storm-bridge: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

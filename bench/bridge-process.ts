/**
 * The bridge under test, alone in its own process so that its RSS and CPU can be read from /proc.
 *
 * stdin, first line: JSON BridgeProcessConfig (the BMC password travels here: never in argv or the environment).
 * stdout: one JSON line `{ "ready": true, "consoles": [{ "nodeId", "url", "port" }] }`, then one JSON line per
 * later stdin command: `metrics` -> { states, activations, ... }; `exit` (or stdin closing) -> stop all, exit 0.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { ConsoleManager, UdpTransport, type IpmiConsoleOptions } from '../lib/index.js';

export interface BridgeProcessConfig {
  nodes: { nodeId: string; host: string; port: number }[];
  username: string;
  password: string;
  cipherSuite: number;
  keepaliveMs?: number;
  /** one UDP socket for every session (a conductor's choice) instead of one per session */
  sharedTransport?: boolean;
  portRange?: string;
  address?: string;
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error('bridge-process: no configuration on stdin');
  const config = JSON.parse(first.value) as BridgeProcessConfig;
  const transport = config.sharedTransport ? await UdpTransport.create({ bindAddress: '127.0.0.1', recvBufferSize: 4 << 20 }) : undefined;
  const manager = new ConsoleManager<IpmiConsoleOptions>({
    address: config.address ?? '127.0.0.1',
    portRange: config.portRange ?? '20000:30000',
    idleTimeoutMs: 600_000, // socat -T600
  });
  // Errors are counted in metrics, never thrown; 'reconnect' events (retries scheduled) are counted per node.
  const retries = new Map<string, number>();
  /** error codes and client disconnect reasons seen, with counts */
  const events: Record<string, number> = {};
  manager.on('console-event', (event) => {
    if (event.event === 'reconnect') retries.set(event.nodeId, (retries.get(event.nodeId) ?? 0) + 1);
    const key = event.event === 'error' ? `error ${event.error.code}` : event.event === 'client-disconnected' ? `client-disconnected ${event.reason}` : undefined;
    if (key !== undefined) events[key] = (events[key] ?? 0) + 1;
  });
  // Event-loop delay between two `metrics` commands (each one reads and resets it).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const consoles: { nodeId: string; url: string; port: number }[] = [];
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
          ...(config.keepaliveMs === undefined ? {} : { keepaliveMs: config.keepaliveMs }),
          ...(transport ? { transport } : {}),
        }),
      ),
    );
    batch.forEach((node, j) => {
      const url = infos[j]!.url;
      consoles.push({ nodeId: node.nodeId, url, port: Number(new URL(url).port) });
    });
  }
  process.stdout.write(JSON.stringify({ ready: true, consoles }) + '\n');

  const shutdown = async (): Promise<void> => {
    await manager.stopAll();
    await transport?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  for (;;) {
    const next = await lines.next();
    if (next.done || next.value.trim() === 'exit') break;
    if (next.value.trim() === 'metrics') {
      const states: Record<string, number> = {};
      let activations = 0;
      let reconnects = 0;
      let steals = 0;
      let consoleLosses = 0;
      for (const entry of manager.list()) {
        states[entry.state] = (states[entry.state] ?? 0) + 1;
        activations += entry.metrics.activations;
        reconnects += entry.metrics.reconnects;
        steals += entry.metrics.steals;
        consoleLosses += entry.metrics.consoleLosses;
      }
      const mem = process.memoryUsage();
      const retryCounts = [...retries.values()];
      const eventLoopDelayMs = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
      loopDelay.reset();
      retries.clear();
      process.stdout.write(
        JSON.stringify({
          states,
          activations,
          reconnects,
          steals,
          consoleLosses,
          heapUsed: mem.heapUsed,
          external: mem.external,
          arrayBuffers: mem.arrayBuffers,
          rss: mem.rss,
          retriesScheduled: retryCounts.reduce((a, b) => a + b, 0),
          retriesMaxPerConsole: retryCounts.reduce((a, b) => Math.max(a, b), 0),
          eventLoopDelayMs,
          events,
        }) + '\n',
      );
    }
  }
  await shutdown();
}

main().catch((error: unknown) => {
  process.stderr.write(`bridge-process: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});

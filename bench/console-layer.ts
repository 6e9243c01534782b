/**
 * `npx tsx bench/console-layer.ts [consoles]`: what the console layer costs at scale (default 1000 consoles),
 * with no BMC: memory of idle and full histories, and the prom-client scrape (time and heap).
 * Run with --expose-gc for steadier heap figures: `node --expose-gc --import tsx bench/console-layer.ts`.
 */
import { performance } from 'node:perf_hooks';
import { ConsoleRecord, DEFAULT_HISTORY_BYTES, ViewerSet, createConsoleMetrics, type ConsoleMetricsSample } from '../lib/index.js';

const consoles = Number(process.argv[2] ?? 1000);
const gc = (globalThis as { gc?: () => void }).gc;

function heap(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  const base = heap();
  const records = Array.from({ length: consoles }, () => new ConsoleRecord());
  const sets = records.map((record) => {
    const set = new ViewerSet({ record, viewers: { max: 4, onExtra: 'spectate' }, replay: { lines: 50 } });
    record.addSink(set);
    return set;
  });
  const idle = heap() - base;
  console.log(`${consoles} idle captured consoles (record + viewer set): ${mib(idle)}, ${kib(idle / consoles)} each`);

  const line = Buffer.from('[    1.234567] a kernel boot line of typical length, more or less 80 columns\r\n');
  let t = performance.now();
  for (const r of records) for (let n = 0; n < DEFAULT_HISTORY_BYTES / line.length + 100; n++) r.write(line);
  const fillMs = performance.now() - t;
  const full = heap() - base;
  console.log(`... each with a full ${kib(DEFAULT_HISTORY_BYTES)} history: ${mib(full)}, ${kib(full / consoles)} each (filled in ${fillMs.toFixed(0)} ms)`);

  t = performance.now();
  for (const r of records) r.tail({ lines: 50 });
  console.log(`tail({ lines: 50 }) x${consoles}: ${(performance.now() - t).toFixed(1)} ms`);

  const samples: ConsoleMetricsSample[] = records.map((r, i) => ({
    nodeId: `node-${i}`,
    state: 'active',
    bytesFromConsole: r.stats.bytes,
    bytesToConsole: 0,
    packetsReceived: 1000,
    packetsSent: 10,
    retransmits: 0,
    reconnects: 0,
    viewers: sets[i]!.size,
    viewersDropped: 0,
    logBytesDropped: 0,
  }));
  const beforeMetrics = heap();
  const metrics = await createConsoleMetrics(() => samples);
  let text = await metrics.metrics();
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    t = performance.now();
    text = await metrics.metrics();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const afterMetrics = heap() - beforeMetrics;
  console.log(
    `prom-client over ${consoles} consoles: scrape median ${times[10]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms, ` +
      `${mib(text.length)} of text, registry heap after scrapes ${mib(afterMetrics)}`,
  );
}

void main();

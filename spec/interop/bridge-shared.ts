/**
 * What the two bridge interop specs (against ipmi_sim and against the fake BMC) share: the bridge settings and
 * memory-bound constants, a counting pattern and a backpressured writer of it, a full GC for memory samples,
 * and client helpers.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BridgeMetrics, BridgeSettings, ConsoleBridge, ReconnectEvent } from '../../lib/bridge/console-bridge.js';
import { SOL_MAX_CHARACTERS } from '../../lib/codec/sol-payload.js';
import { SOL_MAX_HELD_PACKETS } from '../../lib/sol/sol-engine.js';
import { TestClient, waitUntil } from '../bridge/tcp-client.js';

/** SolStream readable highWaterMark the consoles here are configured with (part of the memory bound). */
export const SOL_READABLE_HWM = 4096;
/** Bytes typed while the console is (re)opening that the bridge keeps (part of the memory bound). */
export const HOLD_BYTES = 16 * 1024;
/** Bridge timings: quick loss detection and recovery, so the specs stay short. */
export const BRIDGE_SETTINGS: BridgeSettings = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.2 },
  holdBytes: HOLD_BYTES,
  openTimeoutMs: 5000,
  deactivateTimeoutMs: 3000,
  inUseGraceMs: 100,
  lingerMs: 500,
};

/** The byte at offset k of the counting pattern: not periodic below 64 KiB, so a loss or a repeat shows. */
export function patternBytes(offset: number, length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const k = offset + i;
    out[i] = (k * 7 + (k >>> 8) + seed) & 0xff;
  }
  return out;
}

/**
 * Writes the counting pattern to a socket as fast as it drains (never more: backpressure), until `limit` bytes
 * or stop(). `written` counts what was handed to the socket, all of which it delivers unless destroyed.
 */
export class PatternWriter {
  written = 0;
  #stopped = false;
  #wake: () => void = () => undefined;
  readonly done: Promise<void>;

  constructor(
    readonly socket: Socket,
    readonly limit = Infinity,
    readonly seed = 0,
  ) {
    this.done = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped && !this.socket.destroyed && this.written < this.limit) {
      const n = Math.min(4096, this.limit - this.written);
      const chunk = patternBytes(this.written, n, this.seed);
      this.written += n;
      if (!this.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            this.socket.off('drain', wake);
            this.socket.off('close', wake);
            resolve();
          };
          this.#wake = wake;
          this.socket.on('drain', wake);
          this.socket.on('close', wake);
        });
      }
    }
  }

  /** Stop writing (at once, even while waiting for 'drain'); resolves with the bytes written. */
  async stop(): Promise<number> {
    this.#stopped = true;
    this.#wake();
    await this.done;
    return this.written;
  }
}

/**
 * A full garbage collection, so that memory samples show what is retained, not garbage not yet collected
 * (the host writer alone allocates megabytes of short-lived chunks). Exposed at run time: the spec runs
 * under plain `mocha`, without --expose-gc.
 */
v8.setFlagsFromString('--expose-gc');
// V8 frees the backing stores of dead Buffers on a background thread by default, so right after gc() the
// process's arrayBuffers figure can still count megabytes of garbage (8 MB measured here with the other core
// busy, 3 KB with this flag): swept during the GC instead, a reading after gc() is what is really retained.
v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
export const collectGarbage = vm.runInNewContext('gc') as () => void;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function portOf(url: string): number {
  return Number(/:(\d+)$/.exec(url)![1]);
}

/** 'reconnect' events number their attempts 1, 2, 3... and back off (factor 2, jitter 0.2, capped). */
export function expectBackoff(events: ReconnectEvent[]): void {
  expect(events.length, 'reconnect events while the BMC was down').to.be.at.least(3);
  expect(events.map((e) => e.attempt)).to.deep.equal(events.map((_, i) => i + 1));
  expect(events[2]!.delayMs).to.be.above(events[0]!.delayMs);
  for (const e of events) expect(e.delayMs).to.be.at.most(1000);
}

/** Test clients that are destroyed with the spec's cleanups, and an echo round trip. */
export function clientHelpers(cleanups: (() => unknown)[]): {
  connect(port: number, address?: string): Promise<TestClient>;
  echo(client: TestClient, token: string, timeoutMs?: number): Promise<void>;
} {
  return {
    async connect(port, address = '127.0.0.1') {
      const client = await TestClient.connect(port, address);
      cleanups.push(() => client.destroy());
      return client;
    },
    async echo(client, token, timeoutMs = 5000) {
      await client.write(token);
      await client.waitForText(token, timeoutMs);
    },
  };
}

export interface StallResult {
  /** bytes the host wrote while the client did not read */
  total: number;
  /** bytes the client had received (in JS) when it started reading again */
  receivedDuringStall: number;
  /** offset in the client's data where the stall began */
  before: number;
  /** ms from the client's pause until the bridge had to queue (the kernel's socket buffers full) */
  reachMs: number;
  client: TestClient;
  bridge: ConsoleBridge;
  peak: { rss: number; heapUsed: number; arrayBuffers: number };
  maxMetrics: { pendingToClient: number; pendingFromConsole: number; pendingToConsole: number; heldBytes: number };
  bounds: { pendingToClient: number; pendingFromConsole: number; bridge: number };
}

/** Resolves after `count` turns of the event loop (no time involved). */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** How long the stall may take to reach the bridge (the kernel's socket buffers fill first), on a loaded machine. */
export const STALL_REACH_TIMEOUT_MS = 90_000;

/**
 * A client (connected through `bridge`, its console quiet) stops reading while the host writes the counting
 * pattern into `hostSocket` as fast as the BMC takes it. The stall is proven by its event, not by a time: once
 * the kernel's socket buffers are full, the bridge's client socket queues bytes (`pendingToClient > 0`) and the
 * bridge pauses the console. From then on it lasts `stallMs` (the BMC sees that long without ACKs). The bridge's
 * queues are sampled every 50 ms and retained memory (after a full GC) every 500 ms. Then the client reads again.
 * (A fixed-length stall failed on a loaded machine: the BMC's output slowed down, the kernel buffers never filled
 * and the bridge never had to hold anything back.)
 */
export async function measureStall(
  ctx: { bridge: ConsoleBridge; client: TestClient; hostSocket: Socket; cleanups: (() => unknown)[] },
  stallMs: number,
): Promise<StallResult> {
  const { bridge, client, hostSocket, cleanups } = ctx;
  const before = client.bytes;
  const socketHwm = getDefaultHighWaterMark(false);
  // What the bridge may hold for one console, from the configured limits: the client socket's writable
  // buffer (+ the one chunk that overflowed it), the SOL stream's readable side (2 x its highWaterMark, see
  // sol-stream.ts), the packets the SOL engine holds unacknowledged, and the typed-ahead hold.
  const bounds = {
    pendingToClient: socketHwm + SOL_MAX_CHARACTERS,
    pendingFromConsole: 2 * SOL_READABLE_HWM,
    bridge: socketHwm + SOL_MAX_CHARACTERS + 2 * SOL_READABLE_HWM + SOL_MAX_HELD_PACKETS * SOL_MAX_CHARACTERS + HOLD_BYTES,
  };
  client.socket.pause();
  await turns(10);
  collectGarbage();
  const base = process.memoryUsage();
  const peak = { rss: 0, heapUsed: 0, arrayBuffers: 0 };
  const maxMetrics = { pendingToClient: 0, pendingFromConsole: 0, pendingToConsole: 0, heldBytes: 0 };
  let ticks = 0;
  const sample = (withGc: boolean): void => {
    const m: BridgeMetrics = bridge.metrics;
    for (const key of Object.keys(maxMetrics) as Array<keyof typeof maxMetrics>) maxMetrics[key] = Math.max(maxMetrics[key], m[key]);
    if (!withGc) return;
    collectGarbage();
    const mem = process.memoryUsage();
    peak.rss = Math.max(peak.rss, mem.rss - base.rss);
    peak.heapUsed = Math.max(peak.heapUsed, mem.heapUsed - base.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, mem.arrayBuffers - base.arrayBuffers);
  };
  const sampler = setInterval(() => sample(++ticks % 10 === 0), 50);
  cleanups.push(() => clearInterval(sampler));
  const writer = new PatternWriter(hostSocket);
  cleanups.push(() => void writer.stop());
  const pausedAt = performance.now();
  await waitUntil(() => bridge.metrics.pendingToClient > 0, 'the stall to reach the bridge (client socket queueing)', STALL_REACH_TIMEOUT_MS);
  const reachMs = Math.round(performance.now() - pausedAt);
  sample(false);
  await sleep(stallMs);
  sample(true); // while the client still does not read
  const total = await writer.stop();
  clearInterval(sampler);
  const receivedDuringStall = client.bytes - before;
  client.socket.resume();
  return { total, receivedDuringStall, before, reachMs, client, bridge, peak, maxMetrics, bounds };
}

/** Written by the host after a stall's pattern: its arrival right after the pattern proves nothing more came. */
export const END_MARK = '\r\n<end of stall>\r\n';

/**
 * What the client received after offset `before`, up to the host's END_MARK: waits for `total` bytes, has the host
 * write the mark, waits for it and checks it came right after (an extra byte would show before it).
 */
export async function receivedUpToMark(client: TestClient, hostSocket: Socket, before: number, total: number, timeoutMs = 30_000): Promise<Buffer> {
  await client.waitForBytes(before + total, timeoutMs);
  hostSocket.write(END_MARK);
  await client.waitForBytes(before + total + END_MARK.length, timeoutMs);
  const got = client.data().subarray(before);
  expect(got.subarray(got.length - END_MARK.length).toString('latin1'), 'the end mark right after the pattern').to.equal(END_MARK);
  return got.subarray(0, got.length - END_MARK.length);
}

export function reportStall(label: string, r: StallResult, extra = ''): void {
  const mib = (n: number): string => (n / 1048576).toFixed(1);
  console.log(
    `      ${label}: the stall reached the bridge after ${r.reachMs} ms; host wrote ${r.total} B (${r.receivedDuringStall} B reached the paused client's JS); peak ` +
      `pendingToClient ${r.maxMetrics.pendingToClient} (bound ${r.bounds.pendingToClient}), pendingFromConsole ` +
      `${r.maxMetrics.pendingFromConsole} (bound ${r.bounds.pendingFromConsole}), heldBytes ${r.maxMetrics.heldBytes}; ` +
      `retained growth (after GC): rss ${mib(r.peak.rss)} MiB, heap ${mib(r.peak.heapUsed)} MiB, arrayBuffers ${(r.peak.arrayBuffers / 1024).toFixed(0)} KiB ` +
      `(bridge bound ${r.bounds.bridge} B)${extra}`,
  );
}

/**
 * The bridge's queues stay within their bounds, and the process retains no sizeable share of what the host
 * wrote. Buffers live in arrayBuffers: what stays allocated after a GC is what the bridge holds plus the host
 * writer's socket queue, the paused client's read buffer and backing stores V8 has not swept yet; a BMC in this
 * process (the fake BMC) adds its own, hence `arrayBufferSlack`.
 */
export function expectStallBounded(r: StallResult, arrayBufferSlack = 2 * 1024 * 1024): void {
  expect(r.maxMetrics.pendingToClient, 'bytes queued in the client socket').to.be.at.most(r.bounds.pendingToClient);
  expect(r.maxMetrics.pendingToClient, 'the client socket filled: the bridge had to hold back').to.be.above(0);
  expect(r.maxMetrics.pendingFromConsole, 'bytes buffered in the SOL stream').to.be.at.most(r.bounds.pendingFromConsole);
  expect(r.maxMetrics.heldBytes).to.equal(0);
  expect(r.peak.arrayBuffers, 'retained arrayBuffers growth').to.be.at.most(r.bounds.bridge + arrayBufferSlack);
  expect(r.peak.arrayBuffers, 'the stalled stream is not buffered in the process').to.be.below(r.total / 2);
  expect(r.peak.heapUsed, 'retained heap growth').to.be.at.most(r.bounds.bridge + 8 * 1024 * 1024);
  expect(r.peak.rss, 'rss growth').to.be.at.most(r.bounds.bridge + 64 * 1024 * 1024);
  expect(r.total, 'the host wrote more than the bridge may hold').to.be.above(4 * r.bounds.bridge);
}

/**
 * `size` bytes each way at once: the client writes the counting pattern (seed 1) while the host writes it
 * (seed 2) into `hostSocket`; both arrive byte-exact. The host must not echo meanwhile.
 */
export async function transferBothWays(
  ctx: { client: TestClient; host: { clearReceived(): void; receivedBytes(): Buffer }; hostSocket: Socket },
  size: number,
  timeoutMs: number,
): Promise<{ downMs: number; upMs: number }> {
  const { client, host, hostSocket } = ctx;
  host.clearReceived();
  const before = client.bytes;
  const toHost = patternBytes(0, size, 1);
  const started = performance.now();
  const fromHost = new PatternWriter(hostSocket, size, 2);
  const upload = client.write(toHost);
  await client.waitForBytes(before + size, timeoutMs);
  const downMs = performance.now() - started;
  await upload;
  await waitUntil(() => host.receivedBytes().length >= size, `the host to receive ${size} bytes (got ${host.receivedBytes().length})`, timeoutMs);
  const upMs = performance.now() - started;
  await fromHost.done;
  expect(client.data().subarray(before).equals(patternBytes(0, size, 2)), 'host -> client bytes').to.equal(true);
  expect(host.receivedBytes().equals(toHost), 'client -> host bytes').to.equal(true);
  return { downMs, upMs };
}

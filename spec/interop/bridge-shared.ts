/**
 * What the two bridge interop specs (against ipmi_sim and against the fake BMC) share: the bridge settings and
 * memory-bound constants, a counting pattern and a backpressured writer of it, a full GC for memory samples,
 * and client helpers.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { BridgeSettings, ReconnectEvent } from '../../lib/bridge/console-bridge.js';
import { TestClient } from '../bridge/tcp-client.js';

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

/** Small helpers for the console source specs: read a stream until a condition holds (no sleeps). */
import type { Readable } from 'node:stream';
import net from 'node:net';

/** Longest single wait in the source specs (a real sshd/websockify on a shared, slow machine). */
export const SOURCE_WAIT_MS = 15_000;

/** Collects what a readable (a console stream, a TCP socket) delivers, and waits for content. */
export class Collector {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  closed = false;
  #waiters: Array<() => void> = [];

  constructor(readable: Readable) {
    readable.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      this.#wake();
    });
    readable.on('error', () => undefined);
    readable.once('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.data().toString('latin1');
  }

  waitForText(text: string, timeoutMs = SOURCE_WAIT_MS): Promise<void> {
    return this.waitFor(() => this.text().includes(text), () => `text ${JSON.stringify(text)} (got ${JSON.stringify(this.text().slice(-200))})`, timeoutMs);
  }

  /** Wait for `text` to appear `count` times in total. */
  waitForCount(text: string, count: number, timeoutMs = SOURCE_WAIT_MS): Promise<void> {
    return this.waitFor(
      () => this.text().split(text).length - 1 >= count,
      () => `${count} x ${JSON.stringify(text)} (got ${JSON.stringify(this.text().slice(-300))})`,
      timeoutMs,
    );
  }

  waitForBytes(count: number, timeoutMs = SOURCE_WAIT_MS): Promise<void> {
    return this.waitFor(() => this.bytes >= count, () => `${count} bytes (got ${this.bytes})`, timeoutMs);
  }

  waitClosed(timeoutMs = SOURCE_WAIT_MS): Promise<void> {
    return this.waitFor(() => this.closed, () => 'the stream to close', timeoutMs, true);
  }

  waitFor(done: () => boolean, what: () => string, timeoutMs: number, closedOk = false): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)), timeoutMs);
      const check = (): void => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else if (this.closed && !closedOk) {
          clearTimeout(timer);
          reject(new Error(`closed while waiting for ${what()}`));
        } else {
          this.#waiters.push(check);
        }
      };
      check();
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** A deterministic, not-all-text byte pattern (every byte value occurs). */
export function bulkPattern(length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 131 + (i >>> 9)) & 0xff;
  return out;
}

/** Connect a TCP client to 127.0.0.1:port. */
export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

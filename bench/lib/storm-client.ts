/**
 * The boot storm's console client: one TCP connection reading everything a console prints, checking it byte for
 * byte against the node's boot log as it arrives (nothing kept but counters), and timing keystroke echoes.
 *
 * Echoes come back as `0x80 | byte` (fixtures/fake-bmc/boot-log.ts): bytes >= 0x80 are taken out of the stream
 * before the comparison, so a console can be typed on while its log is checked.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

export interface StormCheck {
  /** log bytes received (echo bytes excluded) */
  received: number;
  expected: number;
  /** received bytes that differ from the log at their offset, and bytes beyond its end */
  mismatched: number;
  extra: number;
  firstMismatchAt: number | undefined;
  /** every byte received, echoes and anything before arm() included */
  wireBytes: number;
  exact: boolean;
  /** ms from arm() to the log's last byte (undefined: not complete) */
  completeMs: number | undefined;
}

/** Take echo bytes (>= 0x80) out of a chunk; returns the log bytes and calls onEcho for each echo. */
export function splitEchoes(chunk: Buffer, onEcho: (byte: number) => void): Buffer {
  let first = -1;
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i]! >= 0x80) {
      first = i;
      break;
    }
  }
  if (first < 0) return chunk;
  const out = Buffer.allocUnsafe(chunk.length);
  chunk.copy(out, 0, 0, first);
  let n = first;
  for (let i = first; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b >= 0x80) onEcho(b & 0x7f);
    else out[n++] = b;
  }
  return out.subarray(0, n);
}

export class StormClient {
  private armedAt: number | undefined;
  private offset = 0;
  private mismatched = 0;
  private extra = 0;
  private firstMismatchAt: number | undefined;
  private wireBytes = 0;
  private completeAt: number | undefined;
  /** text received before arm() (banners), kept short */
  preText = '';
  private echoWaiter: { byte: number; resolve: () => void } | undefined;
  private doneWaiter: (() => void) | undefined;
  closed = false;

  private constructor(
    readonly socket: net.Socket,
    private readonly expected: Buffer,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.doneWaiter?.();
    });
  }

  static connect(port: number, expected: Buffer, timeoutMs = 10_000): Promise<StormClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to 127.0.0.1:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new StormClient(socket, expected));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** From now on every byte (echoes aside) is log output, checked from the log's first byte. */
  arm(): void {
    this.armedAt = performance.now();
  }

  get complete(): boolean {
    return this.completeAt !== undefined;
  }

  private onData(chunk: Buffer): void {
    this.wireBytes += chunk.length;
    if (this.armedAt === undefined) {
      this.preText = (this.preText + chunk.toString('latin1')).slice(-400);
      return;
    }
    const data = splitEchoes(chunk, (byte) => {
      if (this.echoWaiter?.byte === byte) this.echoWaiter.resolve();
    });
    if (data.length === 0) return;
    const want = this.expected;
    const take = Math.min(data.length, want.length - this.offset);
    if (take > 0 && !data.subarray(0, take).equals(want.subarray(this.offset, this.offset + take))) {
      for (let i = 0; i < take; i++) {
        if (data[i] !== want[this.offset + i]) {
          this.mismatched++;
          this.firstMismatchAt ??= this.offset + i;
        }
      }
    }
    this.offset += take;
    this.extra += data.length - take;
    if (this.completeAt === undefined && this.offset >= want.length) {
      this.completeAt = performance.now();
      this.doneWaiter?.();
    }
  }

  /** Resolves when the whole log arrived, or the connection closed, or at the deadline (performance.now()). */
  whenDone(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.complete || this.closed) return resolve();
      const timer = setTimeout(finish, Math.max(0, deadline - performance.now()));
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.doneWaiter = finish;
    });
  }

  /** Type one lower-case letter and wait for its echo (0x80 | letter); milliseconds, or rejects on timeout. */
  echo(letter: string, timeoutMs: number): Promise<number> {
    const byte = letter.charCodeAt(0);
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const timer = setTimeout(() => {
        this.echoWaiter = undefined;
        reject(new Error(`no echo of ${letter} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.echoWaiter = {
        byte,
        resolve: () => {
          clearTimeout(timer);
          this.echoWaiter = undefined;
          resolve(performance.now() - t0);
        },
      };
      this.socket.write(letter);
    });
  }

  check(): StormCheck {
    return {
      received: this.offset + this.extra,
      expected: this.expected.length,
      mismatched: this.mismatched,
      extra: this.extra,
      firstMismatchAt: this.firstMismatchAt,
      wireBytes: this.wireBytes,
      exact: this.offset === this.expected.length && this.mismatched === 0 && this.extra === 0,
      completeMs: this.completeAt === undefined || this.armedAt === undefined ? undefined : this.completeAt - this.armedAt,
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    });
  }
}

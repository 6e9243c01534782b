/**
 * A TCP console client for the benchmark (what nova-serialproxy or an operator would be): connect, type,
 * wait for the host's answer, receive bulk output and check it against the generator pattern.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { GENERATOR_PERIOD, generatorBytes } from '../../fixtures/fake-bmc/index.js';

const PATTERN = generatorBytes(GENERATOR_PERIOD);
/** The first bytes of generator output, to find where it starts after echoes and banners. */
const PATTERN_START = generatorBytes(24);

export class ConsoleClient {
  readonly socket: net.Socket;
  /** everything received (tail kept while waiting; bulk bytes are counted, not kept) */
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  closed = false;
  received = 0;
  private bulk:
    | { want: number; got: number; started: boolean; errors: number; resolve: () => void; lastAt: number }
    | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<ConsoleClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', reject);
        resolve(new ConsoleClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.length;
    const bulk = this.bulk;
    if (bulk) {
      let data = chunk;
      if (!bulk.started) {
        this.buf = Buffer.concat([this.buf, data]);
        const at = this.buf.indexOf(PATTERN_START);
        if (at < 0) {
          if (this.buf.length > 4096) this.buf = this.buf.subarray(this.buf.length - 64);
          return;
        }
        bulk.started = true;
        data = this.buf.subarray(at);
        this.buf = Buffer.alloc(0);
      }
      const take = Math.min(data.length, bulk.want - bulk.got);
      for (let i = 0; i < take; i++) {
        if (data[i] !== PATTERN[(bulk.got + i) % GENERATOR_PERIOD]) bulk.errors++;
      }
      bulk.got += take;
      if (bulk.got >= bulk.want) {
        bulk.lastAt = performance.now();
        this.bulk = undefined;
        this.buf = Buffer.from(data.subarray(take));
        bulk.resolve();
      }
      return;
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > 1 << 20) this.buf = this.buf.subarray(this.buf.length - 65536);
    this.waiter?.();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Everything received since the last consume(). */
  text(): string {
    return this.buf.toString('latin1');
  }

  /** Drop what was received so far. */
  consume(): void {
    this.buf = Buffer.alloc(0);
  }

  /**
   * Wait until the received bytes contain `needle`; resolves with performance.now() at that moment and drops
   * everything up to and including the needle. Rejects on timeout or close.
   */
  waitFor(needle: string | Buffer, timeoutMs: number): Promise<number> {
    const want = typeof needle === 'string' ? Buffer.from(needle, 'latin1') : needle;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const at = this.buf.indexOf(want);
        if (at >= 0) {
          const now = performance.now();
          this.buf = this.buf.subarray(at + want.length);
          finish();
          resolve(now);
          return true;
        }
        if (this.closed) {
          finish();
          reject(new ClosedError(this.buf.toString('latin1')));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(this.buf.toString('latin1')));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiter = undefined;
      };
      if (!check()) this.waiter = () => void check();
    });
  }

  /** Type `gen <n>` and receive exactly generatorBytes(n); resolves with timing and pattern errors. */
  bulkReceive(n: number, timeoutMs: number): Promise<{ ms: number; bytes: number; errors: number }> {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const timer = setTimeout(() => {
        const b = this.bulk;
        this.bulk = undefined;
        reject(new Error(`bulk receive timed out after ${timeoutMs} ms with ${b?.got ?? '?'} of ${n} bytes`));
      }, timeoutMs);
      const state = {
        want: n,
        got: 0,
        started: false,
        errors: 0,
        lastAt: 0,
        resolve: () => {
          clearTimeout(timer);
          resolve({ ms: state.lastAt - t0, bytes: state.got, errors: state.errors });
        },
      };
      this.buf = Buffer.alloc(0);
      this.bulk = state;
      this.socket.write(`\rgen ${n}\r`); // leading CR: end whatever was typed before
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class TimeoutError extends Error {
  constructor(readonly got: string) {
    super(`timed out; received ${JSON.stringify(got.slice(-200))}`);
  }
}

export class ClosedError extends Error {
  constructor(readonly got: string) {
    super(`connection closed; received ${JSON.stringify(got.slice(-200))}`);
  }
}

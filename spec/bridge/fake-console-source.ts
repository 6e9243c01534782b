/**
 * An in-memory ConsoleSource for the bridge specs: a "BMC" behind a Duplex.
 * - echo or sink: what is typed comes back, or is only recorded;
 * - a bounded, optionally slow BMC: writes complete only while its inbound buffer (bmcBufferBytes) has room,
 *   and it consumes at most consumeBytesPerTick bytes per event-loop turn; echoed bytes respect the
 *   readable side's backpressure (a paused reader stops the BMC, like SOL withholding ACKs);
 * - a host-output generator with a known pattern (produce), to check byte-exactness and stalls;
 * - failure injection: failing opens, a console lost with a reason, a payload left active on the BMC;
 * - counting: opens, activations, deactivations, in-use refusals, steals, most consoles active at once.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { IpmiError } from '../../lib/errors.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from '../../lib/bridge/console-source.js';

/** Byte i of the test pattern starting at absolute offset `offset` (seeded so two directions differ). */
export function pattern(offset: number, length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) {
    const n = offset + i;
    out[i] = (n * 31 + (n >>> 8) + seed) & 0xff;
  }
  return out;
}

export interface FakeConsoleOptions {
  mode?: 'echo' | 'sink';
  /** the BMC's inbound buffer: write callbacks wait while it holds more than this */
  bmcBufferBytes?: number;
  /** bytes the BMC consumes per event-loop turn */
  consumeBytesPerTick?: number;
  openDelayMs?: number;
  /** the open ignores its AbortSignal (resolves anyway) */
  ignoreAbort?: boolean;
  deactivateDelayMs?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** 'reason': emit 'close' with the reason as argument (SolStream); 'node': plain Node 'error' + 'close' */
  closeStyle?: 'reason' | 'node';
  /** the source has a verify() (default true); without it, a check opens and releases a console */
  verifiable?: boolean;
}

type ResolvedOptions = Required<FakeConsoleOptions>;

const DEFAULTS: ResolvedOptions = {
  mode: 'echo',
  bmcBufferBytes: 4096,
  consumeBytesPerTick: Number.POSITIVE_INFINITY,
  openDelayMs: 0,
  ignoreAbort: false,
  deactivateDelayMs: 0,
  readableHighWaterMark: 16 * 1024,
  writableHighWaterMark: 16 * 1024,
  closeStyle: 'reason',
  verifiable: true,
};

export class FakeConsoleStream extends Duplex implements ConsoleStream {
  readonly id: number;
  /** bytes the BMC consumed (typed by the client), in order */
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  /** host output generated so far by produce() */
  produced = 0;
  /** produce() is waiting for the reader (push returned false) */
  producerBlocked = false;
  /** most bytes the BMC inbound buffer held at once */
  maxInbound = 0;

  readonly #source: FakeConsoleSource;
  readonly #options: ResolvedOptions;
  readonly #inbound: Buffer[] = [];
  #inboundSize = 0;
  #pendingWrite: (() => void) | undefined;
  #echoBlocked = false;
  #pumpScheduled = false;
  #produceTotal = 0;
  #produceSeed = 0;
  #deactivation: Promise<void> | undefined;
  #closeReason: IpmiError | undefined;
  #ledgerTaken = false;

  constructor(source: FakeConsoleSource, id: number, options: ResolvedOptions) {
    super({
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      emitClose: options.closeStyle === 'node',
    });
    this.#source = source;
    this.id = id;
    this.#options = options;
  }

  get inboundBytes(): number {
    return this.#inboundSize;
  }

  get receivedData(): Buffer {
    return Buffer.concat(this.received);
  }

  /** The host prints `data` (pushed at once, whatever the reader; for small texts). */
  print(data: string | Buffer): void {
    this.push(typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** The host prints `total` pattern bytes, as fast as the reader takes them. */
  produce(total: number, seed = 0): void {
    this.#produceTotal = total;
    this.#produceSeed = seed;
    this.#schedulePump();
  }

  /**
   * ConsoleStream.takeUnacknowledged: what the BMC never consumed (its inbound buffer, a partly consumed chunk
   * cut exactly) and what still waits in the Writable's own buffer, in write order; empties the ledger.
   */
  takeUnacknowledged(): Buffer {
    // Node keeps the chunks it has not handed to _write yet in writableBuffer (kept after destroy()).
    const pending = (this as unknown as { writableBuffer?: Array<{ chunk: Buffer }> }).writableBuffer ?? [];
    const queued = pending.map((entry) => entry.chunk);
    const ledger = Buffer.concat([...this.#inbound.splice(0), ...(this.#ledgerTaken ? [] : queued)]);
    this.#inboundSize = 0;
    this.#ledgerTaken = true;
    return ledger;
  }

  /** The console is lost (BMC reboot...). `lingering`: the BMC still holds the payload (needs a steal). */
  fail(reason: IpmiError, options: { lingering?: boolean } = {}): void {
    if (!options.lingering) this.#source.unhold(this);
    this.destroy(reason);
  }

  deactivate(): Promise<void> {
    this.#deactivation ??= (async () => {
      this.#source.deactivations++;
      if (this.#options.deactivateDelayMs > 0) await delay(this.#options.deactivateDelayMs);
      this.#source.unhold(this);
      if (!this.destroyed) {
        this.push(null);
        this.destroy();
      }
    })();
    return this.#deactivation;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#inbound.push(chunk);
    this.#inboundSize += chunk.length;
    this.maxInbound = Math.max(this.maxInbound, this.#inboundSize);
    if (this.#inboundSize <= this.#options.bmcBufferBytes) callback();
    else this.#pendingWrite = () => callback();
    this.#schedulePump();
  }

  override _read(): void {
    this.#echoBlocked = false;
    this.producerBlocked = false;
    this.#schedulePump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closeReason = error instanceof IpmiError ? error : undefined;
    callback(error);
    if (this.#options.closeStyle === 'reason') process.nextTick(() => this.emit('close', this.#closeReason));
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.destroyed) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.destroyed) return;
    // BMC consumes what was typed
    let budget = this.#options.consumeBytesPerTick;
    while (budget > 0 && this.#inbound.length > 0 && !this.#echoBlocked) {
      const head = this.#inbound[0]!;
      const piece = head.length <= budget ? head : head.subarray(0, budget);
      if (piece === head) this.#inbound.shift();
      else this.#inbound[0] = head.subarray(budget);
      this.#inboundSize -= piece.length;
      budget -= piece.length;
      this.received.push(piece);
      this.receivedBytes += piece.length;
      if (this.#options.mode === 'echo' && !this.push(piece)) this.#echoBlocked = true;
    }
    if (this.#pendingWrite && this.#inboundSize <= this.#options.bmcBufferBytes) {
      const done = this.#pendingWrite;
      this.#pendingWrite = undefined;
      done();
    }
    // host output
    while (this.produced < this.#produceTotal && !this.producerBlocked) {
      const length = Math.min(4096, this.#produceTotal - this.produced);
      const chunk = pattern(this.produced, length, this.#produceSeed);
      this.produced += length;
      if (!this.push(chunk)) this.producerBlocked = true;
    }
    if (this.#inbound.length > 0 && !this.#echoBlocked) this.#schedulePump();
  }
}

export class FakeConsoleSource extends EventEmitter implements ConsoleSource {
  readonly options: ResolvedOptions;
  opens = 0;
  activations = 0;
  deactivations = 0;
  inUseRejections = 0;
  steals = 0;
  maxConcurrent = 0;
  aborted = 0;
  closed = false;
  /** another party (not this process) holds the payload: only steal 'always' takes it */
  heldElsewhere = false;
  /** the next opens fail with these, in order */
  readonly failures: IpmiError[] = [];
  readonly streams: FakeConsoleStream[] = [];
  readonly openOptions: ConsoleOpenOptions[] = [];
  readonly #held = new Set<FakeConsoleStream>();
  /** verify() calls, and the error the next ones reject with (a wrong password...) */
  verifications = 0;
  verifyError: IpmiError | undefined;
  /** verify() answers only when its signal fires (a BMC that never answers) */
  verifyHangs = false;
  verify?: (signal: AbortSignal) => Promise<void>;

  constructor(options: FakeConsoleOptions = {}) {
    super();
    this.options = { ...DEFAULTS, ...options };
    if (this.options.verifiable) {
      this.verify = async (signal) => {
        this.verifications++;
        if (this.verifyHangs) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
        if (signal.aborted) throw new IpmiError('IPMI_ERR_ABORTED', 'verify aborted');
        if (this.verifyError) throw this.verifyError;
      };
    }
  }

  get current(): FakeConsoleStream | undefined {
    return this.streams.at(-1);
  }

  /** consoles the BMC counts as active */
  get active(): number {
    return this.#held.size;
  }

  async open(signal: AbortSignal, options: ConsoleOpenOptions = { steal: 'never', attempt: 0 }): Promise<ConsoleStream> {
    this.opens++;
    this.openOptions.push(options);
    if (this.options.openDelayMs > 0) await delay(this.options.openDelayMs, this.options.ignoreAbort ? undefined : signal);
    if (signal.aborted && !this.options.ignoreAbort) {
      this.aborted++;
      throw new IpmiError('IPMI_ERR_ABORTED', 'open aborted');
    }
    const failure = this.failures.shift();
    if (failure) throw failure;
    if (this.#held.size > 0 || this.heldElsewhere) {
      // 'own' covers the streams this source opened (this process), not another party's.
      const covered = options.steal === 'always' || (options.steal === 'own' && !this.heldElsewhere);
      if (!covered) {
        this.inUseRejections++;
        throw new IpmiError('IPMI_ERR_SOL_IN_USE', 'SOL payload already active on another session', { completionCode: 0x80 });
      }
      this.steals++;
      options.onSteal?.();
      this.heldElsewhere = false;
      for (const stream of [...this.#held]) {
        this.#held.delete(stream);
        stream.destroy(new IpmiError('IPMI_ERR_SOL_DEACTIVATED', 'taken over by another session'));
      }
    }
    const stream = new FakeConsoleStream(this, this.streams.length + 1, this.options);
    stream.on('error', () => undefined); // the bridge listens too; keep specs free of unhandled errors
    this.streams.push(stream);
    this.#held.add(stream);
    this.activations++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.#held.size);
    this.emit('open', stream);
    return stream;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The BMC forgets the payload (deactivated, or lost with the BMC's state). */
  unhold(stream: FakeConsoleStream): void {
    this.#held.delete(stream);
  }

  /** Resolves with the next stream opened. */
  nextOpen(): Promise<FakeConsoleStream> {
    return new Promise((resolve) => this.once('open', resolve));
  }
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Resolves after `count` turns of the event loop (no time involved: each turn runs what is due). */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A ConsoleStream over a far end that is itself a byte pipe (an SSH channel, a WebSocket): the readable side is
 * what the far end sends, with backpressure (a full readable buffer pauses the far end); the writable side
 * forwards each chunk, and its write callback runs once the far end's own write callback ran (the bytes are on
 * the socket). What was written but never reached that point is the ledger `takeUnacknowledged()` returns.
 *
 * Like SolStream, 'close' carries the reason (an IpmiError, or undefined for a clean end), and 'error' is emitted
 * only to someone listening for it: a BMC that goes away must not crash a process that listens to 'close' only.
 */
import { Duplex } from 'node:stream';
import createDebug from 'debug';
import { IpmiError, isIpmiError } from '../errors.js';
import type { ConsoleStream } from '../bridge/console-source.js';

const debug = createDebug('ipmi:sources');

/** Readable/writable high-water marks of a relay stream (bytes). */
export const DEFAULT_RELAY_HWM = 16 * 1024;

/** What a relay stream needs from the far end. */
export interface RelayFarEnd {
  /** send bytes; `done` runs once the far end took them (on its socket), with an error if it never will */
  write(chunk: Buffer, done: (error?: Error | null) => void): void;
  /** stop delivering data (the reader is full) */
  pause(): void;
  /** deliver data again */
  resume(): void;
  /** release the far end (close the channel/connection); resolves once released, never rejects */
  release(): Promise<void>;
}

export interface RelayStreamOptions {
  /** label for debug output (no secrets) */
  label: string;
  highWaterMark?: number;
}

interface InFlight {
  chunk: Buffer;
  callback: (error?: Error | null) => void;
}

export class RelayConsoleStream extends Duplex implements ConsoleStream {
  readonly label: string;
  /** why the stream closed: undefined for a clean end or a local deactivate() */
  closeReason: IpmiError | undefined;
  #far: RelayFarEnd | undefined;
  #paused = false;
  readonly #inFlight: InFlight[] = [];
  #ledger: Buffer[] = [];
  #deactivation: Promise<void> | undefined;

  constructor(options: RelayStreamOptions) {
    const hwm = options.highWaterMark ?? DEFAULT_RELAY_HWM;
    super({
      readableHighWaterMark: hwm,
      writableHighWaterMark: hwm,
      decodeStrings: true,
      emitClose: false, // we emit 'close' ourselves, with the reason
      allowHalfOpen: false,
    });
    this.label = options.label;
  }

  /** Attach the far end (once it is open). Until then writes wait. */
  attach(far: RelayFarEnd): void {
    this.#far = far;
    if (this.#paused) far.pause();
  }

  /** Bytes from the far end. */
  receive(chunk: Buffer): void {
    if (this.destroyed || chunk.length === 0) return;
    if (!this.push(chunk) && !this.#paused) {
      this.#paused = true;
      this.#far?.pause();
    }
  }

  /** The far end is gone: `reason` undefined for a clean end (the remote side closed normally). */
  lost(reason?: IpmiError): void {
    if (this.destroyed) return;
    debug('%s: far end gone: %s', this.label, reason ? `${reason.code}: ${reason.message}` : 'clean end');
    if (reason === undefined) this.push(null);
    this.destroy(reason);
  }

  /** End the stream and release the far end (resolves once released). Idempotent; never rejects. */
  deactivate(): Promise<void> {
    if (!this.destroyed) this.destroy(); // _destroy starts the release
    this.#deactivation ??= this.#far?.release() ?? Promise.resolve();
    return this.#deactivation;
  }

  /**
   * Once closed: the bytes written that the far end never took (in flight or still queued), in write order.
   * Calling it empties the ledger. An empty Buffer while the stream is open, or when none.
   */
  takeUnacknowledged(): Buffer {
    const out = Buffer.concat(this.#ledger);
    this.#ledger = [];
    return out;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const far = this.#far;
    if (far === undefined) {
      callback(new IpmiError('IPMI_ERR_SESSION_CLOSED', `${this.label}: the console is not open.`));
      return;
    }
    const entry: InFlight = { chunk, callback };
    this.#inFlight.push(entry);
    far.write(chunk, (error) => {
      const index = this.#inFlight.indexOf(entry);
      if (index < 0) return; // already moved to the ledger by _destroy
      this.#inFlight.splice(index, 1);
      callback(error ?? null);
    });
  }

  override _read(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#far?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const reason =
      error === null ? undefined : isIpmiError(error) ? error : new IpmiError('IPMI_ERR_SESSION_CLOSED', error.message, { cause: error, fatal: true });
    this.closeReason = reason;
    // The ledger: what is in flight, then what Writable still queues (its callbacks are errored after this).
    // (Writable's `writableBuffer` getter, present since Node 12, is not in @types/node.)
    const buffered = (this as unknown as { writableBuffer?: Array<{ chunk: Buffer | string }> }).writableBuffer ?? [];
    const queued = buffered.map(({ chunk }) =>
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk),
    );
    const inFlight = this.#inFlight.splice(0);
    this.#ledger.push(...inFlight.map(({ chunk }) => chunk), ...queued);
    const writeError = reason ?? new IpmiError('IPMI_ERR_SESSION_CLOSED', `${this.label}: the console closed.`);
    for (const entry of inFlight) entry.callback(writeError);
    if (!this.#deactivation && this.#far !== undefined) {
      const far = this.#far;
      this.#deactivation = far.release();
    }
    callback(this.listenerCount('error') > 0 ? error : null);
    process.nextTick(() => this.emit('close', reason));
  }
}

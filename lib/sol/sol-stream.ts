/**
 * SolStream: one activated SOL payload as a Node Duplex, backpressure in both directions.
 * - Writable side: `_write`/`_writev` hand characters to the SolEngine and call back only when the BMC has
 *   acknowledged all of them, so the writable highWaterMark bounds what is queued (SOL is stop-and-wait).
 *   What the BMC never acknowledged is kept in one ledger, the engine's queue: `takeUnacknowledged()`.
 * - Readable side: `_read` grants the engine a credit of readableHighWaterMark characters; when push()
 *   returns false the credit drops to 0 and BMC packets are held unacknowledged (or NACKed, per
 *   `inboundPause`) until `_read` grants credit again. Memory: 2 x readableHighWaterMark + writable
 *   highWaterMark (+ the one chunk being sent) + SOL_MAX_HELD_PACKETS x 255.
 * - Timers through one Clock: the engine's next deadline, and the ownership check.
 * - 'close' is emitted with the reason: an IpmiError, or undefined for a clean close. 'break' when the BMC
 *   reports a break on the serial line.
 * - A stream that lost its payload (another session took it, the BMC or an operator deactivated it) never sends
 *   Deactivate Payload: the payload may be someone else's now.
 * Debug namespace `ipmi:sol`: lengths and sequence-level events only, never characters.
 */
import { Duplex } from 'node:stream';
import createDebug from 'debug';
import { IpmiError, isIpmiError } from '../errors.js';
import { DeadlineTimer, systemClock, type Clock, type ClockTimer } from '../clock.js';
import type { AnyListener } from '../typed-events.js';
import { isOlderSequence } from '../codec/rmcp.js';
import { SolEngine, type InboundPausePolicy, type SolStats, type SolWorkarounds } from './sol-engine.js';
import { deactivateSol } from './sol-commands.js';
import { SolPortProbe } from './sol-port.js';
import { bmcOf, ownSolSessions, payloadHolder, type SolSessionRegistry } from './sol-ownership.js';
import type { SolHost } from './sol-host.js';

const debug = createDebug('ipmi:sol');

/** Default writable highWaterMark: characters queued towards the BMC before write() returns false. */
export const DEFAULT_SOL_WRITABLE_HWM = 4096;
/** Default readable highWaterMark: characters from the BMC buffered for a slow consumer. */
export const DEFAULT_SOL_READABLE_HWM = 16384;
/**
 * How often the stream asks Get Payload Instance Info (section 24.5) who holds its payload. Some BMCs let
 * another session take SOL without sending us "SOL deactivating" (table 15-3): ipmi_sim among them. Being an
 * IPMI request, the check also keeps the session alive (it resets the session's keepalive timer).
 */
export const DEFAULT_SOL_OWNERSHIP_CHECK_MS = 10_000;

/** The events of a SolStream beyond Duplex's own. */
export interface SolStreamEvents {
  /** The stream ended: an IpmiError, or undefined for a clean close. */
  close: (reason: IpmiError | undefined) => void;
  /** The BMC reported a break on the serial line (status bit 0x04). */
  break: () => void;
  data: (chunk: Buffer) => void;
  error: (error: Error) => void;
  drain: () => void;
  end: () => void;
  finish: () => void;
}

export interface SolStreamOptions {
  /** Payload instance (Activate Payload byte 2), 1..15. */
  instance: number;
  /** UDP port the SOL payloads go to (see activateSol's `solPort`). */
  port: number;
  /** Where to move, once, if the priming packet goes unanswered on `port` (see chooseSolPorts). */
  alternatePort?: number;
  /** Send SOL payloads encrypted / authenticated (what Activate Payload asked for). */
  encrypt: boolean;
  authenticate: boolean;
  /** Characters a packet: min(255, BMC inbound payload size - 4). */
  maxOutboundChars: number;
  retransmitIntervalMs?: number;
  maxRetransmits?: number;
  adaptiveRetransmit?: boolean;
  inboundPause?: InboundPausePolicy;
  workarounds?: SolWorkarounds;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Every timer of the stream (default systemClock); specs pass a ManualClock. */
  clock?: Clock;
  /** See DEFAULT_SOL_OWNERSHIP_CHECK_MS; 0 disables. */
  ownershipCheckMs?: number;
  /** Where activateSol remembered this session as ours; forgotten once the payload is released or lost. */
  ownSessions?: SolSessionRegistry;
  /**
   * Runs once after the stream ended, however it ended (after Deactivate Payload when there was one); a
   * `deactivate()` resolves after it. IpmiConsoleSource closes its session here.
   */
  onRelease?: () => Promise<void> | void;
}

interface PendingWrite {
  end: number; // cumulative character count at which this write is fully acknowledged
  cb: (err?: Error | null) => void;
}

export class SolStream extends Duplex {
  readonly instance: number;
  readonly maxOutboundChars: number;
  /** Why the stream closed: undefined while open or after a clean close. */
  closeReason: IpmiError | undefined;

  readonly #host: SolHost;
  readonly #engine: SolEngine;
  readonly #clock: Clock;
  readonly #ports: SolPortProbe;
  readonly #send: { encrypt: boolean; authenticate: boolean };
  #sendOptions: Readonly<{ encrypt: boolean; authenticate: boolean; port: number }> | undefined;
  readonly #ownSessions: SolSessionRegistry;
  readonly #onRelease: (() => Promise<void> | void) | undefined;
  readonly #ownershipCheckMs: number;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #pending: PendingWrite[] = [];
  #written = 0;
  #acked = 0;
  /** The one timer of the engine, armed at its next deadline. */
  readonly #timer: DeadlineTimer;
  #ownershipTimer: ClockTimer | undefined;
  /** false once the BMC showed it cannot answer Get Payload Instance Info. */
  #ownershipAnswered = true;
  /** The payload is no longer ours (taken over or deactivated elsewhere): never Deactivate it. */
  #payloadLost = false;
  #deactivation: Promise<void> | undefined;
  #released: Promise<void> | undefined;
  /** Characters still in the Writable's own buffer when the stream was destroyed (never reached the engine). */
  #unwritten: Buffer[] = [];
  #newestSessionSequence: number | undefined;
  #staleDropped = 0;

  /** The UDP port SOL payloads go to now (it moves once if the BMC answers only on its reported port). */
  get port(): number {
    return this.#ports.port;
  }

  constructor(host: SolHost, options: SolStreamOptions) {
    super({
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_SOL_READABLE_HWM,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_SOL_WRITABLE_HWM,
      decodeStrings: true,
      emitClose: false, // we emit 'close' ourselves, with the reason
      allowHalfOpen: true,
    });
    this.#host = host;
    this.instance = options.instance;
    this.maxOutboundChars = options.maxOutboundChars;
    this.#clock = options.clock ?? systemClock;
    this.#ports = new SolPortProbe({ port: options.port, alternate: options.alternatePort });
    this.#send = { encrypt: options.encrypt, authenticate: options.authenticate };
    this.#ownSessions = options.ownSessions ?? ownSolSessions;
    this.#onRelease = options.onRelease;
    this.#ownershipCheckMs = options.ownershipCheckMs ?? DEFAULT_SOL_OWNERSHIP_CHECK_MS;
    this.#engine = this.#createEngine(options);
    this.#timer = new DeadlineTimer(
      this.#clock,
      () => this.#engine.nextDeadline(),
      (now) => this.#engine.poll(now),
    );
    this.#unsubscribe.push(
      host.onSolPayload((payload, sessionSequence) => this.#receive(payload, sessionSequence)),
      host.onClose((reason) => {
        debug('session closed under SOL instance %d', this.instance);
        this.destroy(reason);
      }),
    );
    debug('instance %d active: port %d, %d characters a packet', this.instance, this.port, this.maxOutboundChars);
    if (host.closed) {
      process.nextTick(() => this.destroy(new IpmiError('IPMI_ERR_SESSION_CLOSED', 'The IPMI session is closed', { fatal: true })));
      return;
    }
    this.#engine.start(this.#clock.now());
    this.#reschedule();
    this.#scheduleOwnershipCheck();
  }

  #createEngine(options: SolStreamOptions): SolEngine {
    return new SolEngine({
      send: (payload) => this.#sendPayload(payload),
      maxOutboundChars: options.maxOutboundChars,
      retransmitIntervalMs: options.retransmitIntervalMs,
      maxRetransmits: options.maxRetransmits,
      adaptiveRetransmit: options.adaptiveRetransmit,
      inboundPause: options.inboundPause,
      workarounds: options.workarounds,
      inboundCredit: this.readableHighWaterMark,
      onData: (chars) => {
        if (!this.push(chars)) this.#engine.setInboundCredit(0, this.#clock.now());
      },
      onAcked: (count) => this.#onAcked(count),
      onBreak: () => this.emit('break'),
      // The priming packet probes the port (see chooseSolPorts and SolPortProbe).
      onPrimeUnanswered: () => this.#ports.primeUnanswered(),
      onEnd: (reason) => {
        debug('instance %d ended: %s', this.instance, reason.code);
        if (reason.code === 'IPMI_ERR_SOL_DEACTIVATED') this.#lose();
        this.destroy(reason);
      },
    });
  }

  // ---- typed events (SolStreamEvents) --------------------------------------------------------------------

  override on<K extends keyof SolStreamEvents>(event: K, listener: SolStreamEvents[K]): this;
  override on(event: string | symbol, listener: AnyListener): this;
  override on(event: string | symbol, listener: AnyListener): this {
    return super.on(event, listener);
  }

  override once<K extends keyof SolStreamEvents>(event: K, listener: SolStreamEvents[K]): this;
  override once(event: string | symbol, listener: AnyListener): this;
  override once(event: string | symbol, listener: AnyListener): this {
    return super.once(event, listener);
  }

  override off<K extends keyof SolStreamEvents>(event: K, listener: SolStreamEvents[K]): this;
  override off(event: string | symbol, listener: AnyListener): this;
  override off(event: string | symbol, listener: AnyListener): this {
    return super.off(event, listener);
  }

  // ---- public ----------------------------------------------------------------------------------------------

  /** Counters of the SOL protocol (a copy); staleDropped: SOL packets older than one already taken. */
  get stats(): SolStats & { staleDropped: number } {
    return { ...this.#engine.stats, staleDropped: this.#staleDropped };
  }

  /** True once the payload is known to be someone else's (or no one's): the stream never deactivates it. */
  get payloadLost(): boolean {
    return this.#payloadLost;
  }

  /**
   * Once the stream has closed or is deactivating: every character written to it that the BMC never
   * acknowledged (queued, in flight, or still in the Writable's buffer), in write order. Empties the ledger;
   * an empty Buffer when there is none, or while the stream is open (those characters are on their way).
   */
  takeUnacknowledged(): Buffer {
    return Buffer.concat([this.#engine.takeUnacknowledged(), ...this.#unwritten.splice(0)]);
  }

  /** Generate a break on the host's serial line, after everything written before. Resolves on the BMC's ACK. */
  sendBreak(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.destroyed) {
        reject(this.#closedError());
        return;
      }
      this.#engine.sendBreak(this.#clock.now(), (err) => (err ? reject(err) : resolve()));
      this.#reschedule();
    });
  }

  /** Ask the BMC to flush its buffers (operation bits 0x02/0x01), in order with writes. */
  flushBmc(which: { bmcInbound?: boolean; bmcOutbound?: boolean }): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.destroyed) {
        reject(this.#closedError());
        return;
      }
      this.#engine.flush(this.#clock.now(), which, (err) => (err ? reject(err) : resolve()));
      this.#reschedule();
    });
  }

  /**
   * Deactivate the payload on the BMC (Deactivate Payload, section 24.2), then end the stream (close reason
   * undefined) and run `onRelease`. Idempotent: every call returns the same promise. Never rejects (the
   * bridge's ConsoleStream contract): a failed Deactivate is logged under `ipmi:sol` and the stream ends anyway.
   * No Deactivate is sent when the payload is not ours any more: on a stream that has already closed, or when
   * Get Payload Instance Info (section 24.5) names another session (or none) as the holder. Characters not yet
   * acknowledged stay in the ledger (takeUnacknowledged).
   */
  deactivate(): Promise<void> {
    if (this.#deactivation) return this.#deactivation;
    if (this.destroyed) {
      this.#deactivation = this.#release();
      return this.#deactivation;
    }
    this.#engine.close();
    this.#stopTimers();
    this.#deactivation = (async () => {
      await this.#releasePayload();
      if (!this.destroyed) {
        this.push(null);
        this.destroy();
      }
      await this.#release();
    })();
    return this.#deactivation;
  }

  // ---- Duplex ---------------------------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#enqueue(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#enqueue(Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Writable calls _final only after every write callback ran, i.e. after the BMC acknowledged every
    // character: nothing is left to wait for.
    cb();
  }

  override _read(): void {
    // Readable calls _read while the chunk being read is still counted in readableLength, so a credit of
    // (highWaterMark - readableLength) can be 0 and never renewed. Grant a full highWaterMark: push()
    // returning false takes it back, so at most 2 x highWaterMark characters are ever buffered.
    this.#engine.setInboundCredit(this.readableHighWaterMark, this.#clock.now());
    this.#reschedule();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const reason = err === null ? undefined : isIpmiError(err) ? err : new IpmiError('IPMI_ERR_ABORTED', err.message, { cause: err, fatal: true });
    this.closeReason = reason;
    this.#stopTimers();
    for (const off of this.#unsubscribe.splice(0)) off();
    this.#engine.close(reason);
    // Writes the Writable still buffers (behind the one being acknowledged) go to the ledger, before Node drops them.
    // (Writable's `writableBuffer`: Node's own getter, not in its type declarations.)
    const buffered = (this as unknown as { writableBuffer?: { chunk: Buffer | string }[] }).writableBuffer ?? [];
    for (const { chunk } of buffered) this.#unwritten.push(Buffer.from(chunk));
    const writeErr = reason ?? this.#closedError();
    for (const p of this.#pending.splice(0)) p.cb(writeErr);
    // A local destroy (no error from the BMC or the session) frees the payload on the BMC, best effort.
    // Not after an IpmiError (IPMI_ERR_SOL_TIMEOUT included): the payload may belong to a session that took it
    // (FreeIPMI does the same).
    if (!this.#deactivation && (err === null || !isIpmiError(err))) {
      this.#deactivation = this.#releasePayload().then(() => this.#release());
    } else {
      void this.#release();
    }
    debug('instance %d closed: %s; stats %o', this.instance, reason?.code ?? 'clean', this.#engine.stats);
    // The reason always comes with 'close'. 'error' is emitted only to someone listening for it (pipeline()
    // does): a BMC that goes away must not crash a process that embeds the stream and listens to 'close' only.
    cb(this.listenerCount('error') > 0 ? err : null);
    process.nextTick(() => this.emit('close', reason));
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /**
   * Mechanism "one send-options object" (issue 12, per-packet allocation): the options of sendSolPayload are one
   * object, made again only when the SOL port moves (SolPortProbe), not spread anew for every packet and ACK.
   */
  #sendOptionsFor(port: number): { encrypt: boolean; authenticate: boolean; port: number } {
    if (this.#sendOptions?.port !== port) this.#sendOptions = Object.freeze({ ...this.#send, port });
    return this.#sendOptions;
  }

  #sendPayload(payload: Buffer): void {
    try {
      this.#host.sendSolPayload(payload, this.#sendOptionsFor(this.#ports.port));
    } catch (err) {
      this.destroy(isIpmiError(err) ? err : new IpmiError('IPMI_ERR_SESSION_CLOSED', 'Could not send a SOL packet', { cause: err, fatal: true }));
    }
  }

  #receive(payload: Buffer, sessionSequence: number): void {
    // A SOL packet older (by session sequence) than one already taken is a stale copy overtaken on the way
    // (a retransmission or a duplicate reordered behind the next packet): its 4-bit SOL sequence number
    // would pass it off as new data. Dropping one that was merely reordered costs a retransmission: the
    // BMC resends it under a newer session sequence number.
    if (sessionSequence !== 0) {
      if (this.#newestSessionSequence !== undefined && isOlderSequence(sessionSequence, this.#newestSessionSequence)) {
        this.#staleDropped++;
        return;
      }
      this.#newestSessionSequence = sessionSequence;
    }
    this.#engine.receive(payload, this.#clock.now());
    this.#reschedule();
  }

  /** The payload is not ours any more: never Deactivate it, and the session no longer holds anything. */
  #lose(): void {
    this.#payloadLost = true;
    this.#ownSessions.delete(bmcOf(this.#host), this.#host.bmcSessionId);
  }

  /**
   * Deactivate Payload, unless the payload is not ours: lost already, the session gone, or Get Payload Instance
   * Info (section 24.5) naming another holder (ipmi_sim tells the old holder nothing when another session takes
   * the payload, and deactivates whoever holds it). Never rejects.
   */
  async #releasePayload(): Promise<void> {
    if (this.#payloadLost || this.#host.closed) return;
    const bmc = bmcOf(this.#host);
    try {
      if (this.#ownershipAnswered) {
        const holder = await payloadHolder(this.#host, this.instance);
        if (holder.known && holder.sessionId !== this.#host.bmcSessionId) {
          debug('instance %d: held by BMC session 0x%s, not ours: no Deactivate', this.instance, holder.sessionId.toString(16));
          this.#lose();
          return;
        }
      }
      const wasActive = await deactivateSol(this.#host, this.instance);
      this.#ownSessions.delete(bmc, this.#host.bmcSessionId);
      debug('instance %d deactivated (was active: %s)', this.instance, wasActive);
    } catch (err) {
      debug('instance %d: Deactivate Payload failed: %s', this.instance, isIpmiError(err) ? err.code : 'error');
    }
  }

  /** Run onRelease once. Never rejects. */
  #release(): Promise<void> {
    this.#released ??= (async () => {
      try {
        await this.#onRelease?.();
      } catch (err) {
        debug('instance %d: onRelease failed: %s', this.instance, isIpmiError(err) ? err.code : 'error');
      }
    })();
    return this.#released;
  }

  #scheduleOwnershipCheck(): void {
    if (this.#ownershipCheckMs <= 0 || !this.#ownershipAnswered) return;
    this.#ownershipTimer = this.#clock.setTimeout(() => void this.#checkOwnership(), this.#ownershipCheckMs);
  }

  /**
   * Get Payload Instance Info (section 24.5): another holder than us (or none) means SOL was taken over or
   * deactivated elsewhere. A BMC that lacks the command (0xC1) or answers oddly is not asked again; a request
   * that times out closes the session, which ends the stream.
   */
  async #checkOwnership(): Promise<void> {
    this.#ownershipTimer = undefined;
    if (this.destroyed || this.#deactivation || this.#host.closed) return;
    let holder;
    try {
      holder = await payloadHolder(this.#host, this.instance);
    } catch {
      return;
    }
    if (this.destroyed || this.#deactivation) return;
    if (!holder.known) {
      debug('instance %d: Get Payload Instance Info unusable (cc 0x%s), not asked again', this.instance, holder.completionCode.toString(16));
      this.#ownershipAnswered = false;
      return;
    }
    if (holder.sessionId === this.#host.bmcSessionId) {
      this.#scheduleOwnershipCheck();
      return;
    }
    this.#lose();
    const message =
      holder.sessionId === 0
        ? `SOL instance ${this.instance} was deactivated by another session (the BMC did not say so)`
        : `SOL instance ${this.instance} was taken over by another session (BMC session 0x${holder.sessionId.toString(16)})`;
    this.destroy(new IpmiError('IPMI_ERR_SOL_DEACTIVATED', message, { fatal: true }));
  }

  #enqueue(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (chunk.length === 0) {
      cb();
      return;
    }
    this.#written += chunk.length;
    this.#pending.push({ end: this.#written, cb });
    this.#engine.write(chunk, this.#clock.now());
    this.#reschedule();
  }

  #onAcked(count: number): void {
    this.#acked += count;
    while (this.#pending.length > 0 && this.#pending[0]!.end <= this.#acked) this.#pending.shift()!.cb();
  }

  #closedError(): IpmiError {
    return this.closeReason ?? new IpmiError('IPMI_ERR_SESSION_CLOSED', 'The SOL stream is closed');
  }

  #reschedule(): void {
    this.#timer.rearm();
  }

  #stopTimers(): void {
    this.#timer.cancel();
    this.#ownershipTimer?.cancel();
    this.#ownershipTimer = undefined;
  }
}

/**
 * SolStream: one activated SOL payload as a Node Duplex, backpressure in both directions.
 * - Writable side: `_write`/`_writev` hand characters to the SolEngine and call back only when the BMC has
 *   acknowledged all of them, so the writable highWaterMark bounds what is queued (SOL is stop-and-wait).
 * - Readable side: `_read` grants the engine a credit of readableHighWaterMark characters; when push()
 *   returns false the credit drops to 0 and BMC packets are held unacknowledged (or NACKed, per
 *   `inboundPause`) until `_read` grants credit again. Memory: 2 x readableHighWaterMark + writable
 *   highWaterMark (+ the one chunk being sent) + SOL_MAX_HELD_PACKETS x 255.
 * - One timer at a time, armed at the engine's nextDeadline().
 * - 'close' is emitted with the reason: an IpmiError, or undefined for a clean close. 'break' when the BMC
 *   reports a break on the serial line.
 * Debug namespace `ipmi:sol`: lengths and sequence-level events only, never characters.
 */
import { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import createDebug from 'debug';
import { IpmiError, isIpmiError } from '../errors.js';
import { SolEngine, type InboundPausePolicy, type SolStats, type SolWorkarounds } from './sol-engine.js';
import { deactivateSol } from './sol-commands.js';
import { Cmd, encodeGetPayloadInstanceInfo } from '../codec/commands.js';
import { isOlderSequence } from '../codec/rmcp.js';
import { NetFn } from '../codec/ipmi-message.js';
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
  inboundPause?: InboundPausePolicy;
  workarounds?: SolWorkarounds;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Monotonic milliseconds; injectable for specs. */
  clock?: () => number;
  /** See DEFAULT_SOL_OWNERSHIP_CHECK_MS; 0 disables. */
  ownershipCheckMs?: number;
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

  private readonly host: SolHost;
  private readonly engine: SolEngine;
  private readonly clock: () => number;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly pending: PendingWrite[] = [];
  private written = 0;
  private acked = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private deactivation: Promise<void> | undefined;
  private ownershipTimer: NodeJS.Timeout | undefined;
  private newestSessionSequence: number | undefined;
  private staleDropped = 0;
  private readonly sendOptions: { encrypt: boolean; authenticate: boolean; port: number };

  /** The UDP port SOL payloads go to now (it moves once if the BMC answers only on its reported port). */
  get port(): number {
    return this.sendOptions.port;
  }

  constructor(host: SolHost, options: SolStreamOptions) {
    super({
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_SOL_READABLE_HWM,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_SOL_WRITABLE_HWM,
      decodeStrings: true,
      emitClose: false, // we emit 'close' ourselves, with the reason
      allowHalfOpen: true,
    });
    this.host = host;
    this.instance = options.instance;
    this.maxOutboundChars = options.maxOutboundChars;
    this.clock = options.clock ?? (() => performance.now());
    const sendOptions = { encrypt: options.encrypt, authenticate: options.authenticate, port: options.port };
    this.sendOptions = sendOptions;
    let alternatePort = options.alternatePort;
    let probedFrom: number | undefined;
    this.engine = new SolEngine({
      send: (payload) => {
        try {
          host.sendSolPayload(payload, sendOptions);
        } catch (err) {
          this.destroy(isIpmiError(err) ? err : new IpmiError('IPMI_ERR_SESSION_CLOSED', 'Could not send a SOL packet', { cause: err, fatal: true }));
        }
      },
      maxOutboundChars: options.maxOutboundChars,
      retransmitIntervalMs: options.retransmitIntervalMs,
      maxRetransmits: options.maxRetransmits,
      inboundPause: options.inboundPause,
      workarounds: options.workarounds,
      inboundCredit: this.readableHighWaterMark,
      onData: (chars) => {
        if (!this.push(chars)) this.engine.setInboundCredit(0, this.clock());
      },
      onAcked: (count) => this.onAcked(count),
      onBreak: () => this.emit('break'),
      // The priming packet probes the port (see chooseSolPorts): unanswered on the session's port, try the
      // reported one once; unanswered there too (a loss burst, or a port a NAT does not pass), come back and
      // carry on on the session's port. SOL stays on the reported port only if the BMC answered there.
      onPrimeUnanswered: () => {
        if (alternatePort !== undefined) {
          debug('instance %d: no answer on port %d, probing the reported port %d', this.instance, sendOptions.port, alternatePort);
          [sendOptions.port, alternatePort] = [alternatePort, undefined];
          probedFrom = options.port;
          return true;
        }
        if (probedFrom !== undefined) {
          debug('instance %d: no answer on port %d either, back to port %d', this.instance, sendOptions.port, probedFrom);
          [sendOptions.port, probedFrom] = [probedFrom, undefined];
        }
        return false;
      },
      onEnd: (reason) => {
        debug('instance %d ended: %s', this.instance, reason.code);
        this.destroy(reason);
      },
    });

    this.unsubscribe.push(
      host.onSolPayload((payload, sessionSequence) => {
        // A SOL packet older (by session sequence) than one already taken is a stale copy overtaken on the way
        // (a retransmission or a duplicate reordered behind the next packet): its 4-bit SOL sequence number
        // would pass it off as new data. Dropping one that was merely reordered costs a retransmission: the
        // BMC resends it under a newer session sequence number.
        if (sessionSequence !== 0) {
          if (this.newestSessionSequence !== undefined && isOlderSequence(sessionSequence, this.newestSessionSequence)) {
            this.staleDropped++;
            return;
          }
          this.newestSessionSequence = sessionSequence;
        }
        this.engine.receive(payload, this.clock());
        this.reschedule();
      }),
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
    this.engine.start(this.clock());
    this.reschedule();
    const every = options.ownershipCheckMs ?? DEFAULT_SOL_OWNERSHIP_CHECK_MS;
    if (every > 0) this.ownershipTimer = setInterval(() => void this.checkOwnership(), every);
  }

  /**
   * Get Payload Instance Info (section 24.5): bytes 1-4 are the ID of the session holding the instance, 0 when
   * it is not active. Another ID than ours means SOL was taken over. A BMC that lacks the command (0xC1) or
   * answers oddly is not asked again; a request that times out closes the session, which ends the stream.
   */
  private async checkOwnership(): Promise<void> {
    if (this.destroyed || this.deactivation || this.host.closed) return;
    let rsp;
    try {
      rsp = await this.host.request({
        netFn: NetFn.APP,
        cmd: Cmd.GET_PAYLOAD_INSTANCE_INFO,
        data: encodeGetPayloadInstanceInfo(this.instance),
      });
    } catch {
      return;
    }
    if (this.destroyed || this.deactivation) return;
    if (rsp.completionCode !== 0 || rsp.data.length < 4) {
      debug('instance %d: Get Payload Instance Info unusable (cc 0x%s), not asked again', this.instance, rsp.completionCode.toString(16));
      this.stopOwnershipChecks();
      return;
    }
    const holder = rsp.data.readUInt32LE(0);
    if (holder === this.host.bmcSessionId) return;
    this.destroy(
      new IpmiError(
        'IPMI_ERR_SOL_DEACTIVATED',
        holder === 0
          ? `SOL instance ${this.instance} was deactivated by another session (the BMC did not say so)`
          : `SOL instance ${this.instance} was taken over by another session (BMC session 0x${holder.toString(16)})`,
        { fatal: true },
      ),
    );
  }

  private stopOwnershipChecks(): void {
    if (this.ownershipTimer) clearInterval(this.ownershipTimer);
    this.ownershipTimer = undefined;
  }

  /** Characters written so far that the BMC acknowledged (ConsoleStream.acknowledgedBytes). */
  get acknowledgedBytes(): number {
    return this.acked;
  }

  /** Counters of the SOL protocol (a copy); staleDropped: SOL packets older than one already taken. */
  get stats(): SolStats & { staleDropped: number } {
    return { ...this.engine.stats, staleDropped: this.staleDropped };
  }

  /** Generate a break on the host's serial line, after everything written before. Resolves on the BMC's ACK. */
  sendBreak(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.destroyed) {
        reject(this.closedError());
        return;
      }
      this.engine.sendBreak(this.clock(), (err) => (err ? reject(err) : resolve()));
      this.reschedule();
    });
  }

  /** Ask the BMC to flush its buffers (operation bits 0x02/0x01), in order with writes. */
  flushBmc(which: { bmcInbound?: boolean; bmcOutbound?: boolean }): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.destroyed) {
        reject(this.closedError());
        return;
      }
      this.engine.flush(this.clock(), which, (err) => (err ? reject(err) : resolve()));
      this.reschedule();
    });
  }

  /**
   * Deactivate the payload on the BMC (Deactivate Payload), then end the stream (close reason undefined).
   * Idempotent: every call returns the same promise. Never rejects (the bridge's ConsoleStream contract):
   * a failed Deactivate (session gone, BMC timeout or refusal) is logged under `ipmi:sol` and the stream
   * ends anyway; closing the session deactivates the payload on the BMC in any case.
   * Characters not yet acknowledged are abandoned.
   */
  deactivate(): Promise<void> {
    if (this.deactivation) return this.deactivation;
    this.engine.close();
    this.clearTimer();
    this.stopOwnershipChecks();
    this.deactivation = (async () => {
      if (!this.host.closed) {
        try {
          const wasActive = await deactivateSol(this.host, this.instance);
          debug('instance %d deactivated (was active: %s)', this.instance, wasActive);
        } catch (err) {
          debug('instance %d: Deactivate Payload failed: %s', this.instance, isIpmiError(err) ? err.code : 'error');
        }
      }
      if (!this.destroyed) {
        this.push(null);
        this.destroy();
      }
    })();
    return this.deactivation;
  }

  // ---- Duplex ---------------------------------------------------------------------------------------------

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.enqueue(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.enqueue(Buffer.concat(chunks.map((c) => c.chunk)), cb);
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
    this.engine.setInboundCredit(this.readableHighWaterMark, this.clock());
    this.reschedule();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const reason = err === null ? undefined : isIpmiError(err) ? err : new IpmiError('IPMI_ERR_ABORTED', err.message, { cause: err, fatal: true });
    this.closeReason = reason;
    this.clearTimer();
    this.stopOwnershipChecks();
    for (const off of this.unsubscribe.splice(0)) off();
    this.engine.close(reason);
    const writeErr = reason ?? this.closedError();
    for (const p of this.pending.splice(0)) p.cb(writeErr);
    // A local destroy (no error from the BMC or the session) frees the payload on the BMC, best effort.
    // Not after IPMI_ERR_SOL_TIMEOUT: the payload may belong to a session that stole it (FreeIPMI does the same).
    if (!this.deactivation && !this.host.closed && (err === null || !isIpmiError(err))) {
      this.deactivation = deactivateSol(this.host, this.instance).then(
        () => undefined,
        (e: unknown) => debug('deactivate after destroy failed: %s', isIpmiError(e) ? e.code : 'error'),
      );
    }
    debug('instance %d closed: %s; stats %o', this.instance, reason?.code ?? 'clean', this.engine.stats);
    // The reason always comes with 'close'. 'error' is emitted only to someone listening for it (pipeline()
    // does): a BMC that goes away must not crash a process that embeds the stream and listens to 'close' only.
    cb(this.listenerCount('error') > 0 ? err : null);
    process.nextTick(() => this.emit('close', reason));
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private enqueue(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (chunk.length === 0) {
      cb();
      return;
    }
    this.written += chunk.length;
    this.pending.push({ end: this.written, cb });
    this.engine.write(chunk, this.clock());
    this.reschedule();
  }

  private onAcked(count: number): void {
    this.acked += count;
    while (this.pending.length > 0 && this.pending[0]!.end <= this.acked) this.pending.shift()!.cb();
  }

  private closedError(): IpmiError {
    return this.closeReason ?? new IpmiError('IPMI_ERR_SESSION_CLOSED', 'The SOL stream is closed');
  }

  private reschedule(): void {
    const at = this.engine.nextDeadline();
    if (at === this.timerAt) return;
    this.clearTimer();
    if (at === undefined) return;
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = undefined;
      this.engine.poll(this.clock());
      this.reschedule();
    }, Math.max(0, at - this.clock()));
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
  }
}

/**
 * SolEngine: the SOL character protocol of IPMI 2.0 sections 15.9-15.11, as a pure state machine.
 * No timers and no I/O: it is driven by `receive(payload, now)`, `write(chars, now)`, `poll(now)` and emits
 * SOL payloads (4-byte SOL header + characters) through the injected `send`. The stream owns the one timer,
 * armed at `nextDeadline()`.
 *
 * Wire layout of every SOL payload (section 15.9, tables 15-2 and 15-3):
 *   [0] packet sequence number, bits 3:0; 0 = ACK/NACK-only packet, data packets run 1..15 and wrap to 1
 *   [1] ACK/NACK sequence number, bits 3:0; 0 = this packet acknowledges nothing
 *   [2] accepted character count (of the packet being acknowledged)
 *   [3] console -> BMC operation bits / BMC -> console status bits
 *   [4..] characters (at most 255: the accepted count is one byte)
 *
 * Design decisions (each one documented where it is implemented):
 * - Sender: stop-and-wait, one unacknowledged packet at a time (section 15.10). A retransmission repeats the
 *   identical SOL bytes after an RTT-based timeout (RttEstimator; `adaptiveRetransmit: false`: every
 *   `retransmitIntervalMs`), then IPMI_ERR_SOL_TIMEOUT as RetransmitSchedule says (lib/session/rtt-estimator.ts).
 *   A partial ACK (accepted < sent) leaves the rest at the head of the queue; it goes out as a NEW packet
 *   with the next sequence number (a BMC that deduplicates on sequence numbers would drop a same-numbered
 *   resend).
 * - Sequence priming (the ipmi_sim first-packet quirk): see `SOL_PRIME_SEQUENCE`.
 * - ACKs are always sent as ACK-only packets (sequence 0), never piggy-backed on our data packets: a data
 *   packet is retransmitted with identical bytes, and a piggy-backed ACK would be replayed with it; after
 *   the BMC's sequence numbers wrap (15 packets) such a stale ACK could acknowledge a packet we never saw.
 * - Inbound backpressure: the consumer grants a character credit (`setInboundCredit`); without it, data packets
 *   are held, bounded, and answered per `InboundPausePolicy` (sol-inbound.ts).
 */
import { IpmiError } from '../errors.js';
import {
  decodeSolPacket,
  encodeSolPacket,
  SOL_HEADER_LENGTH,
  SOL_MAX_CHARACTERS,
  SolOperation,
  SolStatus,
} from '../codec/sol-payload.js';
import { newSolStats, type SolStats } from './sol-stats.js';
import {
  bumpSequenceNow,
  renumberSolPayload,
  serialKeepaliveCharacters,
  serialKeepaliveInterval,
  SOL_OVERSIZED_MAX_CHARACTERS,
  type SolWorkarounds,
} from './sol-workarounds.js';
import {
  DEFAULT_SOL_MAX_RETRANSMITS,
  DEFAULT_SOL_RETRANSMIT_INTERVAL_MS,
  SOL_PRIME_MAX_SENDS,
  SOL_PRIME_SEQUENCE,
  type SolEngineOptions,
} from './sol-engine-options.js';
import { SolOutboundQueue } from './sol-outbound-queue.js';
import { SolTxSequence } from './sol-tx-sequence.js';
import { SOL_MAX_HELD_PACKETS, SOL_PAUSED_ACK_MS, SolInbound, type InboundPausePolicy } from './sol-inbound.js';
import { RetransmitSchedule, RttEstimator } from '../session/rtt-estimator.js';

export type { SolEngineOptions } from './sol-engine-options.js';
export { DEFAULT_SOL_RETRANSMIT_INTERVAL_MS, DEFAULT_SOL_MAX_RETRANSMITS, SOL_PRIME_SEQUENCE, SOL_PRIME_MAX_SENDS };
export { SOL_MAX_HELD_PACKETS, SOL_PAUSED_ACK_MS, SOL_OVERSIZED_MAX_CHARACTERS, type InboundPausePolicy, type SolStats, type SolWorkarounds };

interface Outstanding {
  kind: 'prime' | 'data' | 'op';
  seq: number;
  payload: Buffer; // retransmitted as is
  chars: number;
  schedule: RetransmitSchedule;
}

export class SolEngine {
  readonly stats: SolStats = newSolStats();
  /** false once a priming packet went unanswered: this BMC does not ACK packets without characters. */
  emptyPacketsAcked: boolean | undefined;
  /** Last status bit 0x20: the BMC cannot move characters to/from the serial controller right now. */
  transferUnavailable = false;

  private readonly opts: SolEngineOptions;
  private readonly maxChars: number;
  private readonly interval: number;
  private readonly maxRetransmits: number;
  /** The retransmission timeout estimate; undefined with adaptiveRetransmit false (the fixed timer). */
  readonly rtt: RttEstimator | undefined;
  private readonly workarounds: SolWorkarounds;

  private started = false;
  private ended = false;
  private readonly txSeq = new SolTxSequence(SOL_PRIME_SEQUENCE); // the first data packet is 1
  private outstanding: Outstanding | undefined;
  private readonly queue = new SolOutboundQueue();
  private readonly inbound: SolInbound;
  private remoteBusyUntil = 0; // BMC NACKed / not ready: hold data until a non-NACK packet or this time
  private remoteBusy = false;
  private zeroAckUntil = 0; // ACK with count 0: resend no earlier than this
  private zeroAckStreak = 0;
  /** workarounds.serialKeepalive: when the BMC last sent characters (or the last keepalive went out). */
  private lastBmcOutputAt = 0;

  constructor(options: SolEngineOptions) {
    this.opts = options;
    this.maxChars = Math.max(1, Math.min(SOL_MAX_CHARACTERS, Math.floor(options.maxOutboundChars) || 1));
    this.interval = options.retransmitIntervalMs ?? DEFAULT_SOL_RETRANSMIT_INTERVAL_MS;
    this.maxRetransmits = options.maxRetransmits ?? DEFAULT_SOL_MAX_RETRANSMITS;
    this.rtt = options.adaptiveRetransmit === false ? undefined : (options.rtt ?? new RttEstimator());
    this.workarounds = options.workarounds ?? {};
    this.inbound = new SolInbound({
      policy: options.inboundPause ?? 'ack-zero',
      credit: options.inboundCredit ?? Number.POSITIVE_INFINITY,
      stats: this.stats,
      sendAck: (seq, count, nack) => this.sendAck(seq, count, nack),
      onData: options.onData,
    });
  }

  /** Characters written and not yet acknowledged by the BMC. */
  get pendingChars(): number {
    return this.queue.chars;
  }

  /** No characters or operations waiting and nothing unacknowledged (the priming packet excepted). */
  get idle(): boolean {
    return this.queue.length === 0 && (this.outstanding === undefined || this.outstanding.kind === 'prime');
  }

  get closed(): boolean {
    return this.ended;
  }

  get heldPackets(): number {
    return this.inbound.heldPackets;
  }

  /** Begin: sends the priming packet (unless workarounds.skipSequencePrime), then anything queued. */
  start(now: number): void {
    if (this.started || this.ended) return;
    this.started = true;
    this.lastBmcOutputAt = now;
    if (!this.workarounds.skipSequencePrime) {
      // Zero characters, sequence 15, no operation bits: see SOL_PRIME_SEQUENCE.
      const payload = encodeSolPacket({ sequence: SOL_PRIME_SEQUENCE, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.alloc(0) });
      this.outstanding = this.launch('prime', SOL_PRIME_SEQUENCE, payload, 0, now);
    }
    this.pump(now);
  }

  /**
   * Queue characters for the BMC. They leave in packets of at most maxOutboundChars, one at a time. After the
   * engine ended they are only recorded as unacknowledged (see takeUnacknowledged).
   */
  write(chars: Buffer, now: number): void {
    if (chars.length === 0) return;
    this.queue.pushData(chars);
    this.pump(now);
  }

  /**
   * Once the engine ended or was closed: every character written and never acknowledged by the BMC (queued or
   * in flight), in write order. Empties the ledger. While it runs: an empty Buffer (those characters are on
   * their way).
   */
  takeUnacknowledged(): Buffer {
    return this.ended ? this.queue.takeChars() : Buffer.alloc(0);
  }

  /**
   * Generate a break on the serial line (operation bit 0x10), after every character written before it.
   * The break travels in its own packet without characters (as FreeIPMI does); `done` runs on its ACK.
   */
  sendBreak(now: number, done: (err?: IpmiError) => void = noop): void {
    this.queueOp(SolOperation.GENERATE_BREAK, now, done);
  }

  /**
   * Ask the BMC to flush its buffers (operation bits 0x02 flush inbound = characters from us not yet on the
   * serial line, 0x01 flush outbound = serial characters not yet sent to us), in order with the writes.
   */
  flush(now: number, which: { bmcInbound?: boolean; bmcOutbound?: boolean }, done: (err?: IpmiError) => void = noop): void {
    const flags = (which.bmcInbound ? SolOperation.FLUSH_INBOUND : 0) | (which.bmcOutbound ? SolOperation.FLUSH_OUTBOUND : 0);
    if (flags === 0) {
      done();
      return;
    }
    this.queueOp(flags, now, done);
  }

  /**
   * How many characters the consumer can take now. 0 pauses inbound data (held, not acknowledged or
   * NACKed per `inboundPause`); a positive value delivers held packets and acknowledges them.
   */
  setInboundCredit(chars: number, now: number): void {
    if (this.ended) return;
    this.inbound.setCredit(chars);
    this.pump(now);
  }

  /** One SOL payload from the BMC (already verified and decrypted by the session). */
  receive(payload: Buffer, now: number): void {
    if (this.ended) return;
    const maxChars = this.workarounds.acceptOversizedPackets ? SOL_OVERSIZED_MAX_CHARACTERS : SOL_MAX_CHARACTERS;
    if (payload.length < SOL_HEADER_LENGTH || payload.length > SOL_HEADER_LENGTH + maxChars) {
      this.stats.malformed++;
      return;
    }
    const p = decodeSolPacket(payload);
    if (p.sequence === 0 && p.data.length > 0) {
      // Characters in an ACK-only packet cannot be acknowledged (section 15.9): drop it whole.
      this.stats.malformed++;
      return;
    }
    this.stats.packetsReceived++;
    const duplicate = this.inbound.isDuplicate(p.sequence);
    this.noteRemoteStatus(p.flags, now);

    const o = this.outstanding;
    if (p.ackSequence !== 0 && o && p.ackSequence === o.seq) {
      o.schedule.answered(now); // an RTT sample when it went out once (Karn's rule)
      this.onAck(p.acceptedCount, (p.flags & SolStatus.NACK) !== 0, now);
    } else if (p.ackSequence !== 0) this.stats.unexpectedAcks++; // an ACK for a packet that is not outstanding: ignored

    if (p.sequence !== 0 && p.data.length > 0) this.lastBmcOutputAt = now;
    if (p.sequence !== 0) this.inbound.onDataPacket(p.sequence, p.data, now);

    if (!duplicate) {
      if (p.flags & SolStatus.BREAK_DETECTED) {
        this.stats.breaksReceived++;
        this.opts.onBreak?.();
      }
      if (p.flags & SolStatus.TRANSMIT_OVERRUN) this.stats.overruns++;
    }
    if (this.ended) return;

    if (p.flags & SolStatus.DEACTIVATING) {
      // Status bit 4 (table 15-3): the BMC is deactivating SOL, typically because another session activated
      // it (steal) or an operator ran "sol deactivate". Characters of this packet were delivered above.
      this.end(
        new IpmiError(
          'IPMI_ERR_SOL_DEACTIVATED',
          'The BMC deactivated Serial-over-LAN for this session (another session may have taken over the console, or it was deactivated on the BMC)',
          { fatal: true },
        ),
      );
      return;
    }
    this.pump(now);
  }

  /** Retransmit or give up when a deadline passed; send what became sendable. */
  poll(now: number): void {
    if (this.ended) return;
    const o = this.outstanding;
    if (o && now >= o.schedule.deadline) {
      this.expire(o, now);
      if (this.ended) return;
    }
    this.maybeSerialKeepalive(now);
    this.inbound.poll(now);
    this.pump(now);
  }

  /** The outstanding packet's retransmission timer expired: probe elsewhere, go on, retransmit, or give up. */
  private expire(o: Outstanding, now: number): void {
    const sends = o.schedule.sends;
    if (o.kind === 'prime' && sends >= SOL_PRIME_MAX_SENDS) {
      if (this.opts.onPrimeUnanswered?.()) {
        // The transport moved SOL elsewhere (another UDP port): probe there the same way.
        o.schedule = this.newSchedule(now);
        this.emit(o.payload);
      } else {
        // This BMC does not ACK a packet without characters: go on (see SOL_PRIME_SEQUENCE).
        this.emptyPacketsAcked = false;
        this.outstanding = undefined;
      }
      return;
    }
    const verdict = o.schedule.expire(now);
    if (verdict === 'give-up') {
      const what = `after ${sends - 1} retransmissions in ${Math.round(now - o.schedule.firstSentAt)} ms`;
      this.end(new IpmiError('IPMI_ERR_SOL_TIMEOUT', `The BMC did not acknowledge SOL packet ${o.seq} ${what}`, { fatal: true }));
    } else if (verdict === 'retransmit') {
      this.stats.retransmits++;
      if (o.kind === 'data' && bumpSequenceNow(sends, this.workarounds.bumpSequenceAfterSends)) this.bumpSequence(o);
      this.emit(o.payload);
    }
  }

  /** workarounds.bumpSequenceAfterSends (FreeIPMI "solpacketseq"): the same characters under the next number. */
  private bumpSequence(o: Outstanding): void {
    o.seq = this.txSeq.next();
    o.payload = renumberSolPayload(o.payload, o.seq);
    this.stats.sequenceBumps = (this.stats.sequenceBumps ?? 0) + 1;
  }

  /** workarounds.serialKeepalive: the BMC was quiet for the interval and nothing is in flight. */
  private maybeSerialKeepalive(now: number): void {
    const mode = this.workarounds.serialKeepalive;
    const due = this.ended ? undefined : this.serialKeepaliveDue();
    if (!mode || due === undefined || now < due) return;
    this.lastBmcOutputAt = now;
    this.stats.serialKeepalives = (this.stats.serialKeepalives ?? 0) + 1;
    this.queue.pushOp(0, noop, serialKeepaliveCharacters(mode));
    this.pump(now);
  }

  /** When `poll` next has something to do (absolute, same clock as `now`), or undefined. */
  nextDeadline(): number | undefined {
    if (this.ended) return undefined;
    let sender: number | undefined;
    if (this.outstanding) sender = this.outstanding.schedule.deadline;
    else if (this.queue.length > 0) {
      const t = Math.max(this.remoteBusy ? this.remoteBusyUntil : 0, this.zeroAckUntil);
      sender = t > 0 ? t : undefined;
    }
    return earliest(earliest(sender, this.inbound.pausedAckAt), this.serialKeepaliveDue());
  }

  /**
   * workarounds.serialKeepalive: when the next keepalive is due; only while the sender is idle (a deadline that
   * cannot act would make the stream's timer spin).
   */
  private serialKeepaliveDue(): number | undefined {
    const { serialKeepalive, serialKeepaliveMs } = this.workarounds;
    if (!serialKeepalive || !this.started || this.outstanding || this.queue.length > 0) return undefined;
    return this.lastBmcOutputAt + serialKeepaliveInterval(serialKeepaliveMs);
  }

  /** Stop locally: nothing more is sent; queued operations fail with `reason`. onEnd is not called. */
  close(reason: IpmiError = new IpmiError('IPMI_ERR_SESSION_CLOSED', 'The SOL stream was closed')): void {
    if (this.ended) return;
    this.stop(reason);
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /**
   * Status bit 6 (table 15-3): the BMC could not take characters. Hold our data until a packet without it says
   * the BMC is ready again, or one retransmit interval passes (then we try again). Bit 5: transfer unavailable.
   */
  private noteRemoteStatus(flags: number, now: number): void {
    if (flags & SolStatus.NACK) {
      this.stats.nacksReceived++;
      this.remoteBusy = true;
      this.remoteBusyUntil = now + this.interval;
    } else {
      this.remoteBusy = false;
    }
    this.transferUnavailable = (flags & SolStatus.TRANSFER_UNAVAILABLE) !== 0;
  }

  private queueOp(flags: number, now: number, done: (err?: IpmiError) => void): void {
    if (this.ended) {
      done(new IpmiError('IPMI_ERR_SESSION_CLOSED', 'The SOL stream is closed'));
      return;
    }
    this.queue.pushOp(flags, done);
    this.pump(now);
  }

  private end(reason: IpmiError): void {
    if (this.ended) return;
    this.stop(reason);
    this.opts.onEnd?.(reason);
  }

  /** Nothing more goes out; operations fail with `reason`; unacknowledged characters stay in the ledger. */
  private stop(reason: IpmiError): void {
    this.ended = true;
    this.inbound.stop();
    this.outstanding = undefined;
    this.queue.failOps(reason);
  }

  /** First transmission of a packet that waits for its ACK. */
  private launch(kind: Outstanding['kind'], seq: number, payload: Buffer, chars: number, now: number): Outstanding {
    this.emit(payload);
    return { kind, seq, payload, chars, schedule: this.newSchedule(now) };
  }

  private newSchedule(now: number): RetransmitSchedule {
    return new RetransmitSchedule(now, this.interval, this.maxRetransmits, this.rtt);
  }

  private emit(payload: Buffer): void {
    this.stats.packetsSent++;
    this.opts.send(payload);
  }

  private sendAck(seq: number, count: number, nack: boolean): void {
    // ACK-only packet (sequence 0), table 15-2.
    if (nack) this.stats.nacksSent++;
    this.stats.packetsSent++;
    this.opts.send(
      // the count is one byte: an oversized packet (workarounds.acceptOversizedPackets) is ACKed with 255
      encodeSolPacket({ sequence: 0, ackSequence: seq, acceptedCount: Math.min(count, SOL_MAX_CHARACTERS), flags: nack ? SolOperation.NACK : 0, data: Buffer.alloc(0) }),
    );
  }

  /** Send the next packet if nothing is outstanding and the BMC may take it. */
  private pump(now: number): void {
    while (!this.ended && this.started && !this.outstanding && this.queue.length > 0) {
      if (this.remoteBusy && now < this.remoteBusyUntil) return;
      if (now < this.zeroAckUntil) return;
      const head = this.queue.head!;
      const seq = this.txSeq.next();
      if (head.kind === 'op') {
        if (!this.sendOp(head.flags, head.done, now, head.chars)) return;
        continue;
      }
      const chars = this.queue.peekChars(this.maxChars);
      const payload = encodeSolPacket({ sequence: seq, ackSequence: 0, acceptedCount: 0, flags: 0, data: chars });
      this.outstanding = this.launch('data', seq, payload, chars.length, now);
    }
  }

  /** Send the operation at the head of the queue; true when it is done at once (nothing outstanding). */
  private sendOp(flags: number, done: (err?: IpmiError) => void, now: number, chars: Buffer = Buffer.alloc(0)): boolean {
    const seq = this.txSeq.current;
    const payload = encodeSolPacket({ sequence: seq, ackSequence: 0, acceptedCount: 0, flags, data: chars });
    if (flags & SolOperation.GENERATE_BREAK) this.stats.breaksSent++;
    const o = this.launch('op', seq, payload, 0, now);
    if (this.emptyPacketsAcked === false) {
      // This BMC never ACKed our empty priming packet, so it will not ACK this one either: sent once.
      this.queue.shift();
      done();
      return true;
    }
    this.outstanding = o;
    return false;
  }

  private onAck(accepted: number, nack: boolean, now: number): void {
    const o = this.outstanding!;
    this.outstanding = undefined;
    this.txSeq.answered(o.seq, nack);
    if (o.kind === 'prime') {
      this.emptyPacketsAcked = true; // the count is meaningless here (ipmi_sim repeats a stale one)
      return;
    }
    if (o.kind === 'op') {
      const head = this.queue.shift();
      if (head && head.kind === 'op') head.done();
      return;
    }
    let count = Math.min(accepted, o.chars); // a count above what we sent is a BMC bug: take it as "all"
    if (count === 0 && !nack) {
      if (!this.workarounds.zeroAcceptedMeansAll) {
        this.onZeroAck(now);
        return;
      }
      count = o.chars;
    }
    if (count > 0) this.zeroAckStreak = 0;
    // A partial count (or a NACK, which still reports what was taken) leaves the rest at the head of the
    // queue: it leaves as a new packet with the next sequence number (section 15.9).
    this.queue.consumeChars(count);
    this.stats.bytesOut += count;
    if (count > 0) this.opts.onAcked?.(count);
  }

  /**
   * Nothing taken and no NACK: resend the characters as a new packet, one interval later (resending at once
   * would spin against a BMC whose buffer is full). Bounded like retransmissions.
   */
  private onZeroAck(now: number): void {
    this.zeroAckStreak++;
    if (this.zeroAckStreak > this.maxRetransmits) {
      this.end(
        new IpmiError(
          'IPMI_ERR_SOL_TIMEOUT',
          `The BMC accepted no characters of ${this.zeroAckStreak} SOL packets in a row; if this BMC acknowledges whole packets with a count of 0, enable the zeroAcceptedMeansAll workaround`,
          { fatal: true },
        ),
      );
      return;
    }
    this.zeroAckUntil = now + this.interval;
  }
}

function noop(): void {}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

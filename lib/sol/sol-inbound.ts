/**
 * The receiving half of the SOL character protocol (IPMI 2.0 section 15.9): BMC data packets, the consumer's
 * credit, held packets while it has no room, and our ACKs (always ACK-only packets, sequence 0). Part of
 * SolEngine, which owns it; no timers and no I/O of its own.
 */
import type { SolStats } from './sol-stats.js';

/** Inbound data packets held (unacknowledged) while the consumer gives no credit: at most 4 x 255 bytes. */
export const SOL_MAX_HELD_PACKETS = 4;
/** 'ack-zero': how long a held packet waits for the consumer before its partial ACK (below 1 s BMC timers). */
export const SOL_PAUSED_ACK_MS = 250;

/**
 * What to answer a BMC data packet when the consumer has no room (section 15.9, table 15-2 byte 4 bit 6).
 * - 'ack-zero' (default): hold the packet for SOL_PAUSED_ACK_MS, then ACK it with the characters actually
 *   taken (0 for a new packet) and no NACK bit, and drop our copy: a partial ACK, after which the BMC resends
 *   the characters in its next packet (section 15.9). The BMC keeps the data, not us, for as long as the
 *   consumer stalls. ipmi_sim resends at once and, unlike a retransmission on its own timer, does not count
 *   this against its give-up budget (OpenIPMI lanserv/sol.c); paced at SOL_PAUSED_ACK_MS this is a few small
 *   packets a second per stalled console. Resuming within the pause delivers the held packet at once.
 * - 'silent': do not ACK; the BMC retransmits, and the packet is ACKed when the consumer has room. A stall
 *   longer than the BMC's retry budget loses data on the BMC (ipmi_sim: 6 s, then it discards its whole
 *   buffer and stops reading its serial port for good).
 * - 'nack': ACK with accepted count 0 and the NACK bit, the spec's way to ask the BMC to hold its data. On
 *   resume the held packet is delivered and ACKed without the NACK bit. ipmi_sim answers a console NACK by
 *   advancing its sequence number and waiting for an ACK of a packet it never sends: its output stalls.
 */
export type InboundPausePolicy = 'ack-zero' | 'silent' | 'nack';

export interface SolInboundOptions {
  policy: InboundPausePolicy;
  credit: number;
  stats: SolStats;
  /** Send an ACK-only packet for BMC packet `seq`: `count` characters taken, with or without the NACK bit. */
  sendAck(seq: number, count: number, nack: boolean): void;
  onData?(chars: Buffer): void;
}

export class SolInbound {
  /** 'ack-zero': when the held packet gets its partial ACK. */
  pausedAckAt: number | undefined;
  private lastSeq = 0; // sequence number of the last BMC packet we accepted (0 = none yet)
  private lastAccepted = 0; // characters of it we took
  private credit: number;
  private stopped = false;
  private readonly held: { seq: number; data: Buffer }[] = [];

  constructor(private readonly opts: SolInboundOptions) {
    this.credit = opts.credit;
  }

  get heldPackets(): number {
    return this.held.length;
  }

  /** A data packet with the sequence number we accepted last: a resend (our ACK was lost). */
  isDuplicate(seq: number): boolean {
    return seq !== 0 && seq === this.lastSeq;
  }

  stop(): void {
    this.stopped = true;
  }

  /** The consumer can take `chars` now: deliver held packets (and ACK them) while the credit lasts. */
  setCredit(chars: number): void {
    this.credit = Math.max(0, chars);
    if (this.credit > 0) this.pausedAckAt = undefined;
    while (this.credit > 0 && this.held.length > 0 && !this.stopped) {
      const h = this.held.shift()!;
      this.accept(h.seq, h.data);
    }
  }

  /** A BMC data packet; `data` must be a Buffer no one else holds or changes (it may be handed to onData as is). */
  onDataPacket(seq: number, data: Buffer, now: number): void {
    if (this.credit <= 0 && !this.nothingNew(seq, data)) {
      this.hold(seq, data);
      if (this.opts.policy === 'ack-zero') this.pausedAckAt ??= now + SOL_PAUSED_ACK_MS;
      return;
    }
    this.accept(seq, data);
  }

  /** Send the 'ack-zero' partial ACK once its time came. */
  poll(now: number): void {
    if (this.pausedAckAt !== undefined && now >= this.pausedAckAt) this.sendPausedAck();
  }

  /**
   * 'ack-zero': the consumer still has no room. ACK the newest held packet with what was taken of it (0 for a
   * new one) and drop the held copies: the BMC resends those characters (see InboundPausePolicy).
   */
  private sendPausedAck(): void {
    this.pausedAckAt = undefined;
    const h = this.held.at(-1);
    if (this.credit > 0 || !h) return;
    const offset = h.seq === this.lastSeq ? this.lastAccepted : 0;
    this.lastSeq = h.seq;
    this.lastAccepted = offset;
    this.held.length = 0;
    this.opts.stats.pausedAcks++;
    this.opts.sendAck(h.seq, offset, false);
  }

  /** Would this packet deliver nothing new (an empty packet, or a duplicate without new characters)? */
  private nothingNew(seq: number, data: Buffer): boolean {
    const offset = seq === this.lastSeq ? this.lastAccepted : 0;
    return data.length <= offset;
  }

  private hold(seq: number, data: Buffer): void {
    const copy = Buffer.from(data);
    const same = this.held.findIndex((h) => h.seq === seq);
    // A resend of a held sequence number replaces it (it may carry more characters).
    if (same >= 0) this.held[same] = { seq, data: copy };
    else this.held.push({ seq, data: copy });
    while (this.held.length > SOL_MAX_HELD_PACKETS) this.opts.stats.heldDropped += this.held.shift()!.data.length;
    if (this.opts.policy === 'nack') {
      const offset = seq === this.lastSeq ? this.lastAccepted : 0;
      this.opts.sendAck(seq, offset, true);
    }
  }

  /**
   * Take what the credit allows from a BMC data packet and ACK it. A packet with the sequence number we
   * accepted last is a resend (our ACK was lost): its first `lastAccepted` characters were delivered
   * already; only a longer tail is new (section 15.9, PROTOCOL.md). It is ACKed again in any case.
   */
  private accept(seq: number, data: Buffer): void {
    const duplicate = seq === this.lastSeq;
    const offset = duplicate ? Math.min(this.lastAccepted, data.length) : 0;
    if (duplicate) this.opts.stats.duplicatesDropped++;
    const fresh = data.subarray(offset);
    const take = Math.min(fresh.length, this.credit);
    this.lastSeq = seq;
    this.lastAccepted = offset + take;
    if (take > 0) {
      this.credit -= take;
      this.opts.stats.bytesIn += take;
    }
    // ACK first: onData may re-enter (the consumer sets a new credit), the ACK must not wait for that.
    this.opts.sendAck(seq, this.lastAccepted, false);
    // Mechanism "no copy on delivery" (issue 12, copies between Buffers): `data` is the packet's own Buffer
    // (decodeSolPacket copies the characters out of the datagram; a held packet is a copy too), referenced by
    // nothing else, so the consumer gets a view of it instead of a third copy of every character.
    if (take > 0) this.opts.onData?.(take === data.length ? data : fresh.subarray(0, take));
  }
}

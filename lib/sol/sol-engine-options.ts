/** What a SolEngine is built with: the injected `send`, the callbacks, and its tuning; the engine's constants. */
import type { IpmiError } from '../errors.js';
import type { InboundPausePolicy } from './sol-inbound.js';
import type { SolWorkarounds } from './sol-workarounds.js';
import { RTO_CEILING_MS, type RttEstimator } from '../session/rtt-estimator.js';
import { SOL_MAX_SEQUENCE } from '../codec/sol-payload.js';

/** Default SOL retransmission interval (FreeIPMI's 500 ms); the adaptive timeout's initial value and ceiling. */
export const DEFAULT_SOL_RETRANSMIT_INTERVAL_MS = RTO_CEILING_MS;
/** Default retransmissions of one SOL packet before IPMI_ERR_SOL_TIMEOUT (FreeIPMI's default is 10). */
export const DEFAULT_SOL_MAX_RETRANSMITS = 10;
/**
 * Sequence number of the priming packet. A new engine first sends a packet with this sequence number and
 * no characters, and waits for its ACK (at most SOL_PRIME_MAX_SENDS transmissions) before any data;
 * data then starts at 1.
 *
 * Why: ipmi_sim (OpenIPMI lanserv/sol.c) treats an inbound packet as a duplicate when its sequence number
 * equals the last one it accepted, and that state survives deactivation and new sessions. A new client's
 * first data packet (sequence 1) is dropped and ACKed with the previous session's count whenever the
 * previous session's last packet was also 1: the ACK looks normal, so no ACK-based rule can detect it.
 * A zero-character packet is harmless on every BMC we know (FreeIPMI sends its breaks that way; OpenIPMI's
 * own client sends exactly such a test packet with sequence 15 after activation) and, duplicate or not, it
 * leaves ipmi_sim's "last accepted" at 15, so our first data packet (1) can never collide.
 * Waiting for its ACK keeps a reordered datagram from arriving after data 1. If the BMC never ACKs an empty
 * packet we go on after SOL_PRIME_MAX_SENDS intervals and remember it (see `emptyPacketsAcked`).
 */
export const SOL_PRIME_SEQUENCE = SOL_MAX_SEQUENCE;
/** Transmissions of the priming packet before we go on without its ACK. */
export const SOL_PRIME_MAX_SENDS = 2;

export interface SolEngineOptions {
  /** Emit one SOL payload (header + characters). */
  send(payload: Buffer): void;
  /** Characters per packet: min(255, BMC inbound payload size - 4); clamped to 1..255. */
  maxOutboundChars: number;
  /** The fixed retransmission interval; with adaptiveRetransmit, the initial timeout and its ceiling (default 500). */
  retransmitIntervalMs?: number;
  /**
   * Retransmissions of one packet before IPMI_ERR_SOL_TIMEOUT (default 10), which comes, adaptive or not, at
   * (maxRetransmits + 1) x retransmitIntervalMs from the first send (RetransmitSchedule).
   */
  maxRetransmits?: number;
  /** Retransmit after an RTT-based timeout (RFC 6298; default true); false: every retransmitIntervalMs. */
  adaptiveRetransmit?: boolean;
  /** The estimator to use (e.g. one shared with the session); default: the engine's own. */
  rtt?: RttEstimator;
  inboundPause?: InboundPausePolicy;
  workarounds?: SolWorkarounds;
  /** Initial inbound credit in characters (default: unlimited until the consumer sets one). */
  inboundCredit?: number;
  /** Characters from the BMC, in order, never more than the credit. */
  onData?(chars: Buffer): void;
  /** `count` more characters of what was written were acknowledged by the BMC (in order). */
  onAcked?(count: number): void;
  /** The BMC reported a break on the serial line (status bit 0x04). */
  onBreak?(): void;
  /**
   * The priming packet went unanswered SOL_PRIME_MAX_SENDS times. Return true when the transport now sends
   * elsewhere (another UDP port): the engine then probes again there.
   */
  onPrimeUnanswered?(): boolean;
  /** The engine ended because of the BMC (deactivated) or a timeout. Not called for close(). */
  onEnd?(reason: IpmiError): void;
}

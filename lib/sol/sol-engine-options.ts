/** What a SolEngine is built with: the injected `send`, the callbacks, and its tuning. */
import type { IpmiError } from '../errors.js';
import type { InboundPausePolicy } from './sol-inbound.js';
import type { SolWorkarounds } from './sol-workarounds.js';
import type { RttEstimator } from '../session/rtt-estimator.js';

export interface SolEngineOptions {
  /** Emit one SOL payload (header + characters). */
  send(payload: Buffer): void;
  /** Characters per packet: min(255, BMC inbound payload size - 4); clamped to 1..255. */
  maxOutboundChars: number;
  /** The fixed retransmission interval; with adaptiveRetransmit, the initial timeout and its ceiling (default 500). */
  retransmitIntervalMs?: number;
  /**
   * Retransmissions of one packet before IPMI_ERR_SOL_TIMEOUT (default 10); the engine also waits at least
   * (maxRetransmits + 1) x retransmitIntervalMs from the first send before it gives up.
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

/** What a SolEngine is built with: the injected `send`, the callbacks, and its tuning. */
import type { IpmiError } from '../errors.js';
import type { InboundPausePolicy } from './sol-inbound.js';
import type { SolWorkarounds } from './sol-workarounds.js';

export interface SolEngineOptions {
  /** Emit one SOL payload (header + characters). */
  send(payload: Buffer): void;
  /** Characters per packet: min(255, BMC inbound payload size - 4); clamped to 1..255. */
  maxOutboundChars: number;
  retransmitIntervalMs?: number;
  maxRetransmits?: number;
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

/**
 * Adaptive retransmission timeout for one path to a BMC, after RFC 6298 (TCP's retransmission timer): a smoothed
 * round-trip time (SRTT) and its variation (RTTVAR) from answers to packets sent once (Karn's rule: an answer to a
 * retransmitted packet could answer any of its copies, so it is no measurement), RTO = SRTT + max(G, 4 * RTTVAR),
 * doubled on every timeout and back to the estimate on the next valid sample.
 *
 * RetransmitSchedule (below) applies it to one packet, keeping the fixed timer's count and give-up time and
 * bounding how far ahead of the fixed timer it may run (RTO_MAX_EARLY_RETRANSMITS: the BMC's session window).
 *
 * Pure: no timer and no clock of its own; callers pass durations measured with their injected clock. Each caller
 * gives its fixed wait (`retransmitIntervalMs` for SOL, `timeoutMs` for a request): the RTO before the first
 * sample, and its ceiling. Adaptation only ever shortens a wait, so the BMC never sees retransmissions faster than
 * the RTT allows (floor, backoff) nor slower than the fixed timer would send them (ceiling).
 *
 * Bounds, and where they come from:
 * - RTO_FLOOR_MS: a LAN BMC answers in well under a millisecond (ipmi_sim and our fake BMC ACK SOL at once), so
 *   a lost packet on a fast path is retransmitted after a few ms instead of 500; the floor keeps timer and
 *   event-loop jitter from causing spurious retransmissions of an answer that is merely late.
 * - RTO_CEILING_MS: FreeIPMI's libipmiconsole retransmits after 500 ms (IPMICONSOLE_RETRANSMISSION_TIMEOUT_LENGTH_
 *   DEFAULT) and backs off linearly (x (1 + retransmissions / 2)); our default SOL interval is that 500 ms.
 */

/** Smallest retransmission timeout, ms. */
export const RTO_FLOOR_MS = 5;
/** Largest SOL retransmission timeout by default, ms: FreeIPMI's 500 ms; also DEFAULT_SOL_RETRANSMIT_INTERVAL_MS. */
export const RTO_CEILING_MS = 500;
/** G of RFC 6298: the clock granularity, ms (Node timers fire on whole milliseconds). */
export const RTO_CLOCK_GRANULARITY_MS = 1;
/** RFC 6298 gains: SRTT moves 1/8 toward a sample, RTTVAR 1/4; RTO = SRTT + 4 RTTVAR. */
export const RTO_ALPHA = 1 / 8;
export const RTO_BETA = 1 / 4;
export const RTO_K = 4;
/** Doublings remembered (2^16 x the floor is far above any ceiling): bounds the backoff counter. */
export const RTO_MAX_BACKOFF_SHIFT = 16;

export interface RttEstimatorOptions {
  /** Default RTO_FLOOR_MS. */
  floorMs?: number;
}

export class RttEstimator {
  readonly floorMs: number;
  #srtt: number | undefined;
  #rttvar = 0;
  #shift = 0;
  #samples = 0;

  constructor(options: RttEstimatorOptions = {}) {
    this.floorMs = Math.max(0, options.floorMs ?? RTO_FLOOR_MS);
  }

  /** Smoothed round-trip time, ms (undefined before the first sample). */
  get srtt(): number | undefined {
    return this.#srtt;
  }

  get rttvar(): number {
    return this.#rttvar;
  }

  /** Timeouts since the last valid sample (the RTO is doubled this many times, within the ceiling). */
  get backoff(): number {
    return this.#shift;
  }

  get samples(): number {
    return this.#samples;
  }

  /** A round trip measured on a packet sent once (RFC 6298 section 2, rules 2.2 and 2.3); resets the backoff. */
  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs) || rttMs < 0) return;
    if (this.#srtt === undefined) {
      this.#srtt = rttMs;
      this.#rttvar = rttMs / 2;
    } else {
      this.#rttvar = (1 - RTO_BETA) * this.#rttvar + RTO_BETA * Math.abs(this.#srtt - rttMs);
      this.#srtt = (1 - RTO_ALPHA) * this.#srtt + RTO_ALPHA * rttMs;
    }
    this.#samples++;
    this.#shift = 0;
  }

  /**
   * The answer to a packet first sent at `firstSentAt` and sent `sends` times arrived at `now`. Karn's rule: only a
   * packet sent once gives a sample; an answer to a retransmitted one leaves the estimate and the backoff alone.
   */
  answered(firstSentAt: number, now: number, sends: number): void {
    if (sends === 1) this.sample(now - firstSentAt);
  }

  /** A retransmission timer expired (RFC 6298 rule 5.5): the next waits are doubled until a valid sample. */
  timedOut(): void {
    this.#shift = Math.min(this.#shift + 1, RTO_MAX_BACKOFF_SHIFT);
  }

  /**
   * The wait before retransmitting, for a caller whose fixed wait is `fixedMs`: `fixedMs` before any sample,
   * else SRTT + max(G, 4 RTTVAR), at least the floor, doubled per timeout; never above `fixedMs`.
   */
  timeout(fixedMs: number): number {
    const base = this.#srtt === undefined ? fixedMs : this.#srtt + Math.max(RTO_CLOCK_GRANULARITY_MS, RTO_K * this.#rttvar);
    const backedOff = Math.max(this.floorMs, base) * 2 ** this.#shift;
    return Math.min(fixedMs, backedOff);
  }
}

const GIVE_UP_EPSILON_MS = 1e-6;

/**
 * Retransmissions of one packet that may go out ahead of the fixed timer's schedule: by any time t after the first
 * send, at most floor(t / fixedMs) + this many. Why a bound: the BMC's session sequence window. Every datagram,
 * retransmissions included, takes the next session sequence number (section 13.6), and ipmi_sim (OpenIPMI
 * lanserv_ipmi.c, "SEQ out of range") drops one more than 15 ahead of the last it received: an outage that
 * swallows 15 datagrams in a row ends the session for good, whatever comes after. A doubling ramp from a few ms
 * would spend that in a second; with this bound an outage costs at most 2 datagrams more than with the fixed
 * timer, while the first two retransmissions (which recover nearly every loss) still go after RTO and 2 RTO.
 */
export const RTO_MAX_EARLY_RETRANSMITS = 2;

/**
 * The schedule of one packet that is retransmitted until answered, shared by the SOL engine and the request
 * tracker. With an estimator, waits follow its RTO (doubling per timeout), never ahead of the fixed timer's
 * schedule by more than RTO_MAX_EARLY_RETRANSMITS; without, every wait is `fixedMs` (the old fixed timer).
 *
 * Give-up: after exactly `maxRetransmits` retransmissions, at `(maxRetransmits + 1) x fixedMs` from the first send,
 * as with the fixed timer (5.5 s for SOL's 10 x 500 ms, 4 s for a request's 1 + 3 tries of 1 s): on a fast path
 * the last retransmission is then followed by a longer wait. A packet allowed no retransmission (`maxRetransmits`
 * 0) waits `fixedMs`, estimator or not.
 */
export class RetransmitSchedule {
  readonly firstSentAt: number;
  readonly giveUpAt: number;
  /** Transmissions so far (1 after the first send). */
  sends = 1;
  lastSentAt: number;
  /** When `expire` is due: the next retransmission, or the give-up time. */
  deadline: number;

  constructor(
    now: number,
    readonly fixedMs: number,
    readonly maxRetransmits: number,
    private readonly rtt: RttEstimator | undefined,
  ) {
    this.firstSentAt = now;
    this.lastSentAt = now;
    this.giveUpAt = now + (maxRetransmits + 1) * fixedMs;
    this.deadline = this.nextDeadline(now);
  }

  /**
   * The deadline passed: 'retransmit' (the caller sends the packet again), 'wait' (the retransmissions are spent:
   * waiting for the give-up time) or 'give-up'.
   */
  expire(now: number): 'retransmit' | 'wait' | 'give-up' {
    if (this.sends > this.maxRetransmits) {
      // (times are sums of float milliseconds: compare the give-up time within a nanosecond)
      if (now >= this.giveUpAt - GIVE_UP_EPSILON_MS) return 'give-up';
      this.deadline = this.giveUpAt;
      return 'wait';
    }
    if (this.rtt) this.rtt.timedOut();
    this.sends++;
    this.lastSentAt = now;
    this.deadline = this.sends > this.maxRetransmits ? Math.max(now + this.wait(), this.giveUpAt) : this.nextDeadline(now);
    return 'retransmit';
  }

  /** The answer arrived at `now`: a sample for the estimator when the packet went out once (Karn's rule). */
  answered(now: number): void {
    this.rtt?.answered(this.firstSentAt, now, this.sends);
  }

  /** Retransmission number `sends` (the next one): after the RTO, and not ahead of the fixed schedule by more than the bound. */
  private nextDeadline(now: number): number {
    const notBefore = this.firstSentAt + (this.sends - RTO_MAX_EARLY_RETRANSMITS) * this.fixedMs;
    return Math.max(now + this.wait(), notBefore);
  }

  private wait(): number {
    return this.rtt && this.maxRetransmits > 0 ? this.rtt.timeout(this.fixedMs) : this.fixedMs;
  }
}

/**
 * The one request tracker of the session, for handshake messages and IPMI commands alike: one exchange in flight
 * (the session runs its requests one at a time, as ipmitool and FreeIPMI do), its tag (what answers it), and its
 * retransmission schedule. Pure: driven by `offer(inbound, now)` and `poll(now)`; the caller arms its one timer at
 * `nextDeadline()`.
 *
 * Timing: with an RttEstimator (the session's `adaptiveTimeout`, default), a retry waits the estimator's RTO
 * (RFC 6298), at most the exchange's `timeoutMs` and at most RTO_MAX_EARLY_RETRANSMITS tries ahead of the fixed
 * timer; the exchange gives up after its `retries`, at (retries + 1) x timeoutMs from the first try
 * (RetransmitSchedule). Without one, every try waits `timeoutMs`.
 * An exchange with no retries (RAKP 1/3, Open Session, Close Session: a repeat would confuse the BMC, silence
 * restarts the handshake instead) always waits its whole `timeoutMs`.
 */
import { RetransmitSchedule, type RttEstimator } from './rtt-estimator.js';

export interface Exchange<M, T> {
  /** Put the request on the wire: the first try and every retry (an in-session retry gets a new sequence number). */
  transmit(): void;
  /** The answer this exchange waits for (matched by its tag: rqSeq, or RAKP message tag and session ID). */
  match(inbound: M): T | undefined;
  /** How long one try waits for its answer (with an estimator: the first try's wait and the ceiling). */
  timeoutMs: number;
  /** Tries after the first. */
  retries: number;
  onAnswer(answer: T): void;
  /** Every try went unanswered. */
  onSilence(): void;
}

interface InFlight<M> {
  exchange: Exchange<M, unknown>;
  schedule: RetransmitSchedule;
}

export class RequestTracker<M> {
  #current: InFlight<M> | undefined;

  /**
   * @param onRetransmit told of every retry (for stats)
   * @param rtt the session's estimator; undefined: fixed timeouts
   */
  constructor(
    private readonly onRetransmit: () => void = () => undefined,
    readonly rtt: RttEstimator | undefined = undefined,
  ) {}

  get busy(): boolean {
    return this.#current !== undefined;
  }

  /** Start `exchange` (the tracker must be idle) and send its first try. */
  start<T>(exchange: Exchange<M, T>, now: number): void {
    if (this.#current) throw new Error('RequestTracker: an exchange is already in flight');
    const schedule = new RetransmitSchedule(now, exchange.timeoutMs, exchange.retries, this.rtt);
    this.#current = { exchange: exchange as Exchange<M, unknown>, schedule };
    exchange.transmit();
  }

  /**
   * Offer an inbound message; true when it answered the exchange in flight (which then ends). With `now`, an
   * answer to a request sent once is a round-trip sample (Karn's rule).
   */
  offer(inbound: M, now?: number): boolean {
    const current = this.#current;
    if (!current) return false;
    const answer = current.exchange.match(inbound);
    if (answer === undefined) return false;
    this.#current = undefined;
    if (now !== undefined) current.schedule.answered(now);
    current.exchange.onAnswer(answer);
    return true;
  }

  /** At or after the deadline: retry, wait out the give-up time, or end the exchange with onSilence. */
  poll(now: number): void {
    const current = this.#current;
    if (!current || now < current.schedule.deadline) return;
    const verdict = current.schedule.expire(now);
    if (verdict === 'retransmit') {
      this.onRetransmit();
      current.exchange.transmit();
    } else if (verdict === 'give-up') {
      this.#current = undefined;
      current.exchange.onSilence();
    }
  }

  nextDeadline(): number | undefined {
    return this.#current?.schedule.deadline;
  }

  /** Forget the exchange in flight without telling it (the caller reports the reason). */
  cancel(): void {
    this.#current = undefined;
  }
}

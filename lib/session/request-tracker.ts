/**
 * The one request tracker of the session, for handshake messages and IPMI commands alike: one exchange in flight
 * (the session runs its requests one at a time, as ipmitool and FreeIPMI do), its tag (what answers it), the tries
 * left, and the deadline of the current try. Pure: driven by `offer(inbound)` and `poll(now)`; the caller arms
 * its one timer at `nextDeadline()`.
 */

export interface Exchange<M, T> {
  /** Put the request on the wire: the first try and every retry (an in-session retry gets a new sequence number). */
  transmit(): void;
  /** The answer this exchange waits for (matched by its tag: rqSeq, or RAKP message tag and session ID). */
  match(inbound: M): T | undefined;
  /** How long one try waits for its answer. */
  timeoutMs: number;
  /** Tries after the first. */
  retries: number;
  onAnswer(answer: T): void;
  /** Every try went unanswered. */
  onSilence(): void;
}

interface InFlight<M> {
  exchange: Exchange<M, unknown>;
  triesLeft: number;
  deadline: number;
}

export class RequestTracker<M> {
  #current: InFlight<M> | undefined;

  /** @param onRetransmit told of every retry (for stats) */
  constructor(private readonly onRetransmit: () => void = () => undefined) {}

  get busy(): boolean {
    return this.#current !== undefined;
  }

  /** Start `exchange` (the tracker must be idle) and send its first try. */
  start<T>(exchange: Exchange<M, T>, now: number): void {
    if (this.#current) throw new Error('RequestTracker: an exchange is already in flight');
    this.#current = { exchange: exchange as Exchange<M, unknown>, triesLeft: exchange.retries, deadline: now + exchange.timeoutMs };
    exchange.transmit();
  }

  /** Offer an inbound message; true when it answered the exchange in flight (which then ends). */
  offer(inbound: M): boolean {
    const current = this.#current;
    if (!current) return false;
    const answer = current.exchange.match(inbound);
    if (answer === undefined) return false;
    this.#current = undefined;
    current.exchange.onAnswer(answer);
    return true;
  }

  /** At or after the deadline: retry, or end the exchange with onSilence when no try is left. */
  poll(now: number): void {
    const current = this.#current;
    if (!current || now < current.deadline) return;
    if (current.triesLeft > 0) {
      current.triesLeft--;
      current.deadline = now + current.exchange.timeoutMs;
      this.onRetransmit();
      current.exchange.transmit();
      return;
    }
    this.#current = undefined;
    current.exchange.onSilence();
  }

  nextDeadline(): number | undefined {
    return this.#current?.deadline;
  }

  /** Forget the exchange in flight without telling it (the caller reports the reason). */
  cancel(): void {
    this.#current = undefined;
  }
}

/**
 * The inbound session sequence window (IPMI 2.0 section 6.12.13, and FreeIPMI's practice), one implementation for
 * the console (our session) and the fake BMC. Session sequence numbers grow with every packet a side sends,
 * retransmissions included (section 13.6), so a number seen twice is a replay and one far behind is stale.
 *
 * The first accepted number sets the window; one up to `ahead` past the highest accepted moves it (packets in
 * between were lost); one up to `behind` below it is accepted once (reordering); a repeat is a replay; anything
 * else is out of window. A 32-bit bitmap remembers which of the last 32 numbers were accepted.
 */

/** How the window judged one sequence number. */
export type SequenceVerdict = 'accepted' | 'replay' | 'outOfWindow';

export interface SequenceWindowOptions {
  /** How far below the highest accepted number a packet may arrive once (at most 31). */
  behind: number;
  /** How far above the highest accepted number a packet may jump (lost packets in between). */
  ahead: number;
  /** Sequence number 0 is never valid on an authenticated session (section 13.6): reject it. */
  rejectZero: boolean;
}

export class SequenceWindow {
  readonly #options: SequenceWindowOptions;
  #started = false;
  #highest = 0;
  #seen = 0; // bit i: highest - i was accepted

  constructor(options: SequenceWindowOptions) {
    if (!(options.behind >= 0 && options.behind <= 31)) throw new RangeError('a sequence window looks at most 31 behind');
    this.#options = { ...options };
  }

  /** Judge `seq` and, when accepted, record it. */
  check(seq: number): SequenceVerdict {
    if (seq === 0 && this.#options.rejectZero) return 'outOfWindow';
    if (!this.#started) {
      this.#started = true;
      this.#highest = seq;
      this.#seen = 1;
      return 'accepted';
    }
    const ahead = (seq - this.#highest) >>> 0;
    if (ahead !== 0 && ahead <= this.#options.ahead) {
      this.#seen = ahead >= 32 ? 1 : ((this.#seen << ahead) | 1) >>> 0;
      this.#highest = seq;
      return 'accepted';
    }
    const behind = (this.#highest - seq) >>> 0;
    if (behind <= this.#options.behind) {
      const bit = (1 << behind) >>> 0;
      if ((this.#seen & bit) !== 0) return 'replay';
      this.#seen = (this.#seen | bit) >>> 0;
      return 'accepted';
    }
    return 'outOfWindow';
  }

  /** `check(seq) === 'accepted'`. */
  accept(seq: number): boolean {
    return this.check(seq) === 'accepted';
  }
}

/**
 * The one clock of the library. State machines take `now` (milliseconds, monotonic) and report their next
 * deadline; the edges (drivers, streams, the bridge) arm timers through a Clock, so a spec can drive every timer
 * with a ManualClock and no real time passes.
 */

export interface ClockTimer {
  /** Stop the timer; harmless after it fired or was cancelled. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic scale (not wall time). */
  now(): number;
  /** Run `fn` once, `ms` from now. Real timers are unref'd: a pending timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
}

/** Real time: performance.now() and unref'd Node timers. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout(fn: () => void, ms: number): ClockTimer {
    const handle = setTimeout(fn, Math.max(0, ms));
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
});

interface ManualTimer {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock for specs: time moves only when `advance` is called, and due timers fire in deadline order (ties in the
 * order they were armed), each seeing `now()` equal to its own deadline. A timer armed by a firing timer fires in
 * the same `advance` if it falls due within it.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  #timers: ManualTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: ManualTimer = { at: this.#now + Math.max(0, ms), order: this.#order++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + Math.max(0, ms);
    for (;;) {
      const next = this.#nextDue(end);
      if (next === undefined) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }

  /** Timers armed and not yet fired or cancelled. */
  pending(): number {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    return this.#timers.length;
  }

  /** Deadline of the next live timer, or undefined. */
  nextDeadline(): number | undefined {
    return this.#nextDue(Infinity)?.at;
  }

  #nextDue(limit: number): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.cancelled || t.at > limit) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.order < best.order)) best = t;
    }
    return best;
  }
}

/**
 * The one timer of a state machine that reports `nextDeadline()` and wants `poll(now)` then: armed at the deadline,
 * re-armed only when it moved earlier. Call `rearm()` after every call into the machine; `cancel()` when it is done.
 *
 * Mechanism "lazy re-arm" (issue 12, a timer armed per packet): a deadline that moved later or went away leaves
 * the armed timer alone. A SOL packet sent and acknowledged moves the engine's deadline from undefined to
 * now + interval and back with every keystroke; re-arming exactly would cost a clearTimeout and a setTimeout (a
 * timer object, a timer-list insert) per packet. A timer that fires before the machine's deadline (it moved later)
 * only arms again for the deadline, without polling; one that finds no deadline does nothing. So a stream of
 * packets, each acknowledged within the interval, costs one timer per interval, not two timer operations each.
 */
export class DeadlineTimer {
  readonly #clock: Clock;
  readonly #nextDeadline: () => number | undefined;
  readonly #poll: (now: number) => void;
  #timer: ClockTimer | undefined;
  /** When the armed timer fires (undefined: none armed). */
  #at: number | undefined;

  constructor(clock: Clock, nextDeadline: () => number | undefined, poll: (now: number) => void) {
    this.#clock = clock;
    this.#nextDeadline = nextDeadline;
    this.#poll = poll;
  }

  /** Arm at the machine's next deadline, unless a timer is armed at or before it already. */
  rearm(): void {
    const at = this.#nextDeadline();
    if (at === undefined || (this.#at !== undefined && this.#at <= at)) return;
    this.#arm(at);
  }

  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#at = undefined;
  }

  #arm(at: number): void {
    this.#timer?.cancel();
    this.#at = at;
    this.#timer = this.#clock.setTimeout(this.#fire, at - this.#clock.now());
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#at = undefined;
    const at = this.#nextDeadline();
    if (at === undefined) return;
    const now = this.#clock.now();
    if (now < at) {
      this.#arm(at); // the deadline moved later since this timer was armed
      return;
    }
    this.#poll(now);
    this.rearm();
  };
}

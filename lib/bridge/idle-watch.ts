/**
 * The idle timeout of a seated client, like socat -T: no byte either way for `idleMs` and `onIdle` runs.
 * The timer is not reset on every chunk (`touch` only notes the time): when it fires, it re-arms for the time
 * left since the last byte. One timer per client at most, on the injected clock.
 */
import type { Clock, ClockTimer } from '../clock.js';

export class IdleWatch {
  readonly #clock: Clock;
  readonly #idleMs: number;
  readonly #onIdle: (idleMs: number) => void;
  #timer: ClockTimer | undefined;
  #lastActivity = 0;

  /** `idleMs` 0 turns the watch off. */
  constructor(clock: Clock, idleMs: number, onIdle: (idleMs: number) => void) {
    this.#clock = clock;
    this.#idleMs = idleMs;
    this.#onIdle = onIdle;
  }

  /** A byte went either way. */
  touch(): void {
    this.#lastActivity = this.#clock.now();
  }

  /** Start watching (a client was seated); counts from now. */
  start(): void {
    this.touch();
    if (this.#idleMs === 0 || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(this.#check, this.#idleMs);
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  readonly #check = (): void => {
    this.#timer = undefined;
    const idle = this.#clock.now() - this.#lastActivity;
    if (idle >= this.#idleMs) {
      this.#onIdle(idle);
      return;
    }
    this.#timer = this.#clock.setTimeout(this.#check, Math.max(1, Math.ceil(this.#idleMs - idle)));
  };
}

/**
 * A simulated link between a SessionMachine and a MemoryBmc: no socket, no timer. Time is a number the loop moves
 * from one event to the next (a datagram arriving, the machine's next deadline); faults (loss, duplication,
 * delay and so reordering) are decided per datagram by the caller. `run` returns when the session is active or
 * closed, or reports a hang (no event left, or too many steps).
 */
import { randomBytes } from 'node:crypto';
import { peekEnvelope } from '../../lib/codec/rmcp.js';
import { SessionMachine } from '../../lib/session/session-machine.js';
import { resolveSessionOptions, type IpmiSessionOptions } from '../../lib/session/options.js';
import type { IpmiError } from '../../lib/errors.js';
import type { MemoryBmc } from './memory-bmc.js';

export type Direction = 'toBmc' | 'toConsole';

export interface Faults {
  /** Copies of this datagram to deliver (0: lost, 2: duplicated), each after its own delay in ms. */
  deliveries?(direction: Direction, datagram: Buffer): number[];
  /** What arrives instead of the datagram (a tampered or malformed copy). */
  rewrite?(direction: Direction, datagram: Buffer): Buffer;
}

interface InFlight {
  at: number;
  order: number;
  direction: Direction;
  datagram: Buffer;
}

/** xorshift32: a small seeded source of bytes for reproducible runs. */
export function seededRandom(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 0x9e3779b9;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

export interface SimOptions {
  session: Partial<IpmiSessionOptions>;
  bmc: MemoryBmc;
  faults?: Faults;
  random?: (n: number) => Buffer;
}

export class Sim {
  now = 0;
  readonly machine: SessionMachine;
  readonly sent: { direction: Direction; datagram: Buffer; at: number }[] = [];
  opened = false;
  closeReason: IpmiError | undefined;
  closed = false;
  solPayloads: Buffer[] = [];
  #order = 0;
  #inFlight: InFlight[] = [];
  readonly #bmc: MemoryBmc;
  readonly #faults: Faults;

  constructor(options: SimOptions) {
    const random = options.random ?? randomBytes;
    this.#bmc = options.bmc;
    this.#faults = options.faults ?? {};
    const config = resolveSessionOptions({ host: '192.0.2.1', username: 'admin', password: 'password', keepaliveMs: 0, ...options.session });
    let sid = 0;
    this.machine = new SessionMachine({
      config,
      send: (datagram) => this.#send('toBmc', datagram),
      random,
      iv: () => random(16),
      allocateSessionId: () => (sid = (sid + 0x1001) >>> 0 || 1),
      onOpen: () => (this.opened = true),
      onClose: (reason) => {
        this.closed = true;
        this.closeReason = reason;
      },
      onSolPayload: (payload) => this.solPayloads.push(payload),
    });
  }

  #send(direction: Direction, datagram: Buffer): void {
    this.sent.push({ direction, datagram, at: this.now });
    datagram = this.#faults.rewrite?.(direction, datagram) ?? datagram;
    const delays = this.#faults.deliveries?.(direction, datagram) ?? [0];
    for (const delay of delays) this.#inFlight.push({ at: this.now + delay, order: this.#order++, direction, datagram });
  }

  /** The next event's time: a datagram arriving or the machine's deadline. */
  nextEvent(): number | undefined {
    let at = this.machine.nextDeadline();
    for (const f of this.#inFlight) if (at === undefined || f.at < at) at = f.at;
    return at;
  }

  /** Run one event; false when there is none. */
  step(): boolean {
    const at = this.nextEvent();
    if (at === undefined) return false;
    this.now = Math.max(this.now, at);
    const due = this.#inFlight.filter((f) => f.at <= this.now).sort((a, b) => a.at - b.at || a.order - b.order)[0];
    if (due) {
      this.#inFlight.splice(this.#inFlight.indexOf(due), 1);
      if (due.direction === 'toBmc') for (const answer of this.#bmc.handle(due.datagram)) this.#send('toConsole', answer);
      else this.machine.receive(due.datagram, peekEnvelope(due.datagram), this.now);
      return true;
    }
    this.machine.poll(this.now);
    return true;
  }

  /** Start the handshake and run until the session is active or closed; throws on a hang. */
  open(maxSteps = 10_000): this {
    this.machine.start(this.now);
    return this.runUntil(() => this.opened || this.closed, maxSteps);
  }

  runUntil(done: () => boolean, maxSteps = 10_000): this {
    for (let steps = 0; !done(); steps++) {
      if (steps >= maxSteps) throw new Error(`no outcome after ${maxSteps} events`);
      if (!this.step()) throw new Error(`hung: no event left at ${this.now} ms (state ${this.machine.state})`);
    }
    return this;
  }

  /** Move time to `until`, running every event due on the way. */
  advanceTo(until: number): void {
    for (;;) {
      const at = this.nextEvent();
      if (at === undefined || at > until) break;
      this.step();
    }
    this.now = Math.max(this.now, until);
  }

  /** Datagrams sent so far in `direction` whose RMCP+ payload type is `payloadType`. */
  count(direction: Direction, payloadType: number): number {
    return this.sent.filter((s) => s.direction === direction && peekEnvelope(s.datagram).payloadType === payloadType).length;
  }
}

/**
 * Client admission: who gets the console when a socket arrives. One client at a time (the writer; spectators
 * will be admitted here too once viewers exist, see DESIGN.md "The console layer"). A second socket waits
 * `inUseGraceMs` for the first to leave (a client that reconnects at once can reach us before its old
 * connection's FIN), then is refused with one line; with `takeover` it replaces the first at once. At most
 * MAX_WAITING_CLIENTS wait, more are refused at once. Every socket we end lingers at most `lingerMs` to flush.
 * All timers run on the injected Clock.
 */
import type net from 'node:net';
import type { Clock, ClockTimer } from '../clock.js';

/** Clients waiting (inUseGraceMs) for the current one to leave; more are refused at once. */
export const MAX_WAITING_CLIENTS = 4;

export interface ClientInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
}

export function clientInfo(socket: net.Socket): ClientInfo {
  return { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
}

export interface AdmissionSettings {
  readonly takeover: boolean;
  readonly inUseGraceMs: number;
  readonly lingerMs: number;
  readonly inUseMessage: string;
}

/** What admission asks of its owner (the bridge). */
export interface AdmissionSeat {
  /** a client holds the console now */
  occupied(): boolean;
  /** give the console to `socket` (the seat is free) */
  seat(socket: net.Socket): void;
  /** `socket` takes the seat from the current client at once (takeover) */
  replace(socket: net.Socket): void;
  /** `socket` was refused (the in-use line is on its way) */
  refused(info: ClientInfo): void;
}

interface Waiting {
  socket: net.Socket;
  timer: ClockTimer;
}

const ignore = (): void => undefined;

export class ClientAdmission {
  readonly #settings: AdmissionSettings;
  readonly #clock: Clock;
  readonly #seat: AdmissionSeat;
  readonly #waiting: Waiting[] = [];

  constructor(settings: AdmissionSettings, clock: Clock, seat: AdmissionSeat) {
    this.#settings = settings;
    this.#clock = clock;
    this.#seat = seat;
  }

  /** Sockets waiting for the current client to leave. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** A new connection: seat it, let it replace the current client, let it wait, or refuse it. */
  admit(socket: net.Socket): void {
    if (!this.#seat.occupied()) this.#seat.seat(socket);
    else if (this.#settings.takeover) this.#seat.replace(socket);
    else if (this.#waiting.length >= MAX_WAITING_CLIENTS) this.refuse(socket);
    else this.#wait(socket);
  }

  /** The seat is free: the first socket still waiting takes it. */
  promote(): void {
    while (!this.#seat.occupied() && this.#waiting.length > 0) {
      const next = this.#waiting.shift()!;
      next.timer.cancel();
      if (!next.socket.destroyed) this.#seat.seat(next.socket);
    }
  }

  /** Refuse with the in-use line. */
  refuse(socket: net.Socket): void {
    this.#seat.refused(clientInfo(socket));
    this.linger(socket, this.#settings.inUseMessage);
  }

  /** End a socket we are done with: flush (plus `message`), discard what it sends, destroy after lingerMs. */
  linger(socket: net.Socket, message?: string): void {
    if (socket.destroyed) return;
    const timer = this.#clock.setTimeout(() => socket.destroy(), this.#settings.lingerMs);
    socket.once('close', () => timer.cancel());
    socket.on('data', ignore);
    socket.resume();
    if (message) socket.end(message);
    else socket.end();
  }

  /** Destroy every waiting socket (the bridge is closing). */
  closeAll(): void {
    for (const { socket, timer } of this.#waiting.splice(0)) {
      timer.cancel();
      socket.destroy();
    }
  }

  #wait(socket: net.Socket): void {
    // The current client may be on its way out (its FIN not read yet): give it a moment.
    const entry: Waiting = {
      socket,
      timer: this.#clock.setTimeout(() => {
        this.#unwait(socket);
        this.refuse(socket);
      }, this.#settings.inUseGraceMs),
    };
    socket.once('close', () => {
      entry.timer.cancel();
      this.#unwait(socket);
    });
    this.#waiting.push(entry);
  }

  #unwait(socket: net.Socket): void {
    const index = this.#waiting.findIndex((w) => w.socket === socket);
    if (index >= 0) this.#waiting.splice(index, 1);
  }
}

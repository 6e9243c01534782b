/**
 * What a client typed while its console was opening or reopening, held for the next console: at most
 * `limit` bytes (the bridge's `holdBytes`). Beyond that the excess goes back into the client socket, which is
 * paused, so TCP flow control holds the rest. A lost console's unacknowledged bytes go to the front (they were
 * typed before anything held), and may take the hold past `limit`: they are bounded by the source's own buffers.
 */
import type net from 'node:net';

export class KeystrokeHold {
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes held. */
  get size(): number {
    return this.#size;
  }

  /** Whether more bytes may be held now. */
  get hasRoom(): boolean {
    return this.#size < this.#limit;
  }

  /**
   * Hold what fits of `data`; the rest is unshifted back into `socket`, which is paused. Returns the bytes held.
   */
  take(socket: net.Socket, data: Buffer): number {
    let chunk = data;
    const room = Math.max(0, this.#limit - this.#size);
    if (chunk.length > room) {
      socket.pause();
      socket.unshift(chunk.subarray(room));
      chunk = chunk.subarray(0, room);
    }
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    return chunk.length;
  }

  /** Put bytes typed before everything held (a lost console's unacknowledged keystrokes) at the front. */
  putFirst(data: Buffer): void {
    if (data.length === 0) return;
    this.#chunks.unshift(data);
    this.#size += data.length;
  }

  /** Empty the hold, in order, into `write` (the new console). */
  drainInto(write: (chunk: Buffer) => unknown): void {
    const chunks = this.#chunks;
    this.clear();
    for (const chunk of chunks) write(chunk);
  }

  clear(): void {
    this.#chunks = [];
    this.#size = 0;
  }
}

/**
 * What we owe the BMC, in write order: characters not yet acknowledged (the one ledger of unacknowledged
 * keystrokes: SolStream.takeUnacknowledged reads it) and operations (break, flush) waiting their turn.
 * The head item may be partly acknowledged (`headOffset`): a partial ACK (section 15.9) leaves the rest there.
 */
import { IpmiError } from '../errors.js';

/** An operation may carry characters of its own (workarounds.serialKeepalive's NUL): not keystrokes, not in the ledger. */
export type QueueItem = { kind: 'data'; buf: Buffer } | { kind: 'op'; flags: number; done: (err?: IpmiError) => void; chars?: Buffer };

export class SolOutboundQueue {
  readonly #items: QueueItem[] = [];
  #headOffset = 0; // characters of items[0] already acknowledged
  #chars = 0;

  /** Characters queued and not yet acknowledged. */
  get chars(): number {
    return this.#chars;
  }

  get length(): number {
    return this.#items.length;
  }

  get head(): QueueItem | undefined {
    return this.#items[0];
  }

  pushData(buf: Buffer): void {
    this.#items.push({ kind: 'data', buf });
    this.#chars += buf.length;
  }

  pushOp(flags: number, done: (err?: IpmiError) => void, chars?: Buffer): void {
    this.#items.push(chars === undefined ? { kind: 'op', flags, done } : { kind: 'op', flags, done, chars });
  }

  /** Remove the head item (an operation that completed). */
  shift(): QueueItem | undefined {
    const item = this.#items.shift();
    if (item?.kind === 'data') this.#chars -= item.buf.length - this.#headOffset;
    this.#headOffset = 0;
    return item;
  }

  /** Up to `max` characters from the head of the queue, stopping at an operation. */
  peekChars(max: number): Buffer {
    const parts: Buffer[] = [];
    let n = 0;
    for (let i = 0; i < this.#items.length && n < max; i++) {
      const item = this.#items[i]!;
      if (item.kind !== 'data') break;
      const from = i === 0 ? this.#headOffset : 0;
      const take = Math.min(item.buf.length - from, max - n);
      parts.push(item.buf.subarray(from, from + take));
      n += take;
    }
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, n);
  }

  /** Drop `count` acknowledged characters from the head of the queue. */
  consumeChars(count: number): void {
    let left = count;
    while (left > 0) {
      const head = this.#items[0];
      if (!head || head.kind !== 'data') break;
      const avail = head.buf.length - this.#headOffset;
      if (left >= avail) {
        left -= avail;
        this.#items.shift();
        this.#headOffset = 0;
      } else {
        this.#headOffset += left;
        left = 0;
      }
    }
    this.#chars -= count - left;
  }

  /** Fail every queued operation with `reason`; the characters stay (see takeChars). */
  failOps(reason: IpmiError): void {
    for (let i = this.#items.length - 1; i >= 0; i--) {
      const item = this.#items[i]!;
      if (item.kind !== 'op') continue;
      this.#items.splice(i, 1);
      if (i === 0) this.#headOffset = 0;
      item.done(reason);
    }
  }

  /** Every queued character not yet acknowledged, in write order; empties the queue of characters. */
  takeChars(): Buffer {
    const parts: Buffer[] = [];
    for (const [i, item] of this.#items.entries()) if (item.kind === 'data') parts.push(item.buf.subarray(i === 0 ? this.#headOffset : 0));
    this.#items.length = 0;
    this.#headOffset = 0;
    this.#chars = 0;
    return Buffer.concat(parts);
  }
}

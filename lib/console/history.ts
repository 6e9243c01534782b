/**
 * ConsoleHistory: the bounded in-memory ring of what a console printed. Pure: no I/O, no timers.
 *
 * Bytes are copied into fixed blocks (HISTORY_BLOCK_BYTES) allocated as output arrives and freed as they fall out
 * of the window, so an idle console that printed nothing holds no block, and a console holds at most
 * `capacity` bytes plus two blocks, whatever it printed.
 *
 * `tail()` answers "what did the node print lately" (Nova's get_console_output: the last N lines):
 * - Lines end at LF (0x0A). CR is kept as it came (a CRLF line keeps its CR; a lone CR, as a progress bar prints
 *   it, does not start a line). The unfinished last line (a prompt such as "login: ") counts as a line.
 * - `lines: N` returns from the start of the N-th line from the end; `bytes: N` returns at most the last N bytes,
 *   starting on a UTF-8 character boundary (at most 3 continuation bytes of a cut character are skipped);
 *   with both, the shorter answer wins. With neither, everything the ring holds.
 * - `data` is the raw bytes; `text` is them decoded as UTF-8, each invalid sequence replaced by U+FFFD (the
 *   WHATWG decoder's rule); control characters and escape sequences are kept as they came.
 * - `truncated` is true when the answer may start in the middle of a line: `bytes` cut it, or older output fell out
 *   of the ring.
 */
import { IpmiError } from '../errors.js';

/** History kept per console unless configured: 256 KiB. */
export const DEFAULT_HISTORY_BYTES = 256 * 1024;
/** Smallest configurable history. */
export const MIN_HISTORY_BYTES = 1024;
/** Largest configurable history: never unbounded. */
export const MAX_HISTORY_BYTES = 64 * 1024 * 1024;
/** Size of the blocks the ring is made of. */
export const HISTORY_BLOCK_BYTES = 4096;

const LF = 0x0a;

export interface TailOptions {
  /** the last N lines (the unfinished last line counts as one) */
  lines?: number;
  /** at most the last N bytes */
  bytes?: number;
}

export interface ConsoleTail {
  data: Buffer;
  text: string;
  /** the answer may start in the middle of a line (cut by `bytes`, or older output fell out of the ring) */
  truncated: boolean;
}

export function checkHistoryBytes(value: unknown, name = 'historyBytes'): number {
  if (value === undefined) return DEFAULT_HISTORY_BYTES;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_HISTORY_BYTES || value > MAX_HISTORY_BYTES) {
    throw new IpmiError(
      'IPMI_ERR_BAD_ARGUMENT',
      `Console option ${name} must be an integer in ${MIN_HISTORY_BYTES}..${MAX_HISTORY_BYTES}, not ${String(value)}.`,
    );
  }
  return value;
}

export function checkTailOptions(options: TailOptions): void {
  for (const key of ['lines', 'bytes'] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < 0)) {
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console log option ${key} must be a non-negative integer, not ${String(value)}.`);
    }
  }
}

export class ConsoleHistory {
  readonly capacity: number;
  readonly #blocks: Buffer[] = [];
  /** offset of the oldest kept byte in blocks[0] */
  #head = 0;
  /** bytes used in the last block */
  #fill = 0;
  #length = 0;
  #total = 0;

  constructor(capacity: number = DEFAULT_HISTORY_BYTES) {
    this.capacity = checkHistoryBytes(capacity);
  }

  /** bytes held now (<= capacity) */
  get length(): number {
    return this.#length;
  }

  /** bytes appended since creation */
  get totalBytes(): number {
    return this.#total;
  }

  /** bytes of memory the ring holds (blocks allocated) */
  get memoryBytes(): number {
    return this.#blocks.length * HISTORY_BLOCK_BYTES;
  }

  /** true when output fell out of the ring */
  get truncated(): boolean {
    return this.#total > this.#length;
  }

  /** the last byte held, or undefined when empty */
  get lastByte(): number | undefined {
    if (this.#length === 0) return undefined;
    return this.#blocks[this.#blocks.length - 1]![this.#fill - 1];
  }

  /** The byte `n` positions from the end (1: the last byte), or undefined past the start. */
  byteFromEnd(n: number): number | undefined {
    if (n < 1 || n > this.#length) return undefined;
    let skip = n - 1;
    for (let b = this.#blocks.length - 1; b >= 0; b--) {
      const [start, end] = this.#span(b);
      if (skip < end - start) return this.#blocks[b]![end - 1 - skip];
      skip -= end - start;
    }
    return undefined;
  }

  append(chunk: Uint8Array): void {
    this.#total += chunk.length;
    const skip = Math.max(0, chunk.length - this.capacity);
    let offset = skip;
    if (skip > 0) this.clear(true);
    while (offset < chunk.length) {
      let block = this.#blocks[this.#blocks.length - 1];
      if (!block || this.#fill === HISTORY_BLOCK_BYTES) {
        block = Buffer.allocUnsafeSlow(HISTORY_BLOCK_BYTES);
        this.#blocks.push(block);
        this.#fill = 0;
      }
      const n = Math.min(chunk.length - offset, HISTORY_BLOCK_BYTES - this.#fill);
      block.set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      this.#length += n;
      offset += n;
    }
    this.#evict();
  }

  /** Forget everything (keeps totalBytes unless `keepTotal` is false). */
  clear(keepTotal = true): void {
    this.#blocks.length = 0;
    this.#head = 0;
    this.#fill = 0;
    this.#length = 0;
    if (!keepTotal) this.#total = 0;
  }

  /** The last `n` bytes held (fewer when less is held), as a new Buffer. */
  last(n: number): Buffer {
    const count = Math.max(0, Math.min(n, this.#length));
    const out = Buffer.allocUnsafe(count);
    let skip = this.#length - count;
    let at = 0;
    for (let b = 0; b < this.#blocks.length && at < count; b++) {
      const [start, end] = this.#span(b);
      const size = end - start;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      const from = start + skip;
      skip = 0;
      at += this.#blocks[b]!.copy(out, at, from, end);
    }
    return out;
  }

  /**
   * How many bytes from the end the last `lines` lines take (the whole ring when it holds fewer lines).
   * A trailing LF ends the last line; an unfinished last line counts as a line.
   */
  lineTailLength(lines: number): number {
    if (lines <= 0) return 0;
    let wanted = this.lastByte === LF ? lines + 1 : lines;
    let fromEnd = 0;
    for (let b = this.#blocks.length - 1; b >= 0; b--) {
      const [start, end] = this.#span(b);
      const block = this.#blocks[b]!;
      let pos = end - 1;
      while (pos >= start) {
        const found = block.lastIndexOf(LF, pos);
        if (found < start) break;
        wanted--;
        if (wanted === 0) return fromEnd + (end - 1 - found);
        pos = found - 1;
      }
      fromEnd += end - start;
    }
    return this.#length;
  }

  /** The recent output, by lines and/or bytes (see the file comment). */
  tail(options: TailOptions = {}): ConsoleTail {
    checkTailOptions(options);
    let count = this.#length;
    let byBytes = false;
    if (options.lines !== undefined) count = Math.min(count, this.lineTailLength(options.lines));
    if (options.bytes !== undefined && options.bytes < count) {
      count = options.bytes;
      byBytes = true;
    }
    let data = this.last(count);
    const cut = byBytes || (count === this.#length && this.truncated);
    if (cut) data = skipContinuationBytes(data);
    const truncated = count < this.#length ? !startsLine(this, count) : this.truncated;
    return { data, text: data.toString('utf8'), truncated };
  }

  /** [start, end) of the bytes used in block b */
  #span(b: number): [number, number] {
    const start = b === 0 ? this.#head : 0;
    const end = b === this.#blocks.length - 1 ? this.#fill : HISTORY_BLOCK_BYTES;
    return [start, end];
  }

  #evict(): void {
    while (this.#length > this.capacity) {
      const excess = this.#length - this.capacity;
      const [start, end] = this.#span(0);
      const available = end - start;
      if (excess >= available && this.#blocks.length > 1) {
        this.#blocks.shift();
        this.#head = 0;
        this.#length -= available;
      } else {
        this.#head += excess;
        this.#length -= excess;
      }
    }
  }
}

/** A UTF-8 sequence cut at the front: drop up to 3 continuation bytes (10xxxxxx). */
function skipContinuationBytes(data: Buffer): Buffer {
  let i = 0;
  while (i < 3 && i < data.length && (data[i]! & 0xc0) === 0x80) i++;
  return i === 0 ? data : data.subarray(i);
}

/** Whether the last `count` bytes of the history start a line (the byte before them is LF). */
function startsLine(history: ConsoleHistory, count: number): boolean {
  if (count >= history.length) return !history.truncated;
  return history.byteFromEnd(count + 1) === LF;
}

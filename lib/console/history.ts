/**
 * ConsoleHistory: the bounded in-memory ring of what a console printed. Pure: no I/O, no timers.
 *
 * Bytes are copied into fixed blocks (HISTORY_BLOCK_BYTES) allocated as output arrives and freed as they fall out
 * of the window, so an idle console that printed nothing holds no block.
 *
 * "Packed segments": once HISTORY_SEGMENT_BLOCKS full blocks lie behind the one being written, they are deflated
 * (raw DEFLATE, level 1) into one right-sized buffer, kept only when it at least halves them. Console output is
 * text: a boot log packs about 4 to 5 times, so a full 256 KiB history holds about 55 KiB instead of 260 KiB. The
 * cost is one deflate per 16 KiB of output (about 60 us here; with the copies, about 1.6 us per 255-byte SOL
 * packet); reads (tail, replay) inflate only the segments they touch. Output that does not pack (binary noise,
 * a serial line at the wrong speed) stays in raw blocks; after a segment fails to pack, the next
 * PACK_SKIP_AFTER_FAILURE segments are left raw untried, so noise costs one deflate per 80 KiB, not per 16 KiB.
 * A console holds at most `capacity` bytes plus HISTORY_SLACK_BYTES of memory, whatever it printed.
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
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { IpmiError } from '../errors.js';

/** History kept per console unless configured: 256 KiB. */
export const DEFAULT_HISTORY_BYTES = 256 * 1024;
/** Smallest configurable history. */
export const MIN_HISTORY_BYTES = 1024;
/** Largest configurable history: never unbounded. */
export const MAX_HISTORY_BYTES = 64 * 1024 * 1024;
/** Size of the blocks the ring is made of. */
export const HISTORY_BLOCK_BYTES = 4096;
/** Full blocks deflated together into one packed segment (16 KiB of output). */
export const HISTORY_SEGMENT_BLOCKS = 4;
const SEGMENT_BYTES = HISTORY_SEGMENT_BLOCKS * HISTORY_BLOCK_BYTES;
/** A packed segment is kept only when it takes at most half the blocks it replaces. */
const PACKED_MAX_BYTES = SEGMENT_BYTES / 2;
/** zlib level 1: nearly the ratio of the default level (4.0x vs 4.2x on a boot log) for less CPU. */
const PACK_LEVEL = 1;
/** Segments left raw without a try after one that did not pack. */
export const PACK_SKIP_AFTER_FAILURE = 4;

/** What packing did so far (diagnostics): segments packed, segments that did not pack, segments left untried. */
export interface HistoryPackingStats {
  packed: number;
  failed: number;
  skipped: number;
}
/**
 * Memory a history may hold beyond `capacity`: the block being written, and the oldest chunk's bytes that already
 * fell out of the window (a raw block, or a packed segment of at most PACKED_MAX_BYTES).
 */
export const HISTORY_SLACK_BYTES = HISTORY_BLOCK_BYTES + Math.max(HISTORY_BLOCK_BYTES, PACKED_MAX_BYTES);

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

/** HISTORY_SEGMENT_BLOCKS full blocks, deflated. */
class PackedSegment {
  constructor(readonly packed: Buffer) {}
}

type Chunk = Buffer | PackedSegment;

export class ConsoleHistory {
  readonly capacity: number;
  /** oldest first; the last one is a raw block, the one being written */
  readonly #chunks: Chunk[] = [];
  /** leading chunks already packed, or left raw */
  #sealed = 0;
  /** segments still to leave raw untried after a failure */
  #skipSegments = 0;
  readonly #packing: HistoryPackingStats = { packed: 0, failed: 0, skipped: 0 };
  /** offset of the oldest kept byte in chunks[0] */
  #head = 0;
  /** bytes used in the last block */
  #fill = 0;
  #length = 0;
  #total = 0;
  #memory = 0;
  /** the last segment inflated, while one read (tail, last, ...) touches it again */
  #inflated: { segment: PackedSegment; data: Buffer } | undefined;

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

  /** bytes of memory the ring holds (raw blocks allocated, packed segments) */
  get memoryBytes(): number {
    return this.#memory;
  }

  /** What packing did since creation (a copy). */
  get packing(): HistoryPackingStats {
    return { ...this.#packing };
  }

  /** true when output fell out of the ring */
  get truncated(): boolean {
    return this.#total > this.#length;
  }

  /** the last byte held, or undefined when empty */
  get lastByte(): number | undefined {
    if (this.#length === 0) return undefined;
    return (this.#chunks[this.#chunks.length - 1] as Buffer)[this.#fill - 1];
  }

  /** The byte `n` positions from the end (1: the last byte), or undefined past the start. */
  byteFromEnd(n: number): number | undefined {
    return this.#read(() => this.#byteFromEnd(n));
  }

  #byteFromEnd(n: number): number | undefined {
    if (n < 1 || n > this.#length) return undefined;
    let skip = n - 1;
    for (let c = this.#chunks.length - 1; c >= 0; c--) {
      const [start, end] = this.#span(c);
      if (skip < end - start) return this.#bytes(c)[end - 1 - skip];
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
      let block = this.#chunks[this.#chunks.length - 1] as Buffer | undefined;
      if (!block || this.#fill === HISTORY_BLOCK_BYTES) {
        block = Buffer.allocUnsafeSlow(HISTORY_BLOCK_BYTES);
        this.#chunks.push(block);
        this.#memory += HISTORY_BLOCK_BYTES;
        this.#fill = 0;
      }
      const n = Math.min(chunk.length - offset, HISTORY_BLOCK_BYTES - this.#fill);
      block.set(chunk.subarray(offset, offset + n), this.#fill);
      this.#fill += n;
      this.#length += n;
      offset += n;
    }
    this.#evict();
    this.#pack();
  }

  /** Forget everything (keeps totalBytes unless `keepTotal` is false). */
  clear(keepTotal = true): void {
    this.#chunks.length = 0;
    this.#sealed = 0;
    this.#skipSegments = 0;
    this.#head = 0;
    this.#fill = 0;
    this.#length = 0;
    this.#memory = 0;
    this.#inflated = undefined;
    if (!keepTotal) this.#total = 0;
  }

  /** The last `n` bytes held (fewer when less is held), as a new Buffer. */
  last(n: number): Buffer {
    return this.#read(() => this.#last(n));
  }

  #last(n: number): Buffer {
    const count = Math.max(0, Math.min(n, this.#length));
    const out = Buffer.allocUnsafe(count);
    let skip = this.#length - count;
    let at = 0;
    for (let c = 0; c < this.#chunks.length && at < count; c++) {
      const [start, end] = this.#span(c);
      const size = end - start;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      const from = start + skip;
      skip = 0;
      at += this.#bytes(c).copy(out, at, from, end);
    }
    return out;
  }

  /**
   * How many bytes from the end the last `lines` lines take (the whole ring when it holds fewer lines).
   * A trailing LF ends the last line; an unfinished last line counts as a line.
   */
  lineTailLength(lines: number): number {
    return this.#read(() => this.#lineTailLength(lines));
  }

  #lineTailLength(lines: number): number {
    if (lines <= 0) return 0;
    let wanted = this.lastByte === LF ? lines + 1 : lines;
    let fromEnd = 0;
    for (let c = this.#chunks.length - 1; c >= 0; c--) {
      const [start, end] = this.#span(c);
      const bytes = this.#bytes(c);
      let pos = end - 1;
      while (pos >= start) {
        const found = bytes.lastIndexOf(LF, pos);
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
    return this.#read(() => {
      let count = this.#length;
      let byBytes = false;
      if (options.lines !== undefined) count = Math.min(count, this.#lineTailLength(options.lines));
      if (options.bytes !== undefined && options.bytes < count) {
        count = options.bytes;
        byBytes = true;
      }
      let data = this.#last(count);
      const cut = byBytes || (count === this.#length && this.truncated);
      if (cut) data = skipContinuationBytes(data);
      const truncated = count < this.#length ? !this.#startsLine(count) : this.truncated;
      return { data, text: data.toString('utf8'), truncated };
    });
  }

  /** Whether the last `count` bytes start a line (the byte before them is LF). */
  #startsLine(count: number): boolean {
    if (count >= this.#length) return !this.truncated;
    return this.#byteFromEnd(count + 1) === LF;
  }

  /** One read: segments it inflates are cached for its own steps only, never held after it. */
  #read<T>(read: () => T): T {
    try {
      return read();
    } finally {
      this.#inflated = undefined;
    }
  }

  /** [start, end) of the bytes used in chunk c */
  #span(c: number): [number, number] {
    const start = c === 0 ? this.#head : 0;
    const chunk = this.#chunks[c]!;
    const end = c === this.#chunks.length - 1 ? this.#fill : chunk instanceof PackedSegment ? SEGMENT_BYTES : HISTORY_BLOCK_BYTES;
    return [start, end];
  }

  /** The bytes of chunk c: the raw block, or the segment inflated (kept until the read ends). */
  #bytes(c: number): Buffer {
    const chunk = this.#chunks[c]!;
    if (!(chunk instanceof PackedSegment)) return chunk;
    if (this.#inflated?.segment !== chunk) this.#inflated = { segment: chunk, data: inflateRawSync(chunk.packed) };
    return this.#inflated.data;
  }

  #memoryOf(chunk: Chunk): number {
    return chunk instanceof PackedSegment ? chunk.packed.length : HISTORY_BLOCK_BYTES;
  }

  #evict(): void {
    while (this.#length > this.capacity) {
      const excess = this.#length - this.capacity;
      const [start, end] = this.#span(0);
      const available = end - start;
      if (excess >= available && this.#chunks.length > 1) {
        const gone = this.#chunks.shift()!;
        this.#memory -= this.#memoryOf(gone);
        if (this.#sealed > 0) this.#sealed--;
        if (this.#inflated?.segment === gone) this.#inflated = undefined;
        this.#head = 0;
        this.#length -= available;
      } else {
        this.#head += excess;
        this.#length -= excess;
      }
    }
  }

  /** Pack the HISTORY_SEGMENT_BLOCKS full blocks after the sealed ones, if that many lie behind the last block. */
  #pack(): void {
    while (this.#chunks.length - 1 - this.#sealed >= HISTORY_SEGMENT_BLOCKS) {
      const first = this.#sealed;
      if (this.#skipSegments > 0) {
        this.#skipSegments--;
        this.#packing.skipped++;
        this.#sealed += HISTORY_SEGMENT_BLOCKS;
        continue;
      }
      const blocks = this.#chunks.slice(first, first + HISTORY_SEGMENT_BLOCKS) as Buffer[];
      const deflated = deflateRawSync(Buffer.concat(blocks, SEGMENT_BYTES), { level: PACK_LEVEL });
      if (deflated.length > PACKED_MAX_BYTES) {
        this.#sealed += HISTORY_SEGMENT_BLOCKS; // does not pack: left raw, never tried again
        this.#skipSegments = PACK_SKIP_AFTER_FAILURE;
        this.#packing.failed++;
        continue;
      }
      // zlib hands back a slice of its 16 KiB output buffer: copy it out so that only its own bytes stay held.
      const packed = Buffer.allocUnsafeSlow(deflated.length);
      deflated.copy(packed);
      this.#chunks.splice(first, HISTORY_SEGMENT_BLOCKS, new PackedSegment(packed));
      this.#memory += packed.length - SEGMENT_BYTES;
      this.#sealed = first + 1;
      this.#packing.packed++;
    }
  }
}

/** A UTF-8 sequence cut at the front: drop up to 3 continuation bytes (10xxxxxx). */
function skipContinuationBytes(data: Buffer): Buffer {
  let i = 0;
  while (i < 3 && i < data.length && (data[i]! & 0xc0) === 0x80) i++;
  return i === 0 ? data : data.subarray(i);
}

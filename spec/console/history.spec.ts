import { expect } from 'chai';
import fc from 'fast-check';
import {
  ConsoleHistory,
  DEFAULT_HISTORY_BYTES,
  HISTORY_BLOCK_BYTES,
  HISTORY_SEGMENT_BLOCKS,
  HISTORY_SLACK_BYTES,
  PACK_SKIP_AFTER_FAILURE,
  MAX_HISTORY_BYTES,
  MIN_HISTORY_BYTES,
} from '../../lib/console/history.js';
import { isIpmiError } from '../../lib/errors.js';
import { bootLogBytes } from '../../fixtures/fake-bmc/boot-log.js';
import { randomBytes } from 'node:crypto';

const b = (s: string) => Buffer.from(s, 'utf8');

function lastLinesOf(all: string, n: number): string {
  // Reference: split at LF keeping terminators; the unfinished last line counts.
  const parts = all.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  return parts.slice(Math.max(0, parts.length - n)).join('');
}

describe('console/history', () => {
  it('defaults to 256 KiB and refuses sizes outside MIN..MAX (never unbounded)', () => {
    expect(new ConsoleHistory().capacity).to.equal(DEFAULT_HISTORY_BYTES);
    expect(DEFAULT_HISTORY_BYTES).to.equal(256 * 1024);
    for (const bad of [0, MIN_HISTORY_BYTES - 1, MAX_HISTORY_BYTES + 1, Infinity, 1.5, NaN]) {
      expect(() => new ConsoleHistory(bad), String(bad)).to.throw().that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
    }
    expect(new ConsoleHistory(MAX_HISTORY_BYTES).capacity).to.equal(MAX_HISTORY_BYTES);
  });

  it('an idle console holds no block; memory stays within capacity plus two blocks whatever is written', () => {
    const h = new ConsoleHistory(10_000);
    expect(h.memoryBytes).to.equal(0);
    for (let i = 0; i < 1000; i++) h.append(Buffer.alloc(997, i & 0xff));
    expect(h.length).to.equal(10_000);
    expect(h.totalBytes).to.equal(997_000);
    expect(h.memoryBytes).to.be.at.most(10_000 + 2 * HISTORY_BLOCK_BYTES);
    h.append(Buffer.alloc(50_000, 7)); // one chunk larger than the ring
    expect(h.length).to.equal(10_000);
    expect(h.last(10_000).equals(Buffer.alloc(10_000, 7))).to.equal(true);
    expect(h.memoryBytes).to.be.at.most(10_000 + 2 * HISTORY_BLOCK_BYTES);
  });

  it('keeps exactly the last `capacity` bytes, for any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: MIN_HISTORY_BYTES, max: 3 * HISTORY_BLOCK_BYTES }),
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { maxLength: 20 }),
        (capacity, chunks) => {
          const h = new ConsoleHistory(capacity);
          for (const c of chunks) h.append(c);
          const all = Buffer.concat(chunks);
          const expected = all.subarray(Math.max(0, all.length - capacity));
          expect(h.last(capacity).equals(expected)).to.equal(true);
          expect(h.length).to.equal(expected.length);
          expect(h.truncated).to.equal(all.length > capacity);
          const n = Math.floor(expected.length / 3);
          expect(h.last(n).equals(expected.subarray(expected.length - n))).to.equal(true);
        },
      ),
    );
  });

  it('tail({ lines }) returns the last N lines; LF ends a line, CR is kept, the unfinished last line counts', () => {
    const h = new ConsoleHistory(MIN_HISTORY_BYTES);
    h.append(b('one\r\ntwo\r\nthree\r\nlogin: '));
    expect(h.tail({ lines: 1 }).text).to.equal('login: ');
    expect(h.tail({ lines: 2 }).text).to.equal('three\r\nlogin: ');
    expect(h.tail({ lines: 9 }).text).to.equal('one\r\ntwo\r\nthree\r\nlogin: ');
    expect(h.tail({ lines: 0 }).text).to.equal('');
    h.append(b('\n'));
    expect(h.tail({ lines: 1 }).text).to.equal('login: \n');
    h.append(b('progress 10%\rprogress 90%\r'));
    expect(h.tail({ lines: 1 }).text, 'a lone CR does not end a line').to.equal('progress 10%\rprogress 90%\r');
    expect(h.tail({ lines: 2 }).truncated).to.equal(false);
  });

  it('tail({ lines }) matches a reference for any text and chunking (property), across block boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'bc', '\n', '\r\n', 'x'.repeat(700), '\r'), { maxLength: 60 }),
        fc.integer({ min: 0, max: 30 }),
        (pieces, n) => {
          const h = new ConsoleHistory(64 * 1024);
          for (const p of pieces) h.append(b(p));
          const all = pieces.join('');
          expect(h.tail({ lines: n }).text).to.equal(lastLinesOf(all, n));
        },
      ),
    );
  });

  it('tail({ bytes }) starts on a UTF-8 character boundary; invalid UTF-8 becomes U+FFFD in text, raw in data', () => {
    const h = new ConsoleHistory(MIN_HISTORY_BYTES);
    h.append(b('é€x')); // c3 a9 | e2 82 ac | 78
    const t = h.tail({ bytes: 3 }); // would start at 82 ac 78: the cut euro sign is skipped
    expect(t.text).to.equal('x');
    expect(t.truncated).to.equal(true);
    expect(h.tail({ bytes: 4 }).text).to.equal('€x');
    h.append(Buffer.from([0xff, 0x41, 0xc3]));
    const raw = h.tail({ bytes: 3 });
    expect([...raw.data]).to.deep.equal([0xff, 0x41, 0xc3]);
    expect(raw.text).to.equal('\ufffdA\ufffd');
  });

  it('with lines and bytes the shorter answer wins; with neither, the whole ring; truncated once output fell out', () => {
    const h = new ConsoleHistory(MIN_HISTORY_BYTES);
    h.append(b('aaaa\nbbbb\ncccc\n'));
    expect(h.tail({ lines: 2, bytes: 3 }).text).to.equal('cc\n');
    expect(h.tail({ lines: 1, bytes: 100 }).text).to.equal('cccc\n');
    expect(h.tail().text).to.equal('aaaa\nbbbb\ncccc\n');
    expect(h.tail().truncated).to.equal(false);
    h.append(Buffer.alloc(MIN_HISTORY_BYTES - 3, 0x2e));
    const whole = h.tail({ lines: 1000 });
    expect(whole.data.length).to.equal(MIN_HISTORY_BYTES);
    expect(whole.truncated).to.equal(true);
    expect(() => h.tail({ lines: -1 })).to.throw().that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
  });
  describe('packed segments (full blocks deflated behind the one being written)', () => {
    const SEGMENT = HISTORY_SEGMENT_BLOCKS * HISTORY_BLOCK_BYTES;

    it('a boot log through a full 256 KiB history: every byte and line as written, in under a third of the memory', () => {
      const h = new ConsoleHistory();
      const log = bootLogBytes(3, 1_000_000);
      for (let at = 0; at < log.length; at += 255) h.append(log.subarray(at, at + 255)); // SOL-packet-sized pieces
      const kept = log.subarray(log.length - h.capacity);
      expect(h.length).to.equal(h.capacity);
      expect(h.last(h.capacity).equals(kept)).to.equal(true);
      expect(h.memoryBytes, `${h.memoryBytes} bytes`).to.be.below(h.capacity / 3);
      // every full block behind the one being written, in groups of HISTORY_SEGMENT_BLOCKS
      expect(h.packing.packed).to.equal(Math.floor((Math.ceil(log.length / HISTORY_BLOCK_BYTES) - 1) / HISTORY_SEGMENT_BLOCKS));
      expect(h.packing.failed + h.packing.skipped).to.equal(0);
      for (const n of [1, 7, 300, 5000]) expect(h.tail({ lines: n }).text, `${n} lines`).to.equal(lastLinesOf(kept.toString('latin1'), n));
      for (const n of [1, SEGMENT - 1, SEGMENT + 1, h.capacity]) expect(h.byteFromEnd(n), `byte ${n} from the end`).to.equal(kept[kept.length - n]);
    });

    it('output that does not pack (random bytes) stays raw and exact, within capacity plus HISTORY_SLACK_BYTES', () => {
      const h = new ConsoleHistory(100_000);
      const data = randomBytes(400_000);
      for (let at = 0; at < data.length; at += 1000) h.append(data.subarray(at, at + 1000));
      expect(h.last(100_000).equals(data.subarray(300_000))).to.equal(true);
      expect(h.memoryBytes).to.be.within(100_000, 100_000 + HISTORY_SLACK_BYTES);
      // one deflate tried, then PACK_SKIP_AFTER_FAILURE segments left raw untried, and again
      const { packed, failed, skipped } = h.packing;
      expect(packed).to.equal(0);
      expect(failed + skipped).to.be.at.least(20);
      expect(failed).to.equal(Math.ceil((failed + skipped) / (PACK_SKIP_AFTER_FAILURE + 1)));
    });

    it('text after noise packs again once the skipped segments are behind it', () => {
      const h = new ConsoleHistory();
      h.append(randomBytes(3 * SEGMENT));
      const log = bootLogBytes(9, 400_000);
      for (let at = 0; at < log.length; at += 255) h.append(log.subarray(at, at + 255));
      expect(h.packing.failed).to.equal(1);
      expect(h.packing.skipped).to.equal(PACK_SKIP_AFTER_FAILURE);
      expect(h.packing.packed).to.be.at.least(10);
      expect(h.memoryBytes).to.be.below(h.capacity / 3);
      expect(h.last(h.capacity).equals(log.subarray(log.length - h.capacity))).to.equal(true);
    });

    it('text and noise mixed, any capacity and chunking: the last `capacity` bytes, tail lines and memory bound hold (property)', () => {
      const text = bootLogBytes(5, 200_000);
      fc.assert(
        fc.property(
          fc.integer({ min: MIN_HISTORY_BYTES, max: 12 * HISTORY_BLOCK_BYTES }),
          fc.array(fc.oneof(fc.integer({ min: 1, max: 9000 }).map((n) => ({ text: n })), fc.integer({ min: 1, max: 9000 }).map((n) => ({ noise: n }))), { maxLength: 25 }),
          fc.integer({ min: 0, max: 200 }),
          (capacity, pieces, lines) => {
            const h = new ConsoleHistory(capacity);
            const written: Buffer[] = [];
            let textAt = 0;
            for (const piece of pieces) {
              const chunk = 'text' in piece ? text.subarray(textAt, (textAt += piece.text)) : randomBytes(piece.noise);
              written.push(chunk);
              h.append(chunk);
              expect(h.memoryBytes).to.be.at.most(capacity + HISTORY_SLACK_BYTES);
            }
            const all = Buffer.concat(written);
            const expected = all.subarray(Math.max(0, all.length - capacity));
            expect(h.last(capacity).equals(expected)).to.equal(true);
            // (tail() would also drop a cut UTF-8 character at the front of a truncated ring: noise has those)
            expect(h.last(h.lineTailLength(lines)).equals(Buffer.from(lastLinesOf(expected.toString('latin1'), lines), 'latin1'))).to.equal(true);
          },
        ),
        { numRuns: 150 },
      );
    });

    it('clear() frees every block and segment', () => {
      const h = new ConsoleHistory();
      h.append(bootLogBytes(1, 100_000));
      expect(h.memoryBytes).to.be.above(0);
      h.clear();
      expect(h.memoryBytes).to.equal(0);
      expect(h.length).to.equal(0);
      expect(h.tail().text).to.equal('');
    });
  });
});

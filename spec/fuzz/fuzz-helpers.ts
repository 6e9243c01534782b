/**
 * Shared pieces of the fuzz specs: byte arbitraries (random datagrams and mutations of valid ones), the
 * "only CodecError may escape" check and an allocation guard.
 */
import fc from 'fast-check';
import { CodecError } from '../../lib/codec/buffer.js';

/** Cases each fuzz property runs; FUZZ_SCALE=10 runs ten times more (a longer local session). */
export const SCALE = Math.max(1, Number(process.env.FUZZ_SCALE ?? 1) || 1);
export const runs = (n: number): number => Math.round(n * SCALE);

/** fast-check cases run (and decoder calls made) across the fuzz specs of this mocha run. */
export const caseCounter = { cases: 0, decoderCalls: 0 };

export function reportCases(what: string): void {
  console.log(`      ${what}; fuzz total so far: ${caseCounter.cases} cases, ${caseCounter.decoderCalls} decoder calls`);
}

export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'u16'; at: number; value: number }
  | { kind: 'u32'; at: number; value: number };

/** Positions are fractions of the packet length so that one mutation fits any seed. */
const position = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Values a length field likes to lie with. */
const lyingU16 = fc.oneof(fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xfffe, 0xffff), fc.integer({ min: 0, max: 0xffff }));

const mutation: fc.Arbitrary<{ kind: Mutation['kind']; p: number; n: number; bytes: Uint8Array }> = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('flip', 'flip', 'flip', 'set', 'truncate', 'extend', 'insert', 'delete', 'u16', 'u16', 'u32'),
  p: position,
  n: fc.nat({ max: 0xffffffff }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 48 }),
});

export function applyMutation(buf: Buffer, m: { kind: Mutation['kind']; p: number; n: number; bytes: Uint8Array }): Buffer {
  const at = Math.floor(m.p * Math.max(1, buf.length));
  switch (m.kind) {
    case 'flip': {
      if (buf.length === 0) return buf;
      const out = Buffer.from(buf);
      out[at] = out[at]! ^ (1 << (m.n % 8));
      return out;
    }
    case 'set': {
      if (buf.length === 0) return buf;
      const out = Buffer.from(buf);
      out[at] = m.n & 0xff;
      return out;
    }
    case 'truncate':
      return buf.subarray(0, at);
    case 'extend':
      return Buffer.concat([buf, m.bytes]);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), m.bytes, buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + (m.n % 8))]);
    case 'u16': {
      if (buf.length < 2) return buf;
      const out = Buffer.from(buf);
      const v = [0, 0xffff, 0xfffe, 0x8000, 0x7fff, 0x100, 0xff][m.n % 7]!;
      out.writeUInt16LE(m.n % 3 === 0 ? v : m.n & 0xffff, Math.min(at, buf.length - 2));
      return out;
    }
    case 'u32': {
      if (buf.length < 4) return buf;
      const out = Buffer.from(buf);
      out.writeUInt32LE(m.n >>> 0, Math.min(at, buf.length - 4));
      return out;
    }
  }
}

/** A mutated copy of one of `seeds`: 1..4 mutations stacked. */
export function mutatedFrom(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc
    .record({ seed: fc.constantFrom(...seeds), mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }) })
    .map(({ seed, mutations }) => mutations.reduce(applyMutation, seed));
}

/** Random bytes, biased towards short inputs (most decoders give up in the first few bytes). */
export const randomBytes = (maxLength = 300): fc.Arbitrary<Buffer> =>
  fc.oneof(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength })).map((a) => Buffer.from(a));

/**
 * A datagram with a valid RMCP/RMCP+ prefix and random rest, so fuzzing gets past the first checks: the
 * header is taken from a seed and everything after a random cut point is random.
 */
export function prefixedRandom(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc
    .record({ seed: fc.constantFrom(...seeds), keep: fc.nat({ max: 40 }), tail: fc.uint8Array({ maxLength: 120 }), len: lyingU16 })
    .map(({ seed, keep, tail, len }) => {
      const head = Buffer.from(seed.subarray(0, Math.min(keep, seed.length)));
      const out = Buffer.concat([head, tail]);
      // Sometimes plant a lying RMCP+ payload length (offset 14) or v1.5 length (offset 13).
      if (out.length >= 16 && len % 2 === 0) out.writeUInt16LE(len, 14);
      return out;
    });
}

/** Biggest buffer allocated through Buffer.* while `fn` ran (Node's own crypto allocates through these too). */
export function largestAllocation<T>(fn: () => T): { value?: T; error?: unknown; largest: number } {
  let largest = 0;
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => Buffer>;
  const names = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat'] as const;
  const saved = names.map((n) => B[n]!);
  names.forEach((n, i) => {
    const original = saved[i]!;
    B[n] = function (this: unknown, ...args: unknown[]) {
      if ((n === 'alloc' || n === 'allocUnsafe' || n === 'allocUnsafeSlow') && typeof args[0] === 'number') {
        largest = Math.max(largest, args[0]);
      }
      const out = original.apply(this, args);
      if (n === 'from' || n === 'concat') largest = Math.max(largest, out.length);
      return out;
    };
  });
  try {
    return { value: fn(), largest };
  } catch (error) {
    return { error, largest };
  } finally {
    names.forEach((n, i) => (B[n] = saved[i]!));
  }
}

/** Slack allowed above the input's own size: headers, HMAC digests (32), an AES block (16), small records. */
export const ALLOCATION_SLACK = 64;

/**
 * Run a decoder on `input`: it may return or throw a CodecError (PacketRejected included), nothing else; it
 * may not allocate more than the input's length plus ALLOCATION_SLACK in any one buffer.
 */
export function checkDecoder<T>(name: string, decode: (b: Buffer) => T, input: Buffer): { ok: boolean; value?: T; error?: unknown } {
  caseCounter.decoderCalls++;
  const { value, error, largest } = largestAllocation(() => decode(input));
  if (error !== undefined && !(error instanceof CodecError)) {
    const e = error as Error;
    throw new Error(`${name} threw ${e?.name ?? typeof error} (${e?.message}) for ${input.toString('hex')}`);
  }
  if (largest > input.length + ALLOCATION_SLACK) {
    throw new Error(`${name} allocated ${largest} bytes for a ${input.length}-byte input ${input.toString('hex')}`);
  }
  return error === undefined ? { ok: true, value: value as T } : { ok: false, error };
}

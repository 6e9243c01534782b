/**
 * HMAC-SHA1 with the key's state computed once (RFC 2104 over FIPS 180-4 SHA-1), for the per-packet AuthCode of
 * HMAC-SHA1-96 sessions (IPMI 2.0 section 13.28.4; cipher suites 1-3, the common ones).
 *
 * Mechanism "HMAC key state once" (issue 12): HMAC(K, m) = H((K ^ opad) | H((K ^ ipad) | m)). The first block of
 * each hash depends on K alone, so its SHA-1 state is computed once per K1 and every AuthCode starts from it: a
 * 300-byte packet costs 5 + 1 compressions instead of 6 + 2, and no node:crypto object, KeyObject lookup or digest
 * Buffer is made per packet. Node cannot clone a keyed createHmac, and hash.copy() of precomputed states was slower
 * than createHmac (lib/crypto/integrity.ts). Measured on the bench machine (warm, 100 000 calls):
 * 288 bytes 1.15-1.25 us against 1.65-1.70 us for createHmac with a cached KeyObject; 32 bytes (a SOL ACK)
 * 0.47 us against 1.56 us.
 *
 * Pure computation over the caller's bytes; the only state is the key's and two scratch arrays reused by every call
 * (JavaScript runs one call at a time).
 */
import { createHash } from 'node:crypto';

const BLOCK = 64;
const DIGEST = 20;
const INITIAL_STATE = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

/** The message schedule of one compression (FIPS 180-4 section 6.1.2 step 1), reused by every call. */
const schedule = new Int32Array(80);
/** The last one or two blocks of a message: its tail, the 0x80 byte, zeros and the bit length. */
const finalBlocks = new Uint8Array(2 * BLOCK);

/** One SHA-1 compression of the 64 bytes at `offset` into `state` (FIPS 180-4 section 6.1.2). */
function compress(state: Int32Array, bytes: Uint8Array, offset: number): void {
  const w = schedule;
  for (let i = 0; i < 16; i++) {
    const j = offset + 4 * i;
    w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
  }
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let t: number;
  let i = 0;
  // Four loops of 20 rounds, one per round function and constant K (section 4.1.1, 4.2.1).
  for (; i < 20; i++) {
    t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]!) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (; i < 40; i++) {
    t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (; i < 60; i++) {
    t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + (0x8f1bbcdc | 0) + w[i]!) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  for (; i < 80; i++) {
    t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + (0xca62c1d6 | 0) + w[i]!) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
}

/**
 * SHA-1 of bytes[start, end) following `prefixBlocks` blocks already folded into `from`; the result in `into`
 * (padding per FIPS 180-4 section 5.1.1: 0x80, zeros, the message's length in bits as 64 bits big-endian).
 */
function finishHash(from: Int32Array, prefixBlocks: number, bytes: Uint8Array, start: number, end: number, into: Int32Array): void {
  into.set(from);
  let offset = start;
  for (; offset + BLOCK <= end; offset += BLOCK) compress(into, bytes, offset);
  const rest = end - offset;
  const tail = finalBlocks;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = bytes[offset + i]!; // at most 63 bytes; no subarray object per hash
  tail[rest] = 0x80;
  const length = rest + 9 > BLOCK ? 2 * BLOCK : BLOCK;
  const bits = (prefixBlocks * BLOCK + end - start) * 8;
  const high = Math.floor(bits / 2 ** 32);
  tail[length - 8] = high >>> 24;
  tail[length - 7] = high >>> 16;
  tail[length - 6] = high >>> 8;
  tail[length - 5] = high;
  tail[length - 4] = bits >>> 24;
  tail[length - 3] = bits >>> 16;
  tail[length - 2] = bits >>> 8;
  tail[length - 1] = bits;
  compress(into, tail, 0);
  if (length > BLOCK) compress(into, tail, BLOCK);
}

/** An HMAC-SHA1 key: the SHA-1 states after (K ^ ipad) and (K ^ opad), made once. */
export class HmacSha1 {
  readonly #inner = Int32Array.from(INITIAL_STATE);
  readonly #outer = Int32Array.from(INITIAL_STATE);
  readonly #state = new Int32Array(5);
  readonly #innerDigest = new Uint8Array(DIGEST);

  constructor(key: Uint8Array) {
    // RFC 2104 section 2: a key longer than the block is hashed first; a shorter one is padded with zeros.
    const k = new Uint8Array(BLOCK);
    k.set(key.length > BLOCK ? createHash('sha1').update(key).digest() : key);
    const pad = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) pad[i] = k[i]! ^ 0x36;
    compress(this.#inner, pad, 0);
    for (let i = 0; i < BLOCK; i++) pad[i] = k[i]! ^ 0x5c;
    compress(this.#outer, pad, 0);
  }

  /** The first `length` bytes (at most 20) of HMAC-SHA1(K, bytes[start, end)) into out[offset...]. */
  macInto(bytes: Uint8Array, start: number, end: number, out: Uint8Array, offset: number, length: number = DIGEST): void {
    const state = this.#state;
    finishHash(this.#inner, 1, bytes, start, end, state);
    const inner = this.#innerDigest;
    for (let i = 0; i < 5; i++) writeWord(inner, 4 * i, state[i]!);
    finishHash(this.#outer, 1, inner, 0, DIGEST, state);
    for (let i = 0; i < length; i++) out[offset + i] = (state[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
  }

  /** True when `code` is the first code.length bytes of the MAC; every byte is compared (no early exit). */
  matches(bytes: Uint8Array, start: number, end: number, code: Uint8Array): boolean {
    if (code.length === 0 || code.length > DIGEST) return false;
    const mac = this.#innerDigest; // free again once macInto has returned
    this.macInto(bytes, start, end, mac, 0, code.length);
    let diff = 0;
    for (let i = 0; i < code.length; i++) diff |= mac[i]! ^ code[i]!;
    return diff === 0;
  }
}

function writeWord(out: Uint8Array, offset: number, word: number): void {
  out[offset] = word >>> 24;
  out[offset + 1] = word >>> 16;
  out[offset + 2] = word >>> 8;
  out[offset + 3] = word;
}

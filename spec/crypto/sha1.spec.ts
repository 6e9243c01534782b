import { expect } from 'chai';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { HmacSha1 } from '../../lib/crypto/sha1.js';

const mac = (key: Uint8Array, data: Uint8Array, length = 20): string => {
  const out = Buffer.alloc(length);
  new HmacSha1(key).macInto(data, 0, data.length, out, 0, length);
  return out.toString('hex');
};

describe('crypto/sha1 (HMAC-SHA1 with the key state made once, RFC 2104)', () => {
  it('gives the RFC 2202 HMAC-SHA1 test vectors, keys longer than a block and truncation included', () => {
    const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
    const vectors: [Buffer, Buffer, string][] = [
      [Buffer.alloc(20, 0x0b), ascii('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
      [ascii('Jefe'), ascii('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
      [Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
      [Buffer.from(Array.from({ length: 25 }, (_, i) => i + 1)), Buffer.alloc(50, 0xcd), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
      [Buffer.alloc(20, 0x0c), ascii('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
      [Buffer.alloc(80, 0xaa), ascii('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
      [Buffer.alloc(80, 0xaa), ascii('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
    ];
    for (const [key, data, digest] of vectors) expect(mac(key, data)).to.equal(digest);
    expect(mac(Buffer.alloc(20, 0x0c), ascii('Test With Truncation'), 12)).to.equal('4c1a03424b55e07fe7f27be1'); // RFC 2202 test case 5, HMAC-SHA1-96
  });

  it('equals node:crypto createHmac for every padding boundary (message tails of 55, 56, 63, 64 bytes...)', () => {
    const key = Buffer.from('0123456789abcdef0123', 'latin1');
    for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 300]) {
      const data = Buffer.from(Array.from({ length }, (_, i) => (i * 7 + 3) & 0xff));
      expect(mac(key, data), `length ${length}`).to.equal(createHmac('sha1', key).update(data).digest('hex'));
    }
  });

  it('equals createHmac over a sub-range of a larger buffer, written at an offset, truncated, with keys interleaved', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 100 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(2), fc.uint8Array({ maxLength: 400 }), fc.nat(8), fc.nat(8), fc.integer({ min: 1, max: 20 })), { minLength: 1, maxLength: 6 }),
        (keys, messages) => {
          const hmacs = keys.map((k) => new HmacSha1(k));
          for (const [which, bytes, before, after, length] of messages) {
            const k = which % keys.length;
            const frame = Buffer.concat([Buffer.alloc(before, 0xee), bytes, Buffer.alloc(after, 0xee)]);
            const out = Buffer.alloc(length + 5, 0x77);
            hmacs[k]!.macInto(frame, before, before + bytes.length, out, 3, length);
            const expected = createHmac('sha1', keys[k]!).update(bytes).digest().subarray(0, length);
            expect(out.subarray(3, 3 + length).toString('hex')).to.equal(expected.toString('hex'));
            expect(out[2]).to.equal(0x77);
            expect(out[3 + length]).to.equal(0x77);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches() accepts the right code only: every flipped bit, a wrong length and an empty code are refused', () => {
    const hmac = new HmacSha1(Buffer.alloc(20, 5));
    const data = Buffer.from('an RMCP+ session header and its SOL payload');
    const code = createHmac('sha1', Buffer.alloc(20, 5)).update(data).digest().subarray(0, 12);
    expect(hmac.matches(data, 0, data.length, code)).to.equal(true);
    for (let bit = 0; bit < code.length * 8; bit++) {
      const bad = Buffer.from(code);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(hmac.matches(data, 0, data.length, bad), `bit ${bit}`).to.equal(false);
    }
    expect(hmac.matches(data, 0, data.length, Buffer.alloc(0))).to.equal(false);
    expect(hmac.matches(data, 0, data.length, Buffer.alloc(21))).to.equal(false);
    expect(hmac.matches(data, 1, data.length, code), 'a different range').to.equal(false);
  });
});

import { expect } from 'chai';
import fc from 'fast-check';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decryptPayload, encryptPayload, sessionAes } from '../../lib/crypto/aes-cbc.js';
import { decodeV20, encodeV20, NO_CRYPTO, PayloadType, type SessionCrypto } from '../../lib/codec/rmcp.js';
import { ConfidentialityAlgorithm } from '../../lib/crypto/cipher-suites.js';
import { readGolden } from '../codec/golden.js';

const vectors = readFileSync(fileURLToPath(new URL('../../fixtures/packets/aes-rfc3602.hex', import.meta.url)), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('='))
  .map((l) => l.slice(1).trim().split(/\s+/).map((h) => Buffer.from(h, 'hex')));

describe('crypto/aes-cbc (IPMI 2.0 section 13.29)', () => {
  it('reproduces the RFC 3602 ciphertexts as the first blocks of an IPMI payload', () => {
    expect(vectors).to.have.length(2);
    for (const [key, iv, plain, cipher] of vectors) {
      const payload = encryptPayload(key!, iv!, plain!);
      expect(payload.subarray(0, 16)).to.deep.equal(iv);
      expect(payload.subarray(16, 16 + cipher!.length).toString('hex')).to.equal(cipher!.toString('hex'));
      expect(decryptPayload(key!, payload)).to.deep.equal(plain);
    }
  });

  it('pads with 01 02 .. N then N, to a multiple of 16, for every length 0..64', () => {
    const key = Buffer.alloc(16, 7);
    const iv = Buffer.alloc(16, 9);
    for (let n = 0; n <= 64; n++) {
      const plain = Buffer.alloc(n, 0x41);
      const payload = encryptPayload(key, iv, plain);
      expect((payload.length - 16) % 16).to.equal(0);
      expect(payload.length - 16).to.equal(Math.ceil((n + 1) / 16) * 16);
      expect(decryptPayload(key, payload)).to.deep.equal(plain);
    }
  });

  it('rejects wrong pad bytes, short and unaligned payloads', () => {
    const key = Buffer.alloc(16, 1);
    expect(decryptPayload(key, Buffer.alloc(16))).to.equal(undefined);
    expect(decryptPayload(key, Buffer.alloc(40))).to.equal(undefined);
    // Decrypting random data almost never yields valid IPMI pad bytes; a fixed one here that does not.
    expect(decryptPayload(key, Buffer.alloc(32, 0x5a))).to.equal(undefined);
  });

  it('decodes and rebuilds the RMCP+ packet built on vector #1 byte for byte', () => {
    const [packet] = readGolden('aes-rfc3602.hex');
    const [key, iv, plain] = vectors[0]!;
    const crypto: SessionCrypto = { ...NO_CRYPTO, confidentiality: ConfidentialityAlgorithm.AES_CBC_128, k2: key! };
    const decoded = decodeV20(packet!.bytes, crypto);
    expect(decoded.payloadType).to.equal(PayloadType.SOL);
    expect(decoded.encrypted).to.equal(true);
    expect(decoded.sessionId).to.equal(0x02000001);
    expect(decoded.sequence).to.equal(5);
    expect(decoded.payload).to.deep.equal(plain);
    const rebuilt = encodeV20({ payloadType: PayloadType.SOL, sessionId: 0x02000001, sequence: 5, payload: plain!, encrypt: true, crypto, iv });
    expect(rebuilt).to.deep.equal(packet!.bytes);
  });

  describe('SessionAes: long-lived contexts per K2 (issue 12 hot path)', () => {
    /** node:crypto's one-shot AES-128-CBC over the IPMI-padded plaintext: what a fresh Cipheriv per packet gives. */
    function oneShotPayload(key: Buffer, iv: Buffer, plain: Buffer): Buffer {
      const padLength = (16 - ((plain.length + 1) % 16)) % 16;
      const padded = Buffer.concat([plain, Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1)), Buffer.from([padLength])]);
      const cipher = createCipheriv('aes-128-cbc', key.subarray(0, 16), iv);
      cipher.setAutoPadding(false);
      return Buffer.concat([iv, cipher.update(padded), cipher.final()]);
    }
    function oneShotDecrypt(key: Buffer, payload: Buffer): Buffer {
      const decipher = createDecipheriv('aes-128-cbc', key.subarray(0, 16), payload.subarray(0, 16));
      decipher.setAutoPadding(false);
      return Buffer.concat([decipher.update(payload.subarray(16)), decipher.final()]);
    }
    const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));

    it('equals a fresh Cipheriv/Decipheriv for random K2 (16 or 20 bytes), IVs and lengths, in any order of use', () => {
      fc.assert(
        fc.property(
          fc.array(bytes(20), { minLength: 1, maxLength: 3 }),
          fc.array(fc.tuple(fc.nat(), bytes(16), fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), fc.boolean()), { minLength: 1, maxLength: 12 }),
          (keys, uses) => {
            for (const [which, iv, plain, short] of uses) {
              const k2 = keys[which % keys.length]!;
              const key = short ? k2.subarray(0, 16) : k2;
              const payload = encryptPayload(key, iv, plain);
              expect(payload.toString('hex')).to.equal(oneShotPayload(key, iv, plain).toString('hex'));
              expect(decryptPayload(key, payload)).to.deep.equal(plain);
              expect(sessionAes(key).decrypt(payload)).to.deep.equal(oneShotDecrypt(key, payload));
            }
          },
        ),
        { numRuns: 300 },
      );
    });

    it('follows a K2 Buffer whose bytes are overwritten in place (the cache never serves a stale key)', () => {
      const k2 = Buffer.alloc(20, 1);
      const iv = Buffer.alloc(16, 2);
      const plain = Buffer.from('hello');
      expect(encryptPayload(k2, iv, plain)).to.deep.equal(oneShotPayload(k2, iv, plain));
      k2.fill(3);
      expect(encryptPayload(k2, iv, plain)).to.deep.equal(oneShotPayload(k2, iv, plain));
    });
  });
});

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decryptPayload, encryptPayload } from '../../lib/crypto/aes-cbc.js';
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
});

import { expect } from 'chai';
import { decodeV15, decodeV20, encodeAsfPing, encodeV15, encodeV20, peekEnvelope, PacketRejected, PayloadType, type SessionCrypto } from '../../lib/codec/rmcp.js';
import { ConfidentialityAlgorithm, IntegrityAlgorithm, integrityCodeLength } from '../../lib/crypto/cipher-suites.js';

const k1 = Buffer.alloc(32, 0x11);
const k2 = Buffer.alloc(32, 0x22);
const password = Buffer.from('password');

function cryptoFor(integrity: IntegrityAlgorithm, confidentiality: ConfidentialityAlgorithm = ConfidentialityAlgorithm.NONE): SessionCrypto {
  return { integrity, confidentiality, k1, k2, password };
}

describe('codec/rmcp (IPMI 2.0 section 13.6, 13.28.4)', () => {
  for (const integrity of [IntegrityAlgorithm.HMAC_SHA1_96, IntegrityAlgorithm.HMAC_MD5_128, IntegrityAlgorithm.MD5_128, IntegrityAlgorithm.HMAC_SHA256_128]) {
    it(`integrity algorithm ${integrity}: pads auth type..next header to 4 bytes, appends the AuthCode, round-trips`, () => {
      const crypto = cryptoFor(integrity);
      for (let n = 0; n < 12; n++) {
        const payload = Buffer.alloc(n, n);
        const dg = encodeV20({ payloadType: PayloadType.IPMI, sessionId: 0x01020304, sequence: 7, payload, authenticate: true, crypto });
        const codeLength = integrityCodeLength(integrity);
        expect((dg.length - codeLength - 4) % 4).to.equal(0);
        expect(dg[dg.length - codeLength - 1]).to.equal(0x07);
        const decoded = decodeV20(dg, crypto, true);
        expect(decoded.payload).to.deep.equal(payload);
        expect(decoded.authenticated).to.equal(true);
      }
    });
  }

  it('round-trips AES-CBC-128 with integrity', () => {
    const crypto = cryptoFor(IntegrityAlgorithm.HMAC_SHA256_128, ConfidentialityAlgorithm.AES_CBC_128);
    const payload = Buffer.from('hello, console');
    const dg = encodeV20({ payloadType: PayloadType.SOL, sessionId: 9, sequence: 1, payload, encrypt: true, authenticate: true, crypto, iv: Buffer.alloc(16, 3) });
    expect(dg[5]).to.equal(0xc1);
    expect(decodeV20(dg, crypto, true).payload).to.deep.equal(payload);
  });

  it('rejects an unauthenticated packet on a session with integrity, and wrong keys', () => {
    const crypto = cryptoFor(IntegrityAlgorithm.HMAC_SHA1_96);
    const plain = encodeV20({ payloadType: PayloadType.IPMI, sessionId: 1, sequence: 1, payload: Buffer.from([1]) });
    expect(() => decodeV20(plain, crypto, true)).to.throw(PacketRejected).with.property('reason', 'unauthenticated');
    const signed = encodeV20({ payloadType: PayloadType.IPMI, sessionId: 1, sequence: 1, payload: Buffer.from([1]), authenticate: true, crypto });
    expect(() => decodeV20(signed, { ...crypto, k1: Buffer.alloc(20, 9) }, true)).to.throw(PacketRejected).with.property('reason', 'integrity');
  });

  it('refuses to build what the session cannot do', () => {
    expect(() => encodeV20({ payloadType: 0, sessionId: 1, sequence: 1, payload: Buffer.alloc(1), encrypt: true })).to.throw();
    expect(() => encodeV20({ payloadType: 0, sessionId: 1, sequence: 1, payload: Buffer.alloc(1), authenticate: true })).to.throw();
  });

  it('throws only PacketRejected("malformed") for every truncation of a valid packet', () => {
    const crypto = cryptoFor(IntegrityAlgorithm.HMAC_SHA1_96, ConfidentialityAlgorithm.AES_CBC_128);
    const dg = encodeV20({ payloadType: PayloadType.SOL, sessionId: 5, sequence: 2, payload: Buffer.from('abc'), encrypt: true, authenticate: true, crypto, iv: Buffer.alloc(16) });
    for (let cut = 0; cut < dg.length; cut++) {
      try {
        decodeV20(dg.subarray(0, cut), crypto, true);
        expect.fail(`truncated at ${cut} was accepted`);
      } catch (err) {
        expect(err, `cut ${cut}`).to.be.instanceOf(PacketRejected);
      }
    }
  });

  it('peeks the envelope of v1.5, v2.0 and ASF packets', () => {
    expect(peekEnvelope(encodeV15({ payload: Buffer.alloc(3) })).format).to.equal('v1.5');
    const env = peekEnvelope(encodeV20({ payloadType: PayloadType.RAKP2, sessionId: 0xdeadbeef, sequence: 3, payload: Buffer.alloc(2) }));
    expect(env).to.include({ format: 'v2.0', payloadType: PayloadType.RAKP2, sessionId: 0xdeadbeef, sequence: 3 });
    expect(peekEnvelope(encodeAsfPing(1)).format).to.equal('asf');
    expect(() => peekEnvelope(Buffer.from([0x07, 0, 0xff, 0x07]))).to.throw();
  });

  it('decodes a v1.5 packet with an AuthCode field', () => {
    const dg = Buffer.concat([Buffer.from('0600ff07' + '02' + '01000000' + '02000000', 'hex'), Buffer.alloc(16, 0xaa), Buffer.from([2, 9, 9])]);
    const p = decodeV15(dg);
    expect(p.authType).to.equal(2);
    expect(p.authCode).to.have.length(16);
    expect(p.payload).to.deep.equal(Buffer.from([9, 9]));
  });
});

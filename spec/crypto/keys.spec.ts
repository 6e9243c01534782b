import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { additionalKey, deriveSessionKeys, effectiveKg, rakp4Icv, type RakpContext } from '../../lib/crypto/keys.js';
import { AuthAlgorithm, CIPHER_SUITES, IntegrityAlgorithm, rakp4IcvLength } from '../../lib/crypto/cipher-suites.js';
import { computeAuthCode, verifyAuthCode } from '../../lib/crypto/integrity.js';
import { createHash } from 'node:crypto';

const base: RakpContext = {
  auth: AuthAlgorithm.HMAC_SHA256,
  password: Buffer.from('password'),
  consoleSessionId: 0xa0a2a3a4,
  bmcSessionId: 0x882,
  consoleRandom: Buffer.alloc(16, 1),
  bmcRandom: Buffer.alloc(16, 2),
  bmcGuid: Buffer.alloc(16, 3),
  role: 0x14,
  username: Buffer.from('admin'),
};

describe('crypto/keys and integrity (IPMI 2.0 sections 13.28-13.33)', () => {
  it('K_g replaces the password for the SIK only when set and non-zero', () => {
    expect(effectiveKg({ password: Buffer.from('pw') })).to.deep.equal(Buffer.from('pw'));
    expect(effectiveKg({ password: Buffer.from('pw'), kg: Buffer.alloc(20) })).to.deep.equal(Buffer.from('pw'));
    expect(effectiveKg({ password: Buffer.from('pw'), kg: Buffer.from('kg') })).to.deep.equal(Buffer.from('kg'));
    expect(deriveSessionKeys({ ...base, kg: Buffer.from('secret-kg') }).sik).to.not.deep.equal(deriveSessionKeys(base).sik);
  });

  it('K1 and K2 use 20-byte constants even with HMAC-SHA256', () => {
    const { sik, k1, k2 } = deriveSessionKeys(base);
    expect(sik).to.have.length(32);
    expect(k1).to.deep.equal(createHmac('sha256', sik).update(Buffer.alloc(20, 1)).digest());
    expect(k2).to.deep.equal(additionalKey(AuthAlgorithm.HMAC_SHA256, sik, 2));
  });

  it('truncates the RAKP 4 ICV per algorithm', () => {
    for (const auth of [AuthAlgorithm.HMAC_SHA1, AuthAlgorithm.HMAC_MD5, AuthAlgorithm.HMAC_SHA256]) {
      const ctx = { ...base, auth };
      expect(rakp4Icv(ctx, deriveSessionKeys(ctx).sik)).to.have.length(rakp4IcvLength(auth));
    }
    expect(rakp4Icv({ ...base, auth: AuthAlgorithm.NONE }, Buffer.alloc(0))).to.have.length(0);
  });

  it('MD5-128 is MD5(password padded to 20 | data | password padded to 20)', () => {
    const pw = Buffer.alloc(20);
    pw.write('password');
    const data = Buffer.from('06c0...data');
    const expected = createHash('md5').update(pw).update(data).update(pw).digest();
    const keys = { integrity: IntegrityAlgorithm.MD5_128, k1: Buffer.alloc(0), password: Buffer.from('password') };
    expect(computeAuthCode(keys, data)).to.deep.equal(expected);
    expect(verifyAuthCode(keys, data, expected)).to.equal(true);
    expect(verifyAuthCode(keys, data, Buffer.alloc(16))).to.equal(false);
  });

  it('knows all twelve suites', () => {
    expect([...CIPHER_SUITES.keys()]).to.deep.equal([0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17]);
  });
});

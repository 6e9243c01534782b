import { expect } from 'chai';
import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { computeAuthCode, verifyAuthCode } from '../../lib/crypto/integrity.js';
import { IntegrityAlgorithm, integrityCodeLength } from '../../lib/crypto/cipher-suites.js';

const HMACS = [
  [IntegrityAlgorithm.HMAC_SHA1_96, 'sha1'],
  [IntegrityAlgorithm.HMAC_MD5_128, 'md5'],
  [IntegrityAlgorithm.HMAC_SHA256_128, 'sha256'],
] as const;

describe('crypto/integrity (IPMI 2.0 section 13.28.4)', () => {
  it('the AuthCode (SHA-1 from the cached key state, MD5 and SHA-256 from a cached KeyObject) equals a one-shot createHmac(raw K1), truncated per algorithm', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...HMACS),
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
        fc.array(fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 4 }),
        ([integrity, hash], k1, datas) => {
          const keys = { integrity, k1, password: Buffer.alloc(0) };
          for (const data of datas) {
            const expected = createHmac(hash, k1).update(data).digest().subarray(0, integrityCodeLength(integrity));
            expect(computeAuthCode(keys, data).toString('hex')).to.equal(expected.toString('hex'));
            expect(verifyAuthCode(keys, data, expected)).to.equal(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('follows a K1 Buffer overwritten in place (the cached key state is never stale)', () => {
    const k1 = Buffer.alloc(20, 1);
    const keys = { integrity: IntegrityAlgorithm.HMAC_SHA1_96, k1, password: Buffer.alloc(0) };
    const data = Buffer.from('session header and payload');
    expect(computeAuthCode(keys, data)).to.deep.equal(createHmac('sha1', Buffer.alloc(20, 1)).update(data).digest().subarray(0, 12));
    const before = computeAuthCode(keys, data);
    k1.fill(2);
    const after = createHmac('sha1', Buffer.alloc(20, 2)).update(data).digest().subarray(0, 12);
    expect(computeAuthCode(keys, data)).to.deep.equal(after);
    expect(verifyAuthCode(keys, data, after)).to.equal(true);
    expect(verifyAuthCode(keys, data, before), 'the code of the old key').to.equal(false);
  });
});

/**
 * Session trailer AuthCode, IPMI 2.0 section 13.28.4: computed over the session header from the auth type byte
 * through the next-header byte of the trailer.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { IntegrityAlgorithm, integrityCodeLength } from './cipher-suites.js';

export interface IntegrityKeys {
  integrity: IntegrityAlgorithm;
  /** K1 for the HMAC algorithms. */
  k1: Buffer;
  /** The password, for MD5-128 (section 13.28.4: MD5(password | data | password), password padded to 20). */
  password: Buffer;
}

export function computeAuthCode(keys: IntegrityKeys, data: Buffer): Buffer {
  const len = integrityCodeLength(keys.integrity);
  switch (keys.integrity) {
    case IntegrityAlgorithm.HMAC_SHA1_96:
      return createHmac('sha1', keys.k1).update(data).digest().subarray(0, len);
    case IntegrityAlgorithm.HMAC_MD5_128:
      return createHmac('md5', keys.k1).update(data).digest().subarray(0, len);
    case IntegrityAlgorithm.HMAC_SHA256_128:
      return createHmac('sha256', keys.k1).update(data).digest().subarray(0, len);
    case IntegrityAlgorithm.MD5_128: {
      const pw = Buffer.alloc(20);
      keys.password.copy(pw, 0, 0, 20);
      return createHash('md5').update(pw).update(data).update(pw).digest();
    }
    default:
      return Buffer.alloc(0);
  }
}

export function verifyAuthCode(keys: IntegrityKeys, data: Buffer, code: Buffer): boolean {
  const expected = computeAuthCode(keys, data);
  return expected.length === code.length && timingSafeEqual(expected, code);
}

/**
 * The default source of AES-CBC-128 IVs (16 random bytes a packet, IPMI 2.0 section 13.29): node:crypto bytes
 * drawn from a pool, one randomBytes call per 256 packets instead of one per packet (it was ~6% of the bridge's
 * CPU in a bulk transfer, bench/). A refill allocates a new pool, so bytes are never handed out twice and a
 * returned slice never changes. The session state machine takes any `() => Buffer` instead (specs inject their own).
 */
import { randomBytes } from 'node:crypto';

/** Bytes drawn from node:crypto at a time. */
export const IV_POOL_SIZE = 4096;
export const IV_LENGTH = 16;

export function pooledRandomIvs(poolSize = IV_POOL_SIZE): () => Buffer {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return () => {
    if (offset + IV_LENGTH > pool.length) {
      pool = randomBytes(Math.max(poolSize, IV_LENGTH));
      offset = 0;
    }
    const iv = pool.subarray(offset, offset + IV_LENGTH);
    offset += IV_LENGTH;
    return iv;
  };
}

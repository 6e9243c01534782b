import { expect } from 'chai';
import { IV_LENGTH, IV_POOL_SIZE, pooledRandomIvs } from '../../lib/session/iv-source.js';

describe('session/iv-source', () => {
  it('hands out 16-byte IVs that never repeat and never change, across pool refills', () => {
    const next = pooledRandomIvs();
    const seen = new Set<string>();
    const first = next();
    const copy = Buffer.from(first);
    for (let i = 0; i < (3 * IV_POOL_SIZE) / IV_LENGTH; i++) {
      const iv = next();
      expect(iv.length).to.equal(IV_LENGTH);
      const hex = iv.toString('hex');
      expect(seen.has(hex)).to.equal(false);
      seen.add(hex);
    }
    expect(first.equals(copy), 'a refill never rewrites a slice already handed out').to.equal(true);
  });

  it('works with a pool smaller than one IV', () => {
    const next = pooledRandomIvs(1);
    expect(next().length).to.equal(IV_LENGTH);
    expect(next().equals(next())).to.equal(false);
  });
});

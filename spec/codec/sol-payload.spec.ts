import { expect } from 'chai';
import { decodeSolPacket, encodeSolPacket, nextSolSequence, SolOperation } from '../../lib/codec/sol-payload.js';

describe('codec/sol-payload (IPMI 2.0 section 15.9)', () => {
  it('round-trips a data packet with an ACK riding on it', () => {
    const bytes = encodeSolPacket({ sequence: 3, ackSequence: 2, acceptedCount: 5, flags: SolOperation.GENERATE_BREAK, data: Buffer.from('ls\r') });
    expect(bytes.toString('hex')).to.equal('03020510' + Buffer.from('ls\r').toString('hex'));
    expect(decodeSolPacket(bytes)).to.deep.equal({ sequence: 3, ackSequence: 2, acceptedCount: 5, flags: 0x10, data: Buffer.from('ls\r') });
  });

  it('masks sequence numbers to 4 bits and refuses more than 255 characters', () => {
    expect(decodeSolPacket(Buffer.from([0xf3, 0xf2, 0, 0])).sequence).to.equal(3);
    expect(() => encodeSolPacket({ sequence: 1, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.alloc(256) })).to.throw();
    expect(() => decodeSolPacket(Buffer.from([1, 0, 0]))).to.throw();
  });

  it('data sequence numbers run 1..15 and wrap to 1, never 0', () => {
    const seen = [];
    let s = 14;
    for (let i = 0; i < 4; i++) seen.push((s = nextSolSequence(s)));
    expect(seen).to.deep.equal([15, 1, 2, 3]);
  });
});

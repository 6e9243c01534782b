import { expect } from 'chai';
import { SolOutboundQueue } from '../../lib/sol/sol-outbound-queue.js';
import { IpmiError } from '../../lib/errors.js';

describe('SolOutboundQueue: the one ledger of unacknowledged characters', () => {
  it('peeks across writes up to an operation, consumes partial ACKs, counts what is left', () => {
    const q = new SolOutboundQueue();
    q.pushData(Buffer.from('abc'));
    q.pushData(Buffer.from('def'));
    q.pushOp(0x10, () => undefined);
    q.pushData(Buffer.from('gh'));
    expect(q.chars).to.equal(8);
    expect(q.peekChars(4).toString()).to.equal('abcd');
    q.consumeChars(2); // a partial ACK
    expect(q.peekChars(10).toString()).to.equal('cdef'); // stops at the operation
    q.consumeChars(4);
    expect(q.head?.kind).to.equal('op');
    q.shift();
    expect(q.peekChars(10).toString()).to.equal('gh');
    expect(q.chars).to.equal(2);
  });

  it('failOps fails the operations and keeps the characters; takeChars returns them in order and empties', () => {
    const q = new SolOutboundQueue();
    const failed: (IpmiError | undefined)[] = [];
    q.pushData(Buffer.from('12345'));
    q.pushOp(0x10, (e) => failed.push(e));
    q.pushData(Buffer.from('678'));
    q.consumeChars(2);
    q.failOps(new IpmiError('IPMI_ERR_SOL_TIMEOUT', 'gone'));
    expect(failed.map((e) => e?.code)).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT']);
    expect(q.chars).to.equal(6);
    expect(q.takeChars().toString()).to.equal('345678');
    expect(q.chars).to.equal(0);
    expect(q.takeChars()).to.deep.equal(Buffer.alloc(0));
  });
});

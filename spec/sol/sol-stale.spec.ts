/**
 * Stale SOL copies: a retransmission or duplicate reordered behind the next packet carries an old 4-bit SOL
 * sequence number that looks new; the session sequence number (section 13.6) says it is older, and it is dropped.
 */
import { expect } from 'chai';
import { SolStream } from '../../lib/sol/sol-stream.js';
import { encodeSolPacket } from '../../lib/codec/sol-payload.js';
import { isOlderSequence } from '../../lib/codec/rmcp.js';
import { FakeSolHost, until } from './fake-sol-host.js';

const data = (sequence: number, text: string) => encodeSolPacket({ sequence, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.from(text) });

describe('SolStream: stale SOL copies (ordered by session sequence number)', () => {
  it('a copy of packet 1 arriving after packet 2 is dropped, not delivered twice', async () => {
    const host = new FakeSolHost();
    const stream = new SolStream(host, { instance: 1, port: 623, encrypt: false, authenticate: true, maxOutboundChars: 32, ownershipCheckMs: 0 });
    let got = '';
    stream.on('data', (d: Buffer) => (got += d));
    host.deliver(data(1, 'one '), 100);
    host.deliver(data(1, 'one '), 101); // the BMC's retransmission (our ACK was slow): a duplicate, ACKed again
    host.deliver(data(2, 'two '), 103);
    host.deliver(data(1, 'one '), 102); // a copy of the retransmission, reordered behind packet 2
    host.deliver(data(3, 'three'), 104);
    await until(() => got.endsWith('three'));
    expect(got).to.equal('one two three');
    expect(stream.stats.staleDropped).to.equal(1);
    expect(stream.stats.duplicatesDropped).to.equal(1);
    await stream.deactivate();
  });

  it('without the check the same arrival order would deliver "one " twice (what the session sequence prevents)', async () => {
    const host = new FakeSolHost();
    const stream = new SolStream(host, { instance: 1, port: 623, encrypt: false, authenticate: true, maxOutboundChars: 32, ownershipCheckMs: 0 });
    let got = '';
    stream.on('data', (d: Buffer) => (got += d));
    // session sequence 0: a session that does not number its packets, so nothing can be ordered
    host.deliver(data(1, 'one '), 0);
    host.deliver(data(2, 'two '), 0);
    host.deliver(data(1, 'one '), 0);
    await until(() => got.length >= 12);
    expect(got).to.equal('one two one ');
    await stream.deactivate();
  });

  it('isOlderSequence uses serial number arithmetic across the 32-bit wrap', () => {
    expect(isOlderSequence(5, 6)).to.equal(true);
    expect(isOlderSequence(6, 6)).to.equal(false);
    expect(isOlderSequence(7, 6)).to.equal(false);
    expect(isOlderSequence(0xffffffff, 2)).to.equal(true); // 2 came after the wrap
    expect(isOlderSequence(2, 0xffffffff)).to.equal(false);
  });
});

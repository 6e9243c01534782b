import { expect } from 'chai';
import { SOL_MAX_HELD_PACKETS, SOL_PAUSED_ACK_MS, SolInbound } from '../../lib/sol/sol-inbound.js';
import { newSolStats } from '../../lib/sol/sol-stats.js';
import type { InboundPausePolicy } from '../../lib/sol/sol-engine.js';

function inbound(policy: InboundPausePolicy, credit: number) {
  const acks: [number, number, boolean][] = [];
  const data: string[] = [];
  const stats = newSolStats();
  const rx = new SolInbound({ policy, credit, stats, sendAck: (...a) => acks.push(a), onData: (d) => data.push(d.toString()) });
  return { rx, acks, data, stats };
}

describe('SolInbound: BMC data, credit and ACKs (section 15.9)', () => {
  it('delivers within the credit and ACKs what it took; a resend delivers only its new tail', () => {
    const { rx, acks, data, stats } = inbound('ack-zero', 4);
    rx.onDataPacket(1, Buffer.from('abcdef'), 0);
    expect(data).to.deep.equal(['abcd']);
    expect(acks).to.deep.equal([[1, 4, false]]);
    rx.setCredit(10);
    rx.onDataPacket(1, Buffer.from('abcdef'), 0); // the BMC resends under the same sequence number
    expect(data).to.deep.equal(['abcd', 'ef']);
    expect(stats.duplicatesDropped).to.equal(1);
    expect(rx.isDuplicate(1)).to.equal(true);
  });

  it('"no copy on delivery": a packet taken whole reaches the consumer as its own Buffer, a partial one as a view', () => {
    const delivered: Buffer[] = [];
    const rx = new SolInbound({ policy: 'ack-zero', credit: 10, stats: newSolStats(), sendAck: () => undefined, onData: (d) => delivered.push(d) });
    const whole = Buffer.from('abcdef');
    rx.onDataPacket(1, whole, 0);
    const partial = Buffer.from('0123456789ab');
    rx.onDataPacket(2, partial, 0);
    expect(delivered[0]).to.equal(whole);
    expect(delivered[1]!.toString()).to.equal('0123');
    expect(delivered[1]!.buffer).to.equal(partial.buffer);
  });

  it("no credit: holds (bounded), sends the 'ack-zero' partial ACK after SOL_PAUSED_ACK_MS, delivers on resume", () => {
    const { rx, acks, data, stats } = inbound('ack-zero', 0);
    for (let seq = 1; seq <= SOL_MAX_HELD_PACKETS + 1; seq++) rx.onDataPacket(seq, Buffer.from(`p${seq}`), 100);
    expect(rx.heldPackets).to.equal(SOL_MAX_HELD_PACKETS);
    expect(stats.heldDropped).to.equal(2);
    expect(rx.pausedAckAt).to.equal(100 + SOL_PAUSED_ACK_MS);
    rx.poll(100 + SOL_PAUSED_ACK_MS - 1);
    expect(acks).to.have.length(0);
    rx.poll(100 + SOL_PAUSED_ACK_MS);
    expect(acks).to.deep.equal([[SOL_MAX_HELD_PACKETS + 1, 0, false]]);
    expect(rx.heldPackets).to.equal(0);
    rx.onDataPacket(SOL_MAX_HELD_PACKETS + 1, Buffer.from('p5'), 400);
    rx.setCredit(100);
    expect(data).to.deep.equal(['p5']);
  });

  it("'nack': a held packet is NACKed at once; stop() ends delivery of held packets", () => {
    const { rx, acks, data } = inbound('nack', 0);
    rx.onDataPacket(3, Buffer.from('xyz'), 0);
    expect(acks).to.deep.equal([[3, 0, true]]);
    rx.stop();
    rx.setCredit(10);
    expect(data).to.deep.equal([]);
  });
});

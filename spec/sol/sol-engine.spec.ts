import { expect } from 'chai';
import { SolEngine, SOL_MAX_HELD_PACKETS, SOL_PAUSED_ACK_MS, SOL_PRIME_SEQUENCE, type SolEngineOptions } from '../../lib/sol/sol-engine.js';
import { decodeSolPacket, encodeSolPacket, SolOperation, SolStatus, type SolPacket } from '../../lib/codec/sol-payload.js';
import type { IpmiError } from '../../lib/errors.js';

const INTERVAL = 500;

/** A BMC packet as bytes. */
function bmc(p: Partial<Omit<SolPacket, 'data'>> & { data?: Buffer | string }): Buffer {
  return encodeSolPacket({
    sequence: p.sequence ?? 0,
    ackSequence: p.ackSequence ?? 0,
    acceptedCount: p.acceptedCount ?? 0,
    flags: p.flags ?? 0,
    data: Buffer.from(p.data ?? ''),
  });
}

function harness(options: Partial<SolEngineOptions> = {}) {
  const raw: Buffer[] = [];
  const data: Buffer[] = [];
  const acked: number[] = [];
  const ends: IpmiError[] = [];
  let breaks = 0;
  const engine = new SolEngine({
    send: (p) => raw.push(Buffer.from(p)),
    maxOutboundChars: 255,
    retransmitIntervalMs: INTERVAL,
    maxRetransmits: 3,
    onData: (c) => data.push(c),
    onAcked: (n) => acked.push(n),
    onBreak: () => breaks++,
    onEnd: (r) => ends.push(r),
    ...options,
  });
  const sent = () => raw.map((b) => decodeSolPacket(b));
  const dataSent = () => sent().filter((p) => p.sequence !== 0);
  const acksSent = () => sent().filter((p) => p.sequence === 0);
  const delivered = () => Buffer.concat(data).toString();
  return { engine, raw, sent, dataSent, acksSent, delivered, acked, ends, breaks: () => breaks };
}

/** A started engine whose priming packet has been ACKed (clock at 0). */
function primed(options: Partial<SolEngineOptions> = {}) {
  const h = harness(options);
  h.engine.start(0);
  expect(h.dataSent()[0]).to.include({ sequence: SOL_PRIME_SEQUENCE });
  expect(h.dataSent()[0]!.data.length).to.equal(0);
  h.engine.receive(bmc({ ackSequence: SOL_PRIME_SEQUENCE }), 1);
  h.raw.length = 0;
  return h;
}

describe('SolEngine', () => {
  describe('sender', () => {
    it('numbers data packets 1..15 and wraps to 1, one unacknowledged packet at a time', () => {
      const h = primed({ maxOutboundChars: 1 });
      h.engine.write(Buffer.from('abcdefghijklmnopq'), 10); // 17 characters, one a packet
      const seqs: number[] = [];
      for (let i = 0; i < 17; i++) {
        const out = h.dataSent();
        expect(out, `packet ${i}`).to.have.length(i + 1); // nothing more until the ACK
        const p = out[i]!;
        seqs.push(p.sequence);
        h.engine.receive(bmc({ ackSequence: p.sequence, acceptedCount: 1 }), 20 + i);
      }
      expect(seqs).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2]);
      expect(h.acked.reduce((a, b) => a + b, 0)).to.equal(17);
      expect(h.engine.stats.bytesOut).to.equal(17);
      expect(h.engine.pendingChars).to.equal(0);
    });

    it('never sends more than maxOutboundChars (or 255) characters a packet', () => {
      const h = primed({ maxOutboundChars: 4 });
      h.engine.write(Buffer.from('0123456789'), 10);
      expect(h.dataSent()[0]!.data.toString()).to.equal('0123');
      const big = primed({ maxOutboundChars: 9999 });
      big.engine.write(Buffer.alloc(600, 0x41), 10);
      expect(big.dataSent()[0]!.data.length).to.equal(255);
    });

    it('retransmits identical bytes every interval, then fails with IPMI_ERR_SOL_TIMEOUT', () => {
      const h = primed({ maxRetransmits: 3, adaptiveRetransmit: false }); // the fixed timer
      h.engine.write(Buffer.from('ls\r'), 100);
      const first = h.raw[0]!;
      expect(h.engine.nextDeadline()).to.equal(100 + INTERVAL);
      h.engine.poll(100 + INTERVAL - 1);
      expect(h.raw).to.have.length(1);
      for (let i = 1; i <= 3; i++) {
        h.engine.poll(100 + i * INTERVAL);
        expect(h.raw).to.have.length(i + 1);
        expect(h.raw[i]!.equals(first), `retransmission ${i}`).to.equal(true);
      }
      expect(h.ends).to.have.length(0);
      h.engine.poll(100 + 4 * INTERVAL);
      expect(h.ends.map((e) => e.code)).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT']);
      expect(h.engine.stats.retransmits).to.equal(3);
      expect(h.engine.closed).to.equal(true);
      h.engine.poll(100 + 10 * INTERVAL);
      expect(h.raw).to.have.length(4);
      expect(h.engine.nextDeadline()).to.equal(undefined);
    });

    it('partial ACK: the rest goes out as a new packet with the next sequence number', () => {
      const h = primed({ maxOutboundChars: 4 });
      h.engine.write(Buffer.from('abcdef'), 10);
      expect(h.dataSent()[0]).to.deep.include({ sequence: 1 });
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 2 }), 20);
      const second = h.dataSent()[1]!;
      expect(second.sequence).to.equal(2);
      expect(second.data.toString()).to.equal('cdef');
      expect(h.acked).to.deep.equal([2]);
      h.engine.receive(bmc({ ackSequence: 2, acceptedCount: 4 }), 30);
      expect(h.acked).to.deep.equal([2, 4]);
      expect(h.dataSent()).to.have.length(2);
    });

    it('ignores an ACK for a sequence number that is not outstanding', () => {
      const h = primed();
      h.engine.write(Buffer.from('x'), 10);
      h.engine.receive(bmc({ ackSequence: 7, acceptedCount: 1 }), 20);
      expect(h.acked).to.deep.equal([]);
      expect(h.engine.stats.unexpectedAcks).to.equal(1);
      h.engine.poll(10 + INTERVAL);
      expect(h.dataSent()).to.have.length(2); // still outstanding: retransmitted
      expect(h.dataSent()[1]!.sequence).to.equal(1);
    });

    it('NACK: keeps what was taken, pauses until the BMC sends a packet without NACK, then sends the rest anew', () => {
      const h = primed();
      h.engine.write(Buffer.from('hello'), 10);
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 2, flags: SolStatus.NACK }), 20);
      expect(h.acked).to.deep.equal([2]);
      expect(h.engine.stats.nacksReceived).to.equal(1);
      h.engine.write(Buffer.from('!'), 30);
      expect(h.dataSent()).to.have.length(1); // paused
      h.engine.receive(bmc({ flags: SolStatus.NACK }), 40); // still busy
      expect(h.dataSent()).to.have.length(1);
      h.engine.receive(bmc({}), 50); // ready again
      const next = h.dataSent()[1]!;
      expect(next.sequence).to.equal(2);
      expect(next.data.toString()).to.equal('llo!');
    });

    it('ipmi_sim\'s full buffer (fixtures/packets/ipmi_sim-sol-nack-suite0.hex): 32 taken + NACK, "ready", rest as seq 2', () => {
      const h = primed();
      const text = 'P'.repeat(40) + 'Q'.repeat(60);
      h.engine.write(Buffer.from(text), 0);
      expect(h.dataSent()[0]).to.deep.include({ sequence: 1 });
      h.engine.receive(Buffer.from('00012040', 'hex'), 1); // ack seq 1, 32 accepted, NACK: buffer full
      expect(h.acked).to.deep.equal([32]);
      expect(h.dataSent()).to.have.length(1);
      h.engine.receive(Buffer.from('00012000', 'hex'), 2); // same ACK again, NACK clear: ready
      const rest = h.dataSent()[1]!;
      expect(rest.sequence).to.equal(2); // under seq 1 ipmi_sim would drop it as a duplicate
      expect(rest.data.toString()).to.equal(text.slice(32));
      expect(h.acked).to.deep.equal([32]); // the repeated ACK of seq 1 counted nothing twice
    });

    it('a long run of NACKs never wraps onto the number the BMC holds as its last accepted packet (characters would be lost)', () => {
      // A BMC that records only what it accepts (its duplicate check: sequence === last accepted), NACKing 20
      // packets in a row: without the skip, the 15th new packet carried the last accepted number, and the BMC
      // re-ACKed it as a duplicate with the old count while its characters were never delivered.
      const h = primed({ maxOutboundChars: 4, maxRetransmits: 100 });
      const bmcLog: string[] = [];
      let now = 10;
      h.engine.write(Buffer.from('ab'), now);
      const first = h.dataSent().at(-1)!;
      const lastAccepted = first.sequence; // what this BMC holds from here on: every later packet is NACKed
      bmcLog.push(first.data.toString());
      h.engine.receive(bmc({ ackSequence: first.sequence, acceptedCount: first.data.length }), ++now);
      h.engine.write(Buffer.from('cdef'), now);
      for (let nacks = 0; nacks < 20; nacks++) {
        const p = h.dataSent().at(-1)!;
        expect(p.sequence, `packet after ${nacks} NACKs`).to.not.equal(lastAccepted);
        h.engine.receive(bmc({ ackSequence: p.sequence, acceptedCount: 0, flags: SolStatus.NACK }), ++now);
        now += INTERVAL;
        h.engine.poll(now); // busy for one interval, then the characters go again under a new number
      }
      const p = h.dataSent().at(-1)!;
      expect(p.sequence).to.not.equal(lastAccepted);
      bmcLog.push(p.data.toString());
      h.engine.receive(bmc({ ackSequence: p.sequence, acceptedCount: p.data.length }), now + 1);
      expect(bmcLog.join('')).to.equal('abcdef');
      expect(h.engine.pendingChars).to.equal(0);
    });

    it('NACK without a later "ready" packet: tries again after one retransmit interval', () => {
      const h = primed();
      h.engine.write(Buffer.from('abc'), 10);
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 0, flags: SolStatus.NACK }), 20);
      expect(h.engine.nextDeadline()).to.equal(20 + INTERVAL);
      h.engine.poll(20 + INTERVAL - 1);
      expect(h.dataSent()).to.have.length(1);
      h.engine.poll(20 + INTERVAL);
      expect(h.dataSent()[1]).to.deep.include({ sequence: 2 });
      expect(h.dataSent()[1]!.data.toString()).to.equal('abc');
    });

    it('ACK with accepted count 0 (no NACK): resends as a new packet one interval later, and gives up when it never moves', () => {
      const h = primed({ maxRetransmits: 2 });
      h.engine.write(Buffer.from('q'), 0);
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 0 }), 10);
      expect(h.acked).to.deep.equal([]);
      expect(h.dataSent()).to.have.length(1);
      h.engine.poll(10 + INTERVAL);
      expect(h.dataSent()[1]).to.deep.include({ sequence: 2 });
      h.engine.receive(bmc({ ackSequence: 2, acceptedCount: 0 }), 600);
      h.engine.poll(600 + INTERVAL);
      h.engine.receive(bmc({ ackSequence: 3, acceptedCount: 0 }), 1200);
      expect(h.ends.map((e) => e.code)).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT']);
      expect(h.ends[0]!.message).to.match(/zeroAcceptedMeansAll/);
    });

    it('workaround zeroAcceptedMeansAll: an ACK with count 0 acknowledges the whole packet', () => {
      const h = primed({ workarounds: { zeroAcceptedMeansAll: true } });
      h.engine.write(Buffer.from('abc'), 0);
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 0 }), 10);
      expect(h.acked).to.deep.equal([3]);
      expect(h.engine.pendingChars).to.equal(0);
    });

    it('a count above what was sent is taken as everything', () => {
      const h = primed();
      h.engine.write(Buffer.from('ab'), 0);
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 200 }), 10);
      expect(h.acked).to.deep.equal([2]);
    });

    it('delivers every split of the input in order, whatever the write boundaries', () => {
      const text = 'root\r\npassword\r\n';
      for (let i = 0; i <= text.length; i++) {
        const h = primed({ maxOutboundChars: 5 });
        let got = '';
        h.engine.write(Buffer.from(text.slice(0, i)), 1);
        h.engine.write(Buffer.from(text.slice(i)), 2);
        for (let guard = 0; guard < 50 && h.engine.pendingChars > 0; guard++) {
          const p = h.dataSent().at(-1)!;
          const take = Math.min(p.data.length, 3); // the BMC takes 3 at most: partial ACKs everywhere
          got += p.data.subarray(0, take).toString();
          h.engine.receive(bmc({ ackSequence: p.sequence, acceptedCount: take }), 10 + guard);
        }
        expect(got, `split at ${i}`).to.equal(text);
      }
    });
  });

  describe('break and flush', () => {
    it('sends a break after the characters written before it, in its own packet, done on its ACK', () => {
      const h = primed();
      const done: (string | undefined)[] = [];
      h.engine.write(Buffer.from('ab'), 0);
      h.engine.sendBreak(0, (err) => done.push(err?.code));
      expect(h.dataSent()).to.have.length(1); // the break waits for 'ab'
      h.engine.receive(bmc({ ackSequence: 1, acceptedCount: 2 }), 10);
      const brk = h.dataSent()[1]!;
      expect(brk).to.deep.include({ sequence: 2, flags: SolOperation.GENERATE_BREAK });
      expect(brk.data.length).to.equal(0);
      expect(done).to.deep.equal([]);
      h.engine.receive(bmc({ ackSequence: 2 }), 20);
      expect(done).to.deep.equal([undefined]);
      expect(h.engine.stats.breaksSent).to.equal(1);
    });

    it('retransmits an unacknowledged break and fails it with the engine', () => {
      const h = primed({ maxRetransmits: 1 });
      const done: (string | undefined)[] = [];
      h.engine.sendBreak(0, (err) => done.push(err?.code));
      h.engine.poll(INTERVAL);
      expect(h.dataSent().map((p) => p.flags)).to.deep.equal([0x10, 0x10]);
      h.engine.poll(2 * INTERVAL);
      expect(done).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT']);
    });

    it('flush sets operation bits 0x02/0x01', () => {
      const h = primed();
      h.engine.flush(0, { bmcInbound: true, bmcOutbound: true });
      expect(h.dataSent()[0]!.flags).to.equal(SolOperation.FLUSH_INBOUND | SolOperation.FLUSH_OUTBOUND);
    });

    it('reports a break detected by the BMC (status 0x04), but not again for a resent packet', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 3, data: 'x', flags: SolStatus.BREAK_DETECTED }), 0);
      h.engine.receive(bmc({ sequence: 3, data: 'x', flags: SolStatus.BREAK_DETECTED }), 1);
      expect(h.breaks()).to.equal(1);
      expect(h.engine.stats.breaksReceived).to.equal(1);
      h.engine.receive(bmc({ flags: SolStatus.TRANSMIT_OVERRUN | SolStatus.TRANSFER_UNAVAILABLE }), 2);
      expect(h.engine.stats.overruns).to.equal(1);
      expect(h.engine.transferUnavailable).to.equal(true);
    });
  });

  describe('receiver', () => {
    it('ACKs a BMC data packet with an ACK-only packet carrying its sequence number and count', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 4, data: 'login: ' }), 0);
      expect(h.delivered()).to.equal('login: ');
      expect(h.acksSent()).to.deep.equal([{ sequence: 0, ackSequence: 4, acceptedCount: 7, flags: 0, data: Buffer.alloc(0) }]);
      expect(h.engine.stats.bytesIn).to.equal(7);
    });

    it('does not piggy-back ACKs on data packets (a retransmission would replay a stale ACK)', () => {
      const h = primed();
      h.engine.write(Buffer.from('a'), 0);
      h.engine.receive(bmc({ sequence: 1, data: 'b' }), 1);
      h.engine.poll(INTERVAL);
      for (const p of h.dataSent()) expect(p.ackSequence).to.equal(0);
      expect(h.acksSent()).to.have.length(1);
    });

    it('lost ACK: a resent packet is ACKed again and not delivered twice', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 2, data: 'abc' }), 0);
      h.engine.receive(bmc({ sequence: 2, data: 'abc' }), 1000);
      expect(h.delivered()).to.equal('abc');
      expect(h.acksSent().map((p) => [p.ackSequence, p.acceptedCount])).to.deep.equal([
        [2, 3],
        [2, 3],
      ]);
      expect(h.engine.stats.duplicatesDropped).to.equal(1);
    });

    it('a resent packet with more characters: only the new tail is delivered, all ACKed', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 2, data: 'abc' }), 0);
      h.engine.receive(bmc({ sequence: 2, data: 'abcdef' }), 1000);
      expect(h.delivered()).to.equal('abcdef');
      expect(h.acksSent().at(-1)).to.deep.include({ ackSequence: 2, acceptedCount: 6 });
    });

    it('the same sequence number after another packet is new data (wrap), not a duplicate', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 2, data: 'a' }), 0);
      h.engine.receive(bmc({ sequence: 3, data: 'b' }), 1);
      h.engine.receive(bmc({ sequence: 2, data: 'c' }), 2);
      expect(h.delivered()).to.equal('abc');
    });

    it('status 0x10 (deactivating) ends the engine with IPMI_ERR_SOL_DEACTIVATED after delivering its characters', () => {
      const h = primed();
      h.engine.write(Buffer.from('pending'), 0);
      h.engine.receive(bmc({ sequence: 1, data: 'bye', flags: SolStatus.DEACTIVATING }), 10);
      expect(h.delivered()).to.equal('bye');
      expect(h.ends).to.have.length(1);
      expect(h.ends[0]!.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
      expect(h.ends[0]!.message).to.match(/deactivated Serial-over-LAN/);
      const before = h.raw.length;
      h.engine.write(Buffer.from('more'), 20);
      h.engine.poll(10_000);
      expect(h.raw).to.have.length(before);
    });

    it('drops malformed payloads without throwing', () => {
      const h = primed();
      h.engine.receive(Buffer.from([1, 0]), 0); // shorter than the header
      h.engine.receive(bmc({ sequence: 0, data: 'x' }), 0); // characters on an ACK-only packet
      h.engine.receive(Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.alloc(256)]), 0); // 256 characters
      expect(h.engine.stats.malformed).to.equal(3);
      expect(h.delivered()).to.equal('');
      expect(h.raw).to.have.length(0);
    });
  });

  describe('inbound backpressure', () => {
    it(`ack-zero (default): a held packet gets a partial ACK of 0 after ${SOL_PAUSED_ACK_MS} ms and the BMC keeps the data`, () => {
      const h = primed();
      h.engine.setInboundCredit(0, 0);
      h.engine.receive(bmc({ sequence: 1, data: 'abc' }), 1);
      h.engine.poll(1 + SOL_PAUSED_ACK_MS - 1);
      expect(h.acksSent()).to.have.length(0); // not yet: the consumer may come back within the pause
      expect(h.engine.nextDeadline()).to.equal(1 + SOL_PAUSED_ACK_MS);
      h.engine.poll(1 + SOL_PAUSED_ACK_MS);
      expect(h.acksSent().map((p) => [p.sequence, p.ackSequence, p.acceptedCount, p.flags])).to.deep.equal([[0, 1, 0, 0]]);
      expect(h.engine.heldPackets).to.equal(0); // our copy is dropped: the BMC resends it
      expect(h.engine.stats.pausedAcks).to.equal(1);
      // ipmi_sim resends the characters as its next packet; still paused: the same again, paced
      h.engine.receive(bmc({ sequence: 2, data: 'abc' }), 300);
      h.engine.poll(300 + SOL_PAUSED_ACK_MS);
      expect(h.acksSent().at(-1)).to.deep.include({ ackSequence: 2, acceptedCount: 0, flags: 0 });
      h.engine.receive(bmc({ sequence: 3, data: 'abc' }), 600);
      h.engine.setInboundCredit(100, 650); // the consumer is back within the pause: delivered at once
      expect(h.delivered()).to.equal('abc');
      expect(h.acksSent().at(-1)).to.deep.include({ ackSequence: 3, acceptedCount: 3, flags: 0 });
      expect(h.engine.stats.pausedAcks).to.equal(2);
    });

    it('ack-zero: a resend of a partly taken packet is ACKed with what was taken, never more', () => {
      const h = primed();
      h.engine.setInboundCredit(2, 0);
      h.engine.receive(bmc({ sequence: 4, data: 'abcdef' }), 1); // takes 'ab', ACK 2
      expect(h.delivered()).to.equal('ab');
      h.engine.receive(bmc({ sequence: 4, data: 'abcdef' }), 2); // a BMC that resends the same packet whole
      h.engine.poll(2 + SOL_PAUSED_ACK_MS);
      expect(h.acksSent().at(-1)).to.deep.include({ ackSequence: 4, acceptedCount: 2 });
      h.engine.receive(bmc({ sequence: 4, data: 'abcdef' }), 400);
      h.engine.setInboundCredit(100, 450);
      expect(h.delivered()).to.equal('abcdef');
    });

    it('silent: holds a packet unacknowledged while there is no credit, delivers and ACKs it on resume', () => {
      const h = primed({ inboundPause: 'silent' });
      h.engine.setInboundCredit(0, 0);
      h.engine.receive(bmc({ sequence: 1, data: 'abc' }), 1);
      expect(h.delivered()).to.equal('');
      expect(h.acksSent()).to.have.length(0);
      h.engine.receive(bmc({ sequence: 1, data: 'abcde' }), 1000); // the BMC's retransmission, with more
      expect(h.acksSent()).to.have.length(0);
      expect(h.engine.heldPackets).to.equal(1);
      h.engine.setInboundCredit(100, 1500);
      expect(h.delivered()).to.equal('abcde');
      expect(h.acksSent().map((p) => [p.ackSequence, p.acceptedCount, p.flags])).to.deep.equal([[1, 5, 0]]);
      h.engine.receive(bmc({ sequence: 1, data: 'abcde' }), 1600); // a retransmission crossing our ACK
      expect(h.delivered()).to.equal('abcde');
    });

    it('nack: answers with count 0 and the NACK bit, then ACKs without it on resume', () => {
      const h = primed({ inboundPause: 'nack' });
      h.engine.setInboundCredit(0, 0);
      h.engine.receive(bmc({ sequence: 5, data: 'xyz' }), 1);
      expect(h.acksSent().map((p) => [p.ackSequence, p.acceptedCount, p.flags])).to.deep.equal([[5, 0, SolOperation.NACK]]);
      expect(h.engine.stats.nacksSent).to.equal(1);
      h.engine.setInboundCredit(10, 2);
      expect(h.delivered()).to.equal('xyz');
      expect(h.acksSent().at(-1)).to.deep.include({ ackSequence: 5, acceptedCount: 3, flags: 0 });
    });

    it('takes no more than the credit: partial ACK, the BMC resends the rest as a new packet', () => {
      const h = primed();
      h.engine.setInboundCredit(4, 0);
      h.engine.receive(bmc({ sequence: 1, data: 'abcdefgh' }), 1);
      expect(h.delivered()).to.equal('abcd');
      expect(h.acksSent()[0]).to.deep.include({ ackSequence: 1, acceptedCount: 4 });
      h.engine.receive(bmc({ sequence: 2, data: 'efgh' }), 2); // no credit left: held
      expect(h.delivered()).to.equal('abcd');
      h.engine.setInboundCredit(4, 3);
      expect(h.delivered()).to.equal('abcdefgh');
    });

    it('a duplicate needs no credit: it is ACKed again even while paused', () => {
      const h = primed();
      h.engine.receive(bmc({ sequence: 1, data: 'ab' }), 0);
      h.engine.setInboundCredit(0, 1);
      h.engine.receive(bmc({ sequence: 1, data: 'ab' }), 2);
      expect(h.acksSent().map((p) => p.acceptedCount)).to.deep.equal([2, 2]);
    });

    it(`holds at most ${SOL_MAX_HELD_PACKETS} packets, dropping the oldest`, () => {
      const h = primed();
      h.engine.setInboundCredit(0, 0);
      for (let s = 1; s <= SOL_MAX_HELD_PACKETS + 1; s++) h.engine.receive(bmc({ sequence: s, data: String(s) }), s);
      expect(h.engine.heldPackets).to.equal(SOL_MAX_HELD_PACKETS);
      expect(h.engine.stats.heldDropped).to.equal(1);
      h.engine.setInboundCredit(1000, 100);
      expect(h.delivered()).to.equal('2345');
    });
  });

  describe('sequence priming (the ipmi_sim first-packet quirk)', () => {
    /**
     * ipmi_sim's inbound rule (OpenIPMI lanserv/sol.c): a packet whose sequence number equals the last one it
     * accepted is a duplicate: its characters are dropped and the previous count is ACKed again. That state
     * outlives the session.
     */
    class SimBmc {
      lastSeq = 0;
      lastLen = 0;
      serial = '';
      handle(payload: Buffer): Buffer | undefined {
        const p = decodeSolPacket(payload);
        if (p.sequence === 0) return undefined;
        if (p.sequence !== this.lastSeq) {
          this.lastSeq = p.sequence;
          this.lastLen = p.data.length;
          this.serial += p.data.toString();
        }
        return bmc({ ackSequence: p.sequence, acceptedCount: this.lastLen });
      }
    }

    function session(sim: SimBmc, options: Partial<SolEngineOptions>, typed: string): void {
      const out: Buffer[] = [];
      const engine = new SolEngine({ send: (p) => out.push(p), maxOutboundChars: 32, ...options });
      engine.start(0);
      engine.write(Buffer.from(typed), 1);
      for (let i = 0; i < 10 && out.length > 0; i++) {
        const reply = sim.handle(out.shift()!);
        if (reply) engine.receive(reply, 2 + i);
      }
    }

    it('without priming, the first keystroke of the next session is lost (the quirk is real)', () => {
      const sim = new SimBmc();
      session(sim, { workarounds: { skipSequencePrime: true } }, 'a');
      session(sim, { workarounds: { skipSequencePrime: true } }, 'b');
      expect(sim.serial).to.equal('a'); // 'b' went out as sequence 1 again and was ACKed without being taken
    });

    it('with priming, no keystroke is lost, whatever sequence the previous session ended on', () => {
      for (const previous of [0, 1, 2, 14, SOL_PRIME_SEQUENCE]) {
        const sim = new SimBmc();
        sim.lastSeq = previous;
        sim.lastLen = 1;
        session(sim, {}, 'b');
        session(sim, {}, 'c');
        expect(sim.serial, `previous session ended on ${previous}`).to.equal('bc');
      }
    });

    it('data waits for the priming ACK, and goes on without it after two sends', () => {
      const h = harness();
      h.engine.start(0);
      h.engine.write(Buffer.from('x'), 1);
      expect(h.dataSent().map((p) => p.sequence)).to.deep.equal([SOL_PRIME_SEQUENCE]);
      h.engine.poll(INTERVAL);
      expect(h.dataSent().map((p) => p.sequence)).to.deep.equal([SOL_PRIME_SEQUENCE, SOL_PRIME_SEQUENCE]);
      h.engine.poll(2 * INTERVAL);
      expect(h.dataSent().map((p) => p.sequence)).to.deep.equal([SOL_PRIME_SEQUENCE, SOL_PRIME_SEQUENCE, 1]);
      expect(h.engine.emptyPacketsAcked).to.equal(false);
      expect(h.ends).to.have.length(0);
    });

    it('a BMC that never ACKed an empty packet gets breaks sent once, without waiting for an ACK', () => {
      const h = harness();
      h.engine.start(0);
      h.engine.poll(INTERVAL);
      h.engine.poll(2 * INTERVAL);
      let done = false;
      h.engine.sendBreak(2 * INTERVAL, () => (done = true));
      expect(done).to.equal(true);
      expect(h.dataSent().at(-1)).to.deep.include({ sequence: 1, flags: SolOperation.GENERATE_BREAK });
      expect(h.engine.nextDeadline()).to.equal(undefined);
    });

    it('the priming ACK count is ignored (ipmi_sim repeats a stale one)', () => {
      const h = harness();
      h.engine.start(0);
      h.engine.receive(bmc({ ackSequence: SOL_PRIME_SEQUENCE, acceptedCount: 9 }), 1);
      expect(h.acked).to.deep.equal([]);
      expect(h.engine.emptyPacketsAcked).to.equal(true);
    });
  });
});

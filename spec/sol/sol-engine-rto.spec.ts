/**
 * SolEngine's adaptive retransmission (RttEstimator, lib/session/rtt-estimator.ts): on a fast path a lost packet
 * goes again within milliseconds, loss backs the timer off to retransmitIntervalMs, Karn's rule, the give-up time
 * of the fixed timer, and `adaptiveRetransmit: false`. Time is a number passed to the engine.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { SolEngine, SOL_PRIME_SEQUENCE, DEFAULT_SOL_RETRANSMIT_INTERVAL_MS, type SolEngineOptions } from '../../lib/sol/sol-engine.js';
import { decodeSolPacket, encodeSolPacket } from '../../lib/codec/sol-payload.js';
import { RttEstimator, RTO_CEILING_MS, RTO_FLOOR_MS } from '../../lib/session/rtt-estimator.js';
import type { IpmiError } from '../../lib/errors.js';
import { runs } from '../fuzz/fuzz-helpers.js';
import { activateSol } from '../../lib/sol/activate.js';
import { FakeSolHost } from './fake-sol-host.js';

const ack = (seq: number, count: number) => encodeSolPacket({ sequence: 0, ackSequence: seq, acceptedCount: count, flags: 0, data: Buffer.alloc(0) });

function harness(options: Partial<SolEngineOptions> = {}) {
  const sent: { at: number; seq: number; chars: number }[] = [];
  const ends: IpmiError[] = [];
  let now = 0;
  const engine = new SolEngine({
    send: (p) => {
      const d = decodeSolPacket(p);
      if (d.sequence !== 0) sent.push({ at: now, seq: d.sequence, chars: d.data.length });
    },
    maxOutboundChars: 255,
    onEnd: (r) => ends.push(r),
    ...options,
  });
  const at = (t: number) => (now = t);
  /** Run the engine's timer until `until`, as SolStream does: poll at each deadline. */
  const runTo = (until: number) => {
    for (let d = engine.nextDeadline(); d !== undefined && d <= until; d = engine.nextDeadline()) engine.poll(at(d));
    at(until);
  };
  return { engine, sent, ends, at, runTo, now: () => now };
}

/** Started, with the priming packet ACKed `rttMs` after it went out (the first RTT sample). */
function primed(rttMs: number, options: Partial<SolEngineOptions> = {}) {
  const h = harness(options);
  h.engine.start(h.at(0));
  h.engine.receive(ack(SOL_PRIME_SEQUENCE, 0), h.at(rttMs));
  h.sent.length = 0;
  return h;
}

describe('SolEngine adaptive retransmission', () => {
  it('defaults: adaptive, 500 ms (FreeIPMI) as the initial timeout and the ceiling', () => {
    expect(DEFAULT_SOL_RETRANSMIT_INTERVAL_MS).to.equal(RTO_CEILING_MS);
    expect(new SolEngine({ send: () => undefined, maxOutboundChars: 1 }).rtt).to.be.instanceOf(RttEstimator);
    expect(new SolEngine({ send: () => undefined, maxOutboundChars: 1, adaptiveRetransmit: false }).rtt).to.equal(undefined);
  });

  it('the priming packet goes out on the initial timeout (no sample yet), and its ACK is the first sample', () => {
    const h = harness();
    h.engine.start(h.at(0));
    expect(h.engine.nextDeadline()).to.equal(500);
    h.engine.receive(ack(SOL_PRIME_SEQUENCE, 0), h.at(2));
    expect(h.engine.rtt!.srtt).to.equal(2);
  });

  it('fast path: a lost packet is retransmitted after a few ms, not 500', () => {
    const h = primed(0.4);
    h.engine.write(Buffer.from('ls\r'), h.at(10));
    expect(h.engine.nextDeadline()).to.equal(10 + RTO_FLOOR_MS);
    h.runTo(10 + RTO_FLOOR_MS);
    expect(h.sent.map((s) => s.at)).to.deep.equal([10, 10 + RTO_FLOOR_MS]);
    expect(h.engine.stats.retransmits).to.equal(1);
  });

  it('follows a slower path: the timeout tracks SRTT + 4 RTTVAR', () => {
    const h = primed(40);
    for (let i = 0; i < 30; i++) {
      h.engine.write(Buffer.from('x'), h.at(1000 * (i + 1)));
      h.engine.receive(ack(h.sent.at(-1)!.seq, 1), h.at(1000 * (i + 1) + 40));
    }
    const rto = h.engine.rtt!.timeout(500);
    expect(rto).to.be.within(40, 60);
    h.engine.write(Buffer.from('y'), h.at(100_000));
    expect(h.engine.nextDeadline()).to.equal(100_000 + rto);
  });

  it('backs off under loss: RTO, then 2 RTO, then no faster than the fixed timer (the BMC\'s session window)', () => {
    const h = primed(0.4);
    h.engine.write(Buffer.from('x'), h.at(0));
    h.runTo(3000);
    const gaps = h.sent.slice(1).map((s, i) => s.at - h.sent[i]!.at);
    expect(gaps).to.deep.equal([5, 10, 485, 500, 500, 500, 500, 500]);
    expect(h.engine.rtt!.backoff).to.equal(8);
  });

  it("Karn's rule: a packet ACKed after a retransmission gives no sample; the next starts from the backed-off timeout", () => {
    const h = primed(0.4);
    h.engine.write(Buffer.from('a'), h.at(0));
    h.runTo(15); // sent at 0, 5, 15: two timeouts
    expect(h.sent).to.have.length(3);
    h.engine.receive(ack(1, 1), h.at(16));
    expect(h.engine.rtt!.samples).to.equal(1); // the priming packet's only
    h.engine.write(Buffer.from('b'), h.at(100));
    expect(h.engine.nextDeadline()).to.equal(100 + 4 * RTO_FLOOR_MS); // still doubled twice
    h.engine.receive(ack(2, 1), h.at(101)); // sent once: a sample, the backoff resets
    expect(h.engine.rtt!.backoff).to.equal(0);
    h.engine.write(Buffer.from('c'), h.at(200));
    expect(h.engine.nextDeadline()).to.equal(200 + RTO_FLOOR_MS);
  });

  it('a delayed ACK that crosses a retransmission acknowledges the packet once', () => {
    const h = primed(0.4);
    h.engine.write(Buffer.from('abc'), h.at(0));
    h.runTo(RTO_FLOOR_MS); // the ACK is late: retransmitted
    h.engine.receive(ack(1, 3), h.at(6));
    h.engine.receive(ack(1, 3), h.at(7)); // the BMC's ACK of the retransmission
    expect(h.engine.stats.bytesOut).to.equal(3);
    expect(h.engine.stats.unexpectedAcks).to.equal(1);
  });

  it('gives up as the fixed timer: after maxRetransmits, at (maxRetransmits + 1) x retransmitIntervalMs', () => {
    const h = primed(0.4, { maxRetransmits: 10 });
    h.engine.write(Buffer.from('x'), h.at(1000));
    h.runTo(1000 + 5499);
    expect(h.ends).to.have.length(0);
    expect(h.engine.stats.retransmits).to.equal(10);
    h.runTo(1000 + 5500);
    expect(h.ends.map((e) => e.code)).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT']);
    expect(h.ends[0]!.message).to.match(/retransmissions in 5500 ms/);
  });

  it('a BMC that pauses for 2 s: reached by a retransmission within one interval of waking up', () => {
    const h = primed(0.4);
    h.engine.write(Buffer.from('x'), h.at(0));
    h.runTo(2000); // the BMC answers nothing for 2 s
    const next = h.engine.nextDeadline()!;
    expect(next - 2000).to.be.at.most(500);
    h.engine.poll(h.at(next)); // the retransmission it answers
    h.engine.receive(ack(1, 1), h.at(next + 0.5));
    expect(h.ends).to.have.length(0);
    expect(h.engine.stats.bytesOut).to.equal(1);
  });

  it('adaptiveRetransmit false: every retransmitIntervalMs whatever the RTT', () => {
    const h = primed(0.4, { adaptiveRetransmit: false, retransmitIntervalMs: 300, maxRetransmits: 2 });
    h.engine.write(Buffer.from('x'), h.at(0));
    h.runTo(900);
    expect(h.sent.map((s) => s.at)).to.deep.equal([0, 300, 600]);
    expect(h.ends).to.have.length(1);
  });

  it('an injected estimator (e.g. shared with the session) is used and fed', () => {
    const rtt = new RttEstimator();
    rtt.sample(30);
    const h = harness({ rtt });
    h.engine.start(h.at(0));
    expect(h.engine.nextDeadline()).to.equal(rtt.timeout(500));
    h.engine.receive(ack(SOL_PRIME_SEQUENCE, 0), h.at(1));
    expect(rtt.samples).to.equal(2);
  });

  it('property: through random loss of data and ACKs, every character arrives once, in order; retransmissions stay within floor..interval', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.double({ min: 0, max: 0.5, noNaN: true }), (seed, loss) => {
        let x = seed;
        const lost = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) < loss;
        const bmcGot: number[] = [];
        let lastSeq = 0;
        const h = harness({ maxOutboundChars: 3, maxRetransmits: 1000, send: (p) => toBmc(p) });
        const pending: Buffer[] = [];
        function toBmc(p: Buffer): void {
          const d = decodeSolPacket(p);
          if (d.sequence === 0 || lost()) return;
          if (d.sequence !== lastSeq) for (const c of d.data) bmcGot.push(c);
          lastSeq = d.sequence;
          if (!lost()) pending.push(ack(d.sequence, d.data.length));
        }
        h.engine.start(h.at(0));
        const input = Buffer.from(Array.from({ length: 60 }, (_, i) => i));
        h.engine.write(input, h.at(0));
        for (let step = 0; step < 5000 && bmcGot.length < input.length + 0; step++) {
          const answer = pending.shift();
          if (answer) h.engine.receive(answer, h.at(h.now() + 0.3));
          else {
            const d = h.engine.nextDeadline();
            if (d === undefined) break;
            const before = h.now();
            h.engine.poll(h.at(d));
            expect(d - before).to.be.at.most(500 + 1e-6);
          }
          if (h.engine.pendingChars === 0) break;
        }
        expect(h.ends).to.have.length(0);
        expect(Buffer.from(bmcGot).equals(input)).to.equal(true);
      }),
      { numRuns: runs(200) },
    );
  });

  it('activateSol: adaptiveRetransmit must be a boolean', async () => {
    const err = await activateSol(new FakeSolHost(), { adaptiveRetransmit: 1 as unknown as boolean }).catch((e: unknown) => e);
    expect(err).to.have.property('code', 'IPMI_ERR_BAD_ARGUMENT');
  });
});

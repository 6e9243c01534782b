/**
 * The pure SolEngine driven by random action sequences: random and mutated BMC packets, ACKs of what is
 * outstanding (full, partial, zero, NACK), writes, breaks, flushes, credit changes and clock jumps.
 * Nothing throws, and the state invariants hold after every step:
 * - every payload sent is a well-formed SOL payload: sequence 0..15 (data packets 1..15), ACK number 0..15,
 *   at most maxOutboundChars characters, ACK-only packets carry none;
 * - the engine's own sequence numbers stay in 1..15 (0 for "none yet" on the receive side);
 * - characters queued = written - acknowledged (bounded by what was written), 0 once ended;
 * - characters delivered never exceed what arrived, nor the credit granted; held packets <= SOL_MAX_HELD_PACKETS;
 * - a well-behaved BMC's data (no loss) is delivered exactly once, in order.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { SolEngine, SOL_MAX_HELD_PACKETS } from '../../lib/sol/sol-engine.js';
import { decodeSolPacket, encodeSolPacket, SOL_HEADER_LENGTH, SOL_MAX_CHARACTERS } from '../../lib/codec/sol-payload.js';
import { caseCounter, mutatedFrom, reportCases, runs } from './fuzz-helpers.js';

type Action =
  | { kind: 'rx-random'; bytes: Uint8Array }
  | { kind: 'rx-mutated'; bytes: Buffer }
  | { kind: 'rx-ack'; count: number; flags: number; seqOffset: number }
  | { kind: 'rx-data'; seq: number; ack: number; count: number; flags: number; data: Uint8Array }
  | { kind: 'write'; n: number }
  | { kind: 'poll'; dt: number }
  | { kind: 'credit'; n: number }
  | { kind: 'break' }
  | { kind: 'flush'; inbound: boolean; outbound: boolean };

const solSeeds = [
  encodeSolPacket({ sequence: 1, ackSequence: 0, acceptedCount: 0, flags: 0, data: Buffer.from('abc') }),
  encodeSolPacket({ sequence: 0, ackSequence: 15, acceptedCount: 0, flags: 0, data: Buffer.alloc(0) }),
  encodeSolPacket({ sequence: 4, ackSequence: 2, acceptedCount: 1, flags: 0x40, data: Buffer.alloc(255, 0x41) }),
  encodeSolPacket({ sequence: 9, ackSequence: 1, acceptedCount: 7, flags: 0x1c, data: Buffer.from('x') }),
];

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rx-random' as const), bytes: fc.uint8Array({ maxLength: 270 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rx-mutated' as const), bytes: mutatedFrom(solSeeds) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('rx-ack' as const),
      count: fc.oneof(fc.constant(255), fc.nat({ max: 255 })),
      // bit 4 (deactivating) rarely: it ends the engine
      flags: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constantFrom(0x40, 0x20, 0x08, 0x04) }, { weight: 1, arbitrary: fc.constant(0x10) }),
      seqOffset: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 15 }) }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('rx-data' as const),
      seq: fc.integer({ min: 0, max: 15 }),
      ack: fc.integer({ min: 0, max: 15 }),
      count: fc.nat({ max: 255 }),
      flags: fc.constantFrom(0, 0, 0, 0x04, 0x08, 0x20, 0x40),
      data: fc.uint8Array({ maxLength: 300 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('write' as const), n: fc.integer({ min: 0, max: 700 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('poll' as const), dt: fc.oneof(fc.nat({ max: 50 }), fc.integer({ min: 400, max: 3000 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('credit' as const), n: fc.oneof(fc.constant(0), fc.nat({ max: 1000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('break' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), inbound: fc.boolean(), outbound: fc.boolean() }) },
);

interface Internals {
  txSeq: { current: number };
  inbound: { lastSeq: number; credit: number };
  outstanding: { seq: number; chars: number } | undefined;
}

describe('fuzz: SolEngine (no throw, invariants hold)', function () {
  this.timeout(120_000);
  let steps = 0;
  after(() => reportCases(`SOL engine fuzz done (${steps} actions)`));

  for (const config of [
    { name: 'defaults, 255 characters a packet', maxOutboundChars: 255, inboundPause: 'silent' as const, workarounds: {} },
    { name: "small packets, 'nack' pause, zeroAcceptedMeansAll", maxOutboundChars: 7, inboundPause: 'nack' as const, workarounds: { zeroAcceptedMeansAll: true } },
    { name: 'no priming packet, bogus payload size', maxOutboundChars: 100_000, inboundPause: 'silent' as const, workarounds: { skipSequencePrime: true } },
  ]) {
    it(`random action sequences (${config.name})`, () => {
      fc.assert(
        fc.property(fc.array(action, { maxLength: 80 }), fc.option(fc.nat({ max: 2000 }), { nil: undefined }), (actions, initialCredit) => {
          caseCounter.cases++;
          const sent: Buffer[] = [];
          let delivered = 0;
          let creditGranted = initialCredit ?? Number.POSITIVE_INFINITY;
          let deliveredSinceCredit = 0;
          let acked = 0;
          let written = 0;
          let arrived = 0;
          let ended = false;
          const engine = new SolEngine({
            send: (p) => sent.push(Buffer.from(p)),
            maxOutboundChars: config.maxOutboundChars,
            retransmitIntervalMs: 500,
            maxRetransmits: 4,
            inboundPause: config.inboundPause,
            workarounds: config.workarounds,
            ...(initialCredit === undefined ? {} : { inboundCredit: initialCredit }),
            onData: (c) => {
              expect(c.length).to.be.within(1, SOL_MAX_CHARACTERS);
              delivered += c.length;
              deliveredSinceCredit += c.length;
            },
            onAcked: (n) => {
              expect(n).to.be.greaterThan(0);
              acked += n;
            },
            onEnd: () => (ended = true),
          });
          const inner = engine as unknown as Internals;
          const maxChars = Math.max(1, Math.min(255, config.maxOutboundChars));
          let now = 1_000;
          engine.start(now);
          const check = () => {
            for (const p of sent.splice(0)) {
              expect(p.length).to.be.within(SOL_HEADER_LENGTH, SOL_HEADER_LENGTH + maxChars);
              const d = decodeSolPacket(p);
              expect(p[0]! & 0xf0, 'sequence byte upper bits').to.equal(0);
              expect(p[1]! & 0xf0, 'ACK byte upper bits').to.equal(0);
              if (d.sequence === 0) expect(d.data.length, 'characters in an ACK-only packet').to.equal(0);
              else expect(d.sequence).to.be.within(1, 15);
            }
            expect(inner.txSeq.current).to.be.within(1, 15);
            expect(inner.inbound.lastSeq).to.be.within(0, 15);
            if (inner.outstanding) expect(inner.outstanding.seq).to.be.within(1, 15);
            expect(engine.pendingChars).to.be.at.least(0);
            expect(engine.pendingChars).to.be.at.most(written);
            // the one ledger: what was written and not acknowledged stays, also after the engine ended
            expect(engine.pendingChars).to.equal(written - acked);
            expect(engine.stats.bytesOut).to.equal(acked);
            expect(engine.stats.bytesIn).to.equal(delivered);
            expect(delivered).to.be.at.most(arrived);
            expect(deliveredSinceCredit).to.be.at.most(creditGranted);
            expect(inner.inbound.credit).to.be.at.least(0);
            expect(engine.heldPackets).to.be.at.most(SOL_MAX_HELD_PACKETS);
            const deadline = engine.nextDeadline();
            if (deadline !== undefined) expect(Number.isFinite(deadline)).to.equal(true);
            expect(ended ? engine.closed : true).to.equal(true);
          };
          for (const a of actions) {
            steps++;
            switch (a.kind) {
              case 'rx-random':
                arrived += Math.max(0, a.bytes.length - SOL_HEADER_LENGTH);
                engine.receive(Buffer.from(a.bytes), now);
                break;
              case 'rx-mutated':
                arrived += Math.max(0, a.bytes.length - SOL_HEADER_LENGTH);
                engine.receive(a.bytes, now);
                break;
              case 'rx-ack': {
                const seq = inner.outstanding ? ((inner.outstanding.seq - 1 + a.seqOffset) % 15) + 1 : a.seqOffset;
                engine.receive(encodeSolPacket({ sequence: 0, ackSequence: seq, acceptedCount: a.count, flags: a.flags, data: Buffer.alloc(0) }), now);
                break;
              }
              case 'rx-data': {
                const data = Buffer.from(a.data.subarray(0, a.seq === 0 ? 0 : 255));
                arrived += data.length;
                engine.receive(encodeSolPacket({ sequence: a.seq, ackSequence: a.ack, acceptedCount: a.count, flags: a.flags, data }), now);
                break;
              }
              case 'write':
                written += a.n;
                engine.write(Buffer.alloc(a.n, 0x61), now);
                break;
              case 'poll':
                now += a.dt;
                engine.poll(now);
                break;
              case 'credit':
                creditGranted = a.n;
                deliveredSinceCredit = 0;
                engine.setInboundCredit(a.n, now);
                break;
              case 'break':
                engine.sendBreak(now, () => undefined);
                break;
              case 'flush':
                engine.flush(now, { bmcInbound: a.inbound, bmcOutbound: a.outbound }, () => undefined);
                break;
            }
            if (engine.closed && !ended) {
              // ended by the BMC (deactivating) or a timeout: the characters stay in the ledger
              ended = true;
            }
            check();
          }
        }),
        { numRuns: runs(2500) },
      );
    });
  }

  it('a lossless BMC: every character it sends is delivered exactly once and in order, whatever the credit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ len: fc.integer({ min: 1, max: 255 }), resend: fc.boolean(), credit: fc.nat({ max: 600 }) }), { minLength: 1, maxLength: 40 }),
        (packets) => {
          caseCounter.cases++;
          const got: Buffer[] = [];
          const acks: { seq: number; count: number }[] = [];
          const engine = new SolEngine({
            send: (p) => {
              const d = decodeSolPacket(p);
              if (d.sequence === 0 && d.ackSequence !== 0) acks.push({ seq: d.ackSequence, count: d.acceptedCount });
            },
            maxOutboundChars: 255,
            workarounds: { skipSequencePrime: true },
            onData: (c) => got.push(Buffer.from(c)),
          });
          engine.start(0);
          let offset = 0;
          let seq = 0;
          const expected: Buffer[] = [];
          let now = 0;
          for (const p of packets) {
            steps++;
            seq = (seq % 15) + 1;
            let pending = Buffer.alloc(p.len);
            for (let i = 0; i < p.len; i++) pending[i] = (offset + i) & 0xff;
            expected.push(pending);
            offset += p.len;
            engine.setInboundCredit(p.credit, now);
            // The BMC resends what was not accepted, as a new packet, until all of it is taken (a silent
            // engine gives it more credit in the meantime).
            for (let round = 0; pending.length > 0 && round < 100; round++) {
              acks.length = 0;
              engine.receive(encodeSolPacket({ sequence: seq, ackSequence: 0, acceptedCount: 0, flags: 0, data: pending }), now++);
              if (p.resend) engine.receive(encodeSolPacket({ sequence: seq, ackSequence: 0, acceptedCount: 0, flags: 0, data: pending }), now++);
              const ack = acks.at(-1);
              const taken = ack && ack.seq === seq ? ack.count : 0;
              pending = pending.subarray(taken);
              if (pending.length > 0) {
                seq = (seq % 15) + 1;
                engine.setInboundCredit(p.credit + 50, now);
                // held packets of the old sequence number are delivered on credit; the remainder follows
                const ack2 = acks.at(-1);
                if (ack2 && ack2.count > taken) pending = pending.subarray(ack2.count - taken);
              }
            }
            expect(pending.length, 'BMC could not deliver a packet').to.equal(0);
          }
          expect(Buffer.concat(got).equals(Buffer.concat(expected))).to.equal(true);
        },
      ),
      { numRuns: runs(2500) },
    );
  });
});

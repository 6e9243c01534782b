/**
 * RttEstimator (RFC 6298 SRTT/RTTVAR, Karn's rule, doubling backoff, floor and ceiling) and RetransmitSchedule
 * (when a packet is retransmitted and when its sender gives up). Pure: durations are numbers, no clock.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  RetransmitSchedule,
  RttEstimator,
  RTO_CEILING_MS,
  RTO_CLOCK_GRANULARITY_MS,
  RTO_FLOOR_MS,
  RTO_MAX_BACKOFF_SHIFT,
  RTO_MAX_EARLY_RETRANSMITS,
} from '../../lib/session/rtt-estimator.js';
import { runs } from '../fuzz/fuzz-helpers.js';

describe('session/rtt-estimator', () => {
  describe('RttEstimator', () => {
    it('before any sample the timeout is the fixed wait (the initial RTO)', () => {
      const rtt = new RttEstimator();
      expect(rtt.srtt).to.equal(undefined);
      expect(rtt.timeout(500)).to.equal(500);
      expect(rtt.timeout(1000)).to.equal(1000);
    });

    it('RFC 6298 2.2: the first sample R sets SRTT = R, RTTVAR = R/2, RTO = R + max(G, 4 RTTVAR)', () => {
      const rtt = new RttEstimator();
      rtt.sample(100);
      expect(rtt.srtt).to.equal(100);
      expect(rtt.rttvar).to.equal(50);
      expect(rtt.timeout(1000)).to.equal(300);
    });

    it('RFC 6298 2.3: later samples move RTTVAR by 1/4 of |SRTT - R| and SRTT by 1/8 toward R', () => {
      const rtt = new RttEstimator();
      rtt.sample(100);
      rtt.sample(200);
      expect(rtt.rttvar).to.equal(0.75 * 50 + 0.25 * 100); // 62.5, computed from the old SRTT
      expect(rtt.srtt).to.equal(0.875 * 100 + 0.125 * 200); // 112.5
      expect(rtt.timeout(1000)).to.equal(112.5 + 4 * 62.5);
    });

    it('a steady RTT: RTTVAR decays and the RTO tends to SRTT + G (the clock granularity)', () => {
      const rtt = new RttEstimator();
      for (let i = 0; i < 200; i++) rtt.sample(40);
      expect(rtt.srtt).to.be.closeTo(40, 1e-9);
      expect(rtt.timeout(500)).to.be.closeTo(40 + RTO_CLOCK_GRANULARITY_MS, 1e-6);
    });

    it('clamps: never below the floor (a sub-millisecond LAN), never above the fixed wait (the ceiling)', () => {
      const fast = new RttEstimator();
      for (let i = 0; i < 50; i++) fast.sample(0.2);
      expect(fast.timeout(RTO_CEILING_MS)).to.equal(RTO_FLOOR_MS);
      const slow = new RttEstimator();
      slow.sample(2000);
      expect(slow.timeout(RTO_CEILING_MS)).to.equal(RTO_CEILING_MS);
      expect(new RttEstimator({ floorMs: 20 }).floorMs).to.equal(20);
    });

    it('backoff: every timeout doubles the RTO up to the ceiling; a valid sample resets it', () => {
      const rtt = new RttEstimator();
      rtt.sample(0.5); // RTO at the floor
      const waits = [rtt.timeout(500)];
      for (let i = 0; i < 9; i++) {
        rtt.timedOut();
        waits.push(rtt.timeout(500));
      }
      expect(waits).to.deep.equal([5, 10, 20, 40, 80, 160, 320, 500, 500, 500]);
      rtt.sample(0.5);
      expect(rtt.backoff).to.equal(0);
      expect(rtt.timeout(500)).to.equal(5);
    });

    it('the backoff counter is bounded (RTO_MAX_BACKOFF_SHIFT)', () => {
      const rtt = new RttEstimator();
      for (let i = 0; i < RTO_MAX_BACKOFF_SHIFT + 10; i++) rtt.timedOut();
      expect(rtt.backoff).to.equal(RTO_MAX_BACKOFF_SHIFT);
      expect(rtt.timeout(500)).to.equal(500);
    });

    it("Karn's rule: an answer to a retransmitted packet is no sample and keeps the backoff", () => {
      const rtt = new RttEstimator();
      rtt.answered(0, 1, 1);
      expect(rtt.samples).to.equal(1);
      rtt.timedOut();
      rtt.answered(10, 400, 2); // which copy did it answer? no sample
      expect(rtt.samples).to.equal(1);
      expect(rtt.srtt).to.equal(1);
      expect(rtt.backoff).to.equal(1);
      rtt.answered(500, 502, 1);
      expect(rtt.samples).to.equal(2);
      expect(rtt.backoff).to.equal(0);
    });

    it('ignores nonsense samples (negative, not finite)', () => {
      const rtt = new RttEstimator();
      rtt.sample(-1);
      rtt.sample(Number.NaN);
      rtt.sample(Number.POSITIVE_INFINITY);
      expect(rtt.samples).to.equal(0);
    });

    it('property: whatever happened, floor <= timeout <= fixed, and a timeout never shortens the next wait', () => {
      const event = fc.oneof(fc.double({ min: 0, max: 5000, noNaN: true }), fc.constant('timeout' as const));
      fc.assert(
        fc.property(fc.array(event, { maxLength: 60 }), fc.integer({ min: RTO_FLOOR_MS, max: 5000 }), (events, fixed) => {
          const rtt = new RttEstimator();
          for (const e of events) {
            const before = rtt.timeout(fixed);
            if (e === 'timeout') {
              rtt.timedOut();
              expect(rtt.timeout(fixed)).to.be.at.least(before);
            } else rtt.sample(e);
            expect(rtt.timeout(fixed)).to.be.within(RTO_FLOOR_MS, fixed);
          }
        }),
        { numRuns: runs(500) },
      );
    });
  });

  describe('RetransmitSchedule', () => {
    /** Drive a schedule that is never answered to its end: the send times and the give-up time. */
    function silence(schedule: RetransmitSchedule): { sends: number[]; gaveUpAt: number } {
      const sends = [schedule.firstSentAt];
      for (let i = 0; i < 1000; i++) {
        const now = schedule.deadline;
        const verdict = schedule.expire(now);
        if (verdict === 'give-up') return { sends, gaveUpAt: now };
        if (verdict === 'retransmit') sends.push(now);
      }
      throw new Error('never gave up');
    }

    it('without an estimator: the fixed timer, maxRetransmits retransmissions fixedMs apart', () => {
      const { sends, gaveUpAt } = silence(new RetransmitSchedule(100, 500, 3, undefined));
      expect(sends).to.deep.equal([100, 600, 1100, 1600]);
      expect(gaveUpAt).to.equal(2100);
    });

    it('before any sample the adaptive schedule is the fixed one', () => {
      const { sends, gaveUpAt } = silence(new RetransmitSchedule(0, 500, 10, new RttEstimator()));
      expect(sends).to.deep.equal([0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500, 5000]);
      expect(gaveUpAt).to.equal(5500);
    });

    it('on a fast path: the first retransmissions after RTO and 2 RTO, then the fixed pace; gives up as the fixed timer', () => {
      const rtt = new RttEstimator();
      rtt.sample(0.3);
      const { sends, gaveUpAt } = silence(new RetransmitSchedule(0, 500, 10, rtt));
      // RTO_MAX_EARLY_RETRANSMITS (2) ahead of the fixed timer at most: an outage costs 2 datagrams more, not 10
      expect(sends).to.deep.equal([0, 5, 15, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000]);
      expect(gaveUpAt).to.equal(5500); // (10 + 1) x 500
      expect(rtt.backoff).to.equal(10); // the next packet starts from the backed-off RTO (within the ceiling)
    });

    it('no retransmission allowed: waits its whole fixedMs even with a fast estimate', () => {
      const rtt = new RttEstimator();
      rtt.sample(0.3);
      const { sends, gaveUpAt } = silence(new RetransmitSchedule(0, 1000, 0, rtt));
      expect(sends).to.deep.equal([0]);
      expect(gaveUpAt).to.equal(1000);
      expect(rtt.backoff).to.equal(0);
    });

    it('answered after one send: a sample; after a retransmission: none (Karn)', () => {
      const rtt = new RttEstimator();
      const once = new RetransmitSchedule(10, 500, 3, rtt);
      once.answered(12);
      expect(rtt.srtt).to.equal(2);
      const twice = new RetransmitSchedule(100, 500, 3, rtt);
      twice.expire(twice.deadline);
      twice.answered(twice.lastSentAt + 1);
      expect(rtt.samples).to.equal(1);
    });

    it('property: exactly max retransmissions, never more than floor(t / fixed) + RTO_MAX_EARLY_RETRANSMITS by t, give-up at (max + 1) x fixed', () => {
      fc.assert(
        fc.property(
          fc.array(fc.double({ min: 0, max: 3000, noNaN: true }), { maxLength: 8 }),
          fc.integer({ min: RTO_FLOOR_MS, max: 2000 }),
          fc.integer({ min: 0, max: 20 }),
          (samples, fixed, max) => {
            const rtt = new RttEstimator();
            for (const s of samples) rtt.sample(s);
            const { sends, gaveUpAt } = silence(new RetransmitSchedule(0, fixed, max, rtt));
            expect(gaveUpAt).to.be.closeTo((max + 1) * fixed, 1e-6);
            expect(sends.length - 1).to.equal(max);
            for (let i = 1; i < sends.length; i++) {
              expect(sends[i]! - sends[i - 1]!).to.be.within(RTO_FLOOR_MS - 1e-6, fixed + 1e-6);
              expect(i).to.be.at.most(Math.floor(sends[i]! / fixed + 1e-9) + RTO_MAX_EARLY_RETRANSMITS);
            }
          },
        ),
        { numRuns: runs(500) },
      );
    });
  });
});

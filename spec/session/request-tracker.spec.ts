import { expect } from 'chai';
import { RequestTracker, type Exchange } from '../../lib/session/request-tracker.js';
import { RttEstimator, RTO_FLOOR_MS } from '../../lib/session/rtt-estimator.js';

interface Log {
  sent: number;
  answers: string[];
  silences: number;
}

function exchange(log: Log, tag: string, retries = 2, timeoutMs = 100): Exchange<string, string> {
  return {
    transmit: () => log.sent++,
    match: (m) => (m === tag ? m : undefined),
    timeoutMs,
    retries,
    onAnswer: (a) => log.answers.push(a),
    onSilence: () => log.silences++,
  };
}

describe('session/request-tracker', () => {
  it('sends at start, retries at each deadline, then reports silence once', () => {
    let retransmits = 0;
    const t = new RequestTracker<string>(() => retransmits++);
    const log: Log = { sent: 0, answers: [], silences: 0 };
    t.start(exchange(log, 'a'), 0);
    expect(log.sent).to.equal(1);
    expect(t.nextDeadline()).to.equal(100);
    t.poll(99);
    expect(log.sent).to.equal(1);
    t.poll(100);
    t.poll(200);
    expect(log.sent).to.equal(3);
    expect(retransmits).to.equal(2);
    t.poll(300);
    expect(log.silences).to.equal(1);
    expect(t.busy).to.equal(false);
    expect(t.nextDeadline()).to.equal(undefined);
    t.poll(1000);
    expect(log.silences).to.equal(1);
  });

  it('an answer that matches its tag ends the exchange; others are refused', () => {
    const t = new RequestTracker<string>();
    const log: Log = { sent: 0, answers: [], silences: 0 };
    t.start(exchange(log, 'a'), 0);
    expect(t.offer('b')).to.equal(false);
    expect(t.offer('a')).to.equal(true);
    expect(t.offer('a')).to.equal(false);
    expect(log.answers).to.deep.equal(['a']);
  });

  it('an answer handler may start the next exchange', () => {
    const t = new RequestTracker<string>();
    const log: Log = { sent: 0, answers: [], silences: 0 };
    t.start({ ...exchange(log, 'a'), onAnswer: () => t.start(exchange(log, 'b'), 5) }, 0);
    t.offer('a');
    expect(t.busy).to.equal(true);
    expect(t.nextDeadline()).to.equal(105);
  });

  it('one exchange at a time', () => {
    const t = new RequestTracker<string>();
    const log: Log = { sent: 0, answers: [], silences: 0 };
    t.start(exchange(log, 'a'), 0);
    expect(() => t.start(exchange(log, 'b'), 0)).to.throw();
    t.cancel();
    expect(t.busy).to.equal(false);
  });

  describe('with an RTT estimator (adaptive timeouts)', () => {
    it('an answer with its time is a sample (Karn: only to a request sent once)', () => {
      const rtt = new RttEstimator();
      const t = new RequestTracker<string>(undefined, rtt);
      const log: Log = { sent: 0, answers: [], silences: 0 };
      t.start(exchange(log, 'a', 2, 1000), 0);
      expect(t.nextDeadline()).to.equal(1000); // no sample yet: the fixed wait
      t.offer('a', 3);
      expect(rtt.srtt).to.equal(3);
      t.start(exchange(log, 'b', 2, 1000), 10);
      t.poll(t.nextDeadline()!);
      t.offer('b', 30);
      expect(rtt.samples).to.equal(1);
    });

    it('retries after RTO and 2 RTO, then at the fixed pace, and gives up at (retries + 1) x timeoutMs as before', () => {
      const rtt = new RttEstimator();
      rtt.sample(0.5);
      let retransmits = 0;
      const t = new RequestTracker<string>(() => retransmits++, rtt);
      const log: Log = { sent: 0, answers: [], silences: 0 };
      const sentAt: number[] = [];
      let now = 0;
      t.start({ ...exchange(log, 'a', 3, 1000), transmit: () => sentAt.push(now) }, 0);
      while (t.busy) t.poll((now = t.nextDeadline()!));
      expect(sentAt).to.deep.equal([0, RTO_FLOOR_MS, 3 * RTO_FLOOR_MS, 1000]);
      expect(now).to.equal(4000);
      expect(log.silences).to.equal(1);
      expect(retransmits).to.equal(3);
    });

    it('an exchange without retries (RAKP, Close Session) waits its whole timeoutMs', () => {
      const rtt = new RttEstimator();
      rtt.sample(0.5);
      const t = new RequestTracker<string>(undefined, rtt);
      const log: Log = { sent: 0, answers: [], silences: 0 };
      t.start(exchange(log, 'a', 0, 1000), 0);
      expect(t.nextDeadline()).to.equal(1000);
      t.poll(1000);
      expect(log).to.deep.include({ sent: 1, silences: 1 });
    });
  });
});

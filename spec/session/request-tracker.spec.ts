import { expect } from 'chai';
import { RequestTracker, type Exchange } from '../../lib/session/request-tracker.js';

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
});

import { expect } from 'chai';
import fc from 'fast-check';
import { SequenceWindow } from '../../lib/session/sequence-window.js';
import { SequenceWindow as FakeBmcWindow } from '../../fixtures/fake-bmc/index.js';
import { INBOUND_WINDOW_AHEAD, INBOUND_WINDOW_BEHIND } from '../../lib/session/session-machine.js';

const consoleWindow = (rejectZero = true) => new SequenceWindow({ behind: INBOUND_WINDOW_BEHIND, ahead: INBOUND_WINDOW_AHEAD, rejectZero });

describe('session/sequence-window', () => {
  it('the first number sets the window; later ones within ahead move it', () => {
    const w = consoleWindow();
    expect(w.check(1000)).to.equal('accepted');
    expect(w.check(1001)).to.equal('accepted');
    expect(w.check(1001 + INBOUND_WINDOW_AHEAD)).to.equal('accepted');
    expect(w.check(1001 + 2 * INBOUND_WINDOW_AHEAD + 1)).to.equal('outOfWindow');
  });

  it('a number up to `behind` below the highest is accepted once, a repeat is a replay', () => {
    const w = consoleWindow();
    w.check(100);
    w.check(110);
    expect(w.check(110 - INBOUND_WINDOW_BEHIND)).to.equal('accepted');
    expect(w.check(110 - INBOUND_WINDOW_BEHIND)).to.equal('replay');
    expect(w.check(110 - INBOUND_WINDOW_BEHIND - 1)).to.equal('outOfWindow');
    expect(w.check(110)).to.equal('replay');
    expect(w.check(100)).to.equal('outOfWindow');
  });

  it('zero is rejected on an authenticated session, taken on one without integrity', () => {
    expect(consoleWindow(true).check(0)).to.equal('outOfWindow');
    expect(consoleWindow(false).check(0)).to.equal('accepted');
  });

  it('wraps at 2^32', () => {
    const w = consoleWindow();
    w.check(0xfffffffe);
    expect(w.check(0xffffffff)).to.equal('accepted');
    expect(w.check(3)).to.equal('accepted');
    expect(w.check(0xffffffff)).to.equal('replay');
  });

  it('the fake BMC judges with the same window (15 behind)', () => {
    expect(FakeBmcWindow).to.equal(SequenceWindow);
  });

  it('never accepts a number twice, whatever the order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 80 }), { maxLength: 200 }), (seqs) => {
        const w = consoleWindow();
        const accepted = new Set<number>();
        for (const seq of seqs) {
          if (w.accept(seq)) {
            expect(accepted.has(seq)).to.equal(false);
            accepted.add(seq);
          }
        }
      }),
    );
  });

  it('refuses a look-behind it cannot remember', () => {
    expect(() => new SequenceWindow({ behind: 32, ahead: 32, rejectZero: true })).to.throw(RangeError);
  });
});

import { expect } from 'chai';
import { ManualClock, systemClock } from '../lib/clock.js';

describe('clock', () => {
  it('ManualClock fires due timers in deadline order, each at its own time, and none early', () => {
    const clock = new ManualClock(100);
    const fired: Array<[string, number]> = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 20);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 10);
    clock.setTimeout(() => fired.push(['c', clock.now()]), 20);
    clock.advance(9);
    expect(fired).to.deep.equal([]);
    clock.advance(11);
    expect(fired).to.deep.equal([
      ['a', 110],
      ['b', 120],
      ['c', 120],
    ]);
    expect(clock.now()).to.equal(120);
    expect(clock.pending()).to.equal(0);
  });

  it('ManualClock: a cancelled timer never fires; a timer armed while firing fires within the same advance', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const t = clock.setTimeout(() => fired.push(-1), 5);
    t.cancel();
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 3);
    }, 5);
    expect(clock.nextDeadline()).to.equal(5);
    clock.advance(10);
    expect(fired).to.deep.equal([5, 8]);
    expect(clock.pending()).to.equal(0);
  });

  it('systemClock fires a real timer once and is monotonic', async () => {
    const before = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 1));
    expect(systemClock.now()).to.be.at.least(before);
    let fired = false;
    systemClock.setTimeout(() => (fired = true), 0).cancel();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(fired).to.equal(false);
  });
});

import { expect } from 'chai';
import { DeadlineTimer, ManualClock, systemClock } from '../lib/clock.js';

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

  it('DeadlineTimer: one timer at the machine\'s deadline, re-armed only when it moved, polled with its time', () => {
    const clock = new ManualClock(100);
    const deadlines: (number | undefined)[] = [150, 150, 120, undefined];
    let deadline: number | undefined = 150;
    const polls: number[] = [];
    const timer = new DeadlineTimer(
      clock,
      () => deadline,
      (now) => {
        polls.push(now);
        deadline = deadlines.shift() === undefined ? undefined : now + 10;
      },
    );
    timer.rearm();
    timer.rearm(); // the same deadline: still one timer
    expect(clock.pending()).to.equal(1);
    clock.advance(49);
    expect(polls).to.deep.equal([]);
    clock.advance(1);
    expect(polls).to.deep.equal([150]); // then re-armed at 160 by the machine
    deadline = 155; // moved earlier by a call into the machine
    timer.rearm();
    expect(clock.pending()).to.equal(1);
    clock.advance(5);
    expect(polls).to.deep.equal([150, 155]);
    timer.cancel();
    clock.advance(1000);
    expect(polls).to.deep.equal([150, 155]);
    expect(clock.pending()).to.equal(0);
  });
  it('DeadlineTimer "lazy re-arm": a deadline that moves later or goes away keeps the armed timer (no timer per packet)', () => {
    const clock = new ManualClock(0);
    let armed = 0;
    const counting = { now: () => clock.now(), setTimeout: (fn: () => void, ms: number) => (armed++, clock.setTimeout(fn, ms)) };
    let deadline: number | undefined;
    const polls: number[] = [];
    const timer = new DeadlineTimer(counting, () => deadline, (now) => {
      polls.push(now);
      deadline = undefined;
    });
    // 100 packets, each sent (deadline now + 500) and acknowledged 2 ms later (no deadline), 5 ms apart.
    for (let i = 0; i < 100; i++) {
      deadline = clock.now() + 500;
      timer.rearm();
      clock.advance(2);
      deadline = undefined;
      timer.rearm();
      clock.advance(3);
    }
    // 500 ms of packets: the first timer, then one more each time it fired early (every 500 ms), never per packet.
    expect(armed).to.be.at.most(3);
    expect(polls, 'never polled: no deadline was ever due').to.deep.equal([]);
    // A deadline that does come due is polled at its time, even after it moved later than the armed timer.
    deadline = clock.now() + 100;
    timer.rearm();
    deadline = clock.now() + 300; // moved later: the timer armed for +100 fires early and arms for +300
    timer.rearm();
    const due = deadline;
    clock.advance(299);
    expect(polls).to.deep.equal([]);
    clock.advance(1);
    expect(polls).to.deep.equal([due]);
    timer.cancel();
    expect(clock.pending()).to.equal(0);
  });
});

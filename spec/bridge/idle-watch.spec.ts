import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { IdleWatch } from '../../lib/bridge/idle-watch.js';

describe('bridge: IdleWatch', () => {
  it('fires after idleMs with no activity, with the idle time', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const watch = new IdleWatch(clock, 1000, (idle) => fired.push(idle));
    watch.start();
    clock.advance(999);
    expect(fired).to.deep.equal([]);
    clock.advance(1);
    expect(fired).to.deep.equal([1000]);
    expect(clock.pending()).to.equal(0);
  });

  it('activity pushes the deadline back without re-arming a timer per byte', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const watch = new IdleWatch(clock, 1000, (idle) => fired.push(idle));
    watch.start();
    for (let t = 0; t < 10; t++) {
      clock.advance(100);
      watch.touch();
      expect(clock.pending()).to.equal(1);
    }
    clock.advance(1000); // first fires at 1000 (idle 0 since the last touch at 1000), re-arms to 2000
    expect(fired).to.deep.equal([1000]);
    watch.touch();
    clock.advance(500);
    expect(fired).to.deep.equal([1000]);
  });

  it('re-arms for the time left since the last byte', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const watch = new IdleWatch(clock, 1000, (idle) => fired.push(idle));
    watch.start();
    clock.advance(600);
    watch.touch(); // last activity at 600: idle at 1600
    clock.advance(400); // timer at 1000: idle only 400, re-armed for 600
    expect(fired).to.deep.equal([]);
    clock.advance(599);
    expect(fired).to.deep.equal([]);
    clock.advance(1);
    expect(fired).to.deep.equal([1000]);
  });

  it('stop cancels; idleMs 0 never arms a timer', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const watch = new IdleWatch(clock, 1000, (idle) => fired.push(idle));
    watch.start();
    watch.stop();
    expect(clock.pending()).to.equal(0);
    clock.advance(5000);
    const off = new IdleWatch(clock, 0, (idle) => fired.push(idle));
    off.start();
    expect(clock.pending()).to.equal(0);
    expect(fired).to.deep.equal([]);
  });
});

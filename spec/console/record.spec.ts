import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { ConsoleRecord, type RecordEvent } from '../../lib/console/record.js';

const T0 = Date.UTC(2026, 11, 3, 22, 0, 0);

describe('console/record', () => {
  it('keeps output in the history and fans it out to every sink, in order', () => {
    const record = new ConsoleRecord({ historyBytes: 1024 });
    const a: string[] = [];
    const b: string[] = [];
    record.addSink({ write: (c) => a.push(c.toString()) });
    const removeB = record.addSink({ write: (c) => b.push(c.toString()) });
    record.write(Buffer.from('x'));
    record.write(Buffer.alloc(0));
    removeB();
    record.write(Buffer.from('y'));
    expect(a).to.deep.equal(['x', 'y']);
    expect(b).to.deep.equal(['x']);
    expect(record.tail().text).to.equal('xy');
  });

  it('a BMC loss continues the same record with a marked gap (on a line of its own), one per outage', () => {
    const clock = new ManualClock();
    const record = new ConsoleRecord({ clock, wallTime: () => T0 + clock.now(), historyBytes: 1024 });
    const events: RecordEvent[] = [];
    const live: string[] = [];
    record.addSink({ write: (c) => live.push(c.toString()), event: (e) => events.push(e) });
    record.write(Buffer.from('Booting kern'));
    clock.advance(2000);
    record.note('bmc-lost', 'IPMI_ERR_TIMEOUT');
    record.note('bmc-lost', 'IPMI_ERR_TIMEOUT');
    expect(record.lost).to.equal(true);
    clock.advance(20_000);
    record.note('bmc-back');
    record.note('bmc-back');
    record.write(Buffer.from('el\r\nlogin: '));
    expect(record.tail().text).to.equal(
      'Booting kern\r\n' +
        '[ipmi-sol-bridge: BMC lost (IPMI_ERR_TIMEOUT) at 2026-12-03T22:00:02.000Z]\r\n' +
        '[ipmi-sol-bridge: BMC back (gap 20.0 s) at 2026-12-03T22:00:22.000Z]\r\n' +
        'el\r\nlogin: ',
    );
    expect(live.join(''), 'live sinks get node bytes only').to.equal('Booting kernel\r\nlogin: ');
    expect(events.map((e) => [e.kind, e.at - T0, e.detail])).to.deep.equal([
      ['bmc-lost', 2000, 'IPMI_ERR_TIMEOUT'],
      ['bmc-back', 22_000, 'gap 20.0 s'],
    ]);
    expect(record.stats).to.include({ bytes: 'Booting kernel\r\nlogin: '.length, gaps: 1 });
  });

  it('a sink that throws is counted and never stops the record or the other sinks', () => {
    const record = new ConsoleRecord({ historyBytes: 1024 });
    const got: string[] = [];
    record.addSink({
      write: () => {
        throw new Error('bug');
      },
      event: () => {
        throw new Error('bug');
      },
    });
    record.addSink({ write: (c) => got.push(c.toString()) });
    record.write(Buffer.from('a'));
    record.note('break');
    expect(got).to.deep.equal(['a']);
    expect(record.stats.sinkErrors).to.equal(2);
  });
});

import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { ConsoleRecord } from '../../lib/console/record.js';
import {
  DEFAULT_VIEWER_POLICY,
  DEFAULT_VIEWER_QUEUE_BYTES,
  MAX_REPLAY_LINES,
  MAX_VIEWER_QUEUE_BYTES,
  MIN_VIEWER_QUEUE_BYTES,
  MAX_VIEWERS,
  SPECTATOR_NOTICE,
  TAKEN_OVER_NOTICE,
  ViewerSet,
  parseReplay,
  type ViewerSocket,
} from '../../lib/console/viewers.js';
import { isIpmiError } from '../../lib/errors.js';
import { pattern } from '../bridge/fake-console-source.js';

/** A viewer connection with no TCP: a reading one takes everything at once, a stalled one queues it all. */
class FakeSocket implements ViewerSocket {
  received: Buffer[] = [];
  queued = 0;
  ended = false;
  destroyed = false;
  constructor(public reading = true) {}
  get writableLength(): number {
    return this.queued;
  }
  write(chunk: Buffer): boolean {
    if (this.ended || this.destroyed) throw new Error('write after end');
    this.received.push(Buffer.from(chunk));
    if (!this.reading) this.queued += chunk.length;
    return this.reading;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  get text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }
}

const expectBadArgument = (f: () => unknown) => expect(f).to.throw().that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));

describe('console/viewers', () => {
  it('defaults to one client, extra clients refused (today\'s bridge), and checks its options', () => {
    const set = new ViewerSet<FakeSocket>();
    expect(set.policy).to.deep.equal(DEFAULT_VIEWER_POLICY);
    expect(set.queueBytes).to.equal(DEFAULT_VIEWER_QUEUE_BYTES);
    const a = set.admit(new FakeSocket());
    expect(a.admitted && a.viewer.role).to.equal('writer');
    expect(set.admit(new FakeSocket())).to.deep.equal({ admitted: false, reason: 'in-use' });
    expect(set.stats).to.include({ viewers: 1, refused: 1 });
    expectBadArgument(() => new ViewerSet({ viewers: { max: 0 } }));
    expectBadArgument(() => new ViewerSet({ viewers: { max: MAX_VIEWERS + 1 } }));
    expectBadArgument(() => new ViewerSet({ viewers: { onExtra: 'kick' as never } }));
    expectBadArgument(() => new ViewerSet({ queueBytes: MIN_VIEWER_QUEUE_BYTES - 1 }));
    expectBadArgument(() => new ViewerSet({ queueBytes: MAX_VIEWER_QUEUE_BYTES + 1 }));
    expect(new ViewerSet({ queueBytes: MAX_VIEWER_QUEUE_BYTES, replay: { lines: MAX_REPLAY_LINES } }).queueBytes).to.equal(MAX_VIEWER_QUEUE_BYTES);
    expectBadArgument(() => new ViewerSet({ replay: { lines: MAX_REPLAY_LINES + 1 } }));
    expectBadArgument(() => new ViewerSet({ replay: { bytes: -1 } }));
    expectBadArgument(() => new ViewerSet({ replay: { bytes: 1, lines: 1 } as never }));
  });

  it('spectate: spectators up to max get every byte; their keystrokes are discarded, the first answered once', () => {
    const set = new ViewerSet<FakeSocket>({ viewers: { max: 3, onExtra: 'spectate' } });
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket(), new FakeSocket()];
    const results = sockets.map((s) => set.admit(s));
    expect(results.map((r) => (r.admitted ? r.viewer.role : r.reason))).to.deep.equal(['writer', 'spectator', 'spectator', 'full']);
    set.write(Buffer.from('hello'));
    for (const s of sockets.slice(0, 3)) expect(s.text).to.equal('hello');
    const [w, s1] = results.map((r) => (r.admitted ? r.viewer : undefined));
    expect(set.input(w!, Buffer.from('ls\r'))).to.equal(true);
    expect(set.input(s1!, Buffer.from('rm'))).to.equal(false);
    expect(set.input(s1!, Buffer.from(' -rf /'))).to.equal(false);
    expect(sockets[1]!.text).to.equal('hello' + SPECTATOR_NOTICE);
    expect(set.stats).to.include({ keystrokesDiscarded: 8, spectators: 2 });
    // The writer leaves: the next client becomes the writer, spectators stay spectators.
    set.remove(w!);
    const next = set.admit(new FakeSocket());
    expect(next.admitted && next.viewer.role).to.equal('writer');
    expect(set.input(s1!, Buffer.from('x'))).to.equal(false);
  });

  it('takeover: the new client becomes the writer, the old one is told in one line and closed', () => {
    const record = new ConsoleRecord({ clock: new ManualClock(), wallTime: () => 0 });
    const events: string[] = [];
    record.addSink({ write: () => undefined, event: (e) => events.push(`${e.kind} ${e.detail}`) });
    const set = new ViewerSet<FakeSocket>({ viewers: { max: 1, onExtra: 'takeover' }, record });
    const old = new FakeSocket();
    const first = set.admit(old, '10.0.0.1:1000');
    const second = set.admit(new FakeSocket(), '10.0.0.2:2000');
    expect(second.admitted && second.bumped).to.equal(first.admitted && first.viewer);
    expect(old.text).to.equal(TAKEN_OVER_NOTICE);
    expect(old.ended).to.equal(true);
    expect(set.input(first.admitted ? first.viewer : (undefined as never), Buffer.from('x'))).to.equal(false);
    expect(set.writer).to.equal(second.admitted && second.viewer);
    expect(set.stats).to.include({ takeovers: 1, viewers: 1 });
    set.closeAll();
    expect(events).to.deep.equal([
      'attach writer 10.0.0.1:1000',
      'takeover 10.0.0.2:2000 took over from 10.0.0.1:1000',
      'attach writer 10.0.0.2:2000',
      'detach writer 10.0.0.2:2000, closed',
    ]);
  });

  it('1 writer + 5 spectators, one never reads: the others byte-exact, the stalled one dropped at its bound, the record never paused', () => {
    const queueBytes = 64 * 1024;
    const record = new ConsoleRecord({ historyBytes: 4096 });
    const set = new ViewerSet<FakeSocket>({ viewers: { max: 6, onExtra: 'spectate' }, queueBytes });
    record.addSink(set);
    const sockets = [0, 1, 2, 3, 4, 5].map((i) => new FakeSocket(i !== 3));
    for (const s of sockets) expect(set.admit(s).admitted).to.equal(true);
    const dropped: number[] = [];
    set.on('removed', (v, reason) => reason === 'dropped' && dropped.push(v.id));
    const total = 1024 * 1024;
    let writtenWhenDropped = -1;
    for (let at = 0; at < total; at += 1000) {
      record.write(pattern(at, Math.min(1000, total - at))); // synchronous: nothing waits for any viewer
      if (dropped.length > 0 && writtenWhenDropped < 0) writtenWhenDropped = at;
    }
    const stalled = sockets[3]!;
    expect(stalled.destroyed).to.equal(true);
    expect(stalled.queued, 'never more than its bound queued').to.be.at.most(queueBytes);
    expect(writtenWhenDropped).to.equal(Math.floor(queueBytes / 1000) * 1000);
    expect(dropped).to.have.length(1);
    for (const s of sockets.filter((s) => s !== stalled)) expect(s.bytes.equals(pattern(0, total))).to.equal(true);
    expect(set.stats).to.include({ dropped: 1, viewers: 5 });
    expect(record.stats.bytes).to.equal(total);
  });

  it('replay on attach: the last N bytes or lines first, then live output, nothing lost or repeated', () => {
    const record = new ConsoleRecord({ historyBytes: 4096 });
    const byLines = new ViewerSet<FakeSocket>({ viewers: { max: 4, onExtra: 'spectate' }, replay: { lines: 2 }, record });
    record.addSink(byLines);
    record.write(Buffer.from('one\r\ntwo\r\nthree\r\nlog'));
    const a = new FakeSocket();
    byLines.admit(a);
    record.write(Buffer.from('in: '));
    expect(a.text).to.equal('three\r\nlogin: ');

    const bytes = new ViewerSet<FakeSocket>({ replay: { bytes: 5 }, record });
    const b = new FakeSocket();
    bytes.admit(b);
    expect(b.text).to.equal('gin: ');
    expect(bytes.stats.replayedBytes).to.equal(5);

    const none = new ViewerSet<FakeSocket>({ record });
    const c = new FakeSocket();
    none.admit(c);
    expect(c.received).to.deep.equal([], 'replay is off by default');
  });

  it('a replay is at most half the queue bound, so it cannot get a slow viewer dropped by itself', () => {
    const record = new ConsoleRecord({ historyBytes: 64 * 1024 });
    record.write(Buffer.alloc(64 * 1024, 0x41));
    const set = new ViewerSet<FakeSocket>({ replay: { bytes: 64 * 1024 }, record, queueBytes: 8192 });
    const s = new FakeSocket(false);
    set.admit(s);
    expect(s.queued).to.equal(4096);
    set.write(Buffer.alloc(4096, 0x42));
    expect(s.destroyed).to.equal(false);
  });

  it('parseReplay reads the CLI syntax', () => {
    expect(parseReplay('4KiB')).to.deep.equal({ bytes: 4096 });
    expect(parseReplay('4096')).to.deep.equal({ bytes: 4096 });
    expect(parseReplay('512B')).to.deep.equal({ bytes: 512 });
    expect(parseReplay('1MiB')).to.deep.equal({ bytes: 1024 * 1024 });
    expect(parseReplay('50lines')).to.deep.equal({ lines: 50 });
    expect(parseReplay('1 line')).to.deep.equal({ lines: 1 });
    for (const bad of ['', 'lots', '-1KiB', '4 GiB', '1e3', '100MiB']) expectBadArgument(() => parseReplay(bad));
  });
});

import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  DEFAULT_LOG_FILE_BYTES,
  DEFAULT_LOG_FLUSH_BYTES,
  DEFAULT_LOG_FLUSH_MS,
  DEFAULT_LOG_KEEP,
  DEFAULT_LOG_PENDING_BYTES,
  MAX_LOG_FILE_BYTES,
  MAX_LOG_FLUSH_BYTES,
  MAX_LOG_FLUSH_MS,
  MAX_LOG_KEEP,
  MAX_LOG_PENDING_BYTES,
  MIN_LOG_FILE_BYTES,
  logFileBase,
  openConsoleLog,
  type ConsoleLogSink,
} from '../../lib/console/log-sink.js';
import { ConsoleRecord } from '../../lib/console/record.js';
import { ManualClock } from '../../lib/clock.js';
import { isIpmiError } from '../../lib/errors.js';
import { pattern } from '../bridge/fake-console-source.js';

const T0 = Date.UTC(2026, 11, 3, 22, 0, 0);

/** A disk that takes nothing until released, then everything. */
class StuckDisk extends Writable {
  readonly taken: Buffer[] = [];
  #waiting: Array<() => void> = [];
  #flowing = false;
  constructor() {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.taken.push(chunk);
    if (this.#flowing) cb();
    else this.#waiting.push(() => cb());
  }
  release(): void {
    this.#flowing = true;
    const w = this.#waiting;
    this.#waiting = [];
    for (const f of w) f();
  }
}

/** Wait until the sink's streams hold at most `bytes` (the event itself, polled per I/O turn, no timer). */
async function drained(sink: ConsoleLogSink, bytes = 0): Promise<void> {
  while (sink.stats.pendingBytes > bytes) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('console/log-sink', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-log-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has named defaults: 10 MiB files, 5 kept, 1 MiB pending per file', () => {
    expect(DEFAULT_LOG_FILE_BYTES).to.equal(10 * 1024 * 1024);
    expect(DEFAULT_LOG_KEEP).to.equal(5);
    expect(DEFAULT_LOG_PENDING_BYTES).to.equal(1024 * 1024);
  });

  it('node IDs become file names that never leave the directory and never collide', () => {
    expect(logFileBase('node-1.a_b')).to.equal('node-1.a_b');
    expect(logFileBase('../etc/passwd')).to.equal('%2E.%2Fetc%2Fpasswd');
    expect(logFileBase('a/b')).to.not.equal(logFileBase('a_b'));
    expect(logFileBase('a%2Fb')).to.not.equal(logFileBase('a/b'));
    expect(logFileBase('.')).to.equal('%2E');
  });

  it('writes console output byte-exact, audit lines to the sibling file, through a ConsoleRecord', async () => {
    const clock = new ManualClock();
    const wallTime = () => T0 + clock.now();
    const record = new ConsoleRecord({ clock, wallTime, historyBytes: 4096 });
    const sink = await openConsoleLog({ dir, nodeId: 'n1', wallTime });
    record.addSink(sink);
    const out = pattern(0, 100_000);
    for (let i = 0; i < out.length; i += 977) record.write(out.subarray(i, i + 977));
    record.note('attach', 'writer 127.0.0.1:5000');
    clock.advance(1500);
    record.note('bmc-lost', 'IPMI_ERR_TIMEOUT');
    clock.advance(12_000);
    record.note('bmc-back');
    record.note('detach', 'writer 127.0.0.1:5000, client-closed');
    await sink.close();
    expect((await readFile(path.join(dir, 'n1.log'))).equals(out)).to.equal(true);
    expect(await readFile(path.join(dir, 'n1.audit.log'), 'utf8')).to.equal(
      [
        '2026-12-03T22:00:00.000Z attach (writer 127.0.0.1:5000)',
        '2026-12-03T22:00:01.500Z BMC lost (IPMI_ERR_TIMEOUT)',
        '2026-12-03T22:00:13.500Z BMC back (gap 12.0 s)',
        '2026-12-03T22:00:13.500Z detach (writer 127.0.0.1:5000, client-closed)',
        '',
      ].join('\n'),
    );
    expect(sink.stats).to.include({ bytesWritten: out.length, bytesDropped: 0, auditLines: 4 });
  });

  it('timestamps at line starts, across chunks, with the time the line began', async () => {
    const clock = new ManualClock();
    const sink = await openConsoleLog({ dir, nodeId: 'ts', timestamps: true, wallTime: () => T0 + clock.now() });
    sink.write(Buffer.from('boot'));
    clock.advance(250);
    sink.write(Buffer.from('ing\r\nline 2\r\nline'));
    clock.advance(1000);
    sink.write(Buffer.from(' 3\n'));
    await sink.close();
    expect(await readFile(sink.file, 'utf8')).to.equal(
      '[2026-12-03T22:00:00.000Z] booting\r\n[2026-12-03T22:00:00.250Z] line 2\r\n[2026-12-03T22:00:00.250Z] line 3\n',
    );
  });

  it('rotates under a 5 MB burst: node.log.1..keep, the newest bytes kept byte-exact, files near maxFileBytes', async () => {
    const maxFileBytes = 1024 * 1024;
    const keep = 3;
    const chunk = 4096;
    // flushBytes: one file write is at most one chunk, so a file exceeds maxFileBytes by at most that (a gathered
    // write that a slow turn cut short by the flush timer is smaller still)
    const sink = await openConsoleLog({ dir, nodeId: 'burst', maxFileBytes, keep, pendingBytes: 256 * 1024, flushBytes: chunk });
    const total = 5 * 1000 * 1000;
    for (let at = 0; at < total; at += chunk) {
      // The source's pace: the sink is never blocked, so the spec waits for the disk like a BMC at line rate.
      await drained(sink, 128 * 1024);
      sink.write(pattern(at, Math.min(chunk, total - at)));
    }
    await sink.close();
    expect(sink.stats.bytesDropped).to.equal(0);
    expect(sink.stats.rotations).to.equal(4);
    const files = (await readdir(dir)).filter((f) => f.startsWith('burst.log')).sort();
    expect(files).to.deep.equal(['burst.log', 'burst.log.1', 'burst.log.2', 'burst.log.3']);
    const parts = await Promise.all(['burst.log.3', 'burst.log.2', 'burst.log.1', 'burst.log'].map((f) => readFile(path.join(dir, f))));
    for (const p of parts.slice(0, 3)) expect(p.length).to.be.within(maxFileBytes, maxFileBytes + chunk);
    const kept = Buffer.concat(parts);
    expect(kept.equals(pattern(total - kept.length, kept.length)), 'the kept files are the newest bytes, in order').to.equal(true);
    expect(kept.length).to.be.greaterThan(3 * maxFileBytes);
  });

  it('a 5 MB burst at once costs at most pendingBytes: the rest is dropped, counted and reported in the audit file', async () => {
    const sink = await openConsoleLog({ dir, nodeId: 'flood', maxFileBytes: 1024 * 1024, keep: 2 });
    const total = 5 * 1000 * 1000;
    let maxPending = 0;
    for (let at = 0; at < total; at += 4096) {
      sink.write(pattern(at, 4096));
      maxPending = Math.max(maxPending, sink.stats.pendingBytes);
    }
    expect(maxPending).to.be.at.most(DEFAULT_LOG_PENDING_BYTES);
    const { bytesWritten, bytesDropped } = sink.stats;
    expect(bytesDropped).to.be.greaterThan(0);
    expect(bytesWritten + bytesDropped).to.equal(Math.ceil(total / 4096) * 4096);
    await drained(sink);
    sink.write(Buffer.from('after\n'));
    await sink.close();
    const audit = await readFile(sink.auditFile, 'utf8');
    expect(audit).to.match(new RegExp(`log overflow: ${bytesDropped} bytes of console output dropped`));
  });

  it('a stuck disk never blocks the writer: memory stays at pendingBytes, drops are counted, output resumes after', async () => {
    const disks: StuckDisk[] = [];
    const sink = await openConsoleLog({
      dir,
      nodeId: 'stuck',
      pendingBytes: 64_000,
      streamFactory: () => {
        const d = new StuckDisk();
        disks.push(d);
        return d;
      },
    });
    for (let i = 0; i < 1000; i++) sink.write(Buffer.alloc(1000, i & 0xff));
    expect(sink.stats.pendingBytes).to.be.at.most(64_000);
    expect(sink.stats.bytesWritten).to.equal(64_000);
    expect(sink.stats.bytesDropped).to.equal(1000 * 1000 - 64_000);
    expect(sink.stats.chunksDropped).to.equal(1000 - 64);
    for (const d of disks) d.release();
    await drained(sink);
    sink.write(Buffer.from('x'));
    expect(sink.stats.bytesWritten).to.equal(64_001);
    expect(Buffer.concat(disks[1]!.taken).toString()).to.match(/log overflow: 936000 bytes/);
  });

  it('an error after start ends the sink once (lastError IPMI_ERR_LOG, an error event) and the console goes on', async () => {
    const disk = new StuckDisk();
    const sink = await openConsoleLog({ dir, nodeId: 'dies', streamFactory: (file) => (file.endsWith('.audit.log') ? new StuckDisk() : disk) });
    const errors: unknown[] = [];
    sink.on('error', (e) => errors.push(e));
    disk.destroy(new Error('EIO: i/o error'));
    await new Promise((resolve) => disk.once('close', resolve));
    sink.write(Buffer.from('more'));
    expect(errors).to.have.length(1);
    expect(isIpmiError(sink.lastError, 'IPMI_ERR_LOG')).to.equal(true);
    expect(sink.stats).to.include({ failed: true, bytesDropped: 4 });
  });

  it('a log directory that cannot be written fails at start with IPMI_ERR_LOG, naming the directory', async () => {
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    const bad = path.join(file, 'logs'); // a directory under a regular file: ENOTDIR, even for root
    const error = await openConsoleLog({ dir: bad, nodeId: 'n' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isIpmiError(error, 'IPMI_ERR_LOG')).to.equal(true);
    expect((error as Error).message).to.equal(`Console log directory ${bad} is not writable (ENOTDIR).`);
  });

  it('refuses bad sizes and counts as IPMI_ERR_BAD_ARGUMENT before touching the disk', async () => {
    const outOfBounds = [
      { maxFileBytes: MIN_LOG_FILE_BYTES - 1 },
      { maxFileBytes: MAX_LOG_FILE_BYTES + 1 },
      { keep: 0 },
      { keep: MAX_LOG_KEEP + 1 },
      { pendingBytes: 0 },
      { pendingBytes: MAX_LOG_PENDING_BYTES + 1 },
      { flushMs: -1 },
      { flushMs: MAX_LOG_FLUSH_MS + 1 },
      { flushMs: 0.5 },
      { flushBytes: 0 },
      { flushBytes: MAX_LOG_FLUSH_BYTES + 1 },
    ];
    for (const options of outOfBounds) {
      const error = await openConsoleLog({ dir, nodeId: 'n', ...options }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT'), JSON.stringify(options)).to.equal(true);
    }
    expect(await readdir(dir)).to.deep.equal([]);
  });

  describe('coalesced log writes', () => {
    /** Each file write the sink makes, as it made it. */
    function recordingDisks(): { writes: Buffer[]; factory: () => Writable } {
      const writes: Buffer[] = [];
      return {
        writes,
        factory: () => new Writable({ write: (chunk: Buffer, _enc, cb) => (writes.push(chunk), cb()) }),
      };
    }
    const packets = (n: number, size = 255): Buffer[] => Array.from({ length: n }, (_, i) => pattern(i * size, size));

    it('has named defaults: 250 ms or 64 KiB gathered per file write', () => {
      expect(DEFAULT_LOG_FLUSH_MS).to.equal(250);
      expect(DEFAULT_LOG_FLUSH_BYTES).to.equal(64 * 1024);
    });

    it('packets at line rate (22 ms apart) reach the file as one write per flushMs, byte-exact, in order', async () => {
      const clock = new ManualClock();
      const console = recordingDisks();
      const audit = recordingDisks();
      const sink = await openConsoleLog({ dir, nodeId: 'coalesce', clock, streamFactory: (f) => (f.endsWith('.audit.log') ? audit : console).factory() });
      const sent = packets(45); // one second of a 115200-baud console in 255-byte SOL packets
      for (const p of sent) {
        sink.write(p);
        clock.advance(22);
      }
      await sink.close();
      const joined = Buffer.concat(console.writes);
      expect(joined.equals(Buffer.concat(sent)), 'byte-exact').to.equal(true);
      expect(console.writes.length, 'one write per 250 ms of output, not one per packet').to.equal(4);
      expect(sink.stats).to.include({ fileWrites: 4, bytesWritten: 45 * 255, bytesDropped: 0 });
    });

    it('nothing is written before flushMs, everything at flushMs; close() writes what is gathered', async () => {
      const clock = new ManualClock();
      const disks = recordingDisks();
      const sink = await openConsoleLog({ dir, nodeId: 'timer', clock, flushMs: 100, streamFactory: disks.factory });
      sink.write(Buffer.from('boot '));
      clock.advance(99);
      sink.write(Buffer.from('log'));
      expect(disks.writes).to.have.length(0);
      expect(sink.stats.pendingBytes, 'gathered bytes count against pendingBytes').to.equal(8);
      expect(sink.stats.bytesWritten, 'accepted').to.equal(8);
      clock.advance(1);
      expect(disks.writes.map(String)).to.deep.equal(['boot log']);
      sink.write(Buffer.from(' tail'));
      clock.advance(50);
      await sink.close();
      expect(disks.writes.map(String)).to.deep.equal(['boot log', ' tail']);
      expect(clock.pending(), 'no timer left behind').to.equal(0);
    });

    it('flushBytes writes at once, without waiting for the timer; flushMs 0 writes every chunk', async () => {
      const clock = new ManualClock();
      const a = recordingDisks();
      const bySize = await openConsoleLog({ dir, nodeId: 'size', clock, flushBytes: 1000, streamFactory: a.factory });
      for (const p of packets(8)) bySize.write(p); // 2040 bytes: writes at 1020 and 2040
      expect(a.writes.map((w) => w.length)).to.deep.equal([1020, 1020]);
      const b = recordingDisks();
      const atOnce = await openConsoleLog({ dir, nodeId: 'once', clock, flushMs: 0, streamFactory: b.factory });
      for (const p of packets(3)) atOnce.write(p);
      expect(b.writes.map((w) => w.length)).to.deep.equal([255, 255, 255]);
      await Promise.all([bySize.close(), atOnce.close()]);
    });

    it('never gathers more than half of pendingBytes', async () => {
      const clock = new ManualClock();
      const disks = recordingDisks();
      const sink = await openConsoleLog({ dir, nodeId: 'half', clock, pendingBytes: 2000, streamFactory: disks.factory });
      for (const p of packets(4)) sink.write(p);
      expect(disks.writes.map((w) => w.length)).to.deep.equal([1020]);
      await sink.close();
    });

    it('a disk that fails with output gathered: those bytes move from written to dropped', async () => {
      const clock = new ManualClock();
      const disk = new StuckDisk();
      const sink = await openConsoleLog({ dir, nodeId: 'fails', clock, streamFactory: (file) => (file.endsWith('.audit.log') ? new StuckDisk() : disk) });
      sink.on('error', () => undefined);
      sink.write(Buffer.from('gathered'));
      disk.destroy(new Error('EIO: i/o error'));
      await new Promise((resolve) => disk.once('close', resolve));
      expect(sink.stats).to.include({ failed: true, bytesWritten: 0, bytesDropped: 8, chunksDropped: 1, pendingBytes: 0 });
      expect(clock.pending()).to.equal(0);
    });
  });
});

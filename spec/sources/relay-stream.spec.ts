/** RelayConsoleStream with an in-memory far end: backpressure both ways, the close reason, the ledger (C2). */
import { expect } from 'chai';
import { IpmiError, isIpmiError } from '../../lib/errors.js';
import { DEFAULT_RELAY_HWM, RelayConsoleStream, type RelayFarEnd } from '../../lib/sources/relay-stream.js';

class FakeFar implements RelayFarEnd {
  readonly written: Buffer[] = [];
  readonly pending: Array<() => void> = [];
  paused = false;
  pauses = 0;
  releases = 0;
  /** complete writes at once (else they wait in `pending`) */
  auto = false;

  write(chunk: Buffer, done: (error?: Error | null) => void): void {
    const complete = (): void => {
      this.written.push(chunk);
      done();
    };
    if (this.auto) complete();
    else this.pending.push(complete);
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
  async release(): Promise<void> {
    this.releases++;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('RelayConsoleStream', () => {
  it('pauses the far end once the readable side holds its high-water mark, and resumes it when read', async () => {
    const far = new FakeFar();
    const stream = new RelayConsoleStream({ label: 'spec', highWaterMark: 1024 });
    stream.attach(far);
    stream.receive(Buffer.alloc(512));
    expect(far.paused).to.equal(false);
    stream.receive(Buffer.alloc(512));
    expect(far.paused).to.equal(true);
    expect(stream.read()).to.have.length(1024);
    await nextTurn();
    expect(far.paused).to.equal(false);
    expect(new RelayConsoleStream({ label: 'default' }).readableHighWaterMark).to.equal(DEFAULT_RELAY_HWM);
  });

  it('write callbacks run when the far end took the bytes; write() says false beyond the high-water mark', async () => {
    const far = new FakeFar();
    const stream = new RelayConsoleStream({ label: 'spec', highWaterMark: 8 });
    stream.attach(far);
    let done = 0;
    expect(stream.write(Buffer.from('abcd'), () => done++)).to.equal(true);
    expect(stream.write(Buffer.from('efghij'), () => done++)).to.equal(false);
    expect(done).to.equal(0);
    far.pending.shift()!();
    await nextTurn();
    expect(done).to.equal(1);
    far.pending.shift()!();
    await nextTurn();
    expect(done).to.equal(2);
    expect(Buffer.concat(far.written).toString()).to.equal('abcdefghij');
    expect(stream.takeUnacknowledged().length).to.equal(0);
  });

  it('on loss: close carries the reason, and takeUnacknowledged() returns what the far end never took, in order, once', async () => {
    const far = new FakeFar();
    const stream = new RelayConsoleStream({ label: 'spec' });
    stream.attach(far);
    const errors: Array<Error | null | undefined> = [];
    stream.write('one', (e) => errors.push(e));
    stream.write('two', (e) => errors.push(e));
    stream.write('three', (e) => errors.push(e));
    const closed = new Promise<unknown>((resolve) => stream.once('close', resolve));
    const reason = new IpmiError('IPMI_ERR_SESSION_CLOSED', 'gone');
    stream.lost(reason);
    expect(await closed).to.equal(reason);
    expect(stream.takeUnacknowledged().toString()).to.equal('onetwothree');
    expect(stream.takeUnacknowledged().length).to.equal(0);
    await nextTurn();
    expect(errors).to.have.length(3);
    expect(errors.every((e) => e instanceof Error)).to.equal(true);
    expect(far.releases).to.equal(1);
  });

  it("'error' only reaches a listener: a stream nobody listens to for errors does not crash the process", async () => {
    const stream = new RelayConsoleStream({ label: 'spec' });
    stream.attach(new FakeFar());
    const closed = new Promise<unknown>((resolve) => stream.once('close', resolve));
    stream.lost(new IpmiError('IPMI_ERR_TIMEOUT', 'keepalive'));
    expect(isIpmiError(await closed, 'IPMI_ERR_TIMEOUT')).to.equal(true);
  });

  it('deactivate() releases the far end once, ends with no reason, and is idempotent', async () => {
    const far = new FakeFar();
    far.auto = true;
    const stream = new RelayConsoleStream({ label: 'spec' });
    stream.attach(far);
    const closed = new Promise<unknown>((resolve) => stream.once('close', resolve));
    await Promise.all([stream.deactivate(), stream.deactivate()]);
    expect(await closed).to.equal(undefined);
    expect(far.releases).to.equal(1);
  });
});

/**
 * No keystroke lost when a console dies: what the lost console never acknowledged is written to the next one.
 */
import { expect } from 'chai';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import type { ConsoleSource, ConsoleStream } from '../../lib/bridge/console-source.js';
import { IpmiError } from '../../lib/errors.js';

/** A console whose far end acknowledges only when told to (like a BMC that stopped answering). */
class ManualConsole extends Duplex implements ConsoleStream {
  received = Buffer.alloc(0);
  private ackedCount = 0;
  constructor(
    private readonly reportsAcks: boolean,
    private readonly autoAck: boolean,
  ) {
    super({ emitClose: true });
  }
  get acknowledgedBytes(): number | undefined {
    return this.reportsAcks ? this.ackedCount : undefined;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.autoAck) {
      this.ackedCount += chunk.length;
      cb();
    } // else the callback never runs: nothing is acknowledged
  }
  override _read(): void {}
  ack(n: number): void {
    this.ackedCount += n;
  }
  lose(): void {
    this.destroy(new IpmiError('IPMI_ERR_SOL_TIMEOUT', 'the BMC stopped acknowledging'));
  }
  deactivate(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }
}

class ManualSource implements ConsoleSource {
  readonly consoles: ManualConsole[] = [];
  constructor(private readonly reportsAcks: boolean) {}
  async open(): Promise<ConsoleStream> {
    const c = new ManualConsole(this.reportsAcks, this.consoles.length > 0); // only the first one stalls
    this.consoles.push(c);
    return c;
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('bridge: replaying what a lost console never acknowledged', () => {
  for (const reportsAcks of [true, false]) {
    it(`the next console gets the unacknowledged bytes first, then new ones (${reportsAcks ? 'exact, by acknowledgedBytes' : 'by write callbacks'})`, async () => {
      const source = new ManualSource(reportsAcks);
      const bridge = new ConsoleBridge({ source, host: '127.0.0.1', reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
      bridge.on('error', () => undefined);
      const port = await bridge.listen();
      const client = net.connect(port, '127.0.0.1');
      await new Promise((r) => client.once('connect', r));
      await until(() => source.consoles.length === 1);
      client.write('abcdef');
      await until(() => source.consoles[0]!.received.length === 6);
      source.consoles[0]!.ack(2); // the BMC took "ab" (a partial ACK), then went away
      source.consoles[0]!.lose();
      await until(() => source.consoles.length === 2);
      client.write('gh');
      await until(() => source.consoles[1]!.received.toString().endsWith('gh'));
      expect(source.consoles[1]!.received.toString()).to.equal(reportsAcks ? 'cdefgh' : 'abcdefgh');
      expect(bridge.metrics.replayedBytes).to.equal(reportsAcks ? 4 : 6);
      expect(client.destroyed).to.equal(false); // the client never noticed
      client.destroy();
      await bridge.close();
    });
  }

  it('a console released because the client left replays nothing to the next client', async () => {
    const source = new ManualSource(true);
    const bridge = new ConsoleBridge({ source, host: '127.0.0.1', inUseGraceMs: 0 });
    const port = await bridge.listen();
    const first = net.connect(port, '127.0.0.1');
    await new Promise((r) => first.once('connect', r));
    await until(() => source.consoles.length === 1);
    first.write('secret-of-the-first-client');
    await until(() => source.consoles[0]!.received.length > 0);
    first.destroy();
    const second = net.connect(port, '127.0.0.1');
    await new Promise((r) => second.once('connect', r));
    await until(() => source.consoles.length === 2);
    second.write('x');
    await until(() => source.consoles[1]!.received.length > 0);
    expect(source.consoles[1]!.received.toString()).to.equal('x');
    second.destroy();
    await bridge.close();
  });
});

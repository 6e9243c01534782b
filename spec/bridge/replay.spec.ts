/**
 * No keystroke lost when a console dies: what the lost console never acknowledged (its own ledger,
 * ConsoleStream.takeUnacknowledged) is written to the next one first; the bridge keeps no copy.
 */
import { expect } from 'chai';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import type { ConsoleSource, ConsoleStream } from '../../lib/bridge/console-source.js';
import { IpmiError } from '../../lib/errors.js';
import { waitUntil } from './tcp-client.js';

/** A console whose far end acknowledges only when told to (like a BMC that stopped answering). */
class ManualConsole extends Duplex implements ConsoleStream {
  received = Buffer.alloc(0);
  #acked = 0;
  takes = 0;
  constructor(private readonly autoAck: boolean) {
    super({ emitClose: true });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.autoAck) {
      this.#acked = this.received.length;
      cb();
    } // else the callback never runs: nothing is acknowledged
  }
  override _read(): void {}
  ack(n: number): void {
    this.#acked += n;
  }
  takeUnacknowledged(): Buffer {
    this.takes++;
    const tail = this.received.subarray(this.#acked);
    this.#acked = this.received.length;
    return Buffer.from(tail);
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
  async open(): Promise<ConsoleStream> {
    const c = new ManualConsole(this.consoles.length > 0); // only the first one stalls
    this.consoles.push(c);
    return c;
  }
}

async function connected(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

describe('bridge: replaying what a lost console never acknowledged', () => {
  it('the next console gets exactly the unacknowledged bytes first, then new ones', async () => {
    const source = new ManualSource();
    const bridge = new ConsoleBridge({ source, host: '127.0.0.1', reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    bridge.on('error', () => undefined);
    const client = await connected(await bridge.listen());
    await waitUntil(() => source.consoles.length === 1, 'the first console');
    client.write('abcdef');
    await waitUntil(() => source.consoles[0]!.received.length === 6, 'the first console to get 6 bytes');
    source.consoles[0]!.ack(2); // the BMC took "ab" (a partial ACK), then went away
    source.consoles[0]!.lose();
    await waitUntil(() => source.consoles.length === 2, 'the second console');
    client.write('gh');
    await waitUntil(() => source.consoles[1]!.received.toString().endsWith('gh'), 'gh on the second console');
    expect(source.consoles[1]!.received.toString()).to.equal('cdefgh');
    expect(bridge.metrics.replayedBytes).to.equal(4);
    expect(source.consoles[0]!.takes).to.equal(1);
    expect(client.destroyed).to.equal(false); // the client never noticed
    client.destroy();
    await bridge.close();
  });

  it('a console released because the client left replays nothing to the next client', async () => {
    const source = new ManualSource();
    const bridge = new ConsoleBridge({ source, host: '127.0.0.1', inUseGraceMs: 0 });
    const port = await bridge.listen();
    const first = await connected(port);
    await waitUntil(() => source.consoles.length === 1, 'the first console');
    first.write('secret-of-the-first-client');
    await waitUntil(() => source.consoles[0]!.received.length > 0, 'the first console to get bytes');
    first.destroy();
    const second = await connected(port);
    await waitUntil(() => source.consoles.length === 2, 'the second console');
    second.write('x');
    await waitUntil(() => source.consoles[1]!.received.length > 0, 'the second console to get bytes');
    expect(source.consoles[1]!.received.toString()).to.equal('x');
    expect(source.consoles[0]!.takes).to.equal(0);
    second.destroy();
    await bridge.close();
  });
});

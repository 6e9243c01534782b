import { expect } from 'chai';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConsoleBridge, DEFAULT_IN_USE_MESSAGE, type ConsoleBridgeOptions } from '../../lib/bridge/console-bridge.js';
import { SPECTATOR_NOTICE, TAKEN_OVER_NOTICE } from '../../lib/console/viewers.js';
import { IpmiError, isIpmiError } from '../../lib/errors.js';
import { FakeConsoleSource, type FakeConsoleStream } from './fake-console-source.js';
import { TestClient, waitUntil } from './tcp-client.js';

const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 100, factor: 2, jitter: 0 };

describe('bridge/console-capture', function () {
  const bridges: ConsoleBridge[] = [];
  const clients: TestClient[] = [];
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-capture-'));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await Promise.all(bridges.splice(0).map((b) => b.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function start(options: Partial<ConsoleBridgeOptions> = {}): Promise<{ bridge: ConsoleBridge; source: FakeConsoleSource; stream: FakeConsoleStream }> {
    const source = new FakeConsoleSource({ mode: 'sink' });
    const opened = source.nextOpen();
    const bridge = new ConsoleBridge({ source, host: '127.0.0.1', capture: true, reconnect: FAST_RECONNECT, inUseGraceMs: 50, lingerMs: 200, ...options });
    bridges.push(bridge);
    await bridge.listen();
    return { bridge, source, stream: await opened };
  }

  async function connect(bridge: ConsoleBridge): Promise<TestClient> {
    const client = await TestClient.connect(bridge.port);
    clients.push(client);
    return client;
  }

  it('keeps the console open with no client and records what it prints; replay gives it to the next client', async () => {
    const { bridge, stream } = await start({ replay: { lines: 2 } });
    await waitUntil(() => bridge.state === 'active', 'the console to be active with no client');
    stream.print('BIOS\r\nGRUB\r\nLinux version 6.1\r\n');
    stream.print('login: ');
    await waitUntil(() => bridge.metrics.capture!.recordedBytes === 38, 'the output to be recorded');
    expect(bridge.consoleLog({ lines: 1 })!.text).to.equal('login: ');
    expect(bridge.metrics.bytesDiscarded).to.equal(0);
    const client = await connect(bridge);
    await client.waitForText('login: ');
    stream.print('x');
    await client.waitForText('login: x');
    expect(client.text()).to.equal('Linux version 6.1\r\nlogin: x');
    await client.write('root\r');
    await waitUntil(() => stream.receivedData.toString() === 'root\r', 'the keystrokes to reach the console');
  });

  it('replay is off by default: a client sees only what is printed after it connects (what Nova sees today)', async () => {
    const { bridge, stream } = await start();
    stream.print('before\r\n');
    await waitUntil(() => bridge.metrics.capture!.recordedBytes === 8, 'the output to be recorded');
    const client = await connect(bridge);
    await waitUntil(() => bridge.metrics.clientConnected, 'the client to be seated');
    stream.print('after');
    await client.waitForText('after');
    expect(client.text()).to.equal('after');
  });

  it('spectate: a second client watches, its keystrokes discarded with one notice; the writer types', async () => {
    const { bridge, stream } = await start({ viewers: { max: 2, onExtra: 'spectate' } });
    const writer = await connect(bridge);
    await waitUntil(() => bridge.metrics.clientConnected, 'the writer to be seated');
    const spectator = await connect(bridge);
    await waitUntil(() => bridge.metrics.capture!.spectators === 1, 'the spectator');
    await spectator.write('reboot\r');
    await spectator.waitForText(SPECTATOR_NOTICE);
    await writer.write('ls\r');
    await waitUntil(() => stream.receivedData.toString() === 'ls\r', 'the writer\'s keystrokes');
    stream.print('a b c\r\n');
    await writer.waitForText('a b c\r\n');
    await spectator.waitForText('a b c\r\n');
    expect(spectator.text()).to.equal(SPECTATOR_NOTICE + 'a b c\r\n');
    const third = await connect(bridge);
    await third.waitForText(DEFAULT_IN_USE_MESSAGE);
    await third.waitClosed();
    expect(bridge.metrics.capture).to.include({ viewers: 2, keystrokesDiscarded: 7 });
  });

  it('takeover: the new client becomes the writer; the old one is told in one line and closed', async () => {
    const { bridge, stream } = await start({ viewers: { max: 1, onExtra: 'takeover' } });
    const first = await connect(bridge);
    await waitUntil(() => bridge.metrics.clientConnected, 'the first client');
    const second = await connect(bridge);
    await first.waitForText(TAKEN_OVER_NOTICE);
    await first.waitClosed();
    await second.write('y');
    await waitUntil(() => stream.receivedData.toString() === 'y', 'the new writer\'s keystrokes');
    expect(bridge.metrics.capture).to.include({ viewers: 1 });
  });

  it('a writer that stops reading is dropped at its queue bound (too-slow); the console and the record go on', async () => {
    const { bridge, stream } = await start({ viewerQueueBytes: 64 * 1024 });
    const reasons: string[] = [];
    bridge.on('client-disconnected', (c) => reasons.push(c.reason));
    const writer = await connect(bridge);
    await waitUntil(() => bridge.metrics.clientConnected, 'the writer');
    writer.socket.pause(); // never reads again: the kernel's buffers fill, then its queue
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let printed = 0;
    while (reasons.length === 0 && printed < 64 * 1024 * 1024) {
      stream.print(chunk);
      printed += chunk.length;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(reasons).to.deep.equal(['too-slow']);
    expect(bridge.metrics.capture).to.include({ viewersDropped: 1, viewers: 0 });
    await waitUntil(() => bridge.metrics.capture!.recordedBytes === printed, 'everything recorded');
    expect(bridge.state).to.equal('active');
  });

  it('a BMC loss continues the same record with a marked gap; the client stays connected', async () => {
    const { bridge, source, stream } = await start({ wallTime: () => Date.UTC(2026, 11, 3) });
    const client = await connect(bridge);
    stream.print('before');
    await client.waitForText('before');
    const next = source.nextOpen();
    stream.fail(new IpmiError('IPMI_ERR_TIMEOUT', 'BMC gone', { fatal: true }));
    const again = await next;
    again.print('after\r\n');
    await client.waitForText('beforeafter\r\n');
    expect(bridge.consoleLog()!.text).to.match(
      /^before\r\n\[ipmi-sol-bridge: BMC lost \(IPMI_ERR_TIMEOUT\) at 2026-12-03T00:00:00\.000Z\]\r\n\[ipmi-sol-bridge: BMC back \(gap \d+\.\d s\) at 2026-12-03T00:00:00\.000Z\]\r\nafter\r\n$/,
    );
    expect(client.text(), 'the client gets the node\'s bytes only').to.equal('beforeafter\r\n');
    expect(bridge.metrics.capture!.gaps).to.equal(1);
    expect(client.isClosed).to.equal(false);
  });

  it('writes the console log byte-exact and audit lines beside it; an unwritable log directory fails listen()', async () => {
    const { bridge, stream } = await start({ logDir: dir, logName: 'node-7' });
    const client = await connect(bridge);
    const out = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    stream.print(out);
    await client.waitForBytes(out.length);
    client.destroy();
    await waitUntil(() => !bridge.metrics.clientConnected, 'the client to leave');
    await bridge.close();
    expect((await readFile(path.join(dir, 'node-7.log'))).equals(out)).to.equal(true);
    const audit = await readFile(path.join(dir, 'node-7.audit.log'), 'utf8');
    expect(audit).to.match(/ attach \(writer 127\.0\.0\.1:\d+\)\n.* detach \(writer 127\.0\.0\.1:\d+, left\)\n$/);

    const file = path.join(dir, 'a-file');
    await writeFile(file, '');
    const bad = new ConsoleBridge({ source: new FakeConsoleSource(), host: '127.0.0.1', capture: true, logDir: path.join(file, 'logs') });
    bridges.push(bad);
    const error = await bad.listen().catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_LOG')).to.equal(true);
    expect(bad.listening).to.equal(false);
  });

  it('replay, logDir and viewers other than the default need capture: IPMI_ERR_BAD_ARGUMENT at construction', () => {
    const source = new FakeConsoleSource();
    for (const extra of [{ replay: { bytes: 10 } }, { logDir: dir }, { viewers: { max: 2 } }, { capture: true, viewers: { max: 0 } }]) {
      expect(() => new ConsoleBridge({ source, host: '127.0.0.1', ...extra }), JSON.stringify(extra))
        .to.throw()
        .that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
    }
  });
});

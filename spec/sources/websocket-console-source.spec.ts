/**
 * WebSocketConsoleSource against websockify (a real peer: a TCP serial line behind it) and against a small
 * real HTTP + WebSocket server that wants a Redfish session as bmcweb does (fixtures/ws-bmc).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import { isIpmiError, type IpmiError } from '../../lib/errors.js';
import { WebSocketConsoleSource, WEBSOCKET_RELEASE_TIMEOUT_MS } from '../../lib/sources/websocket-console-source.js';
import {
  MAX_HTTP_BODY_BYTES,
  MAX_WEBSOCKET_MESSAGE_BYTES,
  type WebSocketConsoleOptions,
} from '../../lib/sources/websocket-options.js';
import { ManualClock } from '../../lib/clock.js';
import type { RelayConsoleStream } from '../../lib/sources/relay-stream.js';
import { startBmcwebLike, type BmcwebLike } from '../../fixtures/ws-bmc/bmcweb-like.js';
import { freeTcpPort, requirePeer } from '../helpers/peers.js';
import { bulkPattern, Collector, connectTcp, SOURCE_WAIT_MS } from './helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CERT = readFileSync(join(HERE, '../../fixtures/tls/localhost.crt'));
const KEY = readFileSync(join(HERE, '../../fixtures/tls/localhost.key'));
const BULK_BYTES = 200 * 1024;
const BULK = bulkPattern(BULK_BYTES);
const USER = 'root';
const PASSWORD = '0penBmc';

const opened: RelayConsoleStream[] = [];

async function open(options: WebSocketConsoleOptions): Promise<{ stream: RelayConsoleStream; out: Collector }> {
  const stream = await new WebSocketConsoleSource(options).open(new AbortController().signal);
  opened.push(stream);
  return { stream, out: new Collector(stream) };
}

async function openError(options: WebSocketConsoleOptions): Promise<IpmiError> {
  try {
    opened.push(await new WebSocketConsoleSource(options).open(new AbortController().signal));
  } catch (error) {
    if (isIpmiError(error)) return error;
    throw error;
  }
  throw new Error('open() resolved; expected a rejection');
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.deactivate()));
});

/** A host's serial line on TCP: a banner, echo, and `bulk\r` answered with the bulk pattern. */
function serialLine(): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write('ttyS0 ready\r\n');
    let line = '';
    socket.on('data', (data: Buffer) => {
      socket.write(data);
      line = (line + data.toString('latin1')).slice(-16);
      if (line.endsWith('bulk\r')) socket.write(BULK);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** websockify in front of 127.0.0.1:target; resolves once it accepts connections. */
async function startWebsockify(target: number, extra: string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const port = await freeTcpPort();
  const child = spawn('websockify', [...extra, `127.0.0.1:${port}`, `127.0.0.1:${target}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  const deadline = Date.now() + SOURCE_WAIT_MS;
  for (;;) {
    try {
      (await connectTcp(port)).destroy();
      return { port, child };
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20)); // poll until it listens (bounded by the deadline)
    }
  }
}

describe('WebSocketConsoleSource against websockify serving a TCP serial line', function () {
  let tcp: net.Server;
  let plain: { port: number; child: ChildProcess };
  let secure: { port: number; child: ChildProcess };

  before(async function () {
    requirePeer(this, 'websockify');
    tcp = await serialLine();
    const target = (tcp.address() as net.AddressInfo).port;
    plain = await startWebsockify(target);
    secure = await startWebsockify(target, ['--ssl-only', `--cert=${join(HERE, '../../fixtures/tls/localhost.crt')}`, `--key=${join(HERE, '../../fixtures/tls/localhost.key')}`]);
  });

  after(async () => {
    plain?.child.kill();
    secure?.child.kill();
    await new Promise((resolve) => (tcp ? tcp.close(resolve) : resolve(undefined)));
  });

  for (const protocols of [[], ['binary']]) {
    it(`echoes typing byte for byte in binary frames (subprotocol: ${protocols[0] ?? 'none'})`, async () => {
      const { stream, out } = await open({ url: `ws://127.0.0.1:${plain.port}/`, protocols });
      await out.waitForText('ttyS0 ready\r\n');
      const typed = Buffer.from([0x00, 0x0d, 0x0a, 0x7f, 0xff, 0x1b, 0x5b, 0x41, 0x80]);
      stream.write(typed);
      await out.waitForBytes('ttyS0 ready\r\n'.length + typed.length);
      expect(out.data().subarray('ttyS0 ready\r\n'.length)).to.deep.equal(typed);
    });
  }

  it('relays 200 kB of console output byte-exact', async () => {
    const { stream, out } = await open({ url: `ws://127.0.0.1:${plain.port}/` });
    stream.write('bulk\r');
    const head = 'ttyS0 ready\r\nbulk\r';
    await out.waitForBytes(head.length + BULK_BYTES);
    expect(out.data().subarray(0, head.length).toString('latin1')).to.equal(head);
    expect(out.data().subarray(head.length).equals(BULK)).to.equal(true);
  });

  it('wss: trusted through a CA, refused without one, accepted by a pinned fingerprint, refused by another', async () => {
    const url = `wss://127.0.0.1:${secure.port}/`;
    const { out } = await open({ url, tls: { ca: CERT } });
    await out.waitForText('ttyS0 ready');
    const untrusted = await openError({ url });
    expect(untrusted.code).to.equal('IPMI_ERR_AUTH');
    expect(untrusted.message).to.match(/certificate is not trusted/);
    // the pin as `openssl x509 -fingerprint -sha256` prints it
    const pin = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', join(HERE, '../../fixtures/tls/localhost.crt')], { encoding: 'utf8' });
    const pinned = await open({ url, tls: { fingerprint256: pin.trim() } });
    await pinned.out.waitForText('ttyS0 ready');
    const wrongPin = await openError({ url, tls: { fingerprint256: '00'.repeat(32) } });
    expect(wrongPin.code).to.equal('IPMI_ERR_AUTH');
    expect(wrongPin.message).to.match(/not the pinned one/);
  });
});

describe('WebSocketConsoleSource against a bmcweb-like server (Redfish session, /console0)', function () {
  let bmc: BmcwebLike;

  beforeEach(async () => {
    bmc = await startBmcwebLike({ username: USER, password: PASSWORD, bulk: BULK });
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.deactivate()));
    await bmc.close();
  });

  const session = { kind: 'session', username: USER, password: PASSWORD } as const;

  it('logs in (POST Sessions), connects with X-Auth-Token, relays bytes, and logs out on release', async () => {
    const { stream, out } = await open({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: session });
    await out.waitForText('obmc-console ready\r\n');
    expect(bmc.sessionCount()).to.equal(1);
    stream.write('bulk\r');
    await out.waitForBytes('obmc-console ready\r\nbulk\r'.length + BULK_BYTES);
    expect(out.data().subarray(-BULK_BYTES).equals(BULK)).to.equal(true);
    await stream.deactivate();
    opened.splice(0);
    expect(bmc.sessionCount()).to.equal(0);
    expect(bmc.requests[0]).to.equal('POST /redfish/v1/SessionService/Sessions');
    expect(bmc.requests.at(-1)).to.match(/^DELETE \/redfish\/v1\/SessionService\/Sessions\//);
  });

  it('finds the console in the ComputerSystem (SerialConsole.WebSocket.ConsoleURI)', async () => {
    const { out } = await open({ redfish: { url: bmc.origin }, auth: session });
    await out.waitForText('obmc-console ready');
    expect(bmc.requests.slice(0, 3)).to.deep.equal([
      'POST /redfish/v1/SessionService/Sessions',
      'GET /redfish/v1/Systems/system',
      'UPGRADE /console0',
    ]);
  });

  it('the session token as the SESSION cookie, and basic auth, work too', async () => {
    const cookie = await open({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: { ...session, sendAs: 'cookie' } });
    await cookie.out.waitForText('obmc-console ready');
    const basic = await open({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: { kind: 'basic', username: USER, password: PASSWORD } });
    await basic.out.waitForText('obmc-console ready');
  });

  it('a wrong password is IPMI_ERR_AUTH at login; no credentials at all is IPMI_ERR_AUTH at the upgrade', async () => {
    const wrong = await openError({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: { ...session, password: 'nope' } });
    expect(wrong.code).to.equal('IPMI_ERR_AUTH');
    expect(wrong.message).to.match(/Redfish login refused with HTTP 401/);
    expect(wrong.message).not.to.include('nope');
    const none = await openError({ url: `ws://127.0.0.1:${bmc.port}/console0` });
    expect(none.code).to.equal('IPMI_ERR_AUTH');
    expect(none.message).to.match(/WebSocket upgrade refused with HTTP 401/);
  });

  it('a system whose WebSocket console is disabled is IPMI_ERR_SOL_DISABLED', async () => {
    await bmc.close();
    bmc = await startBmcwebLike({ username: USER, password: PASSWORD, serviceEnabled: false });
    const error = await openError({ redfish: { url: bmc.origin }, auth: session });
    expect(error.code).to.equal('IPMI_ERR_SOL_DISABLED');
    expect(bmc.sessionCount()).to.equal(0); // logged out again
  });

  it('over HTTPS: an untrusted certificate is refused before the password is sent', async () => {
    await bmc.close();
    bmc = await startBmcwebLike({ username: USER, password: PASSWORD, tls: { cert: CERT, key: KEY } });
    const error = await openError({ redfish: { url: bmc.origin }, auth: session });
    expect(error.code).to.equal('IPMI_ERR_AUTH');
    expect(bmc.requests).to.deep.equal([]);
    const { out } = await open({ redfish: { url: bmc.origin }, auth: session, tls: { ca: CERT } });
    await out.waitForText('obmc-console ready');
  });

  it('the WebSocket closing ends the stream (IPMI_ERR_SESSION_CLOSED) and a ConsoleBridge reconnects', async () => {
    const bridge = new ConsoleBridge({
      source: new WebSocketConsoleSource({ redfish: { url: bmc.origin }, auth: session }),
      host: '127.0.0.1',
      reconnect: { initialDelayMs: 20, maxDelayMs: 100, factor: 2, jitter: 0 },
    });
    const errors: unknown[] = [];
    bridge.on('error', (error: unknown) => errors.push(error));
    const client = await connectTcp(await bridge.listen());
    const seen = new Collector(client);
    try {
      await seen.waitForCount('obmc-console ready', 1);
      bmc.dropConsoles();
      await seen.waitForCount('obmc-console ready', 2);
      expect(errors.some((e) => isIpmiError(e, 'IPMI_ERR_SESSION_CLOSED'))).to.equal(true);
      client.write('after\r');
      await seen.waitForText('after\r');
    } finally {
      client.destroy();
      await bridge.close();
    }
    expect(bmc.sessionCount()).to.equal(0);
  });

  it(`a message over MAX_WEBSOCKET_MESSAGE_BYTES (${MAX_WEBSOCKET_MESSAGE_BYTES}) ends the console`, async () => {
    await bmc.close();
    bmc = await startBmcwebLike({ username: USER, password: PASSWORD, huge: Buffer.alloc(MAX_WEBSOCKET_MESSAGE_BYTES + 1) });
    const { stream, out } = await open({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: session });
    await out.waitForText('obmc-console ready');
    const reason = new Promise<unknown>((resolve) => stream.once('close', resolve));
    stream.write('huge\r');
    const error = (await reason) as IpmiError;
    expect(error.code).to.equal('IPMI_ERR_SESSION_CLOSED');
    expect(error.message).to.match(/Max payload size exceeded/);
  });

  it(`release: a server that never answers the close frame is cut off after WEBSOCKET_RELEASE_TIMEOUT_MS`, async () => {
    const clock = new ManualClock();
    const stream = await new WebSocketConsoleSource({ url: `ws://127.0.0.1:${bmc.port}/console0`, auth: session }, clock).open(
      new AbortController().signal,
    );
    await new Collector(stream).waitForText('obmc-console ready');
    bmc.freezeConsoles();
    let released = false;
    const done = stream.deactivate().then(() => (released = true));
    expect(clock.nextDeadline()).to.equal(clock.now() + WEBSOCKET_RELEASE_TIMEOUT_MS);
    clock.advance(WEBSOCKET_RELEASE_TIMEOUT_MS - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).to.equal(false);
    clock.advance(1);
    await done;
    expect(bmc.sessionCount()).to.equal(0); // logged out after the cut
  });

  it(`an HTTP body over MAX_HTTP_BODY_BYTES (${MAX_HTTP_BODY_BYTES}) is IPMI_ERR_PROTOCOL`, async () => {
    await bmc.close();
    bmc = await startBmcwebLike({ username: USER, password: PASSWORD, systemPaddingBytes: MAX_HTTP_BODY_BYTES });
    const error = await openError({ redfish: { url: bmc.origin }, auth: session });
    expect(error.code).to.equal('IPMI_ERR_PROTOCOL');
    expect(error.message).to.match(/larger than/);
  });
});

describe('WebSocketConsoleSource handshake timeout', () => {
  it('a server that accepts and never answers is IPMI_ERR_TIMEOUT (inferred) after handshakeTimeoutMs (injected clock)', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      silent.emit('accepted');
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const clock = new ManualClock();
    try {
      const accepted = new Promise((resolve) => silent.once('accepted', resolve));
      const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}/console0`;
      const pending = new WebSocketConsoleSource({ url, handshakeTimeoutMs: 60_000 }, clock)
        .open(new AbortController().signal)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await accepted;
      clock.advance(60_000);
      const error = (await pending) as IpmiError;
      expect(error.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(error.inferred).to.equal(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

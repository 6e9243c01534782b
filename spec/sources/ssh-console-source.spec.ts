/**
 * SshConsoleSource against a real OpenSSH server (/usr/sbin/sshd on a loopback port, its own config and keys,
 * a ForceCommand that plays a serial line: fixtures/sshd).
 */
import net from 'node:net';
import { expect } from 'chai';
import { ConsoleBridge, type ReconnectEvent } from '../../lib/bridge/console-bridge.js';
import { isIpmiError, type IpmiError } from '../../lib/errors.js';
import { SshConsoleSource } from '../../lib/sources/ssh-console-source.js';
import { SSH_RELEASE_TIMEOUT_MS, type SshConsoleOptions } from '../../lib/sources/ssh-options.js';
import { ManualClock } from '../../lib/clock.js';
import type { RelayConsoleStream } from '../../lib/sources/relay-stream.js';
import { startSshd, type SshdFixture } from '../../fixtures/sshd/sshd.js';
import { freeTcpPort, requirePeer } from '../helpers/peers.js';
import { bulkPattern, Collector, connectTcp } from './helpers.js';

const BULK_BYTES = 200 * 1024;
const PIN = `SHA256:${'A'.repeat(43)}`;
const BULK = bulkPattern(BULK_BYTES);

describe('SshConsoleSource against OpenSSH sshd', function () {
  this.timeout(90_000); // real handshakes in pure-JS crypto on a shared 2-core machine
  let sshd: SshdFixture;
  const streams: RelayConsoleStream[] = [];

  before(async function () {
    requirePeer(this, 'sshd');
    sshd = await startSshd(await freeTcpPort(), { bulk: BULK });
  });

  after(async () => {
    await sshd?.stop();
  });

  afterEach(async () => {
    await Promise.all(streams.splice(0).map((s) => s.deactivate()));
  });

  function options(extra: Partial<SshConsoleOptions> = {}): SshConsoleOptions {
    return {
      host: '127.0.0.1',
      port: sshd.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostKey: { knownHostsFile: sshd.knownHostsFile },
      ...extra,
    };
  }

  async function open(extra: Partial<SshConsoleOptions> = {}): Promise<{ stream: RelayConsoleStream; out: Collector }> {
    const stream = await new SshConsoleSource(options(extra)).open(new AbortController().signal);
    streams.push(stream);
    return { stream, out: new Collector(stream) };
  }

  async function openError(extra: Partial<SshConsoleOptions>): Promise<IpmiError> {
    try {
      const stream = await new SshConsoleSource(options(extra)).open(new AbortController().signal);
      streams.push(stream);
    } catch (error) {
      if (isIpmiError(error)) return error;
      throw error;
    }
    throw new Error('open() resolved; expected a rejection');
  }

  it('runs the vendor command and echoes what is typed, byte for byte (no pty: no CR/LF mapping)', async () => {
    const { stream, out } = await open({ vendor: 'dell' });
    await out.waitForText('com2 ready\r\n');
    const typed = Buffer.from('root\rls -l\n\x00\x7f\xff\x1b[A');
    stream.write(typed);
    await out.waitForBytes('com2 ready\r\n'.length + typed.length);
    expect(out.data().subarray('com2 ready\r\n'.length)).to.deep.equal(typed);
  });

  it('without a command the login is the console (ForceCommand, as OpenBMC port 2200)', async () => {
    const { out } = await open();
    await out.waitForText('serial0 ready\r\n');
  });

  it('relays 200 kB of console output byte-exact', async () => {
    const { out } = await open({ command: 'bulk' });
    await out.waitForBytes(BULK_BYTES);
    expect(out.data().equals(BULK)).to.equal(true);
  });

  it('authenticates with a password', async () => {
    const { out } = await open({ privateKey: undefined, password: sshd.password, vendor: 'dell' });
    await out.waitForText('com2 ready');
  });

  it('a wrong password is IPMI_ERR_AUTH with a clear message', async () => {
    const error = await openError({ privateKey: undefined, password: 'not-the-password' });
    expect(error.code).to.equal('IPMI_ERR_AUTH');
    expect(error.message).to.match(/authentication refused \(wrong password or key\)/);
    expect(error.message).not.to.include('not-the-password');
  });

  it('an unknown host key is refused (empty known_hosts), naming its fingerprint', async () => {
    const error = await openError({ hostKey: { knownHostsFile: `${sshd.dir}/absent_known_hosts` } });
    expect(error.code).to.equal('IPMI_ERR_AUTH');
    expect(error.message).to.include(sshd.fingerprint).and.to.match(/is unknown; refused/);
  });

  it('a host key other than the one in known_hosts is refused', async () => {
    const error = await openError({ hostKey: { knownHostsFile: sshd.wrongKnownHostsFile } });
    expect(error.code).to.equal('IPMI_ERR_AUTH');
    expect(error.message).to.match(/does not match/);
  });

  it('a pinned SHA256 fingerprint (as ssh-keygen -lf prints it) is accepted; another one refused', async () => {
    const { out } = await open({ vendor: 'dell', hostKey: { fingerprint: sshd.fingerprint } });
    await out.waitForText('com2 ready');
    const other = `SHA256:${'A'.repeat(43)}`;
    const error = await openError({ hostKey: { fingerprint: other } });
    expect(error.code).to.equal('IPMI_ERR_AUTH');
  });

  it('a raw pty keeps bytes untouched as well (pty: true)', async () => {
    const { stream, out } = await open({ vendor: 'dell', pty: true });
    await out.waitForText('com2 ready\r\n');
    stream.write('abc\rdef\n');
    await out.waitForText('abc\rdef\n');
  });

  it('a closed connection ends the stream with IPMI_ERR_SESSION_CLOSED; typed bytes not sent are handed back', async () => {
    const { stream, out } = await open({ vendor: 'dell' });
    await out.waitForText('com2 ready');
    const reason = new Promise<unknown>((resolve) => stream.once('close', resolve));
    await sshd.kill();
    try {
      expect(await reason).to.satisfy((r: unknown) => isIpmiError(r, 'IPMI_ERR_SESSION_CLOSED'));
      expect(stream.write('late')).to.equal(false);
      expect(stream.takeUnacknowledged().length).to.be.at.most('late'.length);
      expect(stream.takeUnacknowledged().length).to.equal(0); // taking empties the ledger
    } finally {
      await sshd.restart();
    }
  });

  it('keepalive: a server that stops answering ends the stream with IPMI_ERR_TIMEOUT (inferred)', async () => {
    const { stream, out } = await open({ vendor: 'dell', keepaliveIntervalMs: 100, keepaliveCountMax: 2 });
    await out.waitForText('com2 ready');
    const reason = new Promise<unknown>((resolve) => stream.once('close', resolve));
    sshd.freezeSessions();
    try {
      const error = (await reason) as IpmiError;
      expect(error.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(error.inferred).to.equal(true);
    } finally {
      await sshd.kill(); // SIGKILL ends the frozen sessions too
      await sshd.restart();
    }
  });

  it('release: a server that never closes the connection is cut off after SSH_RELEASE_TIMEOUT_MS', async () => {
    const clock = new ManualClock();
    const stream = await new SshConsoleSource(options({ vendor: 'dell', keepaliveIntervalMs: 0 }), clock).open(new AbortController().signal);
    await new Collector(stream).waitForText('com2 ready');
    sshd.freezeSessions();
    try {
      let released = false;
      const done = stream.deactivate().then(() => (released = true));
      expect(clock.nextDeadline()).to.equal(clock.now() + SSH_RELEASE_TIMEOUT_MS);
      clock.advance(SSH_RELEASE_TIMEOUT_MS - 1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(released).to.equal(false);
      clock.advance(1);
      await done;
    } finally {
      await sshd.kill();
      await sshd.restart();
    }
  });

  it('behind a ConsoleBridge: when sshd is killed the bridge reconnects and the client keeps typing', async () => {
    const bridge = new ConsoleBridge({
      source: new SshConsoleSource(options({ vendor: 'dell' })),
      host: '127.0.0.1',
      reconnect: { initialDelayMs: 50, maxDelayMs: 200, factor: 2, jitter: 0 },
    });
    const reconnects: ReconnectEvent[] = [];
    bridge.on('reconnect', (event: ReconnectEvent) => reconnects.push(event));
    bridge.on('error', () => undefined);
    const port = await bridge.listen();
    const client = await connectTcp(port);
    const seen = new Collector(client);
    try {
      await seen.waitForCount('com2 ready', 1);
      client.write('one\r');
      await seen.waitForText('one\r');
      await sshd.kill();
      await sshd.restart();
      await seen.waitForCount('com2 ready', 2);
      expect(reconnects.length).to.be.at.least(1);
      expect(bridge.metrics.reconnects).to.equal(1);
      client.write('two\r');
      await seen.waitForText('two\r');
    } finally {
      client.destroy();
      await bridge.close();
    }
  });
});

describe('SshConsoleSource without a server that answers', () => {
  it('an abort while the server says nothing is IPMI_ERR_ABORTED; a closed port is IPMI_ERR_UNREACHABLE', async () => {
    const silent = net.createServer((socket) => silent.emit('accepted', socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const sockets: net.Socket[] = [];
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const accepted = new Promise<void>((resolve) =>
        silent.once('accepted', (socket: net.Socket) => {
          sockets.push(socket);
          resolve();
        }),
      );
      const controller = new AbortController();
      const source = new SshConsoleSource({ host: '127.0.0.1', port, username: 'u', password: 'p', hostKey: { fingerprint: PIN } });
      const pending = source.open(controller.signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      await accepted;
      controller.abort();
      expect(await pending).to.satisfy((e: unknown) => isIpmiError(e, 'IPMI_ERR_ABORTED'));
      const closed = await freeTcpPort();
      const refused = await new SshConsoleSource({ host: '127.0.0.1', port: closed, username: 'u', password: 'p', hostKey: { fingerprint: PIN } })
        .open(new AbortController().signal)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(refused).to.satisfy((e: unknown) => isIpmiError(e, 'IPMI_ERR_UNREACHABLE'));
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

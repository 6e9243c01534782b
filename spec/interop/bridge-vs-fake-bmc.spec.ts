/**
 * Issue 4's proof against our fake BMC (fixtures/fake-bmc, proven against ipmitool): ConsoleManager /
 * ConsoleBridge with the real IpmiConsoleSource (RMCP+ suite 17 + SOL over the UDP loopback), REAL TCP clients
 * (net.connect), and the BMC's serial port wired to a TCP server in this process (the host side), as ipmi_sim's
 * `sol "tcp:..."` is. The fake BMC takes 255 characters a packet, so the big transfers and the long stall run
 * here; bridge-vs-ipmi-sim.spec.ts covers the real peer. Loopback only; no speed assertions.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { ConsoleBridge, type BridgeMetrics, type BridgeSettings, type ReconnectEvent } from '../../lib/bridge/console-bridge.js';
import { ConsoleManager, type ConsoleEvent } from '../../lib/bridge/console-manager.js';
import { IpmiConsoleSource, type IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
import { isIpmiError } from '../../lib/errors.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { findFreePortRange, hasIpv6Loopback, waitUntil } from '../bridge/tcp-client.js';
import { BRIDGE_SETTINGS, STALL_REACH_TIMEOUT_MS, receivedUpToMark, clientHelpers, expectBackoff, expectStallBounded, measureStall, patternBytes, portOf, reportStall, sleep, SOL_READABLE_HWM, transferBothWays } from './bridge-shared.js';

const USERS = [{ name: 'admin', password: 'password', privilege: 4 }];
import { startSerialHost, type SerialHost } from '../helpers/ipmi-sim.js';

describe('interop: console bridge vs the fake BMC (real TCP clients)', function () {
  this.timeout(60_000);
  let host: SerialHost;
  /** The BMC's newest connection to the serial host. */
  let hostSocket: Socket | undefined;
  let hostEcho = true;
  let bmc: FakeBmc;
  let cleanups: Array<() => Promise<void> | void> = [];

  before(async () => {
    host = await startSerialHost({
      mode: 'custom',
      onConnection: (socket) => {
        hostSocket = socket;
        socket.setNoDelay(true);
        socket.on('data', (chunk: Buffer) => {
          if (hostEcho) socket.write(chunk);
        });
      },
    });
  });

  after(async () => {
    await host?.close();
  });

  beforeEach(async () => {
    bmc = newBmc();
    await bmc.listen();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    await bmc.close();
    hostEcho = true;
    host.clearReceived();
  });

  function newBmc(port = 0): FakeBmc {
    return new FakeBmc({ address: '127.0.0.1', port, users: USERS, sol: { host: 'tcp', address: '127.0.0.1', port: host.port } });
  }

  function bmcOptions(): IpmiConsoleOptions {
    return {
      host: '127.0.0.1',
      port: bmc.port,
      username: 'admin',
      password: 'password',
      cipherSuite: 17,
      keepaliveMs: 500,
      timeoutMs: 300,
      retries: 1,
      sol: { readableHighWaterMark: SOL_READABLE_HWM },
    };
  }

  async function startBridge(settings: BridgeSettings = {}, address = '127.0.0.1'): Promise<ConsoleBridge> {
    const bridge = new ConsoleBridge({ ...BRIDGE_SETTINGS, ...settings, source: new IpmiConsoleSource(bmcOptions()), host: address });
    bridge.on('error', () => undefined);
    cleanups.push(() => bridge.close());
    await bridge.listen();
    return bridge;
  }

  function newManager(portRange: string, settings: BridgeSettings = {}, address = '127.0.0.1'): ConsoleManager {
    const manager = new ConsoleManager({ ...BRIDGE_SETTINGS, ...settings, address, portRange });
    manager.on('console-event', () => undefined);
    cleanups.push(() => manager.stopAll());
    return manager;
  }

  const { connect, echo } = clientHelpers(cleanups);

  it('echoes, and carries 1 MiB each way byte-exact (client -> host and host -> client at once); metrics count it', async () => {
    const bridge = await startBridge();
    const client = await connect(bridge.port);
    await echo(client, 'hello fake bmc\r');
    hostEcho = false;
    const SIZE = 1024 * 1024;
    const { downMs, upMs } = await transferBothWays({ client, host, hostSocket: hostSocket! }, SIZE, 30_000);
    const m = bridge.metrics;
    expect(m.bytesToClient).to.equal(client.bytes);
    expect(m.bytesFromClient).to.equal('hello fake bmc\r'.length + SIZE);
    expect(m.bytesDiscarded).to.equal(0);
    expect(m).to.include({ clients: 1, activations: 1, reconnects: 0, refused: 0, clientConnected: true, state: 'active' });
    expect(bmc.stats.solActivations).to.equal(1);
    console.log(`      fake BMC 1 MiB: host->client ${(downMs / 1000).toFixed(1)} s, client->host ${(upMs / 1000).toFixed(1)} s`);
  });

  it('a client that stops reading for 10 s while the host writes continuously: memory bounded, nothing lost', async function () {
    this.timeout(60_000 + STALL_REACH_TIMEOUT_MS);
    const bridge = await startBridge();
    const client = await connect(bridge.port);
    await echo(client, 'ready\r');
    hostEcho = false;
    const r = await measureStall({ bridge, client, hostSocket: hostSocket!, cleanups }, 10_000);
    const got = await receivedUpToMark(client, hostSocket!, r.before, r.total); // nothing more came
    reportStall('fake BMC 10 s stall', r, `; BMC give-ups ${bmc.stats.solGiveUps}, SOL retransmits ${bmc.stats.solRetransmits}`);
    expect(got.length, 'bytes after the stall').to.equal(r.total);
    expect(got.equals(patternBytes(0, r.total)), 'byte-exact with the counting pattern').to.equal(true);
    // Process-wide, so the fake BMC, its serial host and the writer (all in this process, all busy) count too.
    expectStallBounded(r, 4 * 1024 * 1024);
  });

  it('20 reconnects 0.5 s apart: every client gets a working console', async function () {
    this.timeout(60_000);
    const bridge = await startBridge();
    for (let i = 0; i < 20; i++) {
      const client = await connect(bridge.port);
      await echo(client, `round ${i}\r`);
      client.destroy();
      await sleep(500);
    }
    await waitUntil(() => bridge.state === 'idle' && bmc.solSessionId === undefined, 'SOL released after the last client');
    expect(bridge.metrics).to.include({ clients: 20, activations: 20, deactivations: 20, refused: 0, steals: 0 });
    expect(bmc.stats.solActivations).to.equal(20);
    expect(bmc.sessions).to.have.length(0);
  });

  it('refuses a second client with one line; with takeover: true the second replaces the first', async () => {
    const plain = await startBridge();
    const first = await connect(plain.port);
    await echo(first, 'first\r');
    const refused = await connect(plain.port);
    await refused.waitClosed();
    expect(refused.text()).to.equal('console in use by another client\r\n');
    await echo(first, 'still first\r');
    expect(plain.metrics).to.include({ refused: 1, clients: 1 });
    first.destroy();
    await waitUntil(() => bmc.solSessionId === undefined, 'SOL released');

    const taken = await startBridge({ takeover: true });
    const a = await connect(taken.port);
    await echo(a, 'a\r');
    const b = await connect(taken.port);
    await a.waitClosed();
    await echo(b, 'b\r');
    expect(taken.metrics).to.include({ clients: 2, refused: 0, activations: 1 });
  });

  it('idle timeout closes the client and frees SOL on the BMC', async () => {
    const bridge = await startBridge({ idleTimeoutMs: 1000 });
    const client = await connect(bridge.port);
    await echo(client, 'idle soon\r');
    await client.waitClosed(5000);
    await waitUntil(() => bmc.solSessionId === undefined && bmc.sessions.length === 0, 'SOL and the session released');
    // another session activates without steal
    const session = await IpmiSession.open({ ...bmcOptions(), keepaliveMs: 0 });
    cleanups.push(() => session.close());
    const sol = await activateSol(session, { steal: false });
    await sol.deactivate();
  });

  it('stopConsole with a client connected closes the client and deactivates SOL (Deactivate Payload)', async () => {
    const base = await findFreePortRange(1);
    const manager = newManager(`${base}:${base + 1}`);
    const deactivations: string[] = [];
    bmc.on('sol-deactivated', ({ reason }: { reason: string }) => deactivations.push(reason));
    const info = await manager.startConsole('node-1', bmcOptions());
    const client = await connect(portOf(info.url));
    await echo(client, 'x\r');
    await manager.stopConsole('node-1');
    await client.waitClosed(3000);
    expect(deactivations).to.deep.equal(['deactivate-command']);
    expect(bmc.solSessionId).to.equal(undefined);
    await waitUntil(() => bmc.sessions.length === 0, 'the session closed');
  });

  it('port range exhaustion: 2 ports, 3 nodes -> IPMI_ERR_NO_FREE_PORTS; a stopped node frees its port', async () => {
    const base = await findFreePortRange(2);
    const manager = newManager(`${base}:${base + 2}`);
    const a = await manager.startConsole('node-a', bmcOptions());
    const b = await manager.startConsole('node-b', bmcOptions());
    expect([portOf(a.url), portOf(b.url)].sort((x, y) => x - y)).to.deep.equal([base, base + 1]);
    const error: unknown = await manager.startConsole('node-c', bmcOptions()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isIpmiError(error, 'IPMI_ERR_NO_FREE_PORTS'), String(error)).to.equal(true);
    expect(manager.getConsole('node-c')).to.equal(undefined);
    // the two started consoles work
    const client = await connect(portOf(b.url));
    await echo(client, 'b works\r');
    client.destroy();
    await manager.stopConsole('node-a');
    const c = await manager.startConsole('node-c', bmcOptions());
    expect(c).to.deep.equal({ type: 'socat', url: a.url });
  });

  it('listens on the IPv6 loopback ::1 (tcp://[::1]:PORT)', async function () {
    if (!(await hasIpv6Loopback())) this.skip();
    const base = await findFreePortRange(1);
    const manager = newManager(`${base}:${base + 1}`, {}, '::1');
    const info = await manager.startConsole('node-6', bmcOptions());
    expect(info).to.deep.equal({ type: 'socat', url: `tcp://[::1]:${base}` });
    const client = await connect(base, '::1');
    expect(client.socket.remoteAddress).to.equal('::1');
    await echo(client, 'over ipv6\r');
    expect(manager.list()[0]!.metrics.clients).to.equal(1);
  });

  it('restore after a restart: a new manager restores the nodes on their ports, consoles work, getConsole never disturbs a client', async () => {
    const bmcB = new FakeBmc({ address: '127.0.0.1', users: USERS, sol: { host: 'echo' } });
    await bmcB.listen();
    cleanups.push(() => bmcB.close());
    const optionsB = (): IpmiConsoleOptions => ({ ...bmcOptions(), port: bmcB.port });
    const base = await findFreePortRange(3);
    const range = `${base}:${base + 3}`;
    const first = newManager(range);
    const a = await first.startConsole('node-a', bmcOptions());
    const b = await first.startConsole('node-b', optionsB());
    const old = await connect(portOf(a.url));
    await echo(old, 'before restart\r');
    // The conductor goes away. A crash would leave SOL held by its session: keep one held by another session.
    await first.stopAll();
    await old.waitClosed(3000);
    const stale = await IpmiSession.open({ ...bmcOptions(), keepaliveMs: 0 });
    cleanups.push(() => stale.close());
    const staleSol = await activateSol(stale);
    const staleClosed = new Promise<unknown>((resolve) => staleSol.once('close', resolve));
    staleSol.on('error', () => undefined); // it is deactivated by the steal below
    expect(bmc.solSessionId).to.not.equal(undefined);

    const second = newManager(range);
    const results = await second.restore([
      { nodeId: 'node-b', bmcOptions: optionsB(), enabled: true }, // no port given: the range's first free one
      { nodeId: 'node-a', bmcOptions: bmcOptions(), enabled: true, port: portOf(a.url) },
      { nodeId: 'node-off', bmcOptions: bmcOptions(), enabled: false },
    ]);
    expect(results.map((r) => r.error)).to.deep.equal([undefined, undefined, undefined]);
    expect(results[1]!.info).to.deep.equal({ type: 'socat', url: `tcp://127.0.0.1:${portOf(a.url)}` });
    expect(second.getConsole('node-a')).to.deep.equal({ type: 'socat', url: a.url });
    expect(second.getConsole('node-b')).to.deep.equal(results[0]!.info);
    expect(second.getConsole('node-b')).to.deep.equal(b); // node-a's explicit port went first: b's port is free again
    expect(second.getConsole('node-off')).to.equal(undefined);

    const clientB = await connect(portOf(b.url));
    await echo(clientB, 'b after restart\r');
    const sessionsBefore = bmc.stats.sessionsOpened;
    const client = await connect(portOf(a.url));
    await echo(client, 'a after restart\r'); // SOL was held by the stale session: the bridge took it over
    const metrics = (): BridgeMetrics => second.list().find((e) => e.nodeId === 'node-a')!.metrics;
    expect(metrics().steals).to.equal(1);
    expect(bmc.stats.sessionsOpened - sessionsBefore, 'taken over within one session: one handshake').to.equal(1);
    expect(isIpmiError(await staleClosed, 'IPMI_ERR_SOL_DEACTIVATED')).to.equal(true);
    const activations = bmc.stats.solActivations;
    for (let i = 0; i < 50; i++) {
      expect(second.getConsole('node-a')).to.deep.equal({ type: 'socat', url: a.url });
      if (i % 10 === 0) await echo(client, `get ${i}\r`);
    }
    expect(client.isClosed).to.equal(false);
    expect(bmc.stats.solActivations, 'getConsole must not re-activate SOL').to.equal(activations);
    expect(metrics()).to.include({ clients: 1, activations: 1, deactivations: 0, consoleLosses: 0 });
  });

  it('BMC closed and listening again on the same port under a connected client: the console comes back', async function () {
    this.timeout(60_000);
    const bridge = await startBridge();
    const reconnects: ReconnectEvent[] = [];
    bridge.on('reconnect', (event: ReconnectEvent) => reconnects.push(event));
    const client = await connect(bridge.port);
    await echo(client, 'before\r');
    const port = bmc.port;
    await bmc.close();
    const closedAt = performance.now();
    await waitUntil(() => reconnects.length > 0, "a 'reconnect' event", 10_000);
    const detectMs = performance.now() - closedAt;
    // down for a while: the event that proves it is the bridge backing off (three attempts), not a time
    await waitUntil(() => reconnects.length >= 3, 'three reconnect attempts while the BMC is down', 20_000);
    expect(client.isClosed).to.equal(false);
    await client.write('typed while down\r');
    bmc = newBmc(port);
    await bmc.listen();
    const answeringAt = performance.now();
    await client.waitForText('typed while down\r', 15_000);
    await echo(client, 'after\r', 15_000 - (performance.now() - answeringAt));
    const recoverMs = performance.now() - answeringAt;
    expect(recoverMs).to.be.below(15_000);
    expect(bridge.metrics).to.include({ reconnects: 1, consoleLosses: 1, clients: 1, state: 'active' });
    expectBackoff(reconnects);
    console.log(
      `      fake BMC restart: loss detected in ${Math.round(detectMs)} ms (${reconnects[0]!.error.code}), ` +
        `${reconnects.length} reconnect events, console back ${Math.round(recoverMs)} ms after the BMC listened again`,
    );
  });

  it('re-emits bridge events through the manager (client-connected, reconnect, client-disconnected)', async () => {
    const base = await findFreePortRange(1);
    const manager = newManager(`${base}:${base + 1}`);
    const events: ConsoleEvent[] = [];
    manager.on('console-event', (e: ConsoleEvent) => events.push(e));
    const info = await manager.startConsole('node-e', bmcOptions());
    const client = await connect(portOf(info.url));
    await echo(client, 'e\r');
    bmc.deactivateSol('forced');
    await waitUntil(() => events.some((e) => e.event === 'reconnect'), 'a reconnect event');
    await echo(client, 'e2\r');
    client.destroy();
    await waitUntil(() => events.some((e) => e.event === 'client-disconnected'), 'client-disconnected');
    const kinds = events.map((e) => e.event);
    expect(kinds).to.include.members(['client-connected', 'reconnect', 'client-disconnected', 'state']);
    expect(manager.list()[0]!.metrics).to.include({ reconnects: 1, clients: 1 });
  });
});

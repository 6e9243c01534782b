/**
 * Issue 4's proof against a real BMC: the console bridge (ConsoleBridge / ConsoleManager with IpmiConsoleSource)
 * between REAL TCP clients (net.connect) and ipmi_sim (OpenIPMI 2.0.33), whose SOL "serial port" is a TCP server
 * in this process (the host side). This is what replaces Ironic's
 * `socat TCP4-LISTEN:... EXEC:"ipmitool ... sol activate"`.
 *
 * ipmi_sim facts that shape these specs (fixtures/ipmi_sim/NOTES.md): its inbound SOL buffer is 32 bytes (28
 * characters a packet, stop-and-wait: client -> host is the slow way), it resends an unacknowledged packet 5
 * times 1 s apart then drops it, and it dials the serial host at startup (so the host server stays up across an
 * ipmi_sim restart). Only loopback; no speed assertions (measured numbers are printed).
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import { ConsoleBridge, type BridgeSettings, type ReconnectEvent } from '../../lib/bridge/console-bridge.js';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import { IpmiConsoleSource, type IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
import { Cmd } from '../../lib/codec/commands.js';
import { NetFn } from '../../lib/codec/ipmi-message.js';
import { isIpmiError } from '../../lib/errors.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { TestClient, findFreePortRange, waitUntil } from '../bridge/tcp-client.js';
import { startIpmiSim, startSerialHost, type IpmiSimHandle, type SerialHost } from '../helpers/ipmi-sim.js';
import { requirePeer } from '../helpers/peers.js';
import { BRIDGE_SETTINGS, STALL_REACH_TIMEOUT_MS, receivedUpToMark, clientHelpers, expectStallBounded, measureStall, patternBytes, portOf, reportStall, sleep, SOL_READABLE_HWM, type StallResult, transferBothWays } from './bridge-shared.js';

describe('interop: console bridge vs ipmi_sim (real TCP clients)', function () {
  this.timeout(60_000);
  let host: SerialHost;
  /** ipmi_sim's newest connection to the serial host (it dials again after a restart). */
  let hostSocket: Socket | undefined;
  let sim: IpmiSimHandle;
  /** Whether the serial host echoes what it receives (the host side of the console). */
  let hostEcho = true;
  let cleanups: Array<() => Promise<void> | void> = [];

  before(async function () {
    requirePeer(this, 'ipmi_sim');
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
    sim = await startIpmiSim({ solHost: host.server });
    await host.waitForConnection();
  });

  after(async () => {
    await sim?.stop();
    await host?.close();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
    hostEcho = true;
    host?.clearReceived();
  });

  function bmcOptions(): IpmiConsoleOptions {
    return {
      host: '127.0.0.1',
      port: sim.port,
      username: 'admin',
      password: 'password',
      cipherSuite: 3,
      keepaliveMs: 500,
      timeoutMs: 300,
      retries: 1,
      sol: { readableHighWaterMark: SOL_READABLE_HWM },
    };
  }

  async function startBridge(settings: BridgeSettings = {}): Promise<ConsoleBridge> {
    const bridge = new ConsoleBridge({ ...BRIDGE_SETTINGS, ...settings, source: new IpmiConsoleSource(bmcOptions()), host: '127.0.0.1' });
    bridge.on('error', () => undefined); // reported through metrics and events; a BMC hiccup is not a crash
    cleanups.push(() => bridge.close());
    await bridge.listen();
    return bridge;
  }

  const { connect, echo } = clientHelpers(cleanups);

  /** A second session asks ipmi_sim whether SOL instance 1 is active (Get Payload Activation Status). */
  async function solActiveOnBmc(): Promise<boolean> {
    const session = await IpmiSession.open({ ...bmcOptions(), keepaliveMs: 0 });
    try {
      const rsp = await session.request({ netFn: NetFn.APP, cmd: Cmd.GET_PAYLOAD_ACTIVATION_STATUS, data: Buffer.from([1]) });
      expect(rsp.completionCode).to.equal(0);
      return (rsp.data[1]! & 0x01) !== 0;
    } finally {
      await session.close();
    }
  }

  /**
   * Wait until ipmi_sim reports SOL inactive: the bridge goes idle (and counts the deactivation) when its release
   * starts; Deactivate Payload completes after, later on a loaded machine.
   */
  async function solReleasedOnBmc(): Promise<void> {
    const deadline = performance.now() + 15_000;
    while (await solActiveOnBmc()) {
      if (performance.now() > deadline) throw new Error('SOL still active on ipmi_sim 15 s after the bridge released it');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Another session activates SOL WITHOUT steal: only works if nobody holds the payload. */
  async function activateFromAnotherSession(): Promise<void> {
    const session = await IpmiSession.open({ ...bmcOptions(), keepaliveMs: 0 });
    try {
      const sol = await activateSol(session, { steal: false });
      await sol.deactivate();
    } finally {
      await session.close();
    }
  }

  /** The host writes while the client does not read, for `stallMs` (see measureStall). */
  async function stall(stallMs: number): Promise<StallResult> {
    const bridge = await startBridge();
    const client = await connect(bridge.port);
    await echo(client, 'ready\r');
    hostEcho = false;
    return measureStall({ bridge, client, hostSocket: hostSocket!, cleanups }, stallMs);
  }


  it('echoes, and carries 1 MiB each way byte-exact (client -> host and host -> client at once)', async function () {
    // client -> host is 32768 round trips through ipmi_sim's 32-byte inbound buffer, each waking three processes
    // (bridge, ipmi_sim, the host here): 4 to 13 s in CI runs, 47 s once on a machine at load 6.6 (two CI runs
    // and two CPU burners on 2 cores). The bound is for a stall, not for speed.
    this.timeout(150_000);
    const bridge = await startBridge();
    const client = await connect(bridge.port);
    await echo(client, 'hello ipmi_sim\r');
    hostEcho = false;
    const SIZE = 1024 * 1024;
    const { downMs, upMs } = await transferBothWays({ client, host, hostSocket: hostSocket! }, SIZE, 120_000);
    const m = bridge.metrics;
    expect(m.bytesToClient).to.equal(client.bytes);
    expect(m.bytesFromClient).to.equal('hello ipmi_sim\r'.length + SIZE);
    expect(m.clients).to.equal(1);
    expect(m.activations).to.equal(1);
    expect(m.reconnects).to.equal(0);
    console.log(`      ipmi_sim 1 MiB: host->client ${(downMs / 1000).toFixed(1)} s, client->host ${(upMs / 1000).toFixed(1)} s (32-byte inbound buffer)`);
  });

  it('20 reconnects 0.5 s apart: every client gets a working console (socat+ipmitool: "SOL payload already active")', async function () {
    this.timeout(60_000);
    const bridge = await startBridge();
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const client = await connect(bridge.port);
      const t0 = performance.now();
      await echo(client, `round ${i}\r`);
      times.push(performance.now() - t0);
      client.destroy();
      await sleep(500);
    }
    await waitUntil(() => bridge.state === 'idle', 'the console released after the last client');
    const m = bridge.metrics;
    expect(m.clients).to.equal(20);
    expect(m.activations).to.equal(20);
    expect(m.deactivations).to.equal(20);
    expect(m.refused).to.equal(0);
    await solReleasedOnBmc();
    console.log(
      `      ipmi_sim reconnects: first echo after connect ${Math.round(Math.min(...times))}..${Math.round(Math.max(...times))} ms, steals ${m.steals}`,
    );
  });

  it('refuses a second client with one line and closes it; the first keeps its console', async () => {
    const bridge = await startBridge();
    const first = await connect(bridge.port);
    await echo(first, 'first\r');
    const second = await connect(bridge.port);
    await second.waitClosed();
    expect(second.text()).to.equal('console in use by another client\r\n');
    await echo(first, 'still mine\r');
    const m = bridge.metrics;
    expect(m.refused).to.equal(1);
    expect(m.clients).to.equal(1);
    expect(m.activations).to.equal(1);
  });

  it('with takeover: true a second client replaces the first (same SOL activation)', async () => {
    const bridge = await startBridge({ takeover: true });
    const first = await connect(bridge.port);
    await echo(first, 'first\r');
    const second = await connect(bridge.port);
    await first.waitClosed();
    await echo(second, 'second\r');
    expect(first.text()).to.not.contain('second');
    const m = bridge.metrics;
    expect(m.clients).to.equal(2);
    expect(m.refused).to.equal(0);
    expect(m.activations).to.equal(1);
  });

  it('idle timeout closes the client and frees SOL (another session activates without steal)', async () => {
    const bridge = await startBridge({ idleTimeoutMs: 1000 });
    const disconnected: string[] = [];
    bridge.on('client-disconnected', (info: { reason: string }) => disconnected.push(info.reason));
    const client = await connect(bridge.port);
    await echo(client, 'then silence\r');
    const t0 = performance.now();
    await client.waitClosed(5000);
    const idleMs = performance.now() - t0;
    expect(idleMs).to.be.at.least(900);
    expect(disconnected).to.deep.equal(['idle-timeout']);
    await waitUntil(() => bridge.state === 'idle' && bridge.metrics.deactivations === 1, 'SOL released');
    await solReleasedOnBmc();
    await activateFromAnotherSession();
    expect(bridge.metrics.steals).to.equal(0);
  });

  it('stopConsole with a client connected closes the client and deactivates SOL on the BMC', async () => {
    const base = await findFreePortRange(1);
    const manager = new ConsoleManager({ ...BRIDGE_SETTINGS, address: '127.0.0.1', portRange: `${base}:${base + 1}` });
    cleanups.push(() => manager.stopAll());
    const info = await manager.startConsole('node-stop', bmcOptions());
    expect(info).to.deep.equal({ type: 'socat', url: `tcp://127.0.0.1:${base}` });
    const client = await connect(portOf(info.url));
    await echo(client, 'before stop\r');
    expect(await solActiveOnBmc()).to.equal(true);
    await manager.stopConsole('node-stop');
    await client.waitClosed(3000);
    expect(manager.getConsole('node-stop')).to.equal(undefined);
    expect(await solActiveOnBmc()).to.equal(false);
    await activateFromAnotherSession();
    const refused = await TestClient.connect(base).then(
      (c) => (c.destroy(), false),
      () => true,
    );
    expect(refused, 'nothing listens on the port any more').to.equal(true);
  });

  it('ipmi_sim killed and restarted under a connected client: the client stays, the console comes back', async function () {
    this.timeout(60_000);
    const bridge = await startBridge();
    const reconnects: ReconnectEvent[] = [];
    const states: string[] = [];
    bridge.on('reconnect', (event: ReconnectEvent) => reconnects.push(event));
    bridge.on('state', (state: string) => states.push(state));
    const client = await connect(bridge.port);
    await echo(client, 'before the crash\r');

    await sim.kill();
    const killedAt = performance.now();
    await waitUntil(() => reconnects.length > 0, "a 'reconnect' event after the BMC died", 10_000);
    const detectMs = performance.now() - killedAt;
    // down for a while: the event that proves it is the bridge backing off (three attempts), not a time
    await waitUntil(() => reconnects.length >= 3, 'three reconnect attempts while ipmi_sim is down', 20_000);
    const attemptsWhileDown = reconnects.length;
    expect(client.isClosed, 'client closed while the BMC was down').to.equal(false);
    await client.write('typed while down\r'); // held (holdBytes) and written once the console is back

    await sim.restart();
    const answeringAt = performance.now();
    await client.waitForText('typed while down\r', 15_000);
    await echo(client, 'after the restart\r', 15_000 - (performance.now() - answeringAt));
    const recoverMs = performance.now() - answeringAt;
    expect(recoverMs).to.be.below(15_000);
    expect(client.isClosed).to.equal(false);
    expect(states).to.include('reconnecting');
    expect(bridge.state).to.equal('active');
    const m = bridge.metrics;
    expect(m.reconnects).to.equal(1);
    expect(m.consoleLosses).to.equal(1);
    expect(m.clients).to.equal(1);
    expect(isIpmiError(reconnects[0]!.error)).to.equal(true);
    // re-established with backoff: attempts 1, 2, 3... with growing delays (factor 2, jitter 0.2, max 1 s)
    expect(attemptsWhileDown).to.be.at.least(3);
    expect(reconnects.map((e) => e.attempt)).to.deep.equal(reconnects.map((_, i) => i + 1));
    expect(reconnects[2]!.delayMs).to.be.above(reconnects[0]!.delayMs);
    for (const e of reconnects) expect(e.delayMs).to.be.at.most(1000);
    console.log(
      `      ipmi_sim restart: loss detected in ${Math.round(detectMs)} ms (${reconnects[0]!.error.code}), ` +
        `${attemptsWhileDown} reconnect events while down, console back ${Math.round(recoverMs)} ms after ipmi_sim answered`,
    );
  });
  it('a client that stops reading for 4 s (inside ipmi_sim\'s 6 s retry budget) while the host writes: bounded, nothing lost', async function () {
    this.timeout(60_000 + STALL_REACH_TIMEOUT_MS);
    const r = await stall(4000);
    const got = await receivedUpToMark(r.client, hostSocket!, r.before, r.total); // nothing more came
    reportStall('ipmi_sim 4 s stall', r);
    expect(got.length, 'bytes after the stall').to.equal(r.total);
    expect(got.equals(patternBytes(0, r.total)), 'byte-exact with the counting pattern').to.equal(true);
    expectStallBounded(r);
  });

  // Keep last: ipmi_sim 2.0.33 does not survive this. A BMC packet unacknowledged for 6 s makes sol.c's
  // sol_timeout() drop its whole 16 KiB output buffer, and with that buffer full it never re-enables reading
  // the serial side (no set_read_enable() on that path): SOL output stays dead, for later activations too,
  // until ipmi_sim restarts. The bridge still loses nothing it was given and stays bounded.
  it('a client that stops reading for 10 s while the host writes: bounded, and nothing lost (ipmi_sim keeps the data)', async function () {
    // ipmi_sim gives up on a packet after 6 s of retransmissions and then never reads its serial port again;
    // the SOL engine's default 'ack-zero' pause (partial ACKs of 0 every 250 ms) keeps the data in ipmi_sim.
    this.timeout(70_000 + STALL_REACH_TIMEOUT_MS);
    cleanups.push(() => sim.restart());
    const r = await stall(10_000);
    await waitUntil(() => r.client.bytes >= r.before + r.total, 'all bytes', 30_000);
    const got = r.client.data().subarray(r.before);
    reportStall('ipmi_sim 10 s stall', r);
    expect(got.length).to.equal(r.total);
    expect(got.equals(patternBytes(0, got.length)), 'byte-exact').to.equal(true);
    expect(r.bridge.metrics.bytesDiscarded).to.equal(0);
    expectStallBounded(r);
  });
});

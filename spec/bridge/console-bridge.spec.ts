import { expect } from 'chai';
import { ManualClock } from '../../lib/clock.js';
import { IpmiError } from '../../lib/errors.js';
import {
  ConsoleBridge,
  DEFAULT_IN_USE_MESSAGE,
  backoffDelay,
  consoleUrl,
  type BridgeState,
  type ConsoleBridgeOptions,
  type ReconnectEvent,
} from '../../lib/bridge/console-bridge.js';
import { FakeConsoleSource, pattern, turns, type FakeConsoleOptions } from './fake-console-source.js';
import { TestClient, hasIpv6Loopback, waitUntil } from './tcp-client.js';

/** Reconnect fast in specs; jitter off so delays are exact. */
const FAST_RECONNECT = { initialDelayMs: 20, maxDelayMs: 100, factor: 2, jitter: 0 };

describe('bridge/console-bridge', function () {
  const bridges: ConsoleBridge[] = [];
  const clients: TestClient[] = [];

  async function start(
    fake: FakeConsoleOptions = {},
    options: Partial<ConsoleBridgeOptions> = {},
  ): Promise<{ bridge: ConsoleBridge; source: FakeConsoleSource; states: BridgeState[] }> {
    const source = new FakeConsoleSource(fake);
    const bridge = new ConsoleBridge({
      source,
      host: '127.0.0.1',
      reconnect: FAST_RECONNECT,
      inUseGraceMs: 50,
      lingerMs: 200,
      ...options,
    });
    const states: BridgeState[] = [];
    bridge.on('state', (state: BridgeState) => states.push(state));
    bridges.push(bridge);
    await bridge.listen();
    return { bridge, source, states };
  }

  async function connect(bridge: ConsoleBridge, host = '127.0.0.1'): Promise<TestClient> {
    const client = await TestClient.connect(bridge.port, host);
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await Promise.all(bridges.splice(0).map((b) => b.close()));
  });

  it('echoes raw bytes both ways, opening the console on connect and releasing it on disconnect', async () => {
    const { bridge, source, states } = await start();
    expect(bridge.url).to.equal(`tcp://127.0.0.1:${bridge.port}`);
    expect(source.opens).to.equal(0); // on-connect: nothing before a client
    const client = await connect(bridge);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await client.write(all);
    await client.waitForBytes(256);
    expect(client.data().equals(all)).to.equal(true); // nothing added, nothing changed
    client.destroy();
    await waitUntil(() => source.deactivations === 1 && bridge.state === 'idle', 'the console to be released');
    expect(states).to.deep.equal(['connecting', 'active', 'idle']);
    expect(bridge.metrics).to.include({ bytesToClient: 256, bytesFromClient: 256, clients: 1, activations: 1 });
  });

  it('delivers console output to a client that never speaks', async () => {
    const { bridge, source } = await start();
    const opened = source.nextOpen();
    const client = await connect(bridge);
    (await opened).print('login: ');
    await client.waitForText('login: ');
    expect(client.text()).to.equal('login: ');
  });

  it('carries 1 MB each way at once, byte-exact, through a bounded slow BMC, with bounded queues', async () => {
    const size = 1024 * 1024;
    const { bridge, source } = await start({ mode: 'sink', bmcBufferBytes: 4096, consumeBytesPerTick: 8192 });
    const opened = source.nextOpen();
    const client = await connect(bridge);
    const stream = await opened;
    stream.produce(size, 7);
    let maxToConsole = 0;
    let maxHeld = 0;
    const sampler = setInterval(() => {
      maxToConsole = Math.max(maxToConsole, bridge.metrics.pendingToConsole);
      maxHeld = Math.max(maxHeld, bridge.metrics.heldBytes);
    }, 1);
    try {
      const upload = pattern(0, size, 3);
      await client.write(upload);
      await waitUntil(() => stream.receivedBytes === size, 'the BMC to receive 1 MB', 15_000);
      await client.waitForBytes(size, 15_000);
      expect(stream.receivedData.equals(upload), 'client -> console').to.equal(true);
      expect(client.data().equals(pattern(0, size, 7)), 'console -> client').to.equal(true);
    } finally {
      clearInterval(sampler);
    }
    // console writable side: highWaterMark (16 KiB) + one socket chunk (<= 64 KiB); the BMC's own buffer too
    expect(maxToConsole).to.be.at.most(16 * 1024 + 64 * 1024);
    expect(stream.maxInbound).to.be.at.most(4096 + 64 * 1024);
    expect(maxHeld).to.equal(0);
    expect(bridge.metrics).to.include({ bytesToClient: size, bytesFromClient: size });
  });

  it('stops reading the console while the client does not read, with bounded queues, and loses nothing', async () => {
    // Much more than loopback socket buffers can absorb, so the stall must reach the console.
    const total = 48 * 1024 * 1024;
    const { bridge, source } = await start({ readableHighWaterMark: 16 * 1024 });
    const opened = source.nextOpen();
    const client = await connect(bridge);
    client.socket.pause();
    const stream = await opened;
    stream.produce(total);
    const stalledAt = await settledStall(stream, () => bridge.metrics.pendingToClient > 0);
    expect(stalledAt).to.be.below(total);
    // many event-loop turns later (each one a chance for the fake BMC to produce): still stalled
    await turns(200);
    expect(stream.produced).to.equal(stalledAt);
    expect(stream.readableLength).to.be.at.most(16 * 1024);
    const metrics = bridge.metrics;
    expect(metrics.pendingToClient).to.be.at.most(16 * 1024 + 4096); // socket highWaterMark + one console chunk
    expect(metrics.pendingFromConsole).to.be.at.most(16 * 1024);
    expect(bridge.state).to.equal('active');

    // The client reads again: everything arrives, in order.
    let checked = 0;
    let mismatch = -1;
    client.socket.on('data', () => {
      // verify incrementally (48 MB concatenated at the end would be slow)
      while (client.chunks.length > 0 && mismatch < 0) {
        const chunk = client.chunks.shift()!;
        if (!chunk.equals(pattern(checked, chunk.length))) mismatch = checked;
        checked += chunk.length;
      }
    });
    client.socket.resume();
    await client.waitForBytes(total, 20_000);
    expect(mismatch).to.equal(-1);
    expect(client.bytes).to.equal(total);
  });

  it('pauses the client when the console does not keep up, holding nothing itself', async () => {
    const size = 512 * 1024;
    const { bridge, source } = await start({ bmcBufferBytes: 1024, consumeBytesPerTick: 2048, writableHighWaterMark: 4096 });
    const opened = source.nextOpen();
    const client = await connect(bridge);
    const stream = await opened;
    let maxToConsole = 0;
    const sampler = setInterval(() => (maxToConsole = Math.max(maxToConsole, bridge.metrics.pendingToConsole)), 1);
    try {
      const upload = pattern(0, size, 9);
      await client.write(upload);
      await client.waitForBytes(size, 15_000);
      expect(client.data().equals(upload)).to.equal(true);
    } finally {
      clearInterval(sampler);
    }
    expect(maxToConsole).to.be.at.most(4096 + 64 * 1024);
    expect(stream.maxInbound).to.be.at.most(1024 + 64 * 1024);
  });

  it('survives 20 reconnects in a row: each activation waits for the previous deactivation', async () => {
    const { bridge, source } = await start({ openDelayMs: 5, deactivateDelayMs: 30 });
    for (let i = 0; i < 20; i++) {
      const client = await connect(bridge);
      const text = `ping ${i}\r\n`;
      await client.write(text);
      await client.waitForText(text);
      client.destroy();
      // the next client arrives as soon as the release started, while the deactivation (30 ms) runs
      await waitUntil(() => bridge.metrics.deactivations === i + 1, `release ${i + 1} to start`);
    }
    await waitUntil(() => source.deactivations === 20 && source.active === 0, '20 deactivations');
    expect(source.activations).to.equal(20);
    expect(source.inUseRejections).to.equal(0); // serialized: never opened over a live payload
    expect(source.steals).to.equal(0);
    expect(source.maxConcurrent).to.equal(1);
    expect(bridge.metrics).to.include({ clients: 20, refused: 0, steals: 0 });
  });

  it('accepts a client that reconnects before its old connection is seen closed', async () => {
    const { bridge, source } = await start({ deactivateDelayMs: 10 }, { inUseGraceMs: 1000 });
    let previous: TestClient | undefined;
    for (let i = 0; i < 5; i++) {
      previous?.destroy();
      const client = await connect(bridge); // no wait: the old FIN and the new SYN race
      await client.write(`again ${i}`);
      await client.waitForText(`again ${i}`);
      previous = client;
    }
    expect(bridge.metrics.refused).to.equal(0);
    expect(source.inUseRejections).to.equal(0);
  });

  it('a second client waits inUseGraceMs for the first to leave before being refused', async () => {
    const clock = new ManualClock(); // the grace cannot run out unless the spec advances it
    const { bridge } = await start({}, { inUseGraceMs: 1000, clock });
    const first = await connect(bridge);
    await waitUntil(() => bridge.metrics.clientConnected, 'the first client to be seated');
    const second = await connect(bridge);
    await second.write('queued');
    await waitUntil(() => bridge.metrics.waitingClients === 1, 'the second client to wait');
    clock.advance(999);
    expect(bridge.metrics.waitingClients).to.equal(1); // not refused yet
    expect(second.bytes).to.equal(0); // not read yet
    first.destroy();
    await second.waitForText('queued'); // its bytes reach the console opened for it
    expect(bridge.metrics).to.include({ refused: 0, clients: 2 });
  });

  it('refuses a second client with one line and keeps the first', async () => {
    const { bridge, source } = await start();
    const refusedEvents: unknown[] = [];
    bridge.on('client-refused', (info) => refusedEvents.push(info));
    const first = await connect(bridge);
    await first.write('one');
    await first.waitForText('one');
    const second = await connect(bridge);
    await second.write('should not reach the console');
    await second.waitClosed();
    expect(second.text()).to.equal(DEFAULT_IN_USE_MESSAGE);
    expect(second.text()).to.equal('console in use by another client\r\n');
    await first.write('two');
    await first.waitForText('onetwo');
    expect(first.isClosed).to.equal(false);
    expect(refusedEvents).to.have.length(1);
    expect(bridge.metrics).to.include({ refused: 1, clients: 1 });
    expect(source.current!.receivedData.toString()).to.equal('onetwo');
  });

  it('with takeover, a second client replaces the first on the same console', async () => {
    const { bridge, source } = await start({}, { takeover: true });
    const reasons: string[] = [];
    bridge.on('client-disconnected', ({ reason }: { reason: string }) => reasons.push(reason));
    const first = await connect(bridge);
    await first.write('a');
    await first.waitForText('a');
    const second = await connect(bridge);
    await first.waitClosed();
    await second.write('b');
    await second.waitForText('b');
    expect(second.text()).to.equal('b');
    expect(reasons).to.deep.equal(['takeover']);
    expect(source.activations).to.equal(1); // the console stayed active
    expect(source.deactivations).to.equal(0);
  });

  it('closes an idle client after idleTimeoutMs and releases the console; traffic keeps it open', async () => {
    const clock = new ManualClock();
    const { bridge, source } = await start({}, { idleTimeoutMs: 150, clock });
    const reasons: string[] = [];
    bridge.on('client-disconnected', ({ reason }: { reason: string }) => reasons.push(reason));
    const client = await connect(bridge);
    await waitUntil(() => bridge.state === 'active', 'the console to open');
    for (let i = 1; i <= 6; i++) {
      clock.advance(60); // 360 ms in all, never 150 ms quiet
      await client.write('.');
      await client.waitForText('.'.repeat(i));
    }
    clock.advance(149); // 149 ms since the last byte
    expect(bridge.metrics.clientConnected).to.equal(true);
    clock.advance(1);
    expect(bridge.metrics.clientConnected).to.equal(false);
    await client.waitClosed();
    expect(reasons).to.deep.equal(['idle-timeout']);
    await waitUntil(() => source.deactivations === 1, 'the console to be released');
  });

  it('close() with a client connected disconnects it, releases the console and frees the port', async () => {
    const { bridge, source, states } = await start();
    const client = await connect(bridge);
    await client.write('x');
    await client.waitForText('x');
    const port = bridge.port;
    await bridge.close();
    await client.waitClosed();
    expect(client.ended).to.equal(true); // a clean FIN
    expect(source.deactivations).to.equal(1);
    expect(source.closed).to.equal(true);
    expect(states.at(-1)).to.equal('closed');
    expect(bridge.listening).to.equal(false);
    await bridge.close(); // idempotent
    const again = new ConsoleBridge({ source: new FakeConsoleSource(), host: '127.0.0.1', port });
    bridges.push(again);
    expect(await again.listen()).to.equal(port);
  });

  for (const closeStyle of ['reason', 'node'] as const) {
    it(`re-opens a lost console (close style '${closeStyle}') while the client stays, delivering what it typed meanwhile`, async () => {
      const { bridge, source, states } = await start({ closeStyle }, { holdBytes: 1024 });
      const reconnects: ReconnectEvent[] = [];
      const errors: IpmiError[] = [];
      bridge.on('reconnect', (event: ReconnectEvent) => reconnects.push(event));
      bridge.on('error', (error: IpmiError) => errors.push(error));
      const opened = source.nextOpen();
      const client = await connect(bridge);
      const first = await opened;
      await client.write('before ');
      await client.waitForText('before ');

      source.failures.push(new IpmiError('IPMI_ERR_TIMEOUT', 'BMC still rebooting'));
      const reopened = source.nextOpen();
      first.fail(new IpmiError('IPMI_ERR_SOL_TIMEOUT', 'the BMC stopped acknowledging'));
      await waitUntil(() => bridge.state === 'reconnecting', 'reconnecting');
      const typed = Buffer.concat([Buffer.from('typed while down '), pattern(0, 10 * 1024, 5)]);
      await client.write(typed);
      await waitUntil(() => bridge.metrics.heldBytes === 1024, 'the hold to fill');
      expect(bridge.metrics.heldBytes).to.equal(1024); // bounded, the rest waits in the socket

      await reopened;
      await client.waitForBytes('before '.length + typed.length);
      expect(client.data().equals(Buffer.concat([Buffer.from('before '), typed]))).to.equal(true);
      expect(client.isClosed).to.equal(false);
      expect(bridge.metrics).to.include({ reconnects: 1, clients: 1, consoleLosses: 1, heldBytes: 0, state: 'active' });
      expect(reconnects.map((r) => [r.attempt, r.delayMs, r.error.code])).to.deep.equal([
        [1, 20, 'IPMI_ERR_SOL_TIMEOUT'],
        [2, 40, 'IPMI_ERR_TIMEOUT'],
      ]);
      expect(errors.map((e) => e.code)).to.deep.equal(['IPMI_ERR_SOL_TIMEOUT', 'IPMI_ERR_TIMEOUT']);
      expect(states).to.deep.equal(['connecting', 'active', 'reconnecting', 'active']);
      expect(source.openOptions.map((o) => o.attempt)).to.deep.equal([0, 1, 2]);
    });
  }

  it('steals the console back when the lost payload lingers on the BMC', async () => {
    const { bridge, source } = await start();
    const opened = source.nextOpen();
    const client = await connect(bridge);
    (await opened).fail(new IpmiError('IPMI_ERR_SESSION_CLOSED', 'session lost'), { lingering: true });
    await waitUntil(() => bridge.state === 'active' && source.activations === 2, 'the console to be stolen back');
    await client.write('back');
    await client.waitForText('back');
    // steal in one session: the attempt that finds its payload held takes it over, no refused attempt first
    expect(source.inUseRejections).to.equal(0);
    expect(source.steals).to.equal(1);
    expect(bridge.metrics.steals).to.equal(1);
    expect(source.openOptions.map((o) => o.steal)).to.deep.equal(['own', 'own']);
    expect(source.opens, 'one open (one session) per attempt').to.equal(2);
  });

  describe("steal policy (C3: 'own' by default)", () => {
    async function heldBy(holder: 'own' | 'someone else', steal?: 'never' | 'own' | 'always') {
      const clock = new ManualClock();
      const { bridge, source } = await start({}, steal === undefined ? { clock } : { clock, steal });
      const errors: IpmiError[] = [];
      bridge.on('error', (error: IpmiError) => errors.push(error));
      if (holder === 'someone else') source.heldElsewhere = true;
      else {
        // our own console, lost with its payload left active on the BMC (a stale session of this process)
        const opened = source.nextOpen();
        const first = await connect(bridge);
        (await opened).fail(new IpmiError('IPMI_ERR_SESSION_CLOSED', 'session lost'), { lingering: true });
        await waitUntil(() => bridge.state === 'reconnecting', 'reconnecting');
        first.destroy();
        await waitUntil(() => bridge.state === 'idle', 'idle');
      }
      const client = await connect(bridge);
      return { bridge, source, client, errors, clock };
    }

    it("'own' (default) reclaims a payload this process holds", async () => {
      const { bridge, source, client } = await heldBy('own');
      await client.write('mine');
      await client.waitForText('mine');
      expect(bridge.settings.steal).to.equal('own');
      expect(source.openOptions.map((o) => o.steal)).to.deep.equal(['own', 'own']);
      expect(source.steals).to.equal(1);
      expect(bridge.metrics.steals).to.equal(1);
    });

    it("'own' leaves an administrator's session alone: IPMI_ERR_SOL_IN_USE ends the attempt, no retry loop", async () => {
      const { bridge, source, client, errors, clock } = await heldBy('someone else');
      await client.waitClosed();
      expect(client.text()).to.equal('console unavailable: IPMI_ERR_SOL_IN_USE: SOL payload already active on another session\r\n');
      expect(errors.map((e) => e.code)).to.deep.equal(['IPMI_ERR_SOL_IN_USE']);
      expect(source.openOptions.map((o) => o.steal)).to.deep.equal(['own']);
      clock.advance(60_000);
      expect(source.opens).to.equal(1);
      expect(bridge.metrics.steals).to.equal(0);
      expect(source.heldElsewhere).to.equal(true);
      expect(bridge.state).to.equal('idle');
    });

    it("'always' takes it from anyone; 'never' takes it from nobody", async () => {
      const always = await heldBy('someone else', 'always');
      await always.client.write('taken');
      await always.client.waitForText('taken');
      expect(always.source.openOptions.map((o) => o.steal)).to.deep.equal(['always']);
      expect(always.bridge.metrics.steals).to.equal(1);
      const never = await heldBy('own', 'never');
      await never.client.waitClosed();
      expect(never.errors.map((e) => e.code).at(-1)).to.equal('IPMI_ERR_SOL_IN_USE');
      expect(never.source.openOptions.every((o) => o.steal === 'never')).to.equal(true);
      expect(never.source.steals).to.equal(0);
    });
  });

  it('gives up on an error the BMC stated: the client reads one line, is closed, no retry; lastError says why', async () => {
    const clock = new ManualClock();
    const { bridge, source } = await start({}, { clock });
    const errors: IpmiError[] = [];
    const reasons: string[] = [];
    bridge.on('error', (error: IpmiError) => errors.push(error));
    bridge.on('client-disconnected', ({ reason }: { reason: string }) => reasons.push(reason));
    source.failures.push(new IpmiError('IPMI_ERR_AUTH', 'The BMC refused user "admin": wrong password (RAKP status 0x0d).'));
    const client = await connect(bridge);
    await client.waitClosed();
    expect(client.text()).to.equal('console unavailable: IPMI_ERR_AUTH: The BMC refused user "admin": wrong password (RAKP status 0x0d).\r\n');
    expect(bridge.lastError).to.include({ code: 'IPMI_ERR_AUTH', retried: false });
    expect(bridge.lastError!.at).to.be.instanceOf(Date);
    expect(errors.map((e) => e.code)).to.deep.equal(['IPMI_ERR_AUTH']);
    expect(reasons).to.deep.equal(['console-failed']);
    clock.advance(60_000);
    expect(source.opens).to.equal(1);
    expect(bridge.state).to.equal('idle');
  });

  it('retries an error inferred from silence, a timeout and an unreachable BMC while the client stays connected', async () => {
    const clock = new ManualClock();
    const { bridge, source, states } = await start({}, { clock });
    const reconnects: ReconnectEvent[] = [];
    bridge.on('reconnect', (event: ReconnectEvent) => reconnects.push(event));
    bridge.on('error', () => undefined);
    source.failures.push(
      new IpmiError('IPMI_ERR_AUTH', 'The BMC never answered RAKP 1: the user name is unknown', { inferred: true }),
      new IpmiError('IPMI_ERR_TIMEOUT', 'no answer'),
      new IpmiError('IPMI_ERR_UNREACHABLE', 'nothing answers'),
    );
    const opened = source.nextOpen();
    const client = await connect(bridge);
    for (let attempt = 1; attempt <= 3; attempt++) {
      await waitUntil(() => reconnects.length === attempt, `retry ${attempt} to be scheduled`);
      expect(bridge.lastError).to.include({ retried: true });
      clock.advance(reconnects.at(-1)!.delayMs);
    }
    await opened;
    await client.write('still here');
    await client.waitForText('still here');
    expect(reconnects.map((r) => r.error.code)).to.deep.equal(['IPMI_ERR_AUTH', 'IPMI_ERR_TIMEOUT', 'IPMI_ERR_UNREACHABLE']);
    expect(states).to.deep.equal(['connecting', 'reconnecting', 'active']);
    expect(bridge.lastError).to.include({ code: 'IPMI_ERR_UNREACHABLE' }); // kept after recovery; state says active
  });

  it('a client leaving while the console opens leaves no console behind, even if the open ignores the abort', async () => {
    for (const ignoreAbort of [false, true]) {
      const { bridge, source } = await start({ openDelayMs: 50, ignoreAbort });
      const client = await connect(bridge);
      await waitUntil(() => source.opens === 1, 'the open to start');
      client.destroy();
      await waitUntil(() => bridge.state === 'idle', 'idle');
      // the open settles: aborted, or (ignoring the abort) resolved and at once released
      await waitUntil(() => (ignoreAbort ? source.deactivations === 1 : source.aborted === 1), 'the open to settle');
      expect(source.active, `ignoreAbort ${ignoreAbort}`).to.equal(0);
      expect(source.activations).to.equal(ignoreAbort ? 1 : 0);
      expect(source.deactivations).to.equal(ignoreAbort ? 1 : 0);
      // and the next client gets a console
      const next = await connect(bridge);
      await next.write('ok');
      await next.waitForText('ok');
    }
  });

  it("'always': the console opens at listen, output with no client is read and discarded, clients come and go", async () => {
    const { bridge, source } = await start({}, { activation: 'always' });
    await waitUntil(() => bridge.state === 'active', 'active without a client');
    const stream = source.current!;
    stream.produce(256 * 1024);
    await waitUntil(() => stream.produced === 256 * 1024 && bridge.metrics.bytesDiscarded === 256 * 1024, 'discarding');
    expect(stream.producerBlocked).to.equal(false); // never paused: the BMC keeps flowing
    const client = await connect(bridge);
    stream.print('live\r\n');
    await client.waitForText('live\r\n');
    expect(client.text()).to.equal('live\r\n'); // no stale output replayed
    client.destroy();
    await waitUntil(() => !bridge.metrics.clientConnected, 'client gone');
    const discarded = bridge.metrics.bytesDiscarded;
    stream.print('nobody');
    await waitUntil(() => bridge.metrics.bytesDiscarded === discarded + 6, 'the output to be read and discarded');
    expect(source.deactivations).to.equal(0);
    expect(bridge.state).to.equal('active');
    await bridge.close();
    expect(source.deactivations).to.equal(1);
  });

  it('listens on the IPv6 loopback with a bracketed URL', async function () {
    if (!(await hasIpv6Loopback())) this.skip(); // no ::1 on this machine: nothing to listen on
    const source = new FakeConsoleSource();
    const bridge = new ConsoleBridge({ source, host: '::1' });
    bridges.push(bridge);
    const port = await bridge.listen();
    expect(bridge.url).to.equal(`tcp://[::1]:${port}`);
    const client = await connect(bridge, '::1');
    await client.write('v6');
    await client.waitForText('v6');
  });

  it('validates its options and reports a failed bind with IPMI_ERR_SOCKET', async () => {
    const source = new FakeConsoleSource();
    const bad = (options: Partial<ConsoleBridgeOptions>): unknown => {
      try {
        new ConsoleBridge({ source, host: '127.0.0.1', ...options });
      } catch (error) {
        return error;
      }
      return undefined;
    };
    for (const options of [
      { activation: 'sometimes' as never },
      { idleTimeoutMs: -1 },
      { holdBytes: 1.5 },
      { port: 70000 },
      { host: '' },
      { reconnect: { initialDelayMs: 100, maxDelayMs: 10 } },
      { reconnect: { jitter: 2 } },
      { steal: 'sometimes' as never },
      { stealOnInUse: false } as never,
    ]) {
      const error = bad(options) as IpmiError;
      expect(error?.code, JSON.stringify(options)).to.equal('IPMI_ERR_BAD_ARGUMENT');
    }
    const { bridge } = await start();
    const clash = new ConsoleBridge({ source, host: '127.0.0.1', port: bridge.port });
    bridges.push(clash);
    const error = (await clash.listen().catch((e: unknown) => e)) as IpmiError;
    expect(error.code).to.equal('IPMI_ERR_SOCKET');
    expect((error.cause as { code?: string }).code).to.equal('EADDRINUSE');
  });

  it('backoffDelay: the window grows by factor up to the bound, jitter takes a random share of it; consoleUrl brackets IPv6', () => {
    const options = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, jitter: 0.2, spreadPerConsoleMs: 0, maxSpreadMs: 0 };
    expect([0, 1, 2, 10].map((n) => backoffDelay(options, n, () => 0))).to.deep.equal([500, 1000, 2000, 30_000]);
    expect(backoffDelay(options, 0, () => 0.5)).to.equal(450);
    expect(backoffDelay(options, 0, () => 0.999_999)).to.equal(400);
    expect(backoffDelay(options, 20, () => 0)).to.equal(30_000); // jitter never exceeds the bound
    expect(backoffDelay({ ...options, jitter: 1 }, 0, () => 0.999_999), 'full jitter').to.equal(0);
    expect(consoleUrl('10.0.0.5', 10000)).to.equal('tcp://10.0.0.5:10000');
    expect(consoleUrl('fd00::5', 10000)).to.equal('tcp://[fd00::5]:10000');
  });
});

/**
 * Wait until the console stays paused: the producer blocked, `queued()` true, and nothing produced for 50 event-loop
 * turns in a row. A first pause can be passing: at connect, before the bridge drains the stream, or while the kernel
 * still takes bytes into the loopback socket buffers (a busy machine delays that). Returns the bytes produced.
 */
async function settledStall(stream: { producerBlocked: boolean; produced: number }, queued: () => boolean): Promise<number> {
  const giveUpAt = Date.now() + 15_000;
  for (;;) {
    await waitUntil(() => stream.producerBlocked && queued(), 'the console to be paused', 15_000);
    const at = stream.produced;
    await turns(50);
    if (stream.produced === at && stream.producerBlocked) return at;
    if (Date.now() > giveUpAt) throw new Error(`the console never stayed paused (${stream.produced} bytes produced)`);
  }
}

import { expect } from 'chai';
import type net from 'node:net';
import { ManualClock } from '../../lib/clock.js';
import { IpmiError, isIpmiError } from '../../lib/errors.js';
import { ConsoleManager, type ConsoleEvent, type ConsoleManagerOptions } from '../../lib/bridge/console-manager.js';
import { FakeConsoleSource } from './fake-console-source.js';
import { TestClient, closeServer, findFreePortRange, hasIpv6Loopback, occupy, waitUntil } from './tcp-client.js';

interface Bmc {
  host: string;
}

describe('bridge/console-manager', function () {
  const managers: ConsoleManager<Bmc>[] = [];
  const clients: TestClient[] = [];
  const servers: net.Server[] = [];
  /** every source the factory built, per node, in order */
  let sources: Map<string, FakeConsoleSource[]>;
  /** what the next sources of a node are set up with (a BMC check that fails, no verify()...) */
  let setups: Map<string, (source: FakeConsoleSource) => void>;
  let fakeOptions: Map<string, { verifiable?: boolean }>;

  function manager(options: Partial<ConsoleManagerOptions<Bmc>> & { portRange: string }): ConsoleManager<Bmc> {
    const m = new ConsoleManager<Bmc>({
      address: '127.0.0.1',
      idleTimeoutMs: 600_000,
      inUseGraceMs: 50,
      lingerMs: 200,
      sourceFactory: (nodeId) => {
        const source = new FakeConsoleSource(fakeOptions.get(nodeId));
        setups.get(nodeId)?.(source);
        sources.set(nodeId, [...(sources.get(nodeId) ?? []), source]);
        return source;
      },
      ...options,
    });
    managers.push(m);
    return m;
  }

  function source(nodeId: string): FakeConsoleSource {
    return sources.get(nodeId)!.at(-1)!;
  }

  function portOf(url: string): number {
    return Number(/:(\d+)$/.exec(url)![1]);
  }

  async function connect(url: string, host = '127.0.0.1'): Promise<TestClient> {
    const client = await TestClient.connect(portOf(url), host);
    clients.push(client);
    return client;
  }

  beforeEach(() => {
    sources = new Map();
    setups = new Map();
    fakeOptions = new Map();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await Promise.all(managers.splice(0).map((m) => m.stopAll()));
    await Promise.all(servers.splice(0).map(closeServer));
  });

  it("starts a console on the first free port of the range and returns Ironic's socat console info", async () => {
    const base = await findFreePortRange(3);
    const m = manager({ portRange: `${base}:${base + 3}` });
    const info = await m.startConsole('node-a', { host: 'bmc-a' });
    expect(info).to.deep.equal({ type: 'socat', url: `tcp://127.0.0.1:${base}` });
    expect(m.getConsole('node-a')).to.deep.equal(info);
    expect(m.getConsole('node-b')).to.equal(undefined);
    const [entry] = m.list();
    expect(entry).to.include({ nodeId: 'node-a', url: info.url, port: base, state: 'idle' });
    expect(entry!.metrics.clients).to.equal(0);
    const client = await connect(info.url);
    await client.write('hi');
    await client.waitForText('hi');
  });

  it('getConsole() never disturbs a connected client', async () => {
    const base = await findFreePortRange(2);
    const m = manager({ portRange: `${base}:${base + 2}` });
    const info = await m.startConsole('node-a', { host: 'bmc-a' });
    const client = await connect(info.url);
    await client.write('1');
    await client.waitForText('1');
    for (let i = 0; i < 50; i++) {
      expect(m.getConsole('node-a')).to.deep.equal(info);
      m.list();
    }
    await client.write('2');
    await client.waitForText('12');
    expect(client.isClosed).to.equal(false);
    expect(source('node-a')).to.include({ activations: 1, deactivations: 0 });
    expect(m.list()[0]!.state).to.equal('active');
  });

  it('restarts an already-started console cleanly on the same port', async () => {
    const base = await findFreePortRange(3);
    const m = manager({ portRange: `${base}:${base + 3}` });
    await m.startConsole('other', { host: 'bmc-o' }); // takes base
    const info = await m.startConsole('node-a', { host: 'bmc-a' });
    expect(portOf(info.url)).to.equal(base + 1);
    const old = await connect(info.url);
    await old.write('old');
    await old.waitForText('old');
    const again = await m.startConsole('node-a', { host: 'bmc-a' });
    expect(again).to.deep.equal(info);
    await old.waitClosed();
    expect(sources.get('node-a')![0]).to.include({ deactivations: 1, closed: true });
    const client = await connect(again.url);
    await client.write('new');
    await client.waitForText('new');
    expect(m.list().map((e) => e.nodeId).sort()).to.deep.equal(['node-a', 'other']);
  });

  it('uses an explicit port as is, keeps it on restart, and refuses one another console holds', async () => {
    const [base, explicit] = [await findFreePortRange(2), await findFreePortRange(1)];
    const m = manager({ portRange: `${base}:${base + 2}` });
    const info = await m.startConsole('node-a', { host: 'bmc-a' }, { port: explicit });
    expect(info.url).to.equal(`tcp://127.0.0.1:${explicit}`);
    expect((await m.startConsole('node-a', { host: 'bmc-a' })).url).to.equal(info.url);
    const error = (await m.startConsole('node-b', { host: 'bmc-b' }, { port: explicit }).catch((e: unknown) => e)) as IpmiError;
    expect(error.code).to.equal('IPMI_ERR_SOCKET');
    expect(error.message).to.contain('node-a');
    expect(m.getConsole('node-b')).to.equal(undefined);
    const bad = await m.startConsole('node-b', { host: 'bmc-b' }, { port: 0 }).catch((e: unknown) => e);
    expect(isIpmiError(bad, 'IPMI_ERR_BAD_ARGUMENT')).to.equal(true);
  });

  it('skips ports others hold, reports IPMI_ERR_NO_FREE_PORTS on exhaustion, and reuses a stopped port at once', async () => {
    const base = await findFreePortRange(3);
    servers.push(await occupy(base));
    const m = manager({ portRange: `${base}:${base + 3}` });
    expect((await m.startConsole('a', { host: 'a' })).url).to.equal(`tcp://127.0.0.1:${base + 1}`);
    expect((await m.startConsole('b', { host: 'b' })).url).to.equal(`tcp://127.0.0.1:${base + 2}`);
    const error = await m.startConsole('c', { host: 'c' }).catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_NO_FREE_PORTS')).to.equal(true);
    expect(m.getConsole('c')).to.equal(undefined);
    expect(sources.get('c')![0]!.closed).to.equal(true); // the unused bridge was closed
    await m.stopConsole('a');
    expect(m.getConsole('a')).to.equal(undefined);
    expect((await m.startConsole('c', { host: 'c' })).url).to.equal(`tcp://127.0.0.1:${base + 1}`);
  });

  it('stops a console with a client connected; stopping an unknown one is a no-op; stopAll stops all', async () => {
    const base = await findFreePortRange(2);
    const m = manager({ portRange: `${base}:${base + 2}` });
    const a = await m.startConsole('a', { host: 'a' });
    await m.startConsole('b', { host: 'b' });
    const client = await connect(a.url);
    await client.write('x');
    await client.waitForText('x');
    await m.stopConsole('a');
    await client.waitClosed();
    expect(source('a')).to.include({ deactivations: 1, closed: true });
    await m.stopConsole('a');
    await m.stopConsole('never-started');
    await m.stopAll();
    expect(m.list()).to.deep.equal([]);
    expect(source('b').closed).to.equal(true);
  });

  it('serializes concurrent starts and stops of one node', async () => {
    const base = await findFreePortRange(2);
    const m = manager({ portRange: `${base}:${base + 2}` });
    const [one, two] = await Promise.all([m.startConsole('a', { host: 'a' }), m.startConsole('a', { host: 'a' })]);
    expect(one).to.deep.equal(two);
    expect(m.list()).to.have.length(1);
    await Promise.all([m.stopConsole('a'), m.startConsole('a', { host: 'a' }), m.stopConsole('a')]);
    expect(m.list()).to.deep.equal([]);
    expect(sources.get('a')!.every((s) => s.closed)).to.equal(true);
  });

  it('forwards every bridge event as console-event with the node ID', async () => {
    const base = await findFreePortRange(1);
    const m = manager({ portRange: `${base}:${base + 1}` });
    const events: ConsoleEvent[] = [];
    m.on('console-event', (event: ConsoleEvent) => events.push(event));
    const info = await m.startConsole('node-a', { host: 'a' });
    const client = await connect(info.url);
    await client.write('e');
    await client.waitForText('e');
    client.destroy();
    await waitUntil(() => events.some((e) => e.event === 'state' && e.state === 'idle'), 'the idle state event');
    expect(events.every((e) => e.nodeId === 'node-a')).to.equal(true);
    expect(events.map((e) => (e.event === 'state' ? `state:${e.state}` : e.event))).to.deep.equal([
      'client-connected',
      'state:connecting',
      'state:active',
      'client-disconnected',
      'state:idle',
    ]);
  });

  it('restore(): explicit ports first, range for the rest, disabled ones stopped, one failure does not stop the others', async () => {
    const base = await findFreePortRange(3);
    const busy = await findFreePortRange(1);
    servers.push(await occupy(busy));
    const m = manager({ portRange: `${base}:${base + 3}` });
    await m.startConsole('gone', { host: 'g' });
    const results = await m.restore([
      { nodeId: 'ranged', bmcOptions: { host: 'r' }, enabled: true },
      { nodeId: 'pinned', bmcOptions: { host: 'p' }, enabled: true, port: base },
      { nodeId: 'gone', bmcOptions: { host: 'g' }, enabled: false },
      { nodeId: 'blocked', bmcOptions: { host: 'b' }, enabled: true, port: busy },
    ]);
    expect(results.map((r) => r.nodeId)).to.deep.equal(['ranged', 'pinned', 'gone', 'blocked']);
    expect(results[0]!.info!.url).to.equal(`tcp://127.0.0.1:${base + 1}`); // base was pinned, though listed later
    expect(results[1]!.info!.url).to.equal(`tcp://127.0.0.1:${base}`);
    expect(results[2]).to.deep.equal({ nodeId: 'gone', enabled: false });
    expect(results[3]!.error!.code).to.equal('IPMI_ERR_SOCKET');
    expect(m.list().map((e) => e.nodeId).sort()).to.deep.equal(['pinned', 'ranged']);
    // conductor restarts: restore again is idempotent in effect (same ports)
    const again = await m.restore([
      { nodeId: 'ranged', bmcOptions: { host: 'r' }, enabled: true },
      { nodeId: 'pinned', bmcOptions: { host: 'p' }, enabled: true, port: base },
    ]);
    expect(again.map((r) => r.info!.url)).to.deep.equal([results[0]!.info!.url, results[1]!.info!.url]);
  });

  it('startConsole with verify: a BMC that refuses is an error and starts nothing; one that answers starts', async () => {
    const base = await findFreePortRange(2);
    const m = manager({ portRange: `${base}:${base + 2}` });
    const refused = new IpmiError('IPMI_ERR_AUTH', 'The BMC refused user "admin": wrong password (RAKP status 0x0d).');
    setups.set('bad', (s) => (s.verifyError = refused));
    const error = await m.startConsole('bad', { host: 'b' }, { verify: true }).catch((e: unknown) => e);
    expect(error).to.equal(refused);
    expect(m.getConsole('bad')).to.equal(undefined);
    expect(source('bad')).to.include({ verifications: 1, opens: 0, closed: true });
    const info = await m.startConsole('good', { host: 'g' }, { verify: true });
    expect(source('good').verifications).to.equal(1);
    expect(m.getConsole('good')).to.deep.equal(info);
    // a source with no verify(): the check opens and releases a console
    fakeOptions.set('plain', { verifiable: false });
    await m.startConsole('plain', { host: 'p' }, { verify: true });
    expect(source('plain')).to.include({ opens: 1, activations: 1, deactivations: 1 });
  });

  it('verify is bounded by openTimeoutMs (on the clock): a BMC that never answers is IPMI_ERR_TIMEOUT', async () => {
    const base = await findFreePortRange(1);
    const clock = new ManualClock();
    const m = manager({ portRange: `${base}:${base + 1}`, clock, openTimeoutMs: 5000 });
    setups.set('silent', (s) => (s.verifyHangs = true));
    const pending = m.startConsole('silent', { host: 's' }, { verify: true }).catch((e: unknown) => e);
    await waitUntil(() => sources.get('silent')?.at(-1)?.verifications === 1, 'the check to start');
    clock.advance(4999);
    clock.advance(1);
    const error = (await pending) as IpmiError;
    expect(error.code).to.equal('IPMI_ERR_TIMEOUT');
    expect(error.message).to.contain('silent');
    expect(m.getConsole('silent')).to.equal(undefined);
  });

  it('the reconnect window grows with the consoles the manager has open or opening, idle listeners aside (fleet window, issue 12)', async () => {
    const base = await findFreePortRange(4);
    const clock = new ManualClock();
    const reconnect = { initialDelayMs: 100, maxDelayMs: 100, spreadPerConsoleMs: 1000 };
    const m = manager({ portRange: `${base}:${base + 4}`, clock, random: () => 0, reconnect }); // random 0: the whole window
    const delays: number[] = [];
    m.on('console-event', (e) => {
      if (e.event === 'reconnect') delays.push(e.delayMs);
    });
    const timeout = (): IpmiError => new IpmiError('IPMI_ERR_TIMEOUT', 'no answer');
    setups.set('a', (s) => s.failures.push(timeout(), timeout()));
    const info = await m.startConsole('a', { host: 'a' });
    const others = [await m.startConsole('b', { host: 'b' }), await m.startConsole('c', { host: 'c' })];
    await m.startConsole('idle', { host: 'i' }); // listening, no client: not part of the fleet
    for (const other of others) await connect(other.url);
    await waitUntil(() => m.list().filter((e) => e.state === 'active').length === 2, 'b and c active');
    await connect(info.url);
    await waitUntil(() => delays.length === 1, 'the first retry');
    expect(delays, '3 consoles open or opening: a 3 s window').to.deep.equal([3000]);
    await m.stopConsole('b');
    await m.stopConsole('c');
    clock.advance(3000);
    await waitUntil(() => delays.length === 2, 'the second retry');
    expect(delays[1], '1 console left: a 1 s window').to.equal(1000);
    clock.advance(1000);
    await waitUntil(() => m.getConsole('a')?.state === 'active', 'the console back');
  });

  it('restore with verify: a node with a wrong password is reported as failed, not started; the others start', async () => {
    const base = await findFreePortRange(2);
    const m = manager({ portRange: `${base}:${base + 2}` });
    setups.set('wrong-password', (s) => (s.verifyError = new IpmiError('IPMI_ERR_AUTH', 'wrong password (RAKP status 0x0d)')));
    const results = await m.restore(
      [
        { nodeId: 'ok', bmcOptions: { host: 'o' }, enabled: true },
        { nodeId: 'wrong-password', bmcOptions: { host: 'w' }, enabled: true },
      ],
      { verify: true },
    );
    expect(results[0]!.info).to.not.equal(undefined);
    expect(results[1]!.info).to.equal(undefined);
    expect(results[1]!.error!.code).to.equal('IPMI_ERR_AUTH');
    expect(m.list().map((e) => e.nodeId)).to.deep.equal(['ok']);
  });

  it("getConsole and list show each console's state and last error; getConsole's JSON stays Ironic's shape", async () => {
    const base = await findFreePortRange(1);
    const m = manager({ portRange: `${base}:${base + 1}` });
    setups.set('n', (s) => s.failures.push(new IpmiError('IPMI_ERR_AUTH', 'wrong password (RAKP status 0x0d)')));
    const info = await m.startConsole('n', { host: 'n' });
    expect(m.getConsole('n')!.state).to.equal('idle');
    expect(m.getConsole('n')!.lastError).to.equal(undefined);
    const client = await connect(info.url);
    await client.waitClosed();
    expect(client.text()).to.equal('console unavailable: IPMI_ERR_AUTH: wrong password (RAKP status 0x0d)\r\n');
    const status = m.getConsole('n')!;
    expect(status.state).to.equal('idle');
    expect(status.lastError).to.include({ code: 'IPMI_ERR_AUTH', message: 'wrong password (RAKP status 0x0d)', retried: false });
    expect(JSON.parse(JSON.stringify(status))).to.deep.equal(info);
    const [entry] = m.list();
    expect(entry!.lastError).to.include({ code: 'IPMI_ERR_AUTH' });
    expect(entry!.state).to.equal('idle');
  });

  it('gives IPv6 consoles a bracketed URL', async function () {
    if (!(await hasIpv6Loopback())) this.skip(); // no ::1 on this machine: nothing to listen on
    const base = await findFreePortRange(1);
    const m = manager({ address: '::1', portRange: `${base}:${base + 1}` });
    const info = await m.startConsole('v6', { host: 'bmc' });
    expect(info).to.deep.equal({ type: 'socat', url: `tcp://[::1]:${base}` });
    const client = await connect(info.url, '::1');
    await client.write('six');
    await client.waitForText('six');
  });

  it('validates its arguments with IPMI_ERR_BAD_ARGUMENT before anything starts', async () => {
    const refused = (make: () => unknown): boolean => {
      try {
        make();
      } catch (error) {
        return isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT');
      }
      return false;
    };
    expect(refused(() => manager({ portRange: '20000:10000' }))).to.equal(true);
    expect(refused(() => manager({ portRange: '10000:10001', idleTimeoutMs: -5 }))).to.equal(true);
    expect(refused(() => manager({ portRange: '10000:10001', address: ' ' }))).to.equal(true);
    const m = manager({ portRange: '10000:10001' });
    for (const [nodeId, port] of [['', undefined], ['n', 65536], ['n', 1.5]] as const) {
      const error = await m.startConsole(nodeId, { host: 'x' }, { port }).catch((e: unknown) => e);
      expect(isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT'), `${nodeId}:${port}`).to.equal(true);
    }
    expect(m.list()).to.deep.equal([]);
  });
});

/**
 * The bridge over the real stack: ConsoleManager's default source (IpmiConsoleSource: RMCP+ session + SOL)
 * against the fake BMC on the UDP loopback, with real TCP clients.
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { ConsoleManager, type ConsoleEvent } from '../../lib/bridge/console-manager.js';
import { IpmiConsoleSource, type IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
import type { ConsoleOpenOptions } from '../../lib/bridge/console-source.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { SolSessionRegistry } from '../../lib/sol/sol-ownership.js';
import { isIpmiError } from '../../lib/errors.js';

/** ConsoleOpenOptions with a steal policy (C3: 'never' | 'own' | 'always'; a boolean before the bridge's change). */
function withSteal(steal: 'never' | 'own' | 'always'): ConsoleOpenOptions {
  return { steal, attempt: 0 } as unknown as ConsoleOpenOptions;
}
import { TestClient, findFreePortRange, waitUntil } from './tcp-client.js';

describe('bridge/ipmi-console-source (over the fake BMC)', function () {
  let bmc: FakeBmc;
  let manager: ConsoleManager;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    bmc = new FakeBmc({ address: '127.0.0.1', users: [{ name: 'admin', password: 'password', privilege: 4 }], sol: { host: 'echo' } });
    await bmc.listen();
    const base = await findFreePortRange(1);
    manager = new ConsoleManager({
      address: '127.0.0.1',
      portRange: `${base}:${base + 1}`,
      reconnect: { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 0 },
      inUseGraceMs: 100,
      lingerMs: 200,
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await manager.stopAll();
    await bmc.close();
  });

  function bmcOptions(): IpmiConsoleOptions {
    return { host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', timeoutMs: 200, retries: 2 };
  }

  async function connect(url: string): Promise<TestClient> {
    const client = await TestClient.connect(Number(/:(\d+)$/.exec(url)![1]));
    clients.push(client);
    return client;
  }

  it('activates SOL per client, echoes through the BMC, and deactivates SOL and closes the session on leave', async () => {
    const info = await manager.startConsole('node-1', bmcOptions());
    for (let i = 0; i < 3; i++) {
      const client = await connect(info.url);
      await client.write(`hello ${i}\r`);
      await client.waitForText(`hello ${i}\r`);
      client.destroy();
      await waitUntil(() => bmc.solSessionId === undefined && bmc.sessions.length === 0, 'SOL released and session closed');
    }
    expect(bmc.stats.solActivations).to.equal(3);
  });

  it('re-activates SOL when the BMC deactivates it under a connected client', async () => {
    const events: ConsoleEvent[] = [];
    manager.on('console-event', (e: ConsoleEvent) => events.push(e));
    const info = await manager.startConsole('node-1', bmcOptions());
    const client = await connect(info.url);
    await client.write('one ');
    await client.waitForText('one ');
    bmc.deactivateSol('forced');
    await waitUntil(() => events.some((e) => e.event === 'reconnect'), 'a reconnect');
    await client.write('two');
    await client.waitForText('one two');
    expect(client.isClosed).to.equal(false);
    expect(bmc.stats.solActivations).to.equal(2);
    expect(manager.list()[0]!.metrics.reconnects).to.equal(1);
  });

  describe('IpmiConsoleSource.open: steal policy and release (C3, C4)', () => {
    it("'own' takes the payload back from our own stale session; deactivate() releases it and closes the session", async () => {
      const ours = new SolSessionRegistry();
      const source = new IpmiConsoleSource({ ...bmcOptions(), sol: { ownSessions: ours, ownershipCheckMs: 0 } });
      const stale = await source.open(new AbortController().signal, withSteal('never'));
      stale.on('error', () => undefined);
      const fresh = await source.open(new AbortController().signal, withSteal('own'));
      await stale.deactivate(); // lost (the BMC said "deactivating", or Get Payload Instance Info): no Deactivate; its session closes
      await waitUntil(() => bmc.sessions.length === 1, 'the stale session closed');
      expect(bmc.solSessionId).to.equal(bmc.sessions[0]!.bmcSessionId);
      await fresh.deactivate();
      await waitUntil(() => bmc.solSessionId === undefined && bmc.sessions.length === 0, 'SOL released and session closed');
    });

    it("'own' leaves a payload held by a session this process did not open: IPMI_ERR_SOL_IN_USE, nothing left open", async () => {
      const admin = await IpmiSession.open({ ...bmcOptions() });
      try {
        const adminSol = await activateSol(admin, { ownSessions: new SolSessionRegistry(), ownershipCheckMs: 0 });
        const source = new IpmiConsoleSource({ ...bmcOptions(), sol: { ownSessions: new SolSessionRegistry() } });
        let err: unknown;
        try {
          await source.open(new AbortController().signal, withSteal('own'));
        } catch (e) {
          err = e;
        }
        expect(isIpmiError(err, 'IPMI_ERR_SOL_IN_USE'), String(err)).to.equal(true);
        expect((err as Error).message).to.contain(`0x${admin.bmcSessionId.toString(16)}`);
        expect((err as Error).message).to.not.contain('password');
        expect(bmc.solSessionId).to.equal(admin.bmcSessionId);
        await waitUntil(() => bmc.sessions.length === 1, 'the refused session closed');
        // 'always' takes it from anyone
        const taken = await source.open(new AbortController().signal, withSteal('always'));
        expect(bmc.solSessionId).to.not.equal(admin.bmcSessionId);
        await waitUntil(() => adminSol.destroyed, 'the admin stream ended (the BMC said "deactivating")');
        await taken.deactivate();
      } finally {
        await admin.close();
      }
    });

    it('a stream that ends on its own closes its session (onRelease, no monkey-patched deactivate)', async () => {
      const source = new IpmiConsoleSource({ ...bmcOptions(), sol: { ownershipCheckMs: 0 } });
      const stream = await source.open(new AbortController().signal, withSteal('never'));
      stream.on('error', () => undefined);
      expect(Object.prototype.hasOwnProperty.call(stream, 'deactivate')).to.equal(false);
      bmc.deactivateSol('forced');
      await waitUntil(() => bmc.sessions.length === 0, 'the session closed');
      await stream.deactivate(); // at once: nothing left to release
    });
  });
});

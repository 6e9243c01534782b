/**
 * The bridge over the real stack: ConsoleManager's default source (IpmiConsoleSource: RMCP+ session + SOL)
 * against the fake BMC on the UDP loopback, with real TCP clients.
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { ConsoleManager, type ConsoleEvent } from '../../lib/bridge/console-manager.js';
import type { IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
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
});

/**
 * Failures visible where the user looks (issue 9, C5), end to end with the real IpmiConsoleSource: a wrong
 * password or an unknown user gives the TCP client one line `console unavailable: CODE: sentence` (no secret)
 * before it is closed, getConsole()/list() show the state and the last error, and restore/startConsole with
 * `verify: true` report the node as failed instead of started. Against our fake BMC and against ipmi_sim.
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import type { IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
import { TestClient, findFreePortRange } from '../bridge/tcp-client.js';
import { startIpmiSim, startSerialHost, type IpmiSimHandle, type SerialHost } from '../helpers/ipmi-sim.js';
import { requirePeer } from '../helpers/peers.js';
import { BRIDGE_SETTINGS, portOf } from './bridge-shared.js';

const SECRET = 'not-the-password-42';

/** One node with wrong credentials: the client's line, the console's status, and restore with verify. */
async function expectVisibleFailure(bmc: { port: number; cipherSuite: number; username: string }, expectedText: RegExp): Promise<void> {
  const base = await findFreePortRange(2);
  const manager = new ConsoleManager({ ...BRIDGE_SETTINGS, address: '127.0.0.1', portRange: `${base}:${base + 2}` });
  try {
    const options: IpmiConsoleOptions = {
      host: '127.0.0.1',
      port: bmc.port,
      username: bmc.username,
      password: SECRET,
      cipherSuite: bmc.cipherSuite,
      timeoutMs: 300,
      retries: 1,
    };
    const info = await manager.startConsole('node-bad', options);
    const client = await TestClient.connect(portOf(info.url));
    await client.waitClosed(10_000);
    const line = client.text();
    expect(line).to.match(/^console unavailable: IPMI_ERR_AUTH: .+\r\n$/);
    expect(line).to.match(expectedText);
    expect(line).to.not.contain(SECRET);
    const status = manager.getConsole('node-bad')!;
    expect(status.state).to.equal('idle');
    expect(status.lastError).to.include({ code: 'IPMI_ERR_AUTH', retried: false });
    expect(manager.list()[0]!.lastError!.code).to.equal('IPMI_ERR_AUTH');

    await manager.stopConsole('node-bad');
    const [result] = await manager.restore([{ nodeId: 'node-bad', bmcOptions: options, enabled: true }], { verify: true });
    expect(result!.info, 'a node with a wrong password is not reported as started').to.equal(undefined);
    expect(result!.error!.code).to.equal('IPMI_ERR_AUTH');
    expect(result!.error!.message).to.not.contain(SECRET);
    expect(manager.getConsole('node-bad')).to.equal(undefined);
  } finally {
    await manager.stopAll();
  }
}

describe('interop: console failures the user sees (fake BMC)', function () {
  this.timeout(30_000);
  let bmc: FakeBmc;

  beforeEach(async () => {
    bmc = new FakeBmc({ address: '127.0.0.1', port: 0, users: [{ name: 'admin', password: 'password', privilege: 4 }] });
    await bmc.listen();
  });

  afterEach(async () => {
    await bmc.close();
  });

  it('wrong password: the client reads "console unavailable: IPMI_ERR_AUTH: ..."; restore with verify reports it', async () => {
    await expectVisibleFailure({ port: bmc.port, cipherSuite: 17, username: 'admin' }, /wrong password/);
  });

  it('unknown user: the same, naming the user', async () => {
    await expectVisibleFailure({ port: bmc.port, cipherSuite: 17, username: 'nobody' }, /"nobody" is unknown/);
  });

  it('startConsole with verify: a BMC that answers starts the console', async () => {
    const base = await findFreePortRange(1);
    const manager = new ConsoleManager({ ...BRIDGE_SETTINGS, address: '127.0.0.1', portRange: `${base}:${base + 1}` });
    try {
      const options = { host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 17 };
      const info = await manager.startConsole('node-ok', options, { verify: true });
      expect(manager.getConsole('node-ok')).to.deep.equal(info);
      expect(bmc.stats.solActivations, 'verify opens a session, never SOL').to.equal(0);
    } finally {
      await manager.stopAll();
    }
  });
});

describe('interop: console failures the user sees (ipmi_sim)', function () {
  this.timeout(30_000);
  let host: SerialHost;
  let sim: IpmiSimHandle;

  before(async function () {
    requirePeer(this, 'ipmi_sim');
    host = await startSerialHost({ mode: 'echo' });
    sim = await startIpmiSim({ solHost: host.server });
  });

  after(async () => {
    await sim?.stop();
    await host?.close();
  });

  it('wrong password: the client reads the line; restore with verify reports it', async () => {
    await expectVisibleFailure({ port: sim.port, cipherSuite: 3, username: 'admin' }, /wrong password/);
  });

  it('unknown user: the client reads the line; restore with verify reports it', async () => {
    await expectVisibleFailure({ port: sim.port, cipherSuite: 3, username: 'nobody' }, /"nobody" is unknown/);
  });
});

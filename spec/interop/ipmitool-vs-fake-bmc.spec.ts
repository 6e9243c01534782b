/**
 * The real ipmitool (1.8.19, lanplus) against the fake BMC: this is what makes the fake BMC trustworthy as the
 * peer for suites ipmi_sim lacks (SHA-256: 15, 16, 17). ipmitool 1.8.19 does not implement MD5-128 integrity:
 * with -C 11/12 it completes the RAKP handshake, then aborts on an assertion building its first in-session
 * packet. So for 11 and 12 this spec only shows the handshake; spec/fixtures/fake-bmc.spec.ts proves the rest
 * with a raw console.
 */
import { expect } from 'chai';
import { FakeBmc, generatorBytes, type FakeBmcSessionInfo } from '../../fixtures/fake-bmc/index.js';
import { requirePeer } from '../helpers/peers.js';
import { lanplusArgs, runIpmitool, startIpmitoolSol } from '../helpers/ipmitool.js';

const USERS = [
  { name: 'admin', password: 'password', privilege: 4 },
  { name: 'oper', password: 'operpass', privilege: 3 },
  { name: 'viewer', password: 'viewpass', privilege: 2 },
];

describe('interop: ipmitool vs fake BMC', function () {
  this.timeout(30000);
  let bmc: FakeBmc;
  const closed: (FakeBmcSessionInfo & { reason: string })[] = [];

  before(async function () {
    requirePeer(this, 'ipmitool');
    bmc = new FakeBmc({ users: USERS, sol: { host: 'echo' } });
    await bmc.listen();
    bmc.on('session-close', (info: FakeBmcSessionInfo & { reason: string }) => closed.push(info));
  });

  after(async () => {
    await bmc?.close();
  });

  const target = (): { port: number } => ({ port: bmc.port });

  for (const suite of [0, 1, 2, 3, 6, 7, 8, 15, 16, 17]) {
    it(`mc info with -C ${suite}`, async function () {
      const r = await runIpmitool([...lanplusArgs(target(), { cipherSuite: suite }), 'mc', 'info']);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/Manufacturer ID\s+: 4753/);
      expect(r.stdout).to.match(/Product ID\s+: 21314 \(0x5342\)/);
      expect(r.stdout).to.match(/Firmware Revision\s+: 1\.23/);
      expect(r.stdout).to.match(/IPMI Version\s+: 2\.0/);
      const last = closed[closed.length - 1]!;
      expect(last).to.include({ cipherSuite: suite, username: 'admin', privilege: 4, reason: 'close-command' });
    });
  }

  it('-C 11 and -C 12: the RAKP handshake completes (ipmitool itself then lacks MD5-128 integrity)', async function () {
    for (const suite of [11, 12]) {
      const opened = bmc.stats.sessionsOpened;
      await runIpmitool([...lanplusArgs(target(), { cipherSuite: suite, retries: 1, timeoutSec: 1 }), 'mc', 'info']);
      expect(bmc.stats.sessionsOpened, `suite ${suite}`).to.equal(opened + 1);
    }
  });

  it('K_g: ipmitool -y HEX works, without it the RAKP4 check fails', async function () {
    const kgBmc = new FakeBmc({ users: USERS, kg: Buffer.from('0123456789abcdef', 'hex') });
    await kgBmc.listen();
    try {
      const ok = await runIpmitool([...lanplusArgs({ port: kgBmc.port }, { cipherSuite: 17 }), '-y', '0123456789abcdef', 'mc', 'info']);
      expect(ok.code, ok.stderr).to.equal(0);
      const bad = await runIpmitool([...lanplusArgs({ port: kgBmc.port }, { cipherSuite: 17, retries: 1, timeoutSec: 1 }), 'mc', 'info']);
      expect(bad.code).to.not.equal(0);
    } finally {
      await kgBmc.close();
    }
  });

  it('-L USER and -L OPERATOR: the session runs at that privilege', async function () {
    let r = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 17, privilege: 'USER' }), 'mc', 'info']);
    expect(r.code, r.stderr).to.equal(0);
    expect(closed[closed.length - 1]).to.include({ maxPrivilege: 2, privilege: 2 });
    r = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 3, privilege: 'OPERATOR' }), 'mc', 'info']);
    expect(r.code, r.stderr).to.equal(0);
    expect(closed[closed.length - 1]).to.include({ maxPrivilege: 3, privilege: 3 });
    r = await runIpmitool([...lanplusArgs(target(), { user: 'oper', password: 'operpass', cipherSuite: 3, privilege: 'OPERATOR' }), 'mc', 'info']);
    expect(r.code, r.stderr).to.equal(0);
  });

  it('a privilege above the user limit is refused (RAKP2 0x0A)', async function () {
    const r = await runIpmitool([...lanplusArgs(target(), { user: 'viewer', password: 'viewpass', cipherSuite: 3, retries: 1, timeoutSec: 1 }), 'mc', 'info']);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include('Unable to establish IPMI v2 / RMCP+ session');
  });

  it('a wrong password and an unknown user fail', async function () {
    const before = bmc.stats.authFailures;
    for (const login of [{ password: 'wrong' }, { user: 'nobody' }]) {
      const r = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 17, retries: 1, timeoutSec: 1, ...login }), 'mc', 'info']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include('Unable to establish IPMI v2 / RMCP+ session');
    }
    expect(bmc.stats.authFailures).to.be.greaterThan(before);
  });

  it('sol info reads the SOL configuration parameters', async function () {
    const r = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 17 }), 'sol', 'info']);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/Enabled\s+: true/);
    expect(r.stdout).to.match(/Privilege Level\s+: USER/);
    expect(r.stdout).to.match(/Volatile Bit Rate \(kbps\)\s+: 115\.2/);
    expect(r.stdout).to.match(new RegExp(`Payload Port\\s+: ${bmc.port}`));
  });

  for (const suite of [17, 3, 2]) {
    it(`sol activate -C ${suite}: typed bytes come back from the echo host, ~. deactivates`, async function () {
      const sol = startIpmitoolSol(lanplusArgs(target(), { cipherSuite: suite }));
      try {
        await sol.waitForStdout('[SOL Session operational');
        expect(bmc.solSessionId).to.not.equal(undefined);
        sol.write(`hello-${suite}\r`);
        await sol.waitForStdout(`hello-${suite}\r`);
        const res = await sol.quit();
        expect(res.code, res.stderr).to.equal(0);
        expect(bmc.solSessionId).to.equal(undefined);
      } finally {
        sol.kill();
      }
    });
  }

  it('sol activate with a generator host: 3000 bytes over many packets arrive intact', async function () {
    const gen = new FakeBmc({ users: USERS, sol: { host: 'generator' } });
    await gen.listen();
    const sol = startIpmitoolSol(lanplusArgs({ port: gen.port }, { cipherSuite: 17 }));
    try {
      await sol.waitForStdout('[SOL Session operational');
      sol.write('gen 3000\r');
      const expected = generatorBytes(3000).toString('latin1');
      await sol.waitForStdout(expected, 10000);
      expect(gen.stats.solPacketsSent).to.be.at.least(Math.ceil(3000 / 255));
      expect(gen.stats.solGiveUps).to.equal(0);
      await sol.quit();
    } finally {
      sol.kill();
      await gen.close();
    }
  });

  it('a second sol activate is refused: "SOL payload already active on another session"; sol deactivate frees it', async function () {
    const first = startIpmitoolSol(lanplusArgs(target(), { cipherSuite: 17 }));
    try {
      await first.waitForStdout('[SOL Session operational');
      const holder = bmc.solSessionId;
      const second = startIpmitoolSol(lanplusArgs(target(), { cipherSuite: 3 }));
      const res = await second.exited;
      expect(res.code).to.not.equal(0);
      expect(res.stderr).to.include('SOL payload already active on another session');
      expect(bmc.solSessionId).to.equal(holder);

      const deactivated = new Promise<{ reason: string }>((resolve) => bmc.once('sol-deactivated', resolve));
      const d = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 17 }), 'sol', 'deactivate']);
      expect(d.code, d.stderr).to.equal(0);
      expect((await deactivated).reason).to.equal('deactivate-command');
      expect(bmc.solSessionId).to.equal(undefined);

      const again = await runIpmitool([...lanplusArgs(target(), { cipherSuite: 17 }), 'sol', 'deactivate']);
      expect(again.code).to.not.equal(0);
      expect(again.stderr).to.include('SOL payload already de-activated');
    } finally {
      // ipmitool ignores the "deactivating" status and would only notice at its next send (4 unanswered tries).
      first.kill();
    }
  });
});

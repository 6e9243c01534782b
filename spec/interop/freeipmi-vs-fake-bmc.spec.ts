/**
 * FreeIPMI 1.6.10 (bmc-info, ipmiconsole) against the fake BMC: the second independent client after ipmitool,
 * and the most battle-tested SOL client. What it showed about the fake BMC (fixed there):
 * - ipmiconsole asks Get Channel Payload Support (App 4Eh, IPMI 2.0 section 24.8) before activating SOL and
 *   gives up with "BMC Error" on 0xC1; ipmitool never asks. The command is part of the payload command set
 *   a BMC that supports payloads implements (section 24, table G), so the fake BMC answers it now.
 * - bmc-info asks Get Channel Info (App 42h, section 22.24) for every channel and Get System/Device GUID; with
 *   0xC1 it printed uninitialised channel records. The fake BMC answers them (LAN channel 1 only; 0xCC for the
 *   others).
 * - While SOL is up, ipmiconsole's session keepalive is Get Channel Payload Version (App 4Fh, section 24.9) for
 *   SOL. Any answer keeps the session (0xC1 did too); the fake BMC answers it as a payload BMC does (10h).
 * bmc-info's default driver is IPMI 1.5 LAN, which an RMCP+-only BMC refuses: these runs pass -D LAN_2_0.
 */
import { expect } from 'chai';
import { FakeBmc, byteSwapChangesPort, generatorBytes, type FakeBmcOptions } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import type { SolStream } from '../../lib/sol/sol-stream.js';
import { requirePeer } from '../helpers/peers.js';
import { listenBelow32768, runBmcInfo, startIpmiconsole, type Ipmiconsole } from '../helpers/freeipmi.js';
import { lanplusArgs, startIpmitoolSol } from '../helpers/ipmitool.js';

const USERS = [
  { name: 'admin', password: 'password', privilege: 4 },
  { name: 'viewer', password: 'viewpass', privilege: 2 },
];

/** Every suite FreeIPMI 1.6.10 speaks (ipmi-cipher-suite IDs 0-3, 6-8, 11, 12, 15-17): all twelve of ours. */
const FREEIPMI_SUITES = [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17];

const SOL_ESTABLISHED = '[SOL established]';

function once<T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

describe('interop: FreeIPMI vs fake BMC', function () {
  this.timeout(60_000);
  let bmc: FakeBmc;
  const consoles: Ipmiconsole[] = [];

  async function startBmc(extra: Partial<FakeBmcOptions> = {}): Promise<void> {
    await bmc?.close();
    // the byte-swapped port quirk shows only on a port whose two bytes differ: on 0x7171 ipmiconsole established
    // SOL and stayed past the test timeout, its keepalives answered (50 such ports in FREEIPMI_PORT_RANGE: 1 start
    // in 255)
    const quirkShows = extra.quirks?.solPortByteSwapped ? byteSwapChangesPort : undefined;
    bmc = await listenBelow32768((port) => new FakeBmc({ users: USERS, sol: { host: 'echo' }, ...extra, port }), quirkShows);
  }

  function ipmiconsole(suite = 3, extra: string[] = []): Ipmiconsole {
    const c = startIpmiconsole({ port: bmc.port, cipherSuite: suite }, extra);
    consoles.push(c);
    return c;
  }

  afterEach(async () => {
    for (const c of consoles.splice(0)) c.kill();
    await bmc?.close();
  });

  describe('bmc-info', function () {
    before(function () {
      requirePeer(this, 'bmc-info');
    });
    beforeEach(() => startBmc());

    for (const suite of FREEIPMI_SUITES) {
      it(`--get-device-id with -I ${suite}`, async () => {
        const opened = bmc.stats.sessionsOpened;
        const r = await runBmcInfo({ port: bmc.port, cipherSuite: suite }, ['--get-device-id']);
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout).to.match(/Firmware Revision\s+: 1\.23/);
        expect(r.stdout).to.match(/IPMI Version\s+: 2\.0/);
        expect(r.stdout).to.match(/Manufacturer ID\s+: .*\(4753\)/);
        expect(r.stdout).to.match(/Product ID\s+: 21314/);
        expect(bmc.stats.sessionsOpened).to.equal(opened + 1);
        expect(bmc.sessions, 'bmc-info closed its session').to.have.length(0);
      });
    }

    it('full report: GUIDs and the LAN channel (Get System/Device GUID, Get Channel Info)', async () => {
      const r = await runBmcInfo({ port: bmc.port, cipherSuite: 17 });
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/System GUID\s*: [0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(r.stdout).to.match(/Device GUID\s*: [0-9a-f]{8}-[0-9a-f]{4}-/);
      // bmc-info 1.6.10 also prints records for the channels that answered 0xCC (uninitialised entries of its
      // channel table): only the first record is ours to check.
      expect(r.stdout).to.match(/Channel Number\s+: 1\nMedium Type\s+: 802\.3 LAN\nProtocol Type\s+: IPMB-1\.0\n/);
      expect(r.stdout).to.match(/Session Support\s+: multi-session\nVendor ID\s+: .*\(7154\)/);
    });

    it('wrong password, unknown user, a user above its privilege: refused with FreeIPMI\'s words', async () => {
      let r = await runBmcInfo({ port: bmc.port, password: 'wrong', sessionTimeoutMs: 3000 }, ['--get-device-id']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include('password invalid');
      r = await runBmcInfo({ port: bmc.port, user: 'nobody', sessionTimeoutMs: 3000 }, ['--get-device-id']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.include('username invalid');
      r = await runBmcInfo({ port: bmc.port, user: 'viewer', password: 'viewpass', privilege: 'ADMIN', sessionTimeoutMs: 3000 }, ['--get-device-id']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/privilege level/);
    });

    it('a suite the BMC does not offer is refused', async () => {
      await startBmc({ cipherSuites: [3, 17] });
      const r = await runBmcInfo({ port: bmc.port, cipherSuite: 1, sessionTimeoutMs: 3000 }, ['--get-device-id']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/cipher suite/i);
    });
  });

  describe('ipmiconsole SOL', function () {
    before(function () {
      requirePeer(this, 'ipmiconsole');
    });

    for (const suite of FREEIPMI_SUITES) {
      it(`-I ${suite}: typing reaches the host and its echo comes back`, async () => {
        await startBmc();
        const typed: Buffer[] = [];
        bmc.on('sol-input', (b: Buffer) => typed.push(b));
        const c = ipmiconsole(suite);
        await c.waitFor(SOL_ESTABLISHED);
        const from = c.output().length;
        c.write(`typed on suite ${suite}\r`);
        await c.waitFor(`typed on suite ${suite}\r`, 10_000, from);
        expect(Buffer.concat(typed).toString()).to.equal(`typed on suite ${suite}\r`);
        const r = await c.quit();
        expect(r.code, r.stdout).to.equal(0);
        expect(bmc.solSessionId, 'ipmiconsole deactivated SOL on exit').to.equal(undefined);
      });
    }

    it('host output reaches ipmiconsole byte-exact (32 kB from the generator host)', async () => {
      await startBmc({ sol: { host: 'generator' } });
      const c = ipmiconsole(17);
      await c.waitFor(SOL_ESTABLISHED);
      const from = c.output().length;
      const n = 32 * 1024;
      c.write(`gen ${n}\r`);
      const want = generatorBytes(n).toString('latin1');
      await c.waitFor((text) => text.length >= n, 60_000, from);
      // the pty is raw (ipmiconsole set it so): the bytes arrive as the host wrote them
      const got = c.output().slice(from, from + n);
      expect(got.length).to.equal(n);
      expect(got === want, `first difference at ${[...want].findIndex((ch, i) => got[i] !== ch)}: ${JSON.stringify(got.slice(0, 80))}`).to.equal(true);
      await c.quit();
    });

    it('&B sends a break to the serial line', async () => {
      await startBmc();
      const c = ipmiconsole(3);
      await c.waitFor(SOL_ESTABLISHED);
      const broke = once(bmc, 'sol-break');
      c.write('&B');
      await broke;
      expect(bmc.stats.solBreaks).to.equal(1);
      await c.quit();
    });

    it('--dont-steal is refused while our client holds SOL; a plain ipmiconsole steals it; our stream ends', async () => {
      await startBmc();
      const session = await IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 17 });
      try {
        const ours: SolStream = await activateSol(session);
        const ended = once<Error | undefined>(ours, 'close');
        const refused = ipmiconsole(3, ['--dont-steal']);
        const r = await refused.exited;
        // ipmiconsole 1.6.10 reports it and exits 0
        expect(r.stdout).to.include('[error received]: SOL in use');
        expect(bmc.solSessionId).to.equal(session.bmcSessionId);

        const thief = ipmiconsole(3);
        await thief.waitFor(SOL_ESTABLISHED);
        const reason = await ended;
        expect((reason as { code?: string } | undefined)?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
        expect(bmc.solSessionId).to.not.equal(session.bmcSessionId);
        const from = thief.output().length;
        thief.write('stolen\r');
        await thief.waitFor('stolen\r', 10_000, from);
        await thief.quit();
      } finally {
        await session.close();
      }
    });

    it('ipmiconsole steals SOL from ipmitool (Deactivate Payload, then Activate)', async function () {
      requirePeer(this, 'ipmitool');
      await startBmc();
      const reasons: string[] = [];
      bmc.on('sol-deactivated', (e: { reason: string }) => reasons.push(e.reason));
      const tool = startIpmitoolSol(lanplusArgs({ port: bmc.port }, { cipherSuite: 3 }));
      try {
        await tool.waitForStdout('[SOL Session operational');
        const holder = bmc.solSessionId;
        expect(holder).to.not.equal(undefined);
        const c = ipmiconsole(17);
        await c.waitFor(SOL_ESTABLISHED);
        expect(bmc.solSessionId).to.not.equal(holder);
        expect(reasons).to.deep.equal(['deactivate-command']);
        // ipmitool 1.8.19 gets the "SOL deactivating" status (0x10) but keeps running until it is told to quit
        const from = c.output().length;
        c.write('after the steal\r');
        await c.waitFor('after the steal\r', 10_000, from);
        await c.quit();
      } finally {
        tool.kill();
      }
    });

    it('a byte-swapped SOL port (quirk) on a session not on 623: ipmiconsole gives up, -W solport or not', async () => {
      // libipmiconsole (ipmiconsole_processing.c, _check_try_new_port) follows another SOL port only from a session
      // on 623 and recognises only 623 byte-swapped; elsewhere a different port is "BMC Implementation". Our
      // client stays on the session's port (spec/fixtures/fake-bmc-quirks.spec.ts).
      await startBmc({ quirks: { solPortByteSwapped: true } });
      for (const extra of [['-W', 'solport'], []]) {
        const c = ipmiconsole(3, extra);
        // fail at once, with the output, if ipmiconsole takes the port (it would stay: its keepalives are answered)
        const established = c.waitFor(SOL_ESTABLISHED, 50_000).then(
          () => undefined,
          () => new Promise<never>(() => undefined),
        );
        const r = await Promise.race([c.exited, established]);
        expect(r, `ipmiconsole ${extra.join(' ')} established SOL on port ${bmc.port}: ${c.output()}`).to.not.equal(undefined);
        expect(r!.stdout, extra.join(' ')).to.include('[error received]: BMC Implementation');
      }
    });

    it('--deactivate deactivates our client\'s SOL and exits', async () => {
      await startBmc();
      const session = await IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 3 });
      try {
        const ours = await activateSol(session);
        const ended = once<Error | undefined>(ours, 'close');
        const d = ipmiconsole(17, ['--deactivate']);
        const r = await d.exited;
        expect(r.code, r.stdout).to.equal(0);
        expect((await ended as { code?: string } | undefined)?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
        expect(bmc.solSessionId).to.equal(undefined);
      } finally {
        await session.close();
      }
    });
  });
});

/**
 * Our RMCP+ session and `ipmi-sol-bridge info` against ipmi_sim (OpenIPMI), a BMC nobody here wrote.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { IpmiError } from '../../lib/errors.js';
import { freeUdpPort, requirePeer } from '../helpers/peers.js';
import { startIpmiSim, type IpmiSimHandle } from '../helpers/ipmi-sim.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const CLI = fileURLToPath(new URL('../../examples/cli.ts', import.meta.url));

async function openError(options: Parameters<typeof IpmiSession.open>[0]): Promise<{ err: IpmiError; ms: number }> {
  const t0 = Date.now();
  try {
    const s = await IpmiSession.open(options);
    await s.close();
  } catch (err) {
    expect(err).to.be.instanceOf(IpmiError);
    return { err: err as IpmiError, ms: Date.now() - t0 };
  }
  throw new Error('the session opened');
}

describe('interop: session vs ipmi_sim', function () {
  let sim: IpmiSimHandle;
  let base: { host: string; port: number; username: string; password: string };

  before(async function () {
    requirePeer(this, 'ipmi_sim');
    sim = await startIpmiSim({ users: [{ name: 'admin', password: 'password' }, { name: 'oper', password: 'operpw', priv: 'operator' }] });
    base = { host: '127.0.0.1', port: sim.port, username: 'admin', password: 'password' };
  });
  after(async () => sim?.stop());

  // 11 (MD5-128) also works on ipmi_sim, though ipmitool cannot speak it.
  for (const suite of [0, 1, 2, 3, 6, 11]) {
    it(`opens a session with cipher suite ${suite}, gets the device ID, closes`, async () => {
      const s = await IpmiSession.open({ ...base, cipherSuite: suite });
      expect(s.cipherSuite).to.equal(suite);
      expect(s.privilege).to.equal('administrator');
      const id = await s.getDeviceId();
      expect(id.manufacturerId).to.equal(0x1291);
      await s.close();
      expect(s.closed).to.equal(true);
      expect(s.stats.dropped.integrity + s.stats.dropped.malformed).to.equal(0);
    });
  }

  it("'auto' picks the strongest suite ipmi_sim offers that works (3)", async () => {
    const s = await IpmiSession.open({ ...base, cipherSuite: 'auto' });
    expect(s.cipherSuite).to.equal(3);
    await s.close();
  });

  it('negotiates a lower privilege when asked', async () => {
    const s = await IpmiSession.open({ ...base, privilege: 'user', cipherSuite: 3 });
    expect(s.privilege).to.equal('user');
    await s.close();
  });

  it('wrong password: IPMI_ERR_AUTH, fast', async () => {
    const { err, ms } = await openError({ ...base, password: 'wrong', cipherSuite: 3 });
    expect(err.code).to.equal('IPMI_ERR_AUTH');
    expect(err.message).to.match(/wrong password/);
    expect(err.message).to.not.contain('wrong"'); // the password is never quoted back
    expect(ms).to.be.lessThan(5000);
  });

  it('unknown user: IPMI_ERR_AUTH, fast', async () => {
    const { err, ms } = await openError({ ...base, username: 'nobody', cipherSuite: 3 });
    expect(err.code).to.equal('IPMI_ERR_AUTH');
    expect(err.message).to.match(/unknown/);
    expect(ms).to.be.lessThan(5000);
  });

  it('a suite ipmi_sim does not have (17): IPMI_ERR_CIPHER_SUITE, fast', async () => {
    const { err, ms } = await openError({ ...base, cipherSuite: 17 });
    expect(err.code).to.equal('IPMI_ERR_CIPHER_SUITE');
    expect(ms).to.be.lessThan(5000);
  });

  it('no BMC at that port: IPMI_ERR_UNREACHABLE within retries x timeout', async () => {
    const port = await freeUdpPort();
    const { err, ms } = await openError({ ...base, port, timeoutMs: 500, retries: 2 });
    expect(err.code).to.equal('IPMI_ERR_UNREACHABLE');
    expect(err.message).to.contain(`port ${port}`);
    expect(ms).to.be.lessThan(5000);
  });

  it('a shared transport carries several sessions to one BMC at once', async () => {
    const { UdpTransport } = await import('../../lib/transport/udp-transport.js');
    const transport = await UdpTransport.create();
    // 16 concurrent handshakes: their 6-bit tags collide often, so this also proves matching by console session ID
    const sessions = await Promise.all(Array.from({ length: 16 }, () => IpmiSession.open({ ...base, cipherSuite: 3, transport })));
    const ids = await Promise.all(sessions.map((s) => s.getDeviceId()));
    expect(ids.every((d) => d.manufacturerId === 0x1291)).to.equal(true);
    await Promise.all(sessions.map((s) => s.close()));
    await transport.close();
  });

  it('detects a lost BMC through keepalive and closes with IPMI_ERR_TIMEOUT within the bound', async function () {
    this.timeout(20_000);
    const s = await IpmiSession.open({ ...base, cipherSuite: 3, keepaliveMs: 300, timeoutMs: 300, retries: 1 });
    const closed = new Promise<IpmiError | undefined>((resolve) => s.on('close', resolve));
    await new Promise((r) => setTimeout(r, 700)); // keepalives answered meanwhile
    expect(s.closed).to.equal(false);
    await sim.kill();
    const t0 = Date.now();
    const reason = await closed;
    const bound = 300 + 300 * 2 + 500; // keepalive period + retries x timeout + slack
    expect(reason?.code).to.equal('IPMI_ERR_TIMEOUT');
    expect(Date.now() - t0).to.be.lessThan(bound);
    await sim.restart();
  });

  describe('the CLI', () => {
    it('info prints one JSON object and exits 0; the password appears nowhere', async () => {
      const { stdout, stderr } = await run(TSX, [CLI, 'info', '-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-E', '-C', '3'], {
        cwd: ROOT,
        env: { ...process.env, IPMI_PASSWORD: 'password', DEBUG: 'ipmi:*' },
      });
      const info = JSON.parse(stdout.trim());
      expect(info).to.include({ cipherSuite: 3, privilege: 'administrator', manufacturerId: 0x1291, firmwareRevision: '9.08' });
      expect(stdout + stderr).to.not.contain('password');
    });

    it('info with a wrong password prints one error line and exits non-zero', async () => {
      const child = spawn(TSX, [CLI, 'info', '-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-P', 'letmein', '-C', '3'], { cwd: ROOT });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).to.equal(1);
      const lines = stderr.split('\n').filter((l) => l.startsWith('IPMI_ERR'));
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(/^IPMI_ERR_AUTH: /);
      expect(stderr).to.not.contain('letmein');
    });
  });

  describe('tshark', () => {
    it('decodes a capture of our session with no malformed packets', async function () {
      requirePeer(this, 'tshark');
      if (process.getuid?.() !== 0 && process.env.CI !== 'true') this.skip();
      this.timeout(90_000);
      // Live decoding (-l, -V on stdout): "Capturing on" can come before packets are really captured, so
      // sessions are repeated until the decode shows one, then one full round is captured for the check.
      const capture = spawn('tshark', ['-i', 'lo', '-f', `udp port ${sim.port}`, '-l', '-d', `udp.port==${sim.port},rmcp`, '-V'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let decoded = '';
      let capErr = '';
      capture.stdout.on('data', (d) => (decoded += d));
      capture.stderr.on('data', (d) => (capErr += d));
      const exited = new Promise((r) => capture.on('close', r));
      const sessions = async (suites: number[]) => {
        for (const suite of suites) {
          const s = await IpmiSession.open({ ...base, cipherSuite: suite });
          await s.getDeviceId();
          await s.close();
        }
      };
      try {
        const t0 = Date.now();
        while (!decoded.includes('RAKP Message 4')) {
          if (Date.now() - t0 > 60_000) throw new Error(`tshark decoded nothing within 60 s: ${capErr.trim()}`);
          await sessions([3]);
          await new Promise((r) => setTimeout(r, 500));
        }
        const before = decoded.length;
        await sessions([0, 3, 6, 11]);
        await new Promise((r) => setTimeout(r, 1000));
        const round = decoded.slice(before);
        expect(round).to.contain('Open Session Request');
        expect(round).to.contain('RAKP Message 4');
        expect(round.match(/^Frame \d+:/gm)?.length ?? 0).to.be.greaterThan(30);
        expect(decoded).to.not.match(/Malformed/i);
      } finally {
        capture.kill('SIGINT');
        await exited;
      }
    });
  });
});

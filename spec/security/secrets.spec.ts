/**
 * Secrets (password, K_g, and the session keys SIK, K1, K2) never reach logs, errors, argv or debug output.
 * Full sessions run in child processes with DEBUG=ipmi:* (the CLI's info and activate, a ConsoleManager bridge)
 * against the fake BMC behind a recording relay; the session keys of every handshake are derived in the spec
 * from the recorded randoms (as the BMC derives them), and ALL output is searched for every secret in the
 * encodings a log could use (raw, hex, spaced hex as in `<Buffer ..>`, base64). While the CLI runs with -E or
 * -f, /proc/PID/cmdline (and, for -f, environ) holds no password.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { decodeV20, PayloadType } from '../../lib/codec/rmcp.js';
import { decodeOpenSessionResponse } from '../../lib/codec/rakp.js';
import { UdpRelay, until } from './udp-relay.js';
import { findFreePortRange } from '../bridge/tcp-client.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'Pw-9f3kQz7xL';
const KG = Buffer.from('KgSecret-0123456789', 'latin1'); // 19 bytes, non-zero: the SIK is keyed by it

interface Run {
  child: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], env: Record<string, string>, script = 'examples/cli.ts'): Run {
  const base = { ...process.env };
  delete base.IPMI_PASSWORD;
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...base, DEBUG: 'ipmi:*', DEBUG_COLORS: '0', DEBUG_DEPTH: '10', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('latin1')));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

/** Every encoding of `secret` a log line could carry. */
function encodings(name: string, secret: Buffer): [string, string][] {
  const hex = secret.toString('hex');
  const spaced = hex.match(/../g)!.join(' ');
  const out: [string, string][] = [
    [`${name} hex`, hex],
    [`${name} HEX`, hex.toUpperCase()],
    [`${name} spaced hex (first 8 bytes)`, spaced.slice(0, 23)],
    [`${name} base64`, secret.toString('base64').replace(/=+$/, '')],
  ];
  if (/^[\x20-\x7e]+$/.test(secret.toString('latin1'))) out.push([`${name} raw`, secret.toString('latin1')]);
  return out;
}

function pidsOf(root: number): number[] {
  const pids = [root];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === root) pids.push(...pidsOf(Number(entry)));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

describe('security: secrets stay out of logs, errors, argv and debug output', function () {
  this.timeout(60_000);
  let bmc: FakeBmc;
  let relay: UdpRelay;
  let dir: string;
  const outputs: { name: string; text: string }[] = [];

  before(async () => {
    bmc = new FakeBmc({ users: [{ name: 'admin', password: PASSWORD, privilege: 4 }], kg: KG, sol: { host: 'echo' } });
    await bmc.listen();
    relay = await UdpRelay.start(bmc.port);
    dir = mkdtempSync(join(tmpdir(), 'ipmi-secrets-'));
    writeFileSync(join(dir, 'pw'), `${PASSWORD}\n`);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await relay.close();
    await bmc.close();
  });

  const conn = () => ['-H', '127.0.0.1', '-p', String(relay.port), '-U', 'admin', '-y', KG.toString('hex'), '-C', '17'];

  it('CLI info with -E and DEBUG=ipmi:*', async () => {
    const r = run(['info', ...conn(), '-E'], { IPMI_PASSWORD: PASSWORD });
    expect(await r.exit, r.out()).to.equal(0);
    expect(r.out()).to.match(/"productId":21314/);
    expect(r.out(), 'debug output is on').to.match(/ipmi:session/);
    outputs.push({ name: 'info -E', text: r.out() });
  });

  for (const how of ['-f', '-E'] as const) {
    it(`CLI activate with ${how}: SOL echo works; /proc/PID/cmdline${how === '-f' ? ' and environ' : ''} hold no password`, async () => {
      const args = how === '-f' ? ['activate', ...conn(), '-f', join(dir, 'pw')] : ['activate', ...conn(), '-E'];
      const r = run(args, how === '-E' ? { IPMI_PASSWORD: PASSWORD } : {});
      r.child.stdin!.write(`typed with ${how}\r`);
      await until(() => r.out().includes(`typed with ${how}\r`), 15_000, 'the SOL echo');
      for (const pid of pidsOf(r.child.pid!)) {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
        expect(cmdline, `cmdline of ${pid}`).to.contain('cli.ts');
        expect(cmdline, `cmdline of ${pid}`).to.not.contain(PASSWORD);
        if (how === '-f') expect(readFileSync(`/proc/${pid}/environ`, 'latin1'), `environ of ${pid}`).to.not.contain(PASSWORD);
      }
      r.child.stdin!.end();
      expect(await r.exit, r.out()).to.equal(0);
      outputs.push({ name: `activate ${how}`, text: r.out() });
    });
  }

  it('a ConsoleManager bridge (IPMI console source) with DEBUG=ipmi:*', async () => {
    const base = await findFreePortRange(4);
    const r = run([], { BMC_PORT: String(relay.port), BMC_PASSWORD: PASSWORD, BMC_KG_HEX: KG.toString('hex'), PORT_RANGE: `${base}:${base + 4}` }, 'spec/security/bridge-child.ts');
    expect(await r.exit, r.out()).to.equal(0);
    expect(r.out()).to.contain('bridge ok');
    expect(r.out()).to.match(/ipmi:bridge/);
    outputs.push({ name: 'bridge', text: r.out() });
  });

  it('authentication failures: wrong password, wrong K_g: one line, no secret, no stack', async () => {
    // The BMC answers at once (RAKP 2 / RAKP 4 prove the mismatch): -N only bounds a reply a loaded machine may be
    // slow to deliver, so it is generous; 0.5 s gave IPMI_ERR_UNREACHABLE in a full suite run.
    const wrongPassword = run(['info', '-H', '127.0.0.1', '-p', String(relay.port), '-U', 'admin', '-y', KG.toString('hex'), '-C', '17', '-P', 'Wrong-pw-123', '-N', '5', '-R', '0'], {});
    expect(await wrongPassword.exit).to.equal(1);
    const wrongKg = run(['info', '-H', '127.0.0.1', '-p', String(relay.port), '-U', 'admin', '-y', 'ff'.repeat(19), '-C', '17', '-E', '-N', '5', '-R', '0'], { IPMI_PASSWORD: PASSWORD });
    expect(await wrongKg.exit).to.equal(1);
    for (const [r, name, pw] of [
      [wrongPassword, 'wrong password', 'Wrong-pw-123'],
      [wrongKg, 'wrong K_g', PASSWORD],
    ] as const) {
      const errorLines = r.out().split('\n').filter((l) => /^IPMI_ERR_/.test(l));
      expect(errorLines, name).to.have.length(1);
      expect(errorLines[0]).to.match(/^IPMI_ERR_AUTH: /);
      expect(r.out(), name).to.not.contain(pw);
      expect(r.out(), `${name}: no stack trace`).to.not.match(/\n\s+at /);
      outputs.push({ name, text: r.out() });
    }
  });

  it('no output of any run contains the password, K_g, or any session SIK/K1/K2 (derived from the recorded handshakes)', () => {
    // Every successful handshake the relay saw: derive its keys as the BMC does.
    const consoleIds = relay.recorded
      .filter((r) => r.direction === 'to-client' && r.envelope?.format === 'v2.0' && r.envelope.sessionId === 0 && r.envelope.payloadType === PayloadType.OPEN_SESSION_RESPONSE)
      .map((r) => decodeOpenSessionResponse(decodeV20(r.bytes).payload))
      .filter((m) => m.status === 0)
      .map((m) => m.consoleSessionId);
    const secrets: [string, string][] = [
      ...encodings('password', Buffer.from(PASSWORD)),
      ...encodings('K_g', KG),
    ];
    let derived = 0;
    for (const id of consoleIds) {
      let keys;
      try {
        keys = relay.deriveKeys(Buffer.from(PASSWORD), KG, id);
      } catch {
        continue; // a handshake that did not get past RAKP2 (the wrong-password run)
      }
      derived++;
      secrets.push(...encodings(`SIK ${id}`, keys.sik), ...encodings(`K1 ${id}`, keys.k1), ...encodings(`K2 ${id}`, keys.k2));
      // and the AES key on its own
      secrets.push(...encodings(`AES key ${id}`, keys.k2.subarray(0, 16)));
    }
    expect(derived, 'sessions whose keys were derived').to.be.at.least(4);
    expect(outputs.length).to.be.at.least(6);
    const total = outputs.reduce((n, o) => n + o.text.length, 0);
    expect(total, 'there is output to search').to.be.greaterThan(2000);
    const leaks: string[] = [];
    for (const o of outputs) for (const [name, s] of secrets) if (o.text.includes(s)) leaks.push(`${name} in the output of ${o.name}`);
    expect(leaks).to.deep.equal([]);
  });
});

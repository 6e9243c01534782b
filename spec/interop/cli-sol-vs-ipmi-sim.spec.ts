/**
 * `ipmi-sol-bridge activate` and `deactivate` as an operator or a script uses them, against ipmi_sim.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { requirePeer, whichBinary } from '../helpers/peers.js';
import { startIpmiSim, startSerialHost, type IpmiSimHandle, type SerialHost } from '../helpers/ipmi-sim.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The CLI runs as `node --import tsx`, one process: the `tsx` wrapper relays SIGTERM to its child and, when the
 * child has not acknowledged it within 2 x 30 ms (a loaded machine), kills it with SIGKILL and exits 143.
 */
const NODE_TSX = [process.execPath, '--import', 'tsx'];
const CLI = fileURLToPath(new URL('../../examples/cli.ts', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function cli(args: string[], options: { shell?: string } = {}): Run {
  const child = options.shell
    ? spawn('bash', ['-c', options.shell], { cwd: ROOT, env: { ...process.env, IPMI_PASSWORD: 'password' } })
    : spawn(NODE_TSX[0]!, [...NODE_TSX.slice(1), CLI, ...args], { cwd: ROOT, env: { ...process.env, IPMI_PASSWORD: 'password' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/**
 * python3 -c DRIVER COMMAND STEPS: runs `bash -c COMMAND` on a pseudo-terminal; STEPS is JSON [[keys, awaited], ...]:
 * type the keys, then read until the output holds the awaited text (30 s at most, then exit 3). Prints everything
 * the terminal showed; exits 0 once the command ended.
 */
const PTY_DRIVER = [
  'import json, os, pty, select, sys',
  'pid, fd = pty.fork()',
  'if pid == 0: os.execvp("bash", ["bash", "-c", sys.argv[1]])',
  'seen = b""',
  'def read(timeout):',
  '    global seen',
  '    if not select.select([fd], [], [], timeout)[0]: return False',
  '    try: chunk = os.read(fd, 4096)',
  '    except OSError: chunk = b""',
  '    seen += chunk',
  '    return len(chunk) > 0',
  'for keys, want in json.loads(sys.argv[2]):',
  '    os.write(fd, keys.encode())',
  '    while want.encode() not in seen:',
  '        if not read(30): sys.stdout.write(seen.decode(errors="replace")); sys.exit(3)',
  'while read(30): pass',
  'os.waitpid(pid, 0)',
  'sys.stdout.write(seen.decode(errors="replace"))',
].join('\n');

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('interop: CLI activate/deactivate vs ipmi_sim', function () {
  this.timeout(90_000);
  let sim: IpmiSimHandle;
  let host: SerialHost;
  let conn: string[];

  before(async function () {
    requirePeer(this, 'ipmi_sim');
    host = await startSerialHost({ mode: 'echo' });
    sim = await startIpmiSim({ solHost: host.server });
    conn = ['-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-E', '-C', '3'];
  });
  after(async () => {
    await sim?.stop();
    await host?.close();
  });
  afterEach(async () => {
    const r = cli(['deactivate', ...conn]);
    await r.exit;
  });

  it('a script: bytes pass through untouched; output that comes back after stdin ended is still printed (--linger)', async () => {
    // stdin ends at once: the echo can only arrive after EOF. A long linger, then SIGTERM once the echo is seen:
    // nothing here depends on how fast the machine is.
    const r = cli(['activate', ...conn, '--linger', '600']);
    r.child.stdin!.end('status\r');
    await until(() => r.stdout().includes('status\r'), 20_000);
    r.child.kill('SIGTERM');
    expect(await r.exit).to.equal(0);
    expect(r.stdout()).to.equal('status\r');
    expect(r.stderr()).to.equal('');
    expect(host.receivedBytes().toString()).to.contain('status\r');
  });

  it('a script with --linger 0: exit 0 as soon as stdin ended and the BMC acknowledged every byte', async () => {
    const r = cli(['activate', ...conn, '--linger', '0']);
    r.child.stdin!.end('quick\r');
    expect(await r.exit).to.equal(0);
    expect(r.stderr()).to.equal('');
    await host.waitForReceived('quick\r', 20_000);
  });

  it('a second activate is refused with IPMI_ERR_SOL_IN_USE; --steal takes over; SIGTERM deactivates cleanly', async () => {
    const holder = cli(['activate', ...conn]);
    holder.child.stdin!.write('one\r');
    await until(() => holder.stdout().includes('one\r'), 10_000);

    const refused = cli(['activate', ...conn]);
    refused.child.stdin!.end();
    expect(await refused.exit).to.equal(1);
    expect(refused.stderr()).to.match(/^IPMI_ERR_SOL_IN_USE: .*another session/m);

    const thief = cli(['activate', '--steal', ...conn]);
    thief.child.stdin!.write('two\r');
    await until(() => thief.stdout().includes('two\r'), 10_000);
    thief.child.kill('SIGTERM');
    expect(await thief.exit).to.equal(0);
    holder.child.kill('SIGTERM');
    await holder.exit;

    // SOL was deactivated on SIGTERM: a plain activate works again. stdin ends once the echo is back; the
    // default linger then ends the command with exit 0.
    const again = cli(['activate', ...conn]);
    again.child.stdin!.write('three\r');
    await until(() => again.stdout().includes('three\r'), 20_000);
    again.child.stdin!.end();
    expect(await again.exit).to.equal(0);
    expect(again.stdout()).to.equal('three\r');
  });

  it('taken over: the old activate ends with one line IPMI_ERR_SOL_DEACTIVATED, exit 1, and leaves the thief its console', async () => {
    const holder = cli(['activate', ...conn]);
    holder.child.stdin!.write('mine\r');
    await until(() => holder.stdout().includes('mine\r'), 10_000);
    const thief = cli(['activate', '--steal', ...conn]);
    thief.child.stdin!.write('stolen\r');
    await until(() => thief.stdout().includes('stolen\r'), 10_000);

    // ipmi_sim does not tell the holder: its ownership check finds out (DEFAULT_SOL_OWNERSHIP_CHECK_MS).
    expect(await holder.exit).to.equal(1);
    const lines = holder.stderr().split('\n').filter(Boolean);
    expect(lines, holder.stderr()).to.have.length(1);
    expect(lines[0]).to.match(/^IPMI_ERR_SOL_DEACTIVATED: SOL instance 1 was (taken over|deactivated) by another session/);

    // The holder did not deactivate SOL on its way out: the thief's console still echoes.
    thief.child.stdin!.write('still-here\r');
    await until(() => thief.stdout().includes('still-here\r'), 20_000);
    thief.child.kill('SIGTERM');
    expect(await thief.exit).to.equal(0);
    expect(thief.stderr()).to.equal('');
  });

  it('deactivate exits 0 whether SOL was active or not', async () => {
    const idle = cli(['deactivate', ...conn]);
    expect(await idle.exit).to.equal(0);
    expect(idle.stderr()).to.contain('was not active');
    const holder = cli(['activate', ...conn]);
    holder.child.stdin!.write('x\r');
    await until(() => holder.stdout().includes('x\r'), 10_000);
    const d = cli(['deactivate', ...conn]);
    expect(await d.exit).to.equal(0);
    expect(d.stderr()).to.contain('deactivated');
    holder.child.kill('SIGTERM');
    await holder.exit;
  });

  it('on a terminal: raw mode, ~? help, ~. quits and deactivates, the terminal is restored', async function () {
    if (!whichBinary('python3')) this.skip();
    // A pseudo-terminal driven by what the CLI prints: each keystroke waits for the output it depends on.
    const cmd = `${NODE_TSX.map((w) => `'${w}'`).join(' ')} '${CLI}' activate ${conn.join(' ')}; echo "EXIT=$?"; stty -a | grep -o -- '-\\?icanon' | head -1`;
    const steps = [
      ['', '[SOL Session operational'],
      ['tty-line\r', 'tty-line'],
      ['~?', 'Supported escape sequences'],
      ['\r~.', 'EXIT='],
    ];
    const r = cli([], { shell: `python3 -c '${PTY_DRIVER}' "${cmd.replace(/"/g, '\\"')}" '${JSON.stringify(steps)}'` });
    expect(await r.exit, r.stderr()).to.equal(0);
    const out = r.stdout();
    expect(out).to.contain('[SOL Session operational.  Use ~? for help]');
    expect(out).to.contain('tty-line');
    expect(out).to.contain('Supported escape sequences');
    expect(out).to.contain('[terminated ipmi-sol-bridge]');
    expect(out).to.contain('EXIT=0');
    expect(out).to.match(/(^|\n)icanon/); // canonical mode is back on after exit
  });

  it('serve: prints the tcp:// URL once listening, bridges a client, rejects a second one, exits 0 on SIGTERM', async () => {
    const server = cli(['serve', ...conn, '--listen', '127.0.0.1:0', '--idle-timeout', '60']);
    await until(() => /tcp:\/\/127\.0\.0\.1:\d+\n/.test(server.stdout()), 15_000);
    const url = new URL(server.stdout().trim().split('\n')[0]!);
    expect(url.protocol).to.equal('tcp:');
    const client = connect(Number(url.port), '127.0.0.1');
    let got = '';
    client.on('data', (d) => (got += d));
    await new Promise((r) => client.once('connect', r));
    client.write('served\r');
    await until(() => got.includes('served\r'), 10_000);
    const second = connect(Number(url.port), '127.0.0.1');
    let refused = '';
    second.on('data', (d) => (refused += d));
    await new Promise((r) => second.once('close', r));
    expect(refused).to.equal('console in use by another client\r\n');
    client.end();
    server.child.kill('SIGTERM');
    expect(await server.exit).to.equal(0);
  });

  it('serve --tls-cert/--tls-key: prints a tls:// URL and a verifying TLS client gets the console', async () => {
    const certFile = fileURLToPath(new URL('../../fixtures/tls/localhost.crt', import.meta.url));
    const keyFile = fileURLToPath(new URL('../../fixtures/tls/localhost.key', import.meta.url));
    const server = cli(['serve', ...conn, '--listen', '127.0.0.1:0', '--tls-cert', certFile, '--tls-key', keyFile]);
    await until(() => /tls:\/\/127\.0\.0\.1:\d+\n/.test(server.stdout()), 15_000);
    const url = new URL(server.stdout().trim().split('\n')[0]!);
    const client = tls.connect({ host: '127.0.0.1', port: Number(url.port), ca: readFileSync(certFile), servername: 'localhost' });
    let got = '';
    client.on('data', (d) => (got += d));
    await new Promise((r) => client.once('secureConnect', r));
    client.write('over tls\r');
    await until(() => got.includes('over tls\r'), 10_000);
    client.end();
    server.child.kill('SIGTERM');
    expect(await server.exit).to.equal(0);
  });

  it('serve: a bad --listen is one clear error, exit 2, before anything starts', async () => {
    const r = cli(['serve', ...conn, '--listen', 'nowhere']);
    expect(await r.exit).to.equal(2);
    expect(r.stderr()).to.match(/^IPMI_ERR_BAD_ARGUMENT: --listen nowhere/m);
  });
});

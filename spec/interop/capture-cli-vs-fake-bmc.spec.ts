/**
 * The CLI's console-layer flags end to end, in their own process (node + tsx, as `npx tsx examples/cli.ts`),
 * against our fake BMC: `serve --capture --replay --extra-clients spectate --log-dir --metrics` records what the
 * host prints with no client, replays it to the first client, lets a second one watch, writes the log file and
 * serves /metrics and /healthz. Loopback only.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { SPECTATOR_NOTICE } from '../../lib/index.js';
import { TestClient, waitUntil } from '../bridge/tcp-client.js';
import { startSerialHost, type SerialHost } from '../helpers/ipmi-sim.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('interop: CLI serve --capture against the fake BMC', function () {
  this.timeout(60_000);
  let host: SerialHost;
  let hostSocket: Socket | undefined;
  let bmc: FakeBmc;
  let cli: ChildProcess | undefined;
  let dir: string;
  const clients: TestClient[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-cli-capture-'));
    host = await startSerialHost({ mode: 'record', onConnection: (socket) => (hostSocket = socket) });
    bmc = new FakeBmc({ address: '127.0.0.1', port: 0, users: [{ name: 'admin', password: 'password', privilege: 4 }], sol: { host: 'tcp', address: '127.0.0.1', port: host.port } });
    await bmc.listen();
  });

  after(async () => {
    for (const c of clients) c.destroy();
    if (cli && cli.exitCode === null) {
      cli.kill('SIGTERM');
      await new Promise((resolve) => cli!.once('exit', resolve));
    }
    await bmc.close();
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records with no client, replays, lets a spectator watch, logs to a file, serves /metrics and /healthz; SIGTERM exits 0', async () => {
    const args = ['serve', '-H', '127.0.0.1', '-p', String(bmc.port), '-U', 'admin', '-E', '-C', '17', '--listen', '127.0.0.1:0',
      '--capture', '--replay', '1KiB', '--extra-clients', 'spectate', '--log-dir', dir, '--metrics', '127.0.0.1:0'];
    cli = spawn(process.execPath, ['--import', 'tsx', 'examples/cli.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, IPMI_PASSWORD: 'password' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    cli.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitUntil(() => /tcp:\/\/127\.0\.0\.1:\d+\n/.test(stdout) && /metrics on http:\/\/127\.0\.0\.1:\d+/.test(stderr), 'the URLs', 30_000);
    const consolePort = Number(/tcp:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
    const metricsUrl = /metrics on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)![1]!;
    await waitUntil(() => hostSocket !== undefined && stderr.includes('[console active]'), 'SOL active with no client', 30_000);

    hostSocket!.write('booted with nobody watching\r\nlogin: ');
    await waitUntil(() => bmc.stats.solBytesToConsole >= 36, 'the output to leave the BMC', 30_000);
    const writer = await TestClient.connect(consolePort);
    clients.push(writer);
    await writer.waitForText('login: ', 30_000);
    expect(writer.text()).to.equal('booted with nobody watching\r\nlogin: ');
    const spectator = await TestClient.connect(consolePort);
    clients.push(spectator);
    await spectator.waitForText('login: '); // the replay
    await spectator.write('x');
    await spectator.waitForText(SPECTATOR_NOTICE);
    await writer.write('root\r');
    await host.waitForReceived('root\r');
    expect(host.receivedBytes().toString(), 'the spectator typed nothing into the console').to.equal('root\r');

    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    expect(metrics).to.match(/ipmi_sol_console_viewers\{node="127\.0\.0\.1"\} 2/);
    expect(metrics).to.match(/ipmi_sol_console_received_bytes_total\{node="127\.0\.0\.1"\} 36/);
    expect((await fetch(`${metricsUrl}/healthz`)).status).to.equal(200);

    cli.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => cli!.once('exit', resolve));
    expect(code, stderr).to.equal(0);
    expect(await readFile(path.join(dir, '127.0.0.1.log'), 'utf8')).to.equal('booted with nobody watching\r\nlogin: ');
    expect(await readFile(path.join(dir, '127.0.0.1.audit.log'), 'utf8')).to.match(/attach \(writer .*\n.*attach \(spectator /);
    expect(stdout + stderr).to.not.include('password');
  });
});

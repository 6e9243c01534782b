/** The CLI's console choice (examples/cli-sources.ts): flags -> ConsoleSourceOptions, and `serve` end to end. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parseArgs } from '../../examples/cli-args.js';
import { consoleSourceFromArgs } from '../../examples/cli-sources.js';
import { isIpmiError } from '../../lib/errors.js';
import { startBmcwebLike } from '../../fixtures/ws-bmc/bmcweb-like.js';
import { Collector, connectTcp, SOURCE_WAIT_MS } from '../sources/helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const PIN = `SHA256:${'A'.repeat(43)}`;

function options(argv: string[], env: NodeJS.ProcessEnv = {}): unknown {
  return consoleSourceFromArgs(parseArgs(argv, env), 1, env);
}

function failure(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    options(argv, env);
  } catch (error) {
    if (isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT')) return error.message;
    throw error;
  }
  throw new Error('expected IPMI_ERR_BAD_ARGUMENT');
}

describe('CLI console kinds (--console)', () => {
  it('no --console is IPMI, as before', () => {
    expect(options(['serve', '-H', '10.0.0.1', '-U', 'admin', '-P', 'pw'])).to.deep.include({ host: '10.0.0.1', username: 'admin', solInstance: 1 });
  });

  it('ssh: host, user, password from the environment, vendor command, pinned host key', () => {
    const argv = ['serve', '--console', 'ssh', '-H', 'idrac1', '-U', 'root', '-E', '--vendor', 'dell', '--host-key', PIN];
    expect(options(argv, { IPMI_PASSWORD: 'calvin' })).to.deep.equal({
      kind: 'ssh',
      host: 'idrac1',
      username: 'root',
      password: 'calvin',
      vendor: 'dell',
      pty: false,
      hostKey: { fingerprint: PIN },
    });
    expect(options(['serve', '--console', 'ssh', '-H', 'bmc', '-p', '2200', '-U', 'root', '-P', 'x', '--pty', '--known-hosts', '/kh']))
      .to.deep.include({ port: 2200, pty: true, hostKey: { knownHostsFile: '/kh' } });
    expect(failure(['serve', '--console', 'ssh', '-H', 'bmc', '-U', 'root'])).to.match(/needs -P, -E, -f or --ssh-key/);
    expect(failure(['serve', '--console', 'ssh', '-H', 'bmc', '-U', 'root', '-P', 'x', '--vendor', 'acme'])).to.match(/--vendor acme/);
  });

  it('websocket: url or redfish, session auth by default with a user, token from the environment', () => {
    expect(options(['serve', '--console', 'websocket', '--redfish', 'https://bmc', '-U', 'root', '-P', '0penBmc', '--bmc-cert-fingerprint', 'ab'.repeat(32)])).to.deep.equal({
      kind: 'websocket',
      redfish: { url: 'https://bmc' },
      auth: { kind: 'session', username: 'root', password: '0penBmc' },
      tls: { fingerprint256: 'ab'.repeat(32) },
    });
    expect(options(['serve', '--console', 'websocket', '--url', 'wss://bmc/console0', '--ws-auth', 'token'], { BMC_SESSION_TOKEN: 't0k' })).to.deep.include({
      auth: { kind: 'token', token: 't0k' },
    });
    expect(failure(['serve', '--console', 'websocket'])).to.match(/--url .* or --redfish/);
    expect(failure(['serve', '--console', 'telnet'])).to.match(/ipmi, ssh or websocket/);
  });

  it('serve --console websocket bridges a bmcweb-like console to TCP', async function () {
    this.timeout(60_000);
    const bmc = await startBmcwebLike({ username: 'root', password: '0penBmc' });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'examples/cli.ts', 'serve', '--console', 'websocket', '--redfish', bmc.origin, '-U', 'root', '-E', '--listen', '127.0.0.1:0'],
      { cwd: ROOT, env: { ...process.env, IPMI_PASSWORD: '0penBmc' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const stdout = new Collector(child.stdout!);
      await stdout.waitFor(() => /tcp:\/\/127\.0\.0\.1:\d+\n/.test(stdout.text()), () => `the URL (stdout: ${stdout.text()})`, SOURCE_WAIT_MS);
      const port = Number(/:(\d+)\n/.exec(stdout.text())![1]);
      const client = await connectTcp(port);
      const seen = new Collector(client);
      await seen.waitForText('obmc-console ready');
      client.write('hi\r');
      await seen.waitForText('hi\r');
      client.destroy();
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
      await bmc.close();
    }
  });
});

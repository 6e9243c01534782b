/**
 * ssh2 and ws are optional peer dependencies. Proof, in a child Node process where neither package can be
 * resolved (block-optional-packages.mjs, as for a user who installed only ipmi-sol-bridge):
 * - the main entry (lib/index.ts) loads, and an IPMI console starts;
 * - asking for kind 'ssh' / 'websocket' fails startConsole with IPMI_ERR_BAD_ARGUMENT "install ssh2 ...".
 * And with them installed, the subpath entries (ipmi-sol-bridge/ssh, /websocket) point at real files.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { freeTcpPort } from '../helpers/peers.js';
import { ConsoleManager, isIpmiError, sourceFor, type ConsoleSourceOptions } from '../../lib/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

const CHILD = `
import { ConsoleManager, sourceFor } from './lib/index.ts';
const result = {};
const manager = new ConsoleManager({ address: '127.0.0.1' });
const port = Number(process.env.SPEC_PORT);
async function attempt(name, options) {
  try {
    const info = await manager.startConsole(name, options, { port });
    result[name] = { ok: info.url };
  } catch (error) {
    result[name] = { code: error.code, message: error.message };
  }
}
await attempt('ipmi', { host: '127.0.0.1', username: 'admin', password: 'secret' });
await attempt('ssh', { kind: 'ssh', host: '127.0.0.1', username: 'root', password: 'pw', hostKey: { fingerprint: 'SHA256:' + 'A'.repeat(43) } });
await attempt('websocket', { kind: 'websocket', url: 'ws://127.0.0.1:9/console0' });
try { sourceFor({ kind: 'ssh', host: 'bad host', username: 'root', password: 'pw' }); } catch (error) { result.badOptions = error.code; }
await manager.stopAll();
console.log(JSON.stringify(result));
`;

async function runChild(): Promise<Record<string, { ok?: string; code?: string; message?: string } | string>> {
  const port = await freeTcpPort();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', './spec/sources/block-optional-packages.mjs', '--input-type=module', '-e', CHILD],
      { cwd: ROOT, timeout: 60_000, env: { ...process.env, SPEC_PORT: String(port) } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`child failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, { ok?: string; code?: string; message?: string }>);
      },
    );
  });
}

describe('optional dependencies: ssh2 and ws', function () {
  it('without ssh2 and ws: the main entry loads, IPMI works, ssh/websocket fail with a clear IPMI_ERR_BAD_ARGUMENT', async () => {
    const result = await runChild();
    expect(result.ipmi).to.have.property('ok').that.matches(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(result.ssh).to.deep.equal({ code: 'IPMI_ERR_BAD_ARGUMENT', message: "install ssh2 to use kind 'ssh' (npm install ssh2)." });
    expect(result.websocket).to.deep.equal({ code: 'IPMI_ERR_BAD_ARGUMENT', message: "install ws to use kind 'websocket' (npm install ws)." });
    expect(result.badOptions).to.equal('IPMI_ERR_BAD_ARGUMENT'); // options are checked without the package
  });

  it('package.json: optional peer dependencies, and subpath exports whose sources exist', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
      exports: Record<string, { import?: string; types?: string }>;
    };
    for (const name of ['ssh2', 'ws']) {
      expect(pkg.dependencies ?? {}).not.to.have.property(name);
      expect(pkg.peerDependencies).to.have.property(name);
      expect(pkg.peerDependenciesMeta[name]?.optional).to.equal(true);
    }
    for (const [entry, file] of [
      ['./ssh', 'lib/sources/ssh.ts'],
      ['./websocket', 'lib/sources/websocket.ts'],
    ] as const) {
      expect(pkg.exports[entry]?.import).to.equal(`./dist/${file.replace(/\.ts$/, '.js')}`);
      expect(existsSync(join(ROOT, file))).to.equal(true);
    }
  });

  it('with them installed, the subpath entries load their sources', async () => {
    const ssh = await import('../../lib/sources/ssh.js');
    const websocket = await import('../../lib/sources/websocket.js');
    expect(ssh.SshConsoleSource).to.be.a('function');
    expect(websocket.WebSocketConsoleSource).to.be.a('function');
  });

  it('sourceFor: no kind is IPMI; unknown kinds and bad options are IPMI_ERR_BAD_ARGUMENT at once', () => {
    expect(sourceFor({ host: '127.0.0.1', username: 'u', password: 'p' }).constructor.name).to.equal('IpmiConsoleSource');
    expect(() => sourceFor({ kind: 'telnet' } as unknown as ConsoleSourceOptions)).to.throw().that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
    expect(() => sourceFor({ kind: 'websocket', url: 'http://bmc/console0' })).to.throw(/must use ws: or wss:/);
    expect(() => sourceFor({ kind: 'ssh', host: '127.0.0.1', username: 'root' })).to.throw(/password or a private key/);
    expect(() =>
      sourceFor({ kind: 'ssh', host: '127.0.0.1', username: 'root', password: 'p', hostKey: { fingerprint: 'MD5:aa:bb' } }),
    ).to.throw(/not a SHA256 host key fingerprint/);
  });

  it('ConsoleManager.startConsole takes { kind } and rejects bad options before listening', async () => {
    const manager = new ConsoleManager({ address: '127.0.0.1' });
    try {
      const error = await manager
        .startConsole('n1', { kind: 'websocket', url: 'wss://127.0.0.1/console0', auth: { kind: 'basic', username: '', password: 'x' } })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).to.satisfy((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
      expect(manager.list()).to.deep.equal([]);
    } finally {
      await manager.stopAll();
    }
  });
});

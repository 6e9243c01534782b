import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigRunner, DEFAULT_SPECTATE_MAX_CLIENTS, diffConfigs, loadServeConfig, parseServeConfig } from '../../examples/serve-config.js';
import { ConsoleManager, isIpmiError } from '../../lib/index.js';
import { FakeConsoleSource } from '../bridge/fake-console-source.js';
import { findFreePortRange } from '../bridge/tcp-client.js';

const SECRET = 's3cret-pw';

describe('examples/serve-config', () => {
  let dir: string;
  let pwFile: string;
  let manager: ConsoleManager | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-config-'));
    pwFile = path.join(dir, 'pw');
    await writeFile(pwFile, `${SECRET}\n`);
  });
  afterEach(async () => {
    await manager?.stopAll();
    manager = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const config = (nodes: object[], extra: object = {}) =>
    JSON.stringify({ logDir: dir, defaults: { username: 'admin', passwordFile: pwFile, capture: true }, nodes, ...extra });

  it('reads nodes with defaults, secrets from a file or the environment, capture and viewer settings', () => {
    const c = parseServeConfig(
      config([
        { id: 'n1', host: '10.0.0.1', listenPort: 10001, log: true, replay: '50lines', extraClients: 'spectate', cipherSuite: 17 },
        { id: 'n2', host: '10.0.0.2', passwordFile: undefined, passwordEnv: 'N2_PW', capture: false },
      ]),
      { N2_PW: 'from-env' },
    );
    expect(c.address).to.equal('127.0.0.1');
    const [n1, n2] = c.nodes;
    expect(n1!.bmcOptions).to.deep.include({ host: '10.0.0.1', username: 'admin', password: SECRET, cipherSuite: 17 });
    expect(n1!.start).to.deep.equal({
      port: 10001,
      capture: true,
      logDir: dir,
      log: { timestamps: false },
      replay: { lines: 50 },
      viewers: { onExtra: 'spectate', max: DEFAULT_SPECTATE_MAX_CLIENTS },
    });
    expect(n2!.bmcOptions.password).to.equal('from-env');
    expect(n2!.start).to.deep.equal({ capture: false });
  });

  it('refuses bad files with one IPMI_ERR_BAD_ARGUMENT line naming the node and field, never a secret', () => {
    const cases: Array<[string, RegExp]> = [
      ['{', /^config: not JSON/],
      [config([{ id: 'a', host: 'h', extra: 1 }]), /^node a: unknown field extra$/],
      [config([{ id: 'a', host: 'h' }, { id: 'a', host: 'h' }]), /^config: node a is listed twice$/],
      [config([{ id: 'a', host: 'h', passwordFile: '/nonexistent/pw' }]), /^node a: passwordFile: cannot read \/nonexistent\/pw \(ENOENT\)$/],
      [config([{ id: 'a', host: 'h', passwordEnv: 'NOPE' }]).replace(`"passwordFile":"${pwFile}",`, ''), /^node a: passwordEnv: the environment variable NOPE is not set$/],
      [config([{ id: 'a', host: 'h', extraClients: 'kick' }]), /^node a: extraClients must be/],
      [config([{ id: 'a', host: 'h', log: true }], { logDir: undefined }), /^node a: log: true needs "logDir"/],
    ];
    for (const [text, message] of cases) {
      let error: unknown;
      try {
        parseServeConfig(text, {});
      } catch (e) {
        error = e;
      }
      expect(isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT'), text).to.equal(true);
      expect((error as Error).message).to.match(message);
      expect((error as Error).message).to.not.include(SECRET);
    }
    expect(() => loadServeConfig(path.join(dir, 'missing.json'))).to.throw(/cannot read .* \(ENOENT\)/);
  });

  it('a reload starts added nodes, stops removed ones, restarts changed ones (a new password too), leaves the rest', async () => {
    const first = await findFreePortRange(8);
    manager = new ConsoleManager({ address: '127.0.0.1', portRange: `${first}:${first + 8}`, sourceFactory: () => new FakeConsoleSource() });
    const lines: string[] = [];
    const runner = new ConfigRunner(manager, (line) => lines.push(line));
    await runner.apply(parseServeConfig(config([{ id: 'a', host: 'h1' }, { id: 'b', host: 'h2' }, { id: 'c', host: 'h3' }])));
    expect(lines).to.have.length(3);
    expect(lines[0]).to.match(/^a: started tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(manager.list().map((e) => e.nodeId).sort()).to.deep.equal(['a', 'b', 'c']);
    const urlOfA = manager.getConsole('a')!.url;
    const urlOfC = manager.getConsole('c')!.url;

    lines.length = 0;
    await writeFile(pwFile, 'another-password\n'); // every node reads it: all but the removed one change
    const next = parseServeConfig(config([{ id: 'a', host: 'h1' }, { id: 'c', host: 'h3', passwordFile: undefined, passwordEnv: 'C_PW' }, { id: 'd', host: 'h4' }]), { C_PW: SECRET });
    const diff = await runner.apply(next);
    expect(diff.removed).to.deep.equal(['b']);
    expect(diff.changed.map((n) => n.id)).to.deep.equal(['a']);
    expect(diff.added.map((n) => n.id)).to.deep.equal(['d']);
    expect(lines).to.deep.equal(['b: stopped', `a: restarted ${urlOfA}`, lines[2]]);
    expect(lines[2]).to.match(/^d: started /);
    expect(manager.getConsole('c')!.url, 'c untouched').to.equal(urlOfC);
    expect(manager.list().map((e) => e.nodeId).sort()).to.deep.equal(['a', 'c', 'd']);
    expect(lines.join('\n')).to.not.include(SECRET).and.not.include('another-password');
    expect(diffConfigs(next.nodes, next.nodes)).to.deep.equal({ added: [], removed: [], changed: [] });
  });
});

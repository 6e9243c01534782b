/**
 * The package as a user installs it: `npm pack` (which runs `prepare`, the build), `npm install` of the tarball into
 * an empty project, then:
 * - an ES module imports it; a CommonJS module require()s it (Node >= 20.19 loads the ES module: require(esm));
 * - the `ipmi-sol-bridge` bin runs;
 * - TypeScript 6 compiles a consumer under strict with `types: []` (TypeScript 6's default: no @types package is
 *   loaded unless something asks for it): the declarations ask for Node's types themselves;
 * - the tarball holds the build, the README and the license, and no sources, specs or fixtures.
 * The project has no network: the package's one dependency (debug, and its ms) is linked from this repository.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; exports: Record<string, unknown> };
/** Subpath entries and the optional peer each one loads (linked into the project for the test: npm does not install optional peers). */
const SUBPATHS = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json');
const OPTIONAL_PEERS = ['ssh2', 'ws'];

interface PackedFile {
  path: string;
}

describe('package: npm pack, install into an empty project, use it', function () {
  this.timeout(300_000);
  let dir: string;
  let app: string;
  let files: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'isb-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
    const packed = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: PackedFile[] }[];
    files = packed[0]!.files.map((f) => f.path);
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
    const deps = ['debug', 'ms'].map((d) => join(ROOT, 'node_modules', d));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...deps, join(dir, packed[0]!.filename)], { cwd: app });
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the tarball holds the build (with declarations), README and LICENSE; no sources, specs or fixtures', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/examples/cli.js']) {
      expect(files, f).to.include(f);
    }
    expect(files.filter((f) => /^(lib|spec|fixtures|bench|examples)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).to.deep.equal([]);
  });

  it('an ES module imports it', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', "import { IpmiSession, ConsoleManager } from 'ipmi-sol-bridge'; console.log(typeof IpmiSession.open, typeof ConsoleManager)"], { cwd: app });
    expect(stdout).to.equal('function function\n');
  });

  it('a CommonJS module require()s it (the "require" condition; Node >= 20.19 loads ES modules with require)', async () => {
    const { stdout } = await run(process.execPath, ['-e', "const m = require('ipmi-sol-bridge'); console.log(typeof m.IpmiSession.open, typeof m.ConsoleManager)"], { cwd: app });
    expect(stdout).to.equal('function function\n');
  });

  it(`every subpath entry (${SUBPATHS.join(', ')}) is imported and require()d alike, its optional peer installed`, async () => {
    for (const peer of OPTIONAL_PEERS) symlinkSync(join(ROOT, 'node_modules', peer), join(app, 'node_modules', peer));
    for (const sub of SUBPATHS) {
      const name = `ipmi-sol-bridge${sub.slice(1)}`;
      const esm = await run(process.execPath, ['--input-type=module', '-e', `const m = await import('${name}'); console.log(Object.keys(m).length > 0)`], { cwd: app });
      const cjs = await run(process.execPath, ['-e', `console.log(Object.keys(require('${name}')).length > 0)`], { cwd: app });
      expect([esm.stdout, cjs.stdout], sub).to.deep.equal(['true\n', 'true\n']);
    }
  });

  it('the bin runs: ipmi-sol-bridge --version', async () => {
    const { stdout } = await run(join(app, 'node_modules/.bin/ipmi-sol-bridge'), ['--version'], { cwd: app });
    expect(stdout).to.equal(`ipmi-sol-bridge ${pkg.version}\n`);
  });

  it("TypeScript 6, strict, types: [] (its default): an ES module and a CommonJS module compile against the package's declarations", async () => {
    mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'));
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', noEmit: true, types: [] }, files: ['app.mts', 'app.cts'] }),
    );
    writeFileSync(
      join(app, 'app.mts'),
      [
        "import { IpmiSession, ConsoleManager, type IpmiSessionOptions } from 'ipmi-sol-bridge';",
        "const options: IpmiSessionOptions = { host: '127.0.0.1', username: 'admin', password: 'pw' };",
        "const manager = new ConsoleManager({ address: '127.0.0.1' });",
        'export const used = [IpmiSession.open, options, manager];',
        '',
      ].join('\n'),
    );
    writeFileSync(join(app, 'app.cts'), "import { IpmiSession } from 'ipmi-sol-bridge';\nexport const open = IpmiSession.open;\n");
    const result = await run(process.execPath, [TSC, '-p', app], { cwd: app }).then(
      () => '',
      (err: { stdout?: string }) => err.stdout ?? String(err),
    );
    expect(result).to.equal('');
  });
});

/**
 * The layering of DESIGN.md, read from the import statements (type-only imports count: they tie the modules
 * together just the same):
 * - lib/codec and lib/crypto are pure: they import each other, lib/errors.ts and stateless Node modules only;
 * - lib/session never imports lib/sol or lib/bridge; lib/sol never imports lib/bridge; lib/transport imports
 *   neither the session, SOL nor the bridge; lib/ never imports examples/, bench/, fixtures/ or spec/;
 * - examples/ and bench/ use the library through its public entries only: lib/index.ts and any other module
 *   package.json "exports" names (a subpath such as ./ssh);
 * - no import circle across lib/, examples/ and bench/.
 */
import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCANNED = ['lib', 'examples', 'bench'];
/** Node modules a pure codec may use: no sockets, timers, files or processes. */
const PURE_NODE_MODULES = new Set(['node:buffer', 'node:crypto', 'buffer', 'crypto']);

function sourceFiles(dir: string): string[] {
  const abs = join(ROOT, dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === 'results' ? [] : sourceFiles(path);
    return /\.ts$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports, relative ones resolved to repository paths (x.js -> x.ts). */
function importsOf(file: string): { relative: string[]; bare: string[] } {
  const info = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
  const out = { relative: [] as string[], bare: [] as string[] };
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) {
      out.bare.push(fileName);
      continue;
    }
    const target = relative(ROOT, resolve(ROOT, dirname(file), fileName)).replace(/\.js$/, '.ts');
    out.relative.push(existsSync(join(ROOT, target)) ? target : join(target.replace(/\.ts$/, ''), 'index.ts'));
  }
  return out;
}

/** The sources of the modules package.json "exports" names (./dist/lib/x.js -> lib/x.ts). */
function publicEntries(): Set<string> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: unknown };
  const targets: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') targets.push(v);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  return new Set(targets.filter((t) => /^\.\/dist\/lib\/.*\.js$/.test(t)).map((t) => t.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')));
}

const files = SCANNED.flatMap(sourceFiles);
const PUBLIC = publicEntries();
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const under = (file: string, ...dirs: string[]) => dirs.some((d) => file === d || file.startsWith(`${d}/`));

function violations(from: string[], forbidden: (target: string) => boolean): string[] {
  return files
    .filter((f) => under(f, ...from))
    .flatMap((f) => graph.get(f)!.relative.filter(forbidden).map((t) => `${f} -> ${t}`));
}

/** Every import circle, each reported once as the path that closes it. */
function circles(): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f)?.relative ?? []) {
      if (!graph.has(t)) continue;
      if (state.get(t) === 'open') found.push([...stack.slice(stack.indexOf(t)), t].join(' -> '));
      else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return found;
}

describe('layering: imports only go down, through the public entry, with no circles', () => {
  it(`reads the imports of ${SCANNED.join(', ')} (${files.length} files)`, () => {
    expect(files.length).to.be.greaterThan(30);
    expect(graph.get('lib/index.ts')!.relative).to.include('lib/session/rmcpplus-session.ts');
  });

  it('lib/codec and lib/crypto import nothing stateful', () => {
    const pure = (t: string) => under(t, 'lib/codec', 'lib/crypto') || t === 'lib/errors.ts';
    expect(violations(['lib/codec', 'lib/crypto'], (t) => !pure(t))).to.deep.equal([]);
    const impure = files
      .filter((f) => under(f, 'lib/codec', 'lib/crypto'))
      .flatMap((f) => graph.get(f)!.bare.filter((m) => !PURE_NODE_MODULES.has(m)).map((m) => `${f} -> ${m}`));
    expect(impure).to.deep.equal([]);
  });

  it('lib/transport imports neither the session, SOL nor the bridge', () => {
    expect(violations(['lib/transport'], (t) => under(t, 'lib/session', 'lib/sol', 'lib/bridge', 'lib/sources'))).to.deep.equal([]);
  });

  it('lib/session never imports lib/sol or lib/bridge (the session is a payload port SOL sits on)', () => {
    expect(violations(['lib/session'], (t) => under(t, 'lib/sol', 'lib/bridge', 'lib/sources'))).to.deep.equal([]);
  });

  it('lib/sol never imports lib/bridge', () => {
    expect(violations(['lib/sol'], (t) => under(t, 'lib/bridge', 'lib/sources'))).to.deep.equal([]);
  });

  it('lib/ imports nothing outside lib/', () => {
    expect(violations(['lib'], (t) => !under(t, 'lib'))).to.deep.equal([]);
  });

  it('examples/ and bench/ use the library through its public entries only (lib/index.ts, package.json "exports")', () => {
    expect(PUBLIC).to.include('lib/index.ts');
    expect(violations(['examples', 'bench'], (t) => under(t, 'lib') && !PUBLIC.has(t))).to.deep.equal([]);
  });

  it('no import circle across lib/, examples/ and bench/', () => {
    expect(circles()).to.deep.equal([]);
  });
});

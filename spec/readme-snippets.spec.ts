/**
 * Every ```ts block of README.md compiles under `strict`, as a consumer's ES module that imports 'ipmi-sol-bridge'
 * (resolved to this package's public entry, lib/index.ts), so the README cannot drift from the API. A block is a
 * whole module: what it uses, it declares or imports.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Snippet {
  /** 1-based line of README.md where the code starts (after the fence). */
  line: number;
  code: string;
}

/** The ```ts (or ```typescript) blocks of a Markdown text, in order. */
export function tsBlocks(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    out.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return out;
}

/** 'ipmi-sol-bridge' and each subpath package.json exports, mapped to its source: './ssh' -> lib/sources/ssh.ts. */
function packagePaths(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'object' && target !== null ? (target as { import?: string }).import : undefined;
    if (!file || !/^\.\/dist\/lib\/.*\.js$/.test(file)) continue;
    paths[`ipmi-sol-bridge${subpath.slice(1)}`] = [join(ROOT, file.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'))];
  }
  return paths;
}

/** A consumer's settings: strict, ES modules under Node's resolution, the Node types and nothing else. */
const consumerOptions = (): ts.CompilerOptions => ({
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts'],
  types: ['node'],
  typeRoots: [join(ROOT, 'node_modules/@types')],
  paths: packagePaths(),
  noEmit: true,
  skipLibCheck: true,
  noUncheckedIndexedAccess: true,
});

const snippets = tsBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('README.md: every ```ts block compiles under strict', function () {
  this.timeout(120_000);
  let dir: string;
  let program: ts.Program;
  const fileOf = (i: number) => join(dir, `readme-${i + 1}.ts`);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'isb-readme-'));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    snippets.forEach((s, i) => writeFileSync(fileOf(i), `${s.code}\n`));
    program = ts.createProgram(snippets.map((_, i) => fileOf(i)), consumerOptions());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the blocks', () => {
    expect(snippets.length).to.be.greaterThan(1);
    expect(tsBlocks('a\n```ts\nlet x = 1;\n```\n```sh\nls\n```\n')).to.deep.equal([{ line: 3, code: 'let x = 1;' }]);
  });

  it("resolves 'ipmi-sol-bridge' and its subpath entries to their sources", () => {
    expect(packagePaths()['ipmi-sol-bridge']).to.deep.equal([join(ROOT, 'lib/index.ts')]);
  });

  it('the settings themselves are valid', () => {
    expect(program.getOptionsDiagnostics().map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).to.deep.equal([]);
  });

  snippets.forEach((snippet, i) => {
    it(`the block at README.md line ${snippet.line}`, () => {
      const file = program.getSourceFile(fileOf(i))!;
      const errors = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)].map((d) => {
        const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
        return `README.md:${snippet.line + line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
      });
      expect(errors).to.deep.equal([]);
    });
  });
});

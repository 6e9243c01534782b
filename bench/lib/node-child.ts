/**
 * Node children of the benchmark (bridge, fake BMC farm): bundled once with esbuild and run with plain `node`
 * (what production runs: compiled JavaScript, no TypeScript loader in the RSS), in their own process group,
 * with `ulimit -n` raised to the hard limit. Configuration (passwords included) goes through stdin.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface, type Interface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import { build } from 'esbuild';
import { spawnGroup, stopGroup } from './children.js';

const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// Under node_modules/.cache: ignored by git and eslint, and `debug` still resolves from node_modules.
const BUILD_DIR = join(BENCH_DIR, '..', 'node_modules', '.cache', 'ipmi-sol-bridge-bench');

const built = new Map<string, Promise<string>>();

/** Bundle bench/<name>.ts to BUILD_DIR/<name>.mjs (dependencies stay in node_modules). */
export function bundle(name: string): Promise<string> {
  let p = built.get(name);
  if (!p) {
    p = (async () => {
      mkdirSync(BUILD_DIR, { recursive: true });
      const outfile = join(BUILD_DIR, `${name}.mjs`);
      await build({
        entryPoints: [join(BENCH_DIR, `${name}.ts`)],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        sourcemap: 'linked',
        logLevel: 'warning',
      });
      return outfile;
    })();
    built.set(name, p);
  }
  return p;
}

/**
 * BENCH_CPU_PROF=bridge-process (or a comma list of child names) runs those children under `node --cpu-prof`,
 * writing .cpuprofile files to BENCH_CPU_PROF_DIR (default bench/results/profiles, git-ignored): how the
 * per-packet CPU figures were broken down into functions (BENCHMARKS.md, "Profiling the bridge").
 * BENCH_PERF_MAP=storm-bridge (same form) runs them with `--perf-basic-prof-only-functions`: /tmp/perf-PID.map names
 * JIT code for Linux `perf record -g -p PID` (kernel, libc, V8 and our JS in one profile).
 */
function profileArgs(name: string): string[] {
  const perf = (process.env['BENCH_PERF_MAP'] ?? '').split(',').map((s) => s.trim());
  const perfArgs = perf.includes(name) ? ['--perf-basic-prof-only-functions'] : [];
  const wanted = (process.env['BENCH_CPU_PROF'] ?? '').split(',').map((s) => s.trim());
  if (!wanted.includes(name)) return perfArgs;
  const dir = process.env['BENCH_CPU_PROF_DIR'] ?? join(BENCH_DIR, 'results', 'profiles');
  mkdirSync(dir, { recursive: true });
  return [...perfArgs, '--cpu-prof', `--cpu-prof-dir=${dir}`];
}

export interface NodeChild<R> {
  child: ChildProcess;
  pid: number;
  ready: R;
  /** send a command line, resolve with the next JSON line on stdout */
  request<T>(line: string): Promise<T>;
  stop(): Promise<void>;
  stderr(): string;
}

export async function startNodeChild<R>(
  name: string,
  config: unknown,
  options: { nodeArgs?: string[]; readyTimeoutMs?: number; /** run this file instead of bundling bench/<name>.ts */ script?: string } = {},
): Promise<NodeChild<R>> {
  const script = options.script ?? (await bundle(name));
  const nodeArgs = [...profileArgs(name), ...(options.nodeArgs ?? []), script].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // exec: the shell becomes node, so the child's pid is node's pid.
  const child = spawnGroup('bash', ['-c', `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" ${nodeArgs}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 20000) err = err.slice(-20000);
  });
  const rl: Interface = createInterface({ input: child.stdout! });
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  rl.on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const nextLine = (timeoutMs: number): Promise<string> =>
    new Promise((resolveLine, reject) => {
      const q = queue.shift();
      if (q !== undefined) return resolveLine(q);
      const onExit = (): void => reject(new Error(`${name} exited (code ${child.exitCode}): ${err.slice(-2000)}`));
      const timer = setTimeout(() => {
        child.off('exit', onExit);
        reject(new Error(`${name}: no answer within ${timeoutMs} ms; stderr: ${err.slice(-2000)}`));
      }, timeoutMs);
      child.once('exit', onExit);
      waiters.push((line) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolveLine(line);
      });
    });
  child.stdin!.write(JSON.stringify(config) + '\n');
  let ready: R;
  try {
    ready = JSON.parse(await nextLine(options.readyTimeoutMs ?? 60_000)) as R;
  } catch (error) {
    await stopGroup(child);
    throw error;
  }
  return {
    child,
    pid: child.pid!,
    ready,
    async request<T>(line: string): Promise<T> {
      child.stdin!.write(line + '\n');
      return JSON.parse(await nextLine(30_000)) as T;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin!.end('exit\n');
        const t = setTimeout(() => void stopGroup(child, 1000), 5000);
        await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));
        clearTimeout(t);
      }
      await stopGroup(child, 500);
    },
    stderr: () => err,
  };
}

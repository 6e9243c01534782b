/**
 * `npm run bench [-- --quick]`: ipmi-sol-bridge vs Ironic's socat + ipmitool, side by side, in one run.
 * Writes bench/results/latest.json and bench/results/latest.md and prints the table. See BENCHMARKS.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeMemoryPlot } from './plot.js';
import { cpus, loadavg, release, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { killAllChildren } from './lib/children.js';
import type { BenchConfig, BootStormConfig, Log } from './lib/config.js';
import { runIpmiSim } from './sections/ipmi-sim.js';
import { runFakeBmc } from './sections/fake-bmc.js';
import { runBootStorm } from './sections/boot-storm.js';
import { runStorms } from './sections/storms.js';
import { runLoss } from './sections/loss.js';
import { figures, renderReport, type Machine, type Results } from './report.js';

const QUICK: BenchConfig = {
  quick: true,
  connectTrials: 5,
  backToBackTrials: 3,
  backToBackPauseMs: 500,
  recoveryPauseMs: 100,
  keystrokes: 50,
  warmupKeystrokes: 200,
  warmKeystrokes: 100,
  bulkReps: 2,
  simBulkBytes: 256 * 1024,
  fakeBulkBytes: 1024 * 1024,
  scaleConsoles: 1000,
  baselineConsoles: 5,
  scaleIntervalMs: 500,
  scaleDurationMs: 3000,
  storm: { consoles: 100, bootBytes: 200_000, baud: 115_200, echoConsoles: 5, echoIntervalMs: 100, baselineConsoles: 20, cipherSuite: 3, floorSeconds: 5 },
  stormConsoles: 1000,
  // Cuts shorter than keepalive + its retries (10 s + 4 x 1 s) are ridden out: no console is lost.
  stormCutsMs: [15_000],
};

const FULL: BenchConfig = {
  quick: false,
  connectTrials: 20,
  backToBackTrials: 10,
  backToBackPauseMs: 500,
  recoveryPauseMs: 100,
  keystrokes: 300,
  warmupKeystrokes: 2000,
  warmKeystrokes: 1000,
  bulkReps: 3,
  simBulkBytes: 1024 * 1024,
  fakeBulkBytes: 4 * 1024 * 1024,
  scaleConsoles: 1000,
  baselineConsoles: 20,
  scaleIntervalMs: 500,
  scaleDurationMs: 10_000,
  storm: { consoles: 250, bootBytes: 200_000, baud: 115_200, echoConsoles: 5, echoIntervalMs: 100, baselineConsoles: 20, cipherSuite: 3, floorSeconds: 8 },
  stormConsoles: 1000,
  stormCutsMs: [15_000, 30_000],
};

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n').find((l) => l.trim())?.trim() ?? '';
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n').find((l) => l.trim())?.trim() ?? 'unknown';
  }
}

function socatVersion(): string {
  try {
    const text = execFileSync('socat', ['-V'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /socat version (\S+)/.exec(text)?.[0] ?? 'socat';
  } catch {
    return 'socat (version unknown)';
  }
}

function machine(): Machine {
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    ipmitool: firstLine('ipmitool', ['-V']),
    socat: socatVersion(),
    ipmiSim: firstLine('ipmi_sim', ['--version']).replace(/^IPMI Simulator version /, ''),
    loadAvgStart: loadavg(),
  };
}

/**
 * `--storm-consoles=N --storm-bytes=N --storm-baseline=N --storm-echo=N --storm-shared-transport --storm-log-flush-ms=N
 * --storm-semi-space-mib=N --storm-floor-seconds=N`: the boot storm's size and options for one run
 * (e.g. a short A/B loop while optimising); the report records the config used.
 */
function stormOverrides(storm: BootStormConfig): BootStormConfig {
  const arg = (name: string): number | undefined => {
    const v = process.argv.find((a) => a.startsWith(`--storm-${name}=`))?.split('=')[1];
    return v === undefined ? undefined : Number(v);
  };
  return {
    ...storm,
    consoles: arg('consoles') ?? storm.consoles,
    bootBytes: arg('bytes') ?? storm.bootBytes,
    baselineConsoles: arg('baseline') ?? storm.baselineConsoles,
    echoConsoles: arg('echo') ?? storm.echoConsoles,
    ...(process.argv.includes('--storm-shared-transport') ? { sharedTransport: true } : {}),
    ...(arg('log-flush-ms') !== undefined ? { logFlushMs: arg('log-flush-ms') } : {}),
    ...(arg('semi-space-mib') !== undefined ? { semiSpaceMiB: arg('semi-space-mib') } : {}),
    floorSeconds: arg('floor-seconds') ?? storm.floorSeconds,
  };
}

/** Open files this process needs: 1000 client sockets plus slack. */
const NEEDED_FDS = 4096;

/**
 * The scale run holds 1000 client sockets here: if the soft `ulimit -n` is lower, run again under a shell that
 * raises it to the hard limit (the children raise their own, see lib/node-child.ts). Returns true if it did.
 */
function reexecWithMoreFds(): boolean {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!m || m[1] === 'unlimited' || Number(m[1]) >= NEEDED_FDS || process.env.IPMI_BENCH_REEXEC) return false;
  if (m[2] !== 'unlimited' && Number(m[2]) < NEEDED_FDS) {
    console.error(`warning: ulimit -n is ${m[1]} (hard ${m[2]}); the 1000-console run needs about ${NEEDED_FDS}`);
    return false;
  }
  const r = spawnSync('bash', ['-c', `ulimit -n ${m[2] === 'unlimited' ? 65536 : m[2]} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, IPMI_BENCH_REEXEC: '1' },
  });
  process.exitCode = r.status ?? 1;
  return true;
}

async function main(): Promise<void> {
  if (reexecWithMoreFds()) return;
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const cfg: BenchConfig = { ...(quick ? QUICK : FULL) };
  cfg.storm = stormOverrides(cfg.storm);
  const t0 = performance.now();
  const log: Log = (m) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}`);
  const results: Results = {
    startedAt: new Date().toISOString(),
    durationS: 0,
    command: `npm run bench${quick ? ' -- --quick' : ''}`,
    machine: machine(),
    config: cfg,
    errors: [],
  };
  log(`machine: ${JSON.stringify(results.machine)}`);
  const dir = mkdtempSync(join(tmpdir(), 'ipmi-bench-'));
  const pwFile = join(dir, 'password');
  writeFileSync(pwFile, 'password\n', { mode: 0o600 });
  try {
    if (!only || only === 'sim') {
      try {
        results.ipmiSim = await runIpmiSim(cfg, pwFile, log);
      } catch (error) {
        results.errors.push(`ipmi_sim section: ${(error as Error).stack ?? String(error)}`);
        log(`ipmi_sim section failed: ${(error as Error).message}`);
      }
    }
    if (!only || only === 'fake') {
      try {
        results.fakeBmc = await runFakeBmc(cfg, pwFile, log);
      } catch (error) {
        results.errors.push(`fake BMC section: ${(error as Error).stack ?? String(error)}`);
        log(`fake BMC section failed: ${(error as Error).message}`);
      }
    }
    if (!only || only === 'storm') {
      try {
        results.bootStorm = await runBootStorm(cfg, log);
      } catch (error) {
        results.errors.push(`boot storm section: ${(error as Error).stack ?? String(error)}`);
        log(`boot storm section failed: ${(error as Error).message}`);
      }
    }
    if (!only || only === 'storms') {
      try {
        results.storms = await runStorms(cfg, log);
      } catch (error) {
        results.errors.push(`storms section: ${(error as Error).stack ?? String(error)}`);
        log(`storms section failed: ${(error as Error).message}`);
      }
    }
    if (!only || only === 'loss') {
      try {
        results.loss = await runLoss(cfg, pwFile, log);
      } catch (error) {
        results.errors.push(`loss section: ${(error as Error).stack ?? String(error)}`);
        log(`loss section failed: ${(error as Error).message}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    killAllChildren();
  }
  results.durationS = Math.round((performance.now() - t0) / 100) / 10;
  results.machine.loadAvgEnd = loadavg();
  results.figures = figures(results);
  const outDir = resolve(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(outDir, { recursive: true });
  const md = renderReport(results, results.figures);
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(outDir, 'latest.md'), md);
  if (results.fakeBmc) writeMemoryPlot(join(outDir, 'latest.json')); // the plot is of the fake BMC section's memory rows
  console.log(md);
  log(`done in ${results.durationS} s; bench/results/latest.{json,md} written`);
  process.exit(results.errors.length ? 1 : 0);
}

main().catch((error: unknown) => {
  console.error(error);
  killAllChildren();
  process.exit(1);
});

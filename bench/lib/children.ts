/**
 * Every child the benchmark starts lives in its own process group (detached) and is killed, group and tree,
 * on exit, on SIGINT/SIGTERM and on an uncaught error.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { processTree } from './proc.js';

const live = new Set<ChildProcess>();
let installed = false;

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const tree = processTree(pid);
  try {
    process.kill(-pid, signal);
  } catch {
    // group gone
  }
  for (const p of tree) {
    try {
      process.kill(p, signal);
    } catch {
      // gone
    }
  }
}

export function killAllChildren(): void {
  for (const child of live) killTree(child, 'SIGKILL');
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllChildren);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export function spawnGroup(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  install();
  const child = spawn(command, args, { ...options, detached: true });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM the group and tree, SIGKILL after graceMs; resolves once the child itself exited. */
export async function stopGroup(child: ChildProcess, graceMs = 1000): Promise<void> {
  if (child.pid === undefined) return;
  const done = new Promise<void>((resolve) => {
    if (exited(child)) resolve();
    else child.once('exit', () => resolve());
  });
  killTree(child, 'SIGTERM');
  const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
  await done;
  clearTimeout(timer);
  killTree(child, 'SIGKILL'); // leftovers (children of a dead parent)
  live.delete(child);
}

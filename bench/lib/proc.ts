/**
 * /proc readers for the benchmark: RSS, PSS, CPU ticks and process trees (Linux only).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck: number | undefined;

/** Clock ticks per second of utime/stime in /proc/PID/stat (getconf CLK_TCK, normally 100). */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat after the command name (index 0 = state, 1 = ppid, ...). */
function statFields(pid: number): string[] | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).trim().split(' ');
}

/** VmRSS in bytes (0 if the process is gone). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readText(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) * 1024 : 0;
}

/** Pss in bytes from smaps_rollup (shared pages divided among their users); 0 if unreadable. */
export function pssBytes(pid: number): number {
  const m = /^Pss:\s+(\d+)\s+kB/m.exec(readText(`/proc/${pid}/smaps_rollup`) ?? '');
  return m ? Number(m[1]) * 1024 : 0;
}

/** utime + stime in seconds (0 if gone). */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  if (!f) return 0;
  // after the comm: state(0) ppid(1) pgrp(2) session(3) tty(4) tpgid(5) flags(6) minflt(7) cminflt(8)
  // majflt(9) cmajflt(10) utime(11) stime(12)
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

/** utime and stime apart, in seconds (user: JS, V8, libuv; system: syscalls, the kernel's network path). */
export function cpuSplit(pid: number): { user: number; system: number } {
  const f = statFields(pid);
  if (!f) return { user: 0, system: 0 };
  return { user: Number(f[11]) / clockTicks(), system: Number(f[12]) / clockTicks() };
}

export function commOf(pid: number): string {
  return (readText(`/proc/${pid}/comm`) ?? '').trim();
}

/** pid and all its descendants (scan of /proc). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(Number(name));
    if (!f) continue;
    const ppid = Number(f[1]);
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(Number(name));
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    if (readText(`/proc/${pid}/stat`) === undefined) continue;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface TreeSample {
  pids: { pid: number; comm: string; rss: number; pss: number; cpu: number }[];
  rss: number;
  pss: number;
  cpu: number;
}

export function sampleTree(roots: number[]): TreeSample {
  const pids = [...new Set(roots.flatMap((r) => processTree(r)))].map((pid) => ({
    pid,
    comm: commOf(pid),
    rss: rssBytes(pid),
    pss: pssBytes(pid),
    cpu: cpuSeconds(pid),
  }));
  return {
    pids,
    rss: pids.reduce((s, p) => s + p.rss, 0),
    pss: pids.reduce((s, p) => s + p.pss, 0),
    cpu: pids.reduce((s, p) => s + p.cpu, 0),
  };
}

/** CPU seconds of a set of pids (each read now). */
export function cpuOf(pids: number[]): number {
  return pids.reduce((s, p) => s + cpuSeconds(p), 0);
}

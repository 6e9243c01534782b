/**
 * Run ipmitool (1.8.19) against a loopback BMC from specs. SOL works without a tty: stdin/stdout piped
 * (ipmitool prints "tcgetattr: Inappropriate ioctl for device" on stderr and carries on). Its escape
 * sequence is only recognised right after a newline: write '\r~.' to leave. Piped stdout is block-buffered,
 * so the "[SOL Session operational" banner would only show up at exit: SOL runs under `stdbuf -o0`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { whichBinary } from './peers.js';

export interface IpmitoolTarget {
  port: number;
  host?: string;
}

export interface IpmitoolLogin {
  user?: string;
  password?: string;
  /** -C N. Default 3. */
  cipherSuite?: number;
  /** -L (CALLBACK, USER, OPERATOR, ADMINISTRATOR). Default: ipmitool's (ADMINISTRATOR). */
  privilege?: string;
  /** -R (retries) and -N (seconds per try): keep them small for suites expected to fail. */
  retries?: number;
  timeoutSec?: number;
}

export interface IpmitoolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** `-I lanplus -H 127.0.0.1 -p PORT -U .. -P .. -C N [...]`. */
export function lanplusArgs(target: IpmitoolTarget, login: IpmitoolLogin = {}): string[] {
  const args = ['-I', 'lanplus', '-H', target.host ?? '127.0.0.1', '-p', String(target.port)];
  args.push('-U', login.user ?? 'admin', '-P', login.password ?? 'password', '-C', String(login.cipherSuite ?? 3));
  if (login.privilege) args.push('-L', login.privilege);
  if (login.retries !== undefined) args.push('-R', String(login.retries));
  if (login.timeoutSec !== undefined) args.push('-N', String(login.timeoutSec));
  return args;
}

/** Run ipmitool to completion (SIGKILL after timeoutMs). Never rejects on a non-zero exit. */
export function runIpmitool(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<IpmitoolResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('ipmitool', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15000);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

export interface IpmitoolSol {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Type into the console (stdin). */
  write(data: string | Buffer): void;
  /** Resolves once stdout contains `needle`. */
  waitForStdout(needle: string, timeoutMs?: number): Promise<string>;
  /** Resolves when ipmitool exits. */
  readonly exited: Promise<IpmitoolResult>;
  /** Leave with '\r~.' and wait for the exit (SIGKILL after timeoutMs). */
  quit(timeoutMs?: number): Promise<IpmitoolResult>;
  kill(): void;
}

/** `ipmitool ... sol activate` with piped stdio. Wait for '[SOL Session operational' before typing. */
export function startIpmitoolSol(args: string[]): IpmitoolSol {
  const started = Date.now();
  const stdbuf = whichBinary('stdbuf');
  const child = stdbuf
    ? spawn(stdbuf, ['-o0', 'ipmitool', ...args, 'sol', 'activate'], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('ipmitool', [...args, 'sol', 'activate'], { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<IpmitoolResult>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      for (const w of [...waiters]) w();
      resolve({ code, signal, stdout: out, stderr: err, ms: Date.now() - started });
    });
  });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    write(data) {
      child.stdin.write(data);
    },
    waitForStdout(needle, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (out.includes(needle)) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(out);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(t);
            reject(new Error(`ipmitool exited before printing ${JSON.stringify(needle)}; stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err)}`));
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`ipmitool did not print ${JSON.stringify(needle)} within ${timeoutMs} ms; stdout=${JSON.stringify(out)} stderr=${JSON.stringify(err)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    exited,
    async quit(timeoutMs = 5000) {
      child.stdin.write('\r~.');
      const t = setTimeout(kill, timeoutMs);
      const res = await exited;
      clearTimeout(t);
      return res;
    },
    kill,
  };
}

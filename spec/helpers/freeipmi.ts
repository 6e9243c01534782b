/**
 * Run FreeIPMI (1.6.10: bmc-info, ipmiconsole) against a loopback BMC from specs.
 *
 * - A port other than 623 goes in the host name: `-h 127.0.0.1:PORT` (FreeIPMI's "hostname[:port]" syntax).
 *   ipmiconsole 1.6.10 refuses every port from 32768 up with "[error received]: hostname invalid" (bmc-info
 *   does not): its libipmiconsole hands getaddrinfo() the port formatted from a signed 16-bit field, so the
 *   BMC must listen below 32768, outside Linux's ephemeral range: `listenBelow32768`.
 * - `-D LAN_2_0`: bmc-info's default driver is IPMI 1.5 LAN, which an RMCP+-only BMC (ours) refuses with
 *   "authentication type unavailable"; ipmiconsole speaks only IPMI 2.0.
 * - ipmiconsole wants a terminal (it puts it into raw mode): it runs under spec/helpers/pty-run.py, a python3 pty
 *   relay. Type only after "[SOL established]": bytes written before ipmiconsole switches the terminal to raw
 *   mode go through the line discipline (CR becomes LF). Its escape character is '&': '&.' leaves, '&B' sends a
 *   break, anywhere in the input.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { whichBinary } from './peers.js';

export interface FreeIpmiLogin {
  port: number;
  user?: string;
  password?: string;
  /** -I N. Default 3. */
  cipherSuite?: number;
  /** -l USER | OPERATOR | ADMIN. */
  privilege?: string;
  /** --session-timeout, ms: keep it small for sessions expected to fail. */
  sessionTimeoutMs?: number;
  /** -W flags (comma separated FreeIPMI workaround names). */
  workarounds?: string;
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const PTY_RUN = fileURLToPath(new URL('./pty-run.py', import.meta.url));

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Lowest and highest port `listenBelow32768` tries (below Linux's ephemeral range, 32768-60999). */
export const FREEIPMI_PORT_RANGE = { low: 20000, high: 32767 } as const;

/**
 * Bind a BMC (anything with listen(port)) on a free loopback port below 32768 (see the header): random tries in
 * FREEIPMI_PORT_RANGE, the next one on EADDRINUSE. Ports `accept` refuses are not tried (a quirk that does not
 * show on some ports: `byteSwapChangesPort`).
 */
export async function listenBelow32768<T>(
  make: (port: number) => T & { listen(): Promise<unknown> },
  accept: (port: number) => boolean = () => true,
  tries = 50,
): Promise<T> {
  const span = FREEIPMI_PORT_RANGE.high - FREEIPMI_PORT_RANGE.low + 1;
  let lastError: unknown;
  for (let i = 0; i < tries; i++) {
    const port = FREEIPMI_PORT_RANGE.low + Math.floor(Math.random() * span);
    if (!accept(port)) continue;
    const bmc = make(port);
    try {
      await bmc.listen();
      return bmc;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      lastError = err;
    }
  }
  throw new Error(`no free UDP port in ${FREEIPMI_PORT_RANGE.low}..${FREEIPMI_PORT_RANGE.high} after ${tries} tries: ${String(lastError)}`);
}

/** `-h 127.0.0.1:PORT -u .. -p .. -I N [-l ..] [--session-timeout ..] [-W ..]`. */
export function freeIpmiArgs(login: FreeIpmiLogin): string[] {
  const args = ['-h', `127.0.0.1:${login.port}`, '-u', login.user ?? 'admin', '-p', login.password ?? 'password', '-I', String(login.cipherSuite ?? 3)];
  if (login.privilege) args.push('-l', login.privilege);
  if (login.sessionTimeoutMs !== undefined) args.push('--session-timeout', String(login.sessionTimeoutMs));
  if (login.workarounds) args.push('-W', login.workarounds);
  return args;
}

/** Run bmc-info (IPMI 2.0 driver) to completion; SIGKILL after timeoutMs. Never rejects on a non-zero exit. */
export function runBmcInfo(login: FreeIpmiLogin, extra: string[] = [], timeoutMs = 20000): Promise<ProcessResult> {
  const bin = whichBinary('bmc-info') ?? 'bmc-info';
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...freeIpmiArgs(login), '-D', 'LAN_2_0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface Ipmiconsole {
  readonly child: ChildProcess;
  /** Everything the terminal showed so far (latin1). */
  output(): string;
  /** Type on the terminal. */
  write(data: string | Buffer): void;
  /** Resolves once the terminal output (from `from` on) contains `needle` (or satisfies it); rejects on exit or after timeoutMs. */
  waitFor(needle: string | RegExp | ((text: string) => boolean), timeoutMs?: number, from?: number): Promise<string>;
  readonly exited: Promise<ProcessResult>;
  /** Leave with the escape '&.' and wait for the exit (SIGKILL after timeoutMs). */
  quit(timeoutMs?: number): Promise<ProcessResult>;
  kill(): void;
}

/** ipmiconsole on a pty. Wait for '[SOL established]' before typing. */
export function startIpmiconsole(login: FreeIpmiLogin, extra: string[] = []): Ipmiconsole {
  const bin = whichBinary('ipmiconsole') ?? 'ipmiconsole';
  const child = spawn('python3', [PTY_RUN, bin, ...freeIpmiArgs(login), ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    wake();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
  child.stdin.on('error', () => undefined);
  const exited = new Promise<ProcessResult>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal, stdout: out, stderr: err });
      wake();
    });
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const kill = (): void => {
    if (running()) child.kill('SIGKILL');
  };
  const matches = (needle: string | RegExp | ((text: string) => boolean), text: string): boolean =>
    typeof needle === 'string' ? text.includes(needle) : typeof needle === 'function' ? needle(text) : needle.test(text);
  return {
    child,
    output: () => out,
    write(data) {
      child.stdin.write(data);
    },
    waitFor(needle, timeoutMs = 10000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (matches(needle, out.slice(from))) {
            done();
            resolve(out);
          } else if (!running()) {
            done();
            reject(new Error(`ipmiconsole exited before showing ${String(needle)}; output=${JSON.stringify(out)} stderr=${JSON.stringify(err)}`));
          }
        };
        const t = setTimeout(() => {
          done();
          reject(new Error(`ipmiconsole did not show ${String(needle)} within ${timeoutMs} ms; output=${JSON.stringify(out)}`));
        }, timeoutMs);
        const done = (): void => {
          waiters.delete(check);
          clearTimeout(t);
        };
        waiters.add(check);
        check();
      });
    },
    exited,
    async quit(timeoutMs = 10000) {
      if (running()) child.stdin.write('&.');
      const t = setTimeout(kill, timeoutMs);
      const res = await exited;
      clearTimeout(t);
      return res;
    },
    kill,
  };
}

/**
 * The baseline, exactly what Ironic's socat console driver runs for a node:
 *   socat -T600 TCP4-LISTEN:PORT,bind=127.0.0.1,reuseaddr,fork,max-children=1 \
 *     EXEC:"ipmitool -I lanplus -H 127.0.0.1 -p BMCPORT -U admin -f PWFILE sol activate",pty,stderr
 * The password is only in PWFILE (mode 0600): never in argv or the children's environment.
 */
import { readFileSync } from 'node:fs';
import { execFile, type ChildProcess } from 'node:child_process';
import { spawnGroup, stopGroup } from './children.js';
import { processTree } from './proc.js';

export interface SocatConsole {
  port: number;
  pid: number;
  child: ChildProcess;
  /** the listener and everything it forked (socat per connection, ipmitool) */
  tree(): number[];
  stop(): Promise<void>;
}

/** Is 127.0.0.1:port in LISTEN state (from /proc/net/tcp, without connecting: a connect would fork ipmitool)? */
export function isListening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const table = readFileSync('/proc/net/tcp', 'utf8');
  return table.split('\n').some((line) => {
    const f = line.trim().split(/\s+/);
    return f[1] === `0100007F:${hex}` && f[3] === '0A';
  });
}

/** ipmitool's connection arguments; cipherSuite undefined = no -C, exactly Ironic's default command line. */
export function ipmitoolArgs(bmcPort: number, pwFile: string, user: string, cipherSuite?: number): string[] {
  const args = ['-I', 'lanplus', '-H', '127.0.0.1', '-p', String(bmcPort), '-U', user, '-f', pwFile];
  if (cipherSuite !== undefined) args.push('-C', String(cipherSuite));
  return args;
}

/** A child environment without anything password-like (the benchmark never puts it there anyway). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TERM']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

export async function startSocatConsole(opts: { listenPort: number; bmcPort: number; pwFile: string; user: string; cipherSuite?: number }): Promise<SocatConsole> {
  const command = ['ipmitool', ...ipmitoolArgs(opts.bmcPort, opts.pwFile, opts.user, opts.cipherSuite), 'sol', 'activate'].join(' ');
  const args = [
    '-T600',
    `TCP4-LISTEN:${opts.listenPort},bind=127.0.0.1,reuseaddr,fork,max-children=1`,
    `EXEC:${command},pty,stderr`,
  ];
  const child = spawnGroup('socat', args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 5000;
  while (!isListening(opts.listenPort)) {
    if (child.exitCode !== null) throw new Error(`socat exited: ${err}`);
    if (Date.now() > deadline) {
      await stopGroup(child);
      throw new Error(`socat did not listen on ${opts.listenPort}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port: opts.listenPort,
    pid: child.pid!,
    child,
    tree: () => processTree(child.pid!),
    stop: () => stopGroup(child, 1000),
  };
}

/** `ipmitool ... sol deactivate` (what Ironic runs before starting a console); resolves with its exit code. */
export function solDeactivate(bmcPort: number, pwFile: string, user: string, cipherSuite?: number): Promise<number> {
  return new Promise((resolve) => {
    execFile('ipmitool', [...ipmitoolArgs(bmcPort, pwFile, user, cipherSuite), 'sol', 'deactivate'], { env: cleanEnv(), timeout: 15_000 }, (error) =>
      resolve(error ? (typeof error.code === 'number' ? error.code : 1) : 0),
    );
  });
}

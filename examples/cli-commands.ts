/**
 * The CLI's SOL commands: activate (a console on this terminal, like `ipmitool sol activate`) and deactivate.
 */
import { readFileSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import {
  activateSol,
  ConsoleBridge,
  deactivateSol,
  IpmiError,
  IpmiSession,
  loadConsoleSource,
  metricsSample,
  sourceFor,
  type ActivationMode,
  type SolStream,
} from '../lib/index.js';
import { lingerMsOf, requireConnection, type ParsedArgs } from './cli-args.js';
import { EscapeParser, ESCAPE_HELP } from './escape.js';
import { consoleSourceFromArgs } from './cli-sources.js';
import { captureOptionsFromFlags, metricsFromFlags, serveConfig } from './serve-capture.js';

export type Command = (args: ParsedArgs) => Promise<number>;

function instanceOf(args: ParsedArgs): number {
  const v = args.flags.get('--instance');
  if (v === undefined) return 1;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 15)) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `--instance ${String(v)}: a SOL instance is 1 to 15`);
  return n;
}

function escapeCharOf(args: ParsedArgs): string | undefined {
  const v = args.flags.get('-e');
  if (v === undefined) return '~';
  if (v === 'none') return undefined;
  if (typeof v !== 'string' || Buffer.byteLength(v) !== 1) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `-e ${String(v)}: the escape character is one character (or 'none')`);
  return v;
}

const note = (text: string) => process.stderr.write(text);

type Outcome = { code: number; error?: unknown };

/**
 * `activate`: with a TTY on stdin, raw mode and escape sequences (~. ~B ~? ~~), the terminal restored on every
 * exit path. Without one, bytes pass through untouched; once stdin ended and the BMC acknowledged every byte, the
 * console's output is still printed for `--linger` seconds (what comes back, an echo or a command's answer), then
 * SOL is deactivated and the command exits 0. SIGINT/SIGTERM deactivate SOL and close the session, exit 0.
 * SOL lost (taken over by another session, deactivated by the BMC, session lost): one line CODE: sentence, exit 1,
 * and no Deactivate Payload: the payload may now belong to the session that took it.
 */
export async function activate(args: ParsedArgs): Promise<number> {
  requireConnection(args);
  const instance = instanceOf(args);
  const steal = args.flags.has('--steal');
  const tty = process.stdin.isTTY === true;
  const escapeChar = tty ? escapeCharOf(args) : undefined;
  const lingerMs = lingerMsOf(args);

  const session = await IpmiSession.open(args.session);
  let sol: SolStream;
  try {
    sol = await activateSol(session, { instance, steal });
  } catch (err) {
    await closeQuietly(session);
    throw err;
  }
  return runConsole(session, sol, tty ? { escapeChar } : { lingerMs });
}

/** Wire stdin/stdout to the SOL stream until the user, a signal, the end of input or the BMC ends it. */
async function runConsole(session: IpmiSession, sol: SolStream, mode: { escapeChar?: string | undefined; lingerMs?: number }): Promise<number> {
  const stdin = process.stdin;
  const tty = mode.lingerMs === undefined;
  const cleanups: (() => void)[] = [];
  let result: Outcome | undefined;
  const done = new Promise<Outcome>((resolve) => {
    const finish = (r: Outcome) => {
      if (!result) {
        result = r;
        resolve(r);
      }
    };
    sol.on('close', (reason?: IpmiError) => finish(reason ? { code: 1, error: reason } : { code: 0 }));
    sol.on('error', () => undefined); // reported through 'close'
    const onSignal = () => finish({ code: 0 });
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    cleanups.push(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    sol.pipe(process.stdout, { end: false });
    if (tty) {
      cleanups.push(attachTerminal(sol, mode.escapeChar, () => finish({ code: 0 })));
    } else {
      // A script: pass bytes untouched; once stdin ended and every byte was acknowledged, linger, then exit 0.
      stdin.pipe(sol);
      finished(sol, { readable: false }).then(
        () => {
          if (mode.lingerMs === 0) return finish({ code: 0 });
          const timer = setTimeout(() => finish({ code: 0 }), mode.lingerMs);
          cleanups.push(() => clearTimeout(timer));
        },
        () => undefined, // the stream failed: reported through 'close'
      );
    }
  });

  let r: Outcome;
  try {
    r = await done;
  } catch (err) {
    r = { code: 1, error: err }; // cli.ts fail() prints it as one line
  }
  for (const cleanup of cleanups) cleanup();
  stdin.pause();
  stdin.unpipe();
  sol.unpipe(process.stdout);
  if (tty) note('\r\n[terminated ipmi-sol-bridge]\r\n');
  // A stream that closed on its own lost its payload (or its session): deactivating now could end the console of
  // the session that took it over. Only a console we are ending ourselves is deactivated.
  if (!sol.destroyed) await sol.deactivate();
  await closeQuietly(session);
  if (r.error !== undefined) throw r.error;
  return r.code;
}

/** Raw mode and the escape sequences on a terminal; returns what restores the terminal. */
function attachTerminal(sol: SolStream, escapeChar: string | undefined, quit: () => void): () => void {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  note(`[SOL Session operational.${escapeChar ? `  Use ${escapeChar}? for help` : ''}]\r\n`);
  const parser = new EscapeParser(escapeChar ?? '~');
  stdin.on('data', (chunk: Buffer) => {
    const actions = escapeChar ? parser.push(chunk) : [{ kind: 'data' as const, bytes: chunk }];
    for (const a of actions) {
      if (a.kind === 'data') {
        if (!sol.write(a.bytes)) stdin.pause();
      } else if (a.kind === 'break') {
        sol.sendBreak().catch(() => undefined);
      } else if (a.kind === 'help') {
        note(ESCAPE_HELP(escapeChar!));
      } else if (a.kind === 'quit') {
        quit();
        return;
      }
    }
  });
  sol.on('drain', () => stdin.resume());
  return () => {
    if (stdin.isTTY) stdin.setRawMode(false);
  };
}

/** Close a session on the way out; a failure there changes nothing the user can act on. */
export async function closeQuietly(session: IpmiSession): Promise<void> {
  try {
    await session.close();
  } catch {
    // the session is gone either way
  }
}

/** `deactivate`: exit 0 whether SOL was active or already inactive. */
export async function deactivate(args: ParsedArgs): Promise<number> {
  requireConnection(args);
  const instance = instanceOf(args);
  const session = await IpmiSession.open(args.session);
  try {
    const wasActive = await deactivateSol(session, instance);
    note(wasActive ? `SOL instance ${instance} deactivated\n` : `SOL instance ${instance} was not active\n`);
    return 0;
  } finally {
    await closeQuietly(session);
  }
}

/** ADDR:PORT, [IPV6]:PORT, or a bare PORT (then 127.0.0.1: never a wildcard address unless asked for). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `--listen ${value}: expected ADDR:PORT, [IPV6]:PORT or PORT (0 for any free port)`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/**
 * `serve`: a TCP console server in place of Ironic's `socat TCP4-LISTEN:PORT,bind=ADDR,reuseaddr,fork,
 * max-children=1 EXEC:"ipmitool ... sol activate",pty,stderr`. Prints the tcp:// URL once listening;
 * SIGINT/SIGTERM deactivate SOL and exit 0.
 */
export async function serve(args: ParsedArgs): Promise<number> {
  if (args.flags.has('--config')) {
    const other = [...args.flags.keys()].find((f) => !['--config', '--metrics', '-v', '-h', '--help'].includes(f));
    if (other !== undefined) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `${other} does not apply to serve --config (the file has every setting)`);
    return serveConfig(args.flags, note);
  }
  if ((args.flags.get('--console') ?? 'ipmi') === 'ipmi') requireConnection(args); // -U too, up front
  const name = args.session.host || 'console';
  const capture = captureOptionsFromFlags(args.flags, name);
  const source = await loadConsoleSource(sourceFor(consoleSourceFromArgs(args, instanceOf(args)))); // --console kind
  const listen = args.flags.get('--listen');
  if (typeof listen !== 'string') throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'serve needs --listen ADDR:PORT');
  const { host, port } = parseListen(listen);
  const idle = args.flags.get('--idle-timeout');
  let idleTimeoutMs: number | undefined;
  if (idle !== undefined) {
    const seconds = typeof idle === 'string' && /^\d+(\.\d+)?$/.test(idle) ? Number(idle) : NaN;
    if (!(seconds >= 0)) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `--idle-timeout ${String(idle)}: seconds, 0 disables (like socat -T)`);
    idleTimeoutMs = Math.round(seconds * 1000);
  }
  const activation = args.flags.get('--activation') ?? 'on-connect';
  if (activation !== 'on-connect' && activation !== 'always') {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `--activation ${String(activation)}: on-connect or always`);
  }
  const certFile = args.flags.get('--tls-cert');
  const keyFile = args.flags.get('--tls-key');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'a TLS listener needs both --tls-cert FILE and --tls-key FILE');
  }
  let tlsOptions: { cert: Buffer; key: Buffer } | undefined;
  if (typeof certFile === 'string' && typeof keyFile === 'string') {
    const read = (file: string, what: string) => {
      try {
        return readFileSync(file);
      } catch (err) {
        throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `cannot read the TLS ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
    };
    tlsOptions = { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
  }
  const bridge = new ConsoleBridge({
    source,
    host,
    port,
    activation: activation as ActivationMode,
    takeover: args.flags.has('--takeover'),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    ...capture,
  });
  bridge.on('error', (err: Error) => note(`${(err as IpmiError).code ?? 'error'}: ${err.message}\n`));
  bridge.on('state', (state: string) => note(`[console ${state}]\n`));
  bridge.on('reconnect', (e: { attempt: number; delayMs: number; error?: IpmiError }) =>
    note(`[reconnecting to the BMC: attempt ${e.attempt} in ${e.delayMs} ms${e.error ? ` after ${e.error.code}` : ''}]\n`),
  );
  // Signal handlers before the URL is printed: a supervisor may signal the moment it reads it.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await bridge.listen();
  process.stdout.write(`${bridge.url}\n`);
  const metrics = await metricsFromFlags(args.flags, () => [metricsSample(name, bridge.metrics, bridge.lastError?.code)], note);
  await stopped;
  await metrics?.close();
  await bridge.close();
  return 0;
}

export const commands: Record<string, Command | undefined> = { activate, deactivate, serve };

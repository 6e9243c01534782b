/**
 * The CLI's SOL commands: activate (a console on this terminal, like `ipmitool sol activate`) and deactivate.
 */
import { finished } from 'node:stream/promises';
import { IpmiError } from '../lib/errors.js';
import { IpmiSession } from '../lib/session/rmcpplus-session.js';
import type { SolStream } from '../lib/sol/sol-stream.js';
import { requireConnection, type ParsedArgs } from './cli-args.js';
import { EscapeParser, ESCAPE_HELP } from './escape.js';

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

/**
 * `activate`: with a TTY on stdin, raw mode and escape sequences (~. ~B ~? ~~), the terminal restored on every
 * exit path. Without one, bytes pass through untouched and the command exits 0 once stdin ended and the BMC
 * acknowledged every byte. SIGINT/SIGTERM deactivate SOL and close the session.
 */
export async function activate(args: ParsedArgs): Promise<number> {
  requireConnection(args);
  const instance = instanceOf(args);
  const steal = args.flags.has('--steal');
  const stdin = process.stdin;
  const tty = stdin.isTTY === true;
  const escapeChar = tty ? escapeCharOf(args) : undefined;

  const session = await IpmiSession.open(args.session);
  let sol: SolStream;
  try {
    sol = await session.activateSol({ instance, steal });
  } catch (err) {
    await session.close();
    throw err;
  }

  let restoreTerminal = () => undefined as void;
  if (tty) {
    stdin.setRawMode(true);
    restoreTerminal = () => {
      if (stdin.isTTY) stdin.setRawMode(false);
    };
    note(`[SOL Session operational.${escapeChar ? `  Use ${escapeChar}? for help` : ''}]\r\n`);
  }

  let result: { code: number; error?: IpmiError } | undefined;
  const done = new Promise<{ code: number; error?: IpmiError }>((resolve) => {
    const finish = (r: { code: number; error?: IpmiError }) => {
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
    sol.pipe(process.stdout, { end: false });

    if (tty) {
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
            finish({ code: 0 });
            return;
          }
        }
      });
      sol.on('drain', () => stdin.resume());
    } else {
      // A script: pass bytes untouched; exit once stdin ended and every byte was acknowledged.
      stdin.pipe(sol);
      finished(sol, { readable: false }).then(
        () => finish({ code: 0 }),
        () => undefined,
      );
    }
  });

  try {
    const r = await done;
    return r.error ? Promise.reject(r.error) : r.code;
  } finally {
    restoreTerminal();
    stdin.pause();
    stdin.unpipe();
    if (tty) note('\r\n[terminated ipmi-sol-bridge]\r\n');
    await sol.deactivate();
    await session.close();
  }
}

/** `deactivate`: exit 0 whether SOL was active or already inactive. */
export async function deactivate(args: ParsedArgs): Promise<number> {
  requireConnection(args);
  const instance = instanceOf(args);
  const session = await IpmiSession.open(args.session);
  try {
    const wasActive = await session.deactivateSol(instance);
    note(wasActive ? `SOL instance ${instance} deactivated\n` : `SOL instance ${instance} was not active\n`);
    return 0;
  } finally {
    await session.close();
  }
}

export const commands: Record<string, Command | undefined> = { activate, deactivate };

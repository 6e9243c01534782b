/**
 * Argument parsing for the example CLI, with ipmitool's connection flags:
 *   -H host  -p port  -U user  -P password | -E (IPMI_PASSWORD) | -f file  -C suite|auto  -L privilege
 *   -y hex K_g  -k K_g  -N seconds (timeout per try)  -R retries
 * Pure: no I/O except reading the password file, so specs can drive it.
 */
import { readFileSync } from 'node:fs';
import { IpmiError, parseCipherSuite, parseKgHex, parsePrivilege } from '../lib/index.js';
import type { ParsedArgs } from './parsed-args.js';
import { SOURCE_BOOLEAN_FLAGS, SOURCE_VALUE_FLAGS, SOURCES_USAGE } from './cli-sources.js';

export type { ParsedArgs } from './parsed-args.js';

const VALUE_FLAGS = new Set(['-H', '-p', '-U', '-P', '-f', '-C', '-L', '-y', '-k', '-N', '-R', '-e']);
const BOOLEAN_FLAGS = new Set(['-E', '-K', '-v', '-h']);
const LONG_VALUE = new Set(['--instance', '--listen', '--idle-timeout', '--activation', '--keepalive', '--tls-cert', '--tls-key', '--linger', ...SOURCE_VALUE_FLAGS]);
const LONG_BOOLEAN = new Set(['--steal', '--takeover', '--help', '--version', ...SOURCE_BOOLEAN_FLAGS]);
/** `serve`'s console-layer flags (examples/serve-capture.ts). */
const CAPTURE_VALUE = ['--log-dir', '--replay', '--extra-clients', '--max-clients', '--metrics', '--config'];
const CAPTURE_BOOLEAN = ['--capture', '--log-timestamps'];
for (const flag of CAPTURE_VALUE) LONG_VALUE.add(flag);
for (const flag of CAPTURE_BOOLEAN) LONG_BOOLEAN.add(flag);

/** Flags every command takes: the connection (as ipmitool), help and verbose. */
const COMMON_FLAGS = ['-H', '-p', '-U', '-P', '-E', '-f', '-C', '-L', '-y', '-k', '-K', '-N', '-R', '--keepalive', '-v', '-h', '--help'];
/** The flags only some commands take. */
export const COMMAND_FLAGS: Readonly<Record<string, readonly string[]>> = {
  info: [],
  activate: ['--steal', '-e', '--instance', '--linger'],
  deactivate: ['--instance'],
  serve: ['--listen', '--idle-timeout', '--takeover', '--activation', '--tls-cert', '--tls-key', '--instance', ...SOURCE_VALUE_FLAGS, ...SOURCE_BOOLEAN_FLAGS, ...CAPTURE_VALUE, ...CAPTURE_BOOLEAN],
};

/** `activate --linger`: seconds of console output still printed after stdin ended (enough for an echo). */
export const DEFAULT_LINGER_SECONDS = 2;
/** The longest `--linger` accepted, in seconds. */
export const MAX_LINGER_SECONDS = 3600;

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--') && arg.includes('=')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(0, eq);
      if (!LONG_VALUE.has(name)) throw bad(`unknown option ${name}`);
      flags.set(name, arg.slice(eq + 1));
    } else if (VALUE_FLAGS.has(arg) || LONG_VALUE.has(arg)) {
      const value = argv[++i];
      if (value === undefined) throw bad(`option ${arg} needs a value`);
      flags.set(arg, value);
    } else if (BOOLEAN_FLAGS.has(arg) || LONG_BOOLEAN.has(arg)) {
      flags.set(arg, true);
    } else if (arg.startsWith('-') && arg.length > 1) {
      throw bad(`unknown option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  const command = positional.shift();
  const str = (name: string) => {
    const v = flags.get(name);
    return typeof v === 'string' ? v : undefined;
  };

  const session: ParsedArgs['session'] = { host: str('-H') ?? '', username: str('-U') ?? '', password: '' };
  const port = str('-p');
  if (port !== undefined) {
    if (!/^\d+$/.test(port)) throw bad(`-p ${port} is not a port number`);
    session.port = Number(port);
  }
  // Password sources, as ipmitool: -P on the command line, -E from IPMI_PASSWORD, -f first line of a file.
  const sources = [flags.has('-P'), flags.has('-E'), flags.has('-f')].filter(Boolean).length;
  if (sources > 1) throw bad('give the password one way only: -P, -E or -f');
  if (flags.has('-P')) session.password = str('-P')!;
  else if (flags.has('-E')) {
    const pw = env.IPMI_PASSWORD ?? env.IPMITOOL_PASSWORD;
    if (pw === undefined) throw bad('-E: the IPMI_PASSWORD environment variable is not set');
    session.password = pw;
  } else if (flags.has('-f')) {
    let text: string;
    try {
      text = readFileSync(str('-f')!, 'utf8');
    } catch (err) {
      throw bad(`-f: cannot read the password file ${str('-f')}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    session.password = text.split(/\r?\n/)[0] ?? '';
  } else {
    (session as { password?: string }).password = undefined;
  }
  const suite = str('-C');
  if (suite !== undefined) session.cipherSuite = parseCipherSuite(suite);
  const priv = str('-L');
  if (priv !== undefined) {
    const level = parsePrivilege(priv);
    session.privilege = (['callback', 'callback', 'user', 'operator', 'administrator'] as const)[level]!;
  }
  // K_g, as ipmitool: -y hex, -k text, or -K from the IPMI_KGKEY environment variable (kept out of argv).
  if ([flags.has('-y'), flags.has('-k'), flags.has('-K')].filter(Boolean).length > 1) throw bad('give K_g one way only: -y HEX, -k KEY or -K');
  if (flags.has('-y')) session.kg = parseKgHex(str('-y')!);
  if (flags.has('-k')) session.kg = Buffer.from(str('-k')!, 'utf8');
  if (flags.has('-K')) {
    const kg = env.IPMI_KGKEY;
    if (kg === undefined) throw bad('-K: the IPMI_KGKEY environment variable is not set');
    session.kg = Buffer.from(kg, 'utf8');
  }
  const timeout = str('-N');
  if (timeout !== undefined) {
    const seconds = Number(timeout);
    if (!(seconds > 0) || seconds > 600) throw bad(`-N ${timeout}: the timeout is seconds, above 0 and at most 600`);
    session.timeoutMs = Math.round(seconds * 1000);
  }
  const retries = str('-R');
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw bad(`-R ${retries} is not a retry count`);
    session.retries = Number(retries);
  }
  const keepalive = str('--keepalive');
  if (keepalive !== undefined) {
    const seconds = Number(keepalive);
    if (!(seconds >= 0)) throw bad(`--keepalive ${keepalive}: seconds, 0 to disable`);
    session.keepaliveMs = Math.round(seconds * 1000);
  }
  return { command, session, flags, positional };
}

/** `--linger SECONDS` in milliseconds (DEFAULT_LINGER_SECONDS when not given). */
export function lingerMsOf(args: ParsedArgs): number {
  const v = args.flags.get('--linger');
  if (v === undefined) return DEFAULT_LINGER_SECONDS * 1000;
  const seconds = typeof v === 'string' && /^\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
  if (!(seconds >= 0 && seconds <= MAX_LINGER_SECONDS)) throw bad(`--linger ${String(v)}: seconds, 0 to ${MAX_LINGER_SECONDS} (0 exits as soon as stdin ended)`);
  return Math.round(seconds * 1000);
}

/**
 * What a command line must hold beyond well-formed flags: a known command, no stray words, and only the flags that
 * command takes. `help COMMAND` takes one word.
 */
export function checkCommandLine(args: ParsedArgs): void {
  const { command, positional } = args;
  if (command === undefined) return;
  if (command === 'help') {
    if (positional.length > 1) throw bad(`unexpected argument "${positional[1]}" (usage: help [COMMAND])`);
    if (positional[0] !== undefined && !(positional[0] in COMMAND_FLAGS)) throw bad(`unknown command "${positional[0]}" (try --help)`);
    return;
  }
  const own = COMMAND_FLAGS[command];
  if (!own) throw bad(`unknown command "${command}" (try --help)`);
  if (positional.length > 0) throw bad(`unexpected argument "${positional[0]}" (try ${command} --help)`);
  for (const flag of args.flags.keys()) {
    if (flag !== '--version' && !COMMON_FLAGS.includes(flag) && !own.includes(flag)) throw bad(`${flag} does not apply to ${command} (try ${command} --help)`);
  }
}

export function requireConnection(args: ParsedArgs): void {
  if (args.command === 'serve' && args.flags.has('--config')) return; // every node's BMC comes from the file
  if (!args.session.host) throw bad('-H HOST is required (the BMC address)');
  // IPMI allows a null (anonymous) user name: it must be asked for with -U '', never assumed.
  if (!args.flags.has('-U')) throw bad("-U USER is required (-U '' for the BMC's null user)");
  if (args.session.password === undefined) throw bad('a password is required: -P PASSWORD, -E (IPMI_PASSWORD) or -f FILE');
}

const CONNECTION_HELP = `connection options (as ipmitool):
  -H HOST        BMC address            -p PORT      UDP port (623)
  -U USER        user name ('' for the BMC's null user)
  -P PW          password (visible to ps: prefer -E or -f)
  -E             password from IPMI_PASSWORD         -f FILE      password from the file's first line
  -C N|auto      cipher suite (auto: the strongest the BMC offers)
  -L PRIV        USER, OPERATOR or ADMINISTRATOR (default)
  -y HEX         K_g (BMC key) in hex   -k KEY       K_g as text
  -K             K_g from IPMI_KGKEY (kept out of the process list)
  -N SECONDS     timeout per try (1)    -R COUNT     retries (3)
  --keepalive S  keepalive period (10, 0 disables)
  -v             verbose: debug output of the ipmi:* namespaces on stderr (never secrets)
`;

const CONNECTION = '-H HOST [-p PORT] -U USER (-P PW | -E | -f FILE) [connection options]';

/** Each command's usage, printed by `COMMAND --help` and `help COMMAND`. */
const withConnectionHelp = (usage: Record<string, string>): Readonly<Record<string, string>> =>
  Object.fromEntries(Object.entries(usage).map(([name, text]) => [name, `${text}\n${CONNECTION_HELP}`]));

export const COMMAND_USAGE = withConnectionHelp({
  info: `usage: ipmi-sol-bridge info ${CONNECTION}

Open a session and print the device ID and the negotiated session as one line of JSON on stdout.
`,
  activate: `usage: ipmi-sol-bridge activate ${CONNECTION}
                         [--steal] [-e CHAR] [--instance N] [--linger SECONDS]

A serial console on this terminal, like 'ipmitool sol activate'.
  --steal          SOL held by another session: deactivate it there, then activate here
  -e CHAR          escape character on a terminal (~; 'none' disables): ~. quit, ~B break, ~? help
  --instance N     SOL payload instance (1)
  --linger S       stdin not a terminal: once stdin ended and the BMC acknowledged every byte, keep printing
                   the console's output for S seconds (${DEFAULT_LINGER_SECONDS}; 0 exits at once), then deactivate and exit 0
Exit status: 0 after ~., SIGINT/SIGTERM or the end of stdin plus the linger; 1 when SOL could not be activated or
was lost (taken over by another session, deactivated by the BMC, session lost), with one line CODE: sentence.
`,
  deactivate: `usage: ipmi-sol-bridge deactivate ${CONNECTION} [--instance N]

Deactivate SOL: exit 0 whether it was active or already inactive.
`,
  serve: `usage: ipmi-sol-bridge serve ${CONNECTION} --listen ADDR:PORT
                         [--idle-timeout S] [--takeover] [--activation on-connect|always]
                         [--tls-cert FILE --tls-key FILE] [--instance N]

A TCP (or TLS) console server like Ironic's socat + ipmitool; prints the tcp:// (tls://) URL once listening.
  --listen ADDR:PORT   [::1]:PORT for IPv6, a bare PORT for 127.0.0.1; port 0 picks a free one
  --idle-timeout S     close an idle client, like socat -T (600; 0 disables)
  --takeover           a new client replaces the connected one (default: it is refused)
  --activation MODE    on-connect (default): SOL only while a client is connected; always
  --capture            keep the console open and record it, client or not (history, replay, spectators, logs)
  --log-dir DIR        console log files DIR/<host>.log (byte-exact) and .audit.log, 10 MiB x 5 kept
  --log-timestamps     [ISO time] at each line start of the console log
  --replay SIZE        what a connecting client gets first: 4KiB, 1MiB, 50lines (default none)
  --extra-clients P    a client while another is connected: refuse (default), spectate (read-only), takeover
  --max-clients N      clients at once, the writer included (spectate: 8)
  --metrics ADDR:PORT  HTTP /metrics (Prometheus) and /healthz

usage: ipmi-sol-bridge serve --config FILE [--metrics ADDR:PORT]
  A console for every node of a JSON file (README: nodes.json); SIGHUP reloads it: added nodes start, removed
  stop, changed restart. Prints one line per node: NODE started URL.

${SOURCES_USAGE}`,
});

export const USAGE = `usage: ipmi-sol-bridge COMMAND ${CONNECTION} [options]
       ipmi-sol-bridge COMMAND --help | help COMMAND | --version

commands:
  info                     open a session, print device ID and the negotiated session as JSON
  activate [--steal] [-e CHAR] [--instance N] [--linger S]
                           a serial console on this terminal, like 'ipmitool sol activate'
  deactivate [--instance N]
                           deactivate SOL (exit 0 if it was active or already inactive)
  serve --listen ADDR:PORT [--idle-timeout S] [--takeover] [--activation on-connect|always]
        [--tls-cert FILE --tls-key FILE] [--capture [--log-dir DIR] [--replay SIZE]
        [--extra-clients refuse|spectate|takeover]] [--metrics ADDR:PORT]
                           a TCP (or TLS) console server like Ironic's socat; prints the URL
  serve --config FILE [--metrics ADDR:PORT]
                           a console for every node of a JSON file; SIGHUP reloads it

${CONNECTION_HELP}
${SOURCES_USAGE}
Exit status: 0 ok, 1 a BMC or runtime error, 2 bad arguments; on failure one line CODE: sentence on stderr.
`;

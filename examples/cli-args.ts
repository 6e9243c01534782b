/**
 * Argument parsing for the example CLI, with ipmitool's connection flags:
 *   -H host  -p port  -U user  -P password | -E (IPMI_PASSWORD) | -f file  -C suite|auto  -L privilege
 *   -y hex K_g  -k K_g  -N seconds (timeout per try)  -R retries
 * Pure: no I/O except reading the password file, so specs can drive it.
 */
import { readFileSync } from 'node:fs';
import { IpmiError } from '../lib/errors.js';
import { parseCipherSuite, parseKgHex, parsePrivilege, type IpmiSessionOptions } from '../lib/session/options.js';
import { SOURCE_BOOLEAN_FLAGS, SOURCE_VALUE_FLAGS, SOURCES_USAGE } from './cli-sources.js';

export interface ParsedArgs {
  command: string | undefined;
  session: IpmiSessionOptions;
  flags: Map<string, string | true>;
  positional: string[];
}

const VALUE_FLAGS = new Set(['-H', '-p', '-U', '-P', '-f', '-C', '-L', '-y', '-k', '-N', '-R', '-e']);
const BOOLEAN_FLAGS = new Set(['-E', '-K', '-v', '-h']);
const LONG_VALUE = new Set([
  '--instance',
  '--listen',
  '--idle-timeout',
  '--activation',
  '--keepalive',
  '--tls-cert',
  '--tls-key',
  '--sol-port',
  ...SOURCE_VALUE_FLAGS,
]);
const LONG_BOOLEAN = new Set(['--steal', '--takeover', '--help', '--json', ...SOURCE_BOOLEAN_FLAGS]);

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

  const session: IpmiSessionOptions = { host: str('-H') ?? '', username: str('-U') ?? '', password: '' };
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

export function requireConnection(args: ParsedArgs): void {
  if (!args.session.host) throw bad('-H HOST is required (the BMC address)');
  if (args.session.password === undefined) throw bad('a password is required: -P PASSWORD, -E (IPMI_PASSWORD) or -f FILE');
}

export const USAGE = `usage: ipmi-sol-bridge COMMAND -H HOST [-p PORT] -U USER (-P PW | -E | -f FILE) [options]

commands:
  info                     open a session, print device ID and the negotiated session as JSON
  activate [--steal] [-e CHAR] [--instance N]
                           a serial console on this terminal, like 'ipmitool sol activate'
  deactivate [--instance N]
                           deactivate SOL (exit 0 if it was active or already inactive)
  serve --listen ADDR:PORT [--idle-timeout S] [--takeover] [--activation on-connect|always]
        [--tls-cert FILE --tls-key FILE]
                           a TCP (or TLS) console server like Ironic's socat; prints the URL

connection options (as ipmitool):
  -H HOST        BMC address            -p PORT      UDP port (623)
  -U USER        user name              -P PW        password (visible to ps: prefer -E or -f)
  -E             password from IPMI_PASSWORD         -f FILE      password from the file's first line
  -C N|auto      cipher suite (auto: the strongest the BMC offers)
  -L PRIV        USER, OPERATOR or ADMINISTRATOR (default)
  -y HEX         K_g (BMC key) in hex   -k KEY       K_g as text
  -K             K_g from IPMI_KGKEY (kept out of the process list)
  -N SECONDS     timeout per try (1)    -R COUNT     retries (3)
  --keepalive S  keepalive period (10, 0 disables)

${SOURCES_USAGE}`;

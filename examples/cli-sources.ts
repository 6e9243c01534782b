/**
 * The console choice for the CLI's `serve` (and any config that carries the same fields): `--console
 * ipmi|ssh|websocket` and each kind's flags, turned into the ConsoleSourceOptions that `sourceFor()` and
 * `ConsoleManager.startConsole()` take. -H, -p, -U and the password flags (-P, -E, -f) keep their meaning: the
 * console's host, port (UDP 623, SSH 22, ...), user and password. Pure apart from reading key/CA files.
 */
import { readFileSync } from 'node:fs';
import {
  IpmiError,
  SSH_VENDOR_COMMANDS,
  type ConsoleSourceOptions,
  type SshConsoleOptions,
  type SshVendor,
  type WebSocketAuth,
  type WebSocketConsoleOptions,
} from '../lib/index.js';
import type { ParsedArgs } from './parsed-args.js';

/** Flags with a value that this file adds. */
export const SOURCE_VALUE_FLAGS: readonly string[] = [
  '--console',
  '--ssh-command',
  '--vendor',
  '--ssh-key',
  '--host-key',
  '--known-hosts',
  '--url',
  '--redfish',
  '--redfish-system',
  '--ws-auth',
  '--ws-protocol',
  '--bmc-ca',
  '--bmc-cert-fingerprint',
];
/** Flags without a value that this file adds. */
export const SOURCE_BOOLEAN_FLAGS: readonly string[] = ['--pty'];

/** Environment variables read for secrets that must stay out of argv. */
export const SSH_KEY_PASSPHRASE_ENV = 'SSH_KEY_PASSPHRASE';
export const BMC_SESSION_TOKEN_ENV = 'BMC_SESSION_TOKEN';

export const SOURCES_USAGE = `console kinds (serve):
  --console ipmi|ssh|websocket   what the BMC speaks (default ipmi: the IPMI options above)
  ssh:  -H HOST [-p PORT] -U USER (-P PW | -E | -f FILE | --ssh-key FILE)
        [--vendor dell|hpe|lenovo|openbmc | --ssh-command CMD] [--pty]
        (--host-key SHA256:... | --known-hosts FILE)   unknown host keys are refused
        key passphrase from ${SSH_KEY_PASSPHRASE_ENV}
  websocket: (--url wss://BMC/console0 | --redfish https://BMC [--redfish-system PATH])
        [--ws-auth session|basic|token|none] -U USER (-P PW | -E | -f FILE); token from ${BMC_SESSION_TOKEN_ENV}
        [--bmc-ca FILE | --bmc-cert-fingerprint HEX] [--ws-protocol binary]
`;

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

function str(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags.get(name);
  return typeof value === 'string' ? value : undefined;
}

function readFlagFile(args: ParsedArgs, name: string): Buffer | undefined {
  const file = str(args, name);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (error) {
    throw bad(`${name}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The password flags' value as text (IPMI takes bytes; SSH and HTTP take a string). */
function passwordOf(args: ParsedArgs): string | undefined {
  const password: string | Buffer | undefined = args.session.password;
  return password === undefined || typeof password === 'string' ? password : password.toString('utf8');
}

function sshOptions(args: ParsedArgs, env: NodeJS.ProcessEnv): SshConsoleOptions {
  const { host, port, username } = args.session;
  const password = passwordOf(args);
  if (!host) throw bad('--console ssh needs -H HOST');
  if (!username) throw bad('--console ssh needs -U USER');
  const privateKey = readFlagFile(args, '--ssh-key');
  if (password === undefined && privateKey === undefined) throw bad('--console ssh needs -P, -E, -f or --ssh-key FILE');
  const vendor = str(args, '--vendor');
  if (vendor !== undefined && !Object.hasOwn(SSH_VENDOR_COMMANDS, vendor)) {
    throw bad(`--vendor ${vendor}: one of ${Object.keys(SSH_VENDOR_COMMANDS).join(', ')}`);
  }
  const fingerprint = str(args, '--host-key');
  const knownHostsFile = str(args, '--known-hosts');
  return {
    host,
    ...(port === undefined ? {} : { port }),
    username,
    ...(password === undefined ? {} : { password }),
    ...(privateKey === undefined ? {} : { privateKey }),
    ...(env[SSH_KEY_PASSPHRASE_ENV] === undefined ? {} : { passphrase: env[SSH_KEY_PASSPHRASE_ENV] }),
    ...(vendor === undefined ? {} : { vendor: vendor as SshVendor }),
    ...(str(args, '--ssh-command') === undefined ? {} : { command: str(args, '--ssh-command')! }),
    pty: args.flags.has('--pty'),
    hostKey: { ...(fingerprint === undefined ? {} : { fingerprint }), ...(knownHostsFile === undefined ? {} : { knownHostsFile }) },
  };
}

function webSocketAuth(args: ParsedArgs, env: NodeJS.ProcessEnv): WebSocketAuth {
  const { username } = args.session;
  const password = passwordOf(args);
  const kind = str(args, '--ws-auth') ?? (username ? 'session' : 'none');
  switch (kind) {
    case 'session':
    case 'basic':
      if (!username || password === undefined) throw bad(`--ws-auth ${kind} needs -U USER and -P, -E or -f`);
      return { kind, username, password };
    case 'token': {
      const token = env[BMC_SESSION_TOKEN_ENV];
      if (token === undefined) throw bad(`--ws-auth token: the ${BMC_SESSION_TOKEN_ENV} environment variable is not set`);
      return { kind, token };
    }
    case 'none':
      return { kind };
    default:
      throw bad(`--ws-auth ${kind}: session, basic, token or none`);
  }
}

function webSocketOptions(args: ParsedArgs, env: NodeJS.ProcessEnv): WebSocketConsoleOptions {
  const url = str(args, '--url');
  const redfish = str(args, '--redfish');
  if ((url === undefined) === (redfish === undefined)) throw bad('--console websocket needs --url wss://BMC/console0 or --redfish https://BMC');
  const ca = readFlagFile(args, '--bmc-ca');
  const fingerprint256 = str(args, '--bmc-cert-fingerprint');
  const protocol = str(args, '--ws-protocol');
  const systemPath = str(args, '--redfish-system');
  return {
    ...(url === undefined ? {} : { url }),
    ...(redfish === undefined ? {} : { redfish: { url: redfish, ...(systemPath === undefined ? {} : { systemPath }) } }),
    auth: webSocketAuth(args, env),
    ...(ca === undefined && fingerprint256 === undefined
      ? {}
      : { tls: { ...(ca === undefined ? {} : { ca }), ...(fingerprint256 === undefined ? {} : { fingerprint256 }) } }),
    ...(protocol === undefined ? {} : { protocols: [protocol] }),
  };
}

/**
 * The console `serve` bridges, from the parsed flags. `ipmi` (the default) is the IPMI session options as
 * before, plus the SOL instance. Throws IPMI_ERR_BAD_ARGUMENT with the flag to fix.
 */
export function consoleSourceFromArgs(args: ParsedArgs, solInstance: number, env: NodeJS.ProcessEnv = process.env): ConsoleSourceOptions {
  const kind = str(args, '--console') ?? 'ipmi';
  switch (kind) {
    case 'ipmi':
      if (!args.session.host) throw bad('-H HOST is required (the BMC address)');
      if (args.session.password === undefined) throw bad('a password is required: -P PASSWORD, -E (IPMI_PASSWORD) or -f FILE');
      return { ...args.session, solInstance };
    case 'ssh':
      return { kind, ...sshOptions(args, env) };
    case 'websocket':
      return { kind, ...webSocketOptions(args, env) };
    default:
      throw bad(`--console ${kind}: ipmi, ssh or websocket`);
  }
}

/**
 * Options of an SSH console and their checks. This file does not load ssh2: the manager validates options
 * (and a user who needs only IPMI imports the library) without it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IpmiError } from '../errors.js';
import { isHostSyntax } from '../host-syntax.js';
import { normalizeFingerprint } from './host-keys.js';

/** The command each vendor's SSH CLI takes to attach to the host's serial console. */
export const SSH_VENDOR_COMMANDS = Object.freeze({
  /** Dell iDRAC (racadm shell): the host's COM2 */
  dell: 'console com2',
  /** HPE iLO: Virtual Serial Port */
  hpe: 'vsp',
  /** Lenovo XCC and OpenBMC-like CLIs: console of system 1 */
  lenovo: 'console 1',
  /** OpenBMC obmc-console on port 2200: the login is the console (ForceCommand), no command */
  openbmc: undefined,
} as const);

export type SshVendor = keyof typeof SSH_VENDOR_COMMANDS;

/** SSH keepalive period (ssh2 keepaliveInterval), like OpenSSH's ServerAliveInterval. */
export const DEFAULT_SSH_KEEPALIVE_MS = 15_000;
/** Unanswered keepalives before the connection counts as lost (ServerAliveCountMax). */
export const DEFAULT_SSH_KEEPALIVE_COUNT_MAX = 3;
/** Longest wait for the SSH handshake and authentication (ssh2 readyTimeout). */
export const DEFAULT_SSH_READY_TIMEOUT_MS = 20_000;
/** Longest wait for the server to close the connection after we ended it; then the socket is destroyed. */
export const SSH_RELEASE_TIMEOUT_MS = 5_000;

export interface SshHostKeyOptions {
  /** pinned SHA256 fingerprint(s), as `ssh-keygen -lf key.pub` prints them (`SHA256:...`) */
  fingerprint?: string | readonly string[];
  /** an OpenSSH known_hosts file; default `~/.ssh/known_hosts` when no fingerprint is pinned */
  knownHostsFile?: string;
}

export interface SshConsoleOptions {
  host: string;
  /** default 22 (OpenBMC serves its host console on 2200) */
  port?: number;
  username: string;
  password?: string;
  /** a private key (OpenSSH or PEM text) */
  privateKey?: string | Buffer;
  passphrase?: string;
  /** the command that attaches to the serial console; default: the vendor's, else none (login shell/ForceCommand) */
  command?: string;
  vendor?: SshVendor;
  /**
   * Ask the server for a pseudo-terminal. Default false: without a pty nothing on the server translates bytes
   * (no echo, no CR/LF mapping, no signals), so the console is byte-exact both ways. true (for a vendor CLI that
   * insists on a terminal) asks for one in raw mode (no echo, no canonical input, no output processing).
   */
  pty?: boolean;
  /** how the server's key is checked; unknown keys are always refused */
  hostKey?: SshHostKeyOptions;
  /** 0 disables; default 15 s */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
}

export interface ResolvedSshOptions {
  host: string;
  port: number;
  username: string;
  password: string | undefined;
  privateKey: string | Buffer | undefined;
  passphrase: string | undefined;
  command: string | undefined;
  pty: boolean;
  fingerprints: readonly string[];
  knownHostsFile: string | undefined;
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  readyTimeoutMs: number;
}

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

function checkCount(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw bad(`SSH console option ${name} must be an integer in ${min}..${max}, not ${String(value)}.`);
  }
  return value;
}

/** Check and complete SSH console options; throws IPMI_ERR_BAD_ARGUMENT (never mentioning a secret). */
export function resolveSshOptions(options: SshConsoleOptions): ResolvedSshOptions {
  if (typeof options !== 'object' || options === null) throw bad('SSH console options must be an object.');
  const { host, username, password, privateKey, vendor } = options;
  if (typeof host !== 'string' || !isHostSyntax(host)) throw bad(`SSH console host '${String(host)}' is not an address or host name.`);
  if (typeof username !== 'string' || username === '') throw bad('An SSH console needs a user name.');
  if (password === undefined && privateKey === undefined) throw bad('An SSH console needs a password or a private key.');
  if (vendor !== undefined && !Object.hasOwn(SSH_VENDOR_COMMANDS, vendor)) {
    throw bad(`Unknown SSH console vendor '${String(vendor)}' (known: ${Object.keys(SSH_VENDOR_COMMANDS).join(', ')}).`);
  }
  if (options.command !== undefined && (typeof options.command !== 'string' || options.command.trim() === '')) {
    throw bad('An SSH console command must be a non-empty string (leave it out for the login shell).');
  }
  const pinned = options.hostKey?.fingerprint;
  const fingerprints = (pinned === undefined ? [] : typeof pinned === 'string' ? [pinned] : [...pinned]).map(normalizeFingerprint);
  const knownHostsFile =
    options.hostKey?.knownHostsFile ?? (fingerprints.length === 0 ? join(homedir(), '.ssh', 'known_hosts') : undefined);
  return {
    host,
    port: checkCount('port', options.port, 22, 1, 65535),
    username,
    password,
    privateKey,
    passphrase: options.passphrase,
    command: options.command ?? (vendor === undefined ? undefined : SSH_VENDOR_COMMANDS[vendor]),
    pty: options.pty ?? false,
    fingerprints,
    knownHostsFile,
    keepaliveIntervalMs: checkCount('keepaliveIntervalMs', options.keepaliveIntervalMs, DEFAULT_SSH_KEEPALIVE_MS, 0, 3_600_000),
    keepaliveCountMax: checkCount('keepaliveCountMax', options.keepaliveCountMax, DEFAULT_SSH_KEEPALIVE_COUNT_MAX, 1, 1000),
    readyTimeoutMs: checkCount('readyTimeoutMs', options.readyTimeoutMs, DEFAULT_SSH_READY_TIMEOUT_MS, 1, 600_000),
  };
}

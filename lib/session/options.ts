/**
 * Options of IpmiSession.open, validated before anything touches the network: each bad value gets one
 * IPMI_ERR_BAD_ARGUMENT with a sentence an operator understands.
 */
import { IpmiError } from '../errors.js';
import { CIPHER_SUITES, PRIVILEGE_LEVELS, SUPPORTED_CIPHER_SUITE_IDS, type PrivilegeName } from '../crypto/cipher-suites.js';
import type { UdpTransport } from '../transport/udp-transport.js';
import { isHostSyntax } from '../host-syntax.js';

export const DEFAULT_IPMI_PORT = 623;
/** Per-attempt wait for a BMC answer. ipmitool waits 1 s per try (its -N default since 1.8.19 is 2 s for lanplus). */
export const DEFAULT_TIMEOUT_MS = 1000;
/** Extra attempts after the first for a request, and handshake restarts. */
export const DEFAULT_RETRIES = 3;
/** Keepalive period: well inside the 30 s session idle timeout of ipmi_sim and most BMCs (section 6.12.15). */
export const DEFAULT_KEEPALIVE_MS = 10_000;
export const MAX_RETRIES = 20;
/** IPMI 2.0 user names are at most 16 bytes (section 13.20), passwords and K_g at most 20 (section 13.31). */
export const MAX_USERNAME_BYTES = 16;
export const MAX_PASSWORD_BYTES = 20;
export const MAX_KG_BYTES = 20;

export type PrivilegeOption = PrivilegeName | 'admin';

export interface IpmiSessionOptions {
  host: string;
  port?: number;
  username: string;
  password: string | Buffer;
  /** K_g, the BMC key: a Buffer, or a string taken as its bytes (ipmitool -k) ; use parseKgHex for -y. */
  kg?: Buffer | string;
  /** A cipher suite number, or 'auto' (default): ask the BMC which it offers and take the strongest. */
  cipherSuite?: number | 'auto';
  privilege?: PrivilegeOption;
  /** Look the user up by name only (RAKP1 role bit 4, as ipmitool does); false: by name and privilege. */
  nameOnlyLookup?: boolean;
  /** Per-try wait for an answer; with adaptiveTimeout, the first try's wait and the ceiling of every retry's. */
  timeoutMs?: number;
  /** Retries of a request; IPMI_ERR_TIMEOUT after them, at (retries + 1) x timeoutMs from the first try. */
  retries?: number;
  /**
   * Retry a request after an RTT-based timeout (RFC 6298: SRTT + 4 RTTVAR, between RTO_FLOOR_MS and timeoutMs,
   * doubled per timeout, at most 2 tries ahead of the fixed timer; lib/session/rtt-estimator.ts) instead of a
   * fixed timeoutMs (default true).
   */
  adaptiveTimeout?: boolean;
  /** 0 disables keepalive. */
  keepaliveMs?: number;
  signal?: AbortSignal;
  /** Share one UDP socket between many sessions; by default each session has its own. */
  transport?: UdpTransport;
}

export interface ResolvedSessionOptions {
  host: string;
  port: number;
  username: Buffer;
  password: Buffer;
  kg: Buffer | undefined;
  cipherSuite: number | 'auto';
  privilege: number;
  nameOnlyLookup: boolean;
  timeoutMs: number;
  retries: number;
  adaptiveTimeout: boolean;
  keepaliveMs: number;
  signal: AbortSignal | undefined;
  transport: UdpTransport | undefined;
}

/** What the session state machine needs of the options (the driver keeps the signal and the transport). */
export type SessionConfig = Omit<ResolvedSessionOptions, 'signal' | 'transport'>;

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

/** ipmitool -y: K_g as hex (optionally 0x-prefixed), at most 20 bytes. */
export function parseKgHex(text: string): Buffer {
  const clean = text.trim().replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean) || clean.length === 0) throw bad('K_g must be given as hex digits (e.g. -y 0x0102...)');
  const kg = Buffer.from(clean, 'hex');
  if (kg.length > MAX_KG_BYTES) throw bad(`K_g is ${kg.length} bytes; IPMI allows at most ${MAX_KG_BYTES}`);
  return kg;
}

export function parsePrivilege(value: string | number | undefined): number {
  if (value === undefined) return PRIVILEGE_LEVELS.administrator;
  if (typeof value === 'number') {
    if (value >= 1 && value <= 4 && Number.isInteger(value)) return value;
    throw bad(`privilege level ${value} is not one of 1 (callback), 2 (user), 3 (operator), 4 (administrator)`);
  }
  const name = value.toLowerCase();
  if (name === 'admin' || name === 'administrator') return PRIVILEGE_LEVELS.administrator;
  if (name === 'operator') return PRIVILEGE_LEVELS.operator;
  if (name === 'user') return PRIVILEGE_LEVELS.user;
  if (name === 'callback') return PRIVILEGE_LEVELS.callback;
  throw bad(`privilege level "${value}" is not one of callback, user, operator, administrator`);
}

export function parseCipherSuite(value: number | string | undefined): number | 'auto' {
  if (value === undefined || value === 'auto') return 'auto';
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!CIPHER_SUITES.has(n)) {
    throw bad(`cipher suite ${String(value)} is not supported; use one of ${SUPPORTED_CIPHER_SUITE_IDS.join(', ')} or auto`);
  }
  return n;
}

function nonNegativeInt(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) throw bad(`${name} must be a whole number from 0 to ${max}`);
  return value;
}

export function resolveSessionOptions(o: IpmiSessionOptions): ResolvedSessionOptions {
  if (!o || typeof o !== 'object') throw bad('session options are required');
  if (typeof o.host !== 'string' || o.host.trim() === '') throw bad('host is required (the BMC address)');
  if (!isHostSyntax(o.host.trim())) throw bad(`host "${o.host}" is not an IP address or a host name (give the port with port/-p)`);
  const port = o.port ?? DEFAULT_IPMI_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port ${String(o.port)} is not a UDP port (1-65535)`);
  if (typeof o.username !== 'string') throw bad('username is required (use "" for the anonymous/null user)');
  const username = Buffer.from(o.username, 'utf8');
  if (username.length > MAX_USERNAME_BYTES) throw bad(`user name is ${username.length} bytes; IPMI allows at most ${MAX_USERNAME_BYTES}`);
  if (o.password === undefined || o.password === null) throw bad('password is required (give -P, -E or -f)');
  const password = Buffer.isBuffer(o.password) ? Buffer.from(o.password) : Buffer.from(String(o.password), 'utf8');
  if (password.length > MAX_PASSWORD_BYTES) throw bad(`password is longer than ${MAX_PASSWORD_BYTES} bytes, the IPMI 2.0 limit`);
  let kg: Buffer | undefined;
  if (o.kg !== undefined) {
    kg = Buffer.isBuffer(o.kg) ? Buffer.from(o.kg) : Buffer.from(o.kg, 'utf8');
    if (kg.length > MAX_KG_BYTES) throw bad(`K_g is ${kg.length} bytes; IPMI allows at most ${MAX_KG_BYTES}`);
  }
  const timeoutMs = nonNegativeInt('timeoutMs', o.timeoutMs, DEFAULT_TIMEOUT_MS, 600_000);
  if (timeoutMs === 0) throw bad('timeoutMs must be above 0');
  if (o.adaptiveTimeout !== undefined && typeof o.adaptiveTimeout !== 'boolean') throw bad('adaptiveTimeout must be true or false');
  return {
    host: o.host.trim(),
    port,
    username,
    password,
    kg,
    cipherSuite: parseCipherSuite(o.cipherSuite),
    privilege: parsePrivilege(o.privilege),
    nameOnlyLookup: o.nameOnlyLookup ?? true,
    timeoutMs,
    retries: nonNegativeInt('retries', o.retries, DEFAULT_RETRIES, MAX_RETRIES),
    adaptiveTimeout: o.adaptiveTimeout ?? true,
    keepaliveMs: nonNegativeInt('keepaliveMs', o.keepaliveMs, DEFAULT_KEEPALIVE_MS, 3_600_000),
    signal: o.signal,
    transport: o.transport,
  };
}

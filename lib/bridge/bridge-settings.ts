/**
 * The settings of a console bridge, declared once: `BridgeSettings` is what a caller may pass (every field
 * optional), `resolveBridgeSettings()` applies the defaults, checks every bound and returns one frozen object.
 * Pure: no socket, no timer.
 */
import net from 'node:net';
import tls from 'node:tls';
import { systemClock, type Clock } from '../clock.js';
import { IpmiError } from '../errors.js';
import type { StealPolicy } from './console-source.js';

export type { StealPolicy } from './console-source.js';

export type ActivationMode = 'on-connect' | 'always';

export const STEAL_POLICIES: readonly StealPolicy[] = Object.freeze(['never', 'own', 'always'] as const);

export interface ReconnectOptions {
  /** window of the first retry */
  initialDelayMs: number;
  /** the window grows by `factor` per retry up to this (one console alone); the fleet window may be longer */
  maxDelayMs: number;
  /** growth per retry */
  factor: number;
  /**
   * 0..1: the random share of each delay, delay = window x (1 - jitter x random()). 1 (default) is full jitter:
   * uniform over [0, window], so consoles that failed together do not retry together; 0 waits the window exactly.
   */
  jitter: number;
  /**
   * The fleet window: with N consoles open or opening in the process (a manager's count), every retry window is at least
   * N x spreadPerConsoleMs (bounded by maxSpreadMs), so the N consoles of a conductor that lost its network
   * retry at about 1 / spreadPerConsoleMs handshakes per second in all, however large N is (confluent
   * spreads its console retries over a window that grows with the cluster size the same way).
   */
  spreadPerConsoleMs: number;
  /** upper bound of the fleet window */
  maxSpreadMs: number;
}

export type ConsoleTlsOptions = tls.TlsOptions & { key: string | Buffer; cert: string | Buffer };

export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
export const DEFAULT_HOLD_BYTES = 64 * 1024;
/** Default fleet spread: 10 ms per console, so N consoles retry at about 100 handshakes per second in all. */
export const DEFAULT_SPREAD_PER_CONSOLE_MS = 10;
/** Default upper bound of the fleet window: 120 s (confluent's bound on its console retry time), 12000 consoles. */
export const DEFAULT_MAX_SPREAD_MS = 120_000;
/**
 * Re-opening a lost console: a window of 0.5 s doubling to 8 s, full jitter, and at least 10 ms per console of
 * the process (1000 consoles: 10 s). A console is back within max(8 s, N x 10 ms) + one handshake of its BMC
 * answering again, however long the outage was.
 */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  factor: 2,
  jitter: 1,
  spreadPerConsoleMs: DEFAULT_SPREAD_PER_CONSOLE_MS,
  maxSpreadMs: DEFAULT_MAX_SPREAD_MS,
});
/** An open attempt taking longer is aborted and counts as a failure (IPMI_ERR_TIMEOUT). */
export const DEFAULT_OPEN_TIMEOUT_MS = 30_000;
/** The next activation waits at most this long for the previous deactivation (then relies on steal). */
export const DEFAULT_DEACTIVATE_TIMEOUT_MS = 10_000;
/** How long a second client waits for the first one to go before being refused. */
export const DEFAULT_IN_USE_GRACE_MS = 250;
/** A socket we close (refused, replaced, idle, bridge closed) gets this long to flush before destroy(). */
export const DEFAULT_LINGER_MS = 2_000;
export const DEFAULT_IN_USE_MESSAGE = 'console in use by another client\r\n';
export const DEFAULT_STEAL: StealPolicy = 'own';
/** Upper bound of any delay option (Node timers). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Upper bound of holdBytes. */
export const MAX_HOLD_BYTES = 64 * 1024 * 1024;
/** Upper bound of inUseGraceMs and lingerMs. */
export const MAX_GRACE_MS = 60_000;

/** Options of a bridge that are not about where it listens or what it bridges (a manager applies them to all). */
export interface BridgeSettings {
  /** 'on-connect' (default): open the console when a client connects; 'always': keep it open from listen() */
  activation?: ActivationMode;
  /** a second client replaces the first at once (default false: it waits inUseGraceMs, then is refused) */
  takeover?: boolean;
  /** no byte either way for this long closes the client; 0 disables; default 600_000 */
  idleTimeoutMs?: number;
  /** bytes typed while the console is (re)opening that are kept for it; default 64 KiB */
  holdBytes?: number;
  reconnect?: Partial<ReconnectOptions>;
  openTimeoutMs?: number;
  deactivateTimeoutMs?: number;
  inUseGraceMs?: number;
  lingerMs?: number;
  /** the one line sent to a refused client */
  inUseMessage?: string;
  /**
   * Whom to take the console over from when the BMC says it is in use (IPMI_ERR_SOL_IN_USE), see StealPolicy:
   * 'own' (default) reclaims only a payload held by a session this process opened (our own stale session after
   * a lost console or a quick reconnect), never one an administrator took; 'never'; 'always' (anyone). When
   * the policy does not cover the holder, the client gets `console unavailable: IPMI_ERR_SOL_IN_USE: ...`.
   */
  steal?: StealPolicy;
  /**
   * Serve TLS instead of plain TCP (the URL becomes tls://host:port). key and cert in PEM; the rest of Node's
   * tls.createServer options (ca, requestCert for client certificates, minVersion...) pass through.
   */
  tls?: ConsoleTlsOptions;
  /** the clock every timer of the bridge runs on (default: real time); specs pass a ManualClock */
  clock?: Clock;
  /** the randomness of the reconnect jitter, uniform in [0, 1) (default Math.random); specs pass a seeded one */
  random?: () => number;
}

/** Every setting with its default applied, checked, frozen. */
export type ResolvedBridgeSettings = Readonly<
  Required<Omit<BridgeSettings, 'reconnect' | 'tls'>> & { reconnect: Readonly<ReconnectOptions>; tls: ConsoleTlsOptions | undefined }
>;

export function badOption(name: string, value: unknown, expected: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge option ${name} is ${String(value)}: expected ${expected}.`);
}

export function checkNumber(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER, integer = true): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw badOption(name, value, `${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
  }
  return value;
}

function oneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  const chosen = value ?? fallback;
  if (!allowed.includes(chosen)) throw badOption(name, chosen, allowed.map((v) => `'${v}'`).join(' or '));
  return chosen;
}

/** A bad key or certificate is IPMI_ERR_BAD_ARGUMENT now, not a failure at the first client. */
export function checkTlsOptions(options: ConsoleTlsOptions): void {
  const { key, cert } = options ?? {};
  if ((typeof key !== 'string' && !Buffer.isBuffer(key)) || (typeof cert !== 'string' && !Buffer.isBuffer(cert))) {
    throw badOption('tls', '{...}', 'an object with key and cert (PEM strings or Buffers)');
  }
  try {
    tls.createSecureContext(options);
  } catch (error) {
    // Node's message names the problem (e.g. "error:... bad decrypt", "key values mismatch"), never the key.
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge option tls: ${(error as Error).message}`, { cause: error });
  }
}

function resolveReconnect(options: Partial<ReconnectOptions> | undefined): Readonly<ReconnectOptions> {
  const reconnect = { ...DEFAULT_RECONNECT, ...options };
  checkNumber('reconnect.initialDelayMs', reconnect.initialDelayMs, 0, MAX_TIMER_MS);
  checkNumber('reconnect.maxDelayMs', reconnect.maxDelayMs, reconnect.initialDelayMs, MAX_TIMER_MS);
  checkNumber('reconnect.factor', reconnect.factor, 1, 100, false);
  checkNumber('reconnect.jitter', reconnect.jitter, 0, 1, false);
  checkNumber('reconnect.spreadPerConsoleMs', reconnect.spreadPerConsoleMs, 0, MAX_TIMER_MS, false);
  checkNumber('reconnect.maxSpreadMs', reconnect.maxSpreadMs, 0, MAX_TIMER_MS);
  return Object.freeze(reconnect);
}

/** Apply defaults and validate; throws IPMI_ERR_BAD_ARGUMENT naming the option. */
export function resolveBridgeSettings(options: BridgeSettings = {}): ResolvedBridgeSettings {
  if (options.tls !== undefined) checkTlsOptions(options.tls);
  const clock = options.clock ?? systemClock;
  if (typeof clock?.setTimeout !== 'function' || typeof clock.now !== 'function') {
    throw badOption('clock', clock, 'a Clock (now, setTimeout)');
  }
  if ((options as { stealOnInUse?: unknown }).stealOnInUse !== undefined) {
    throw badOption('stealOnInUse', (options as { stealOnInUse?: unknown }).stealOnInUse, "steal: 'never' | 'own' | 'always' (it replaced stealOnInUse)");
  }
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') throw badOption('random', random, 'a function returning a number in [0, 1)');
  return Object.freeze({
    activation: oneOf('activation', options.activation, ['on-connect', 'always'], 'on-connect'),
    takeover: options.takeover ?? false,
    idleTimeoutMs: checkNumber('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, 0, MAX_TIMER_MS),
    holdBytes: checkNumber('holdBytes', options.holdBytes ?? DEFAULT_HOLD_BYTES, 0, MAX_HOLD_BYTES),
    reconnect: resolveReconnect(options.reconnect),
    openTimeoutMs: checkNumber('openTimeoutMs', options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS, 1, MAX_TIMER_MS),
    deactivateTimeoutMs: checkNumber('deactivateTimeoutMs', options.deactivateTimeoutMs ?? DEFAULT_DEACTIVATE_TIMEOUT_MS, 1, MAX_TIMER_MS),
    inUseGraceMs: checkNumber('inUseGraceMs', options.inUseGraceMs ?? DEFAULT_IN_USE_GRACE_MS, 0, MAX_GRACE_MS),
    lingerMs: checkNumber('lingerMs', options.lingerMs ?? DEFAULT_LINGER_MS, 0, MAX_GRACE_MS),
    inUseMessage: options.inUseMessage ?? DEFAULT_IN_USE_MESSAGE,
    steal: oneOf('steal', options.steal, STEAL_POLICIES, DEFAULT_STEAL),
    tls: options.tls,
    clock,
    random,
  });
}

/**
 * The window of retry number `retry` (0 for the first) with `consoles` consoles in the process: exponential up to
 * maxDelayMs, and never shorter than the fleet window min(maxSpreadMs, consoles x spreadPerConsoleMs).
 */
export function backoffWindow(options: ReconnectOptions, retry: number, consoles = 1): number {
  const own = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** retry);
  const fleet = Math.min(options.maxSpreadMs, Math.max(0, consoles) * options.spreadPerConsoleMs);
  return Math.max(own, fleet);
}

/** Delay before retry number `retry`: its window (backoffWindow), less a random share `jitter` of it. */
export function backoffDelay(options: ReconnectOptions, retry: number, random: () => number = Math.random, consoles = 1): number {
  const window = backoffWindow(options, retry, consoles);
  return Math.round(Math.max(0, window * (1 - options.jitter * random())));
}

/** 'host:port', with brackets around an IPv6 literal. */
export function formatHostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Ironic's console URL for socat consoles: tcp://host:port, IPv6 in brackets (tls:// for a TLS listener). */
export function consoleUrl(host: string, port: number, scheme: 'tcp' | 'tls' = 'tcp'): string {
  return `${scheme}://${formatHostPort(host, port)}`;
}

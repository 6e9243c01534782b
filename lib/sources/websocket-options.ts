/**
 * Options of a WebSocket console and their checks (no `ws` import: the manager validates options without it).
 *
 * Two ways to name the console:
 * - `url`: the WebSocket itself, as OpenBMC serves it (`wss://bmc/console0`, raw bytes in binary frames);
 * - `redfish`: a Redfish service root (`https://bmc`); the console URI is read from the ComputerSystem's
 *   `SerialConsole.WebSocket.ConsoleURI` (ComputerSystem v1_26), after logging in.
 */
import { IpmiError } from '../errors.js';

/** Where bmcweb (and the Redfish specification) creates sessions: POST { UserName, Password } -> X-Auth-Token. */
export const REDFISH_SESSIONS_PATH = '/redfish/v1/SessionService/Sessions';
/** The ComputerSystem OpenBMC (bmcweb) names `system`; other BMCs have their own IDs (pass `systemPath`). */
export const DEFAULT_REDFISH_SYSTEM_PATH = '/redfish/v1/Systems/system';
/** Longest wait for the TLS, HTTP and WebSocket handshakes of one open(). */
export const DEFAULT_WEBSOCKET_HANDSHAKE_TIMEOUT_MS = 20_000;
/** Largest WebSocket message accepted from the BMC (ws maxPayload): console output comes in small frames. */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024;
/** Largest HTTP response body read (Redfish session and ComputerSystem resources). */
export const MAX_HTTP_BODY_BYTES = 1024 * 1024;

export type WebSocketAuth =
  /** Redfish session, as bmcweb wants it: POST the credentials, send X-Auth-Token (or the SESSION cookie) */
  | { kind: 'session'; username: string; password: string; sendAs?: 'header' | 'cookie' }
  /** HTTP basic authentication on every request */
  | { kind: 'basic'; username: string; password: string }
  /** a session token obtained elsewhere */
  | { kind: 'token'; token: string; sendAs?: 'header' | 'cookie' }
  | { kind: 'none' };

export interface WebSocketTlsOptions {
  /** trusted CA certificate(s), PEM; default: Node's CA store */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /**
   * a pinned certificate: its SHA-256 fingerprint (`openssl x509 -fingerprint -sha256`: hex, colons optional).
   * The chain is then not checked: the pin is the trust (BMCs with self-signed certificates).
   */
  fingerprint256?: string;
  /** TLS server name (SNI and the name checked); default the URL's host name */
  servername?: string;
}

export interface WebSocketConsoleOptions {
  /** ws:// or wss:// URL of the console, e.g. wss://bmc/console0 */
  url?: string;
  /** a Redfish service (http[s]://bmc) whose ComputerSystem names the console (SerialConsole.WebSocket) */
  redfish?: { url: string; systemPath?: string };
  auth?: WebSocketAuth;
  tls?: WebSocketTlsOptions;
  /** Sec-WebSocket-Protocol values to offer (websockify accepts 'binary'); default none */
  protocols?: readonly string[];
  handshakeTimeoutMs?: number;
}

export interface ResolvedWebSocketOptions {
  url: URL | undefined;
  redfish: { url: URL; systemPath: string } | undefined;
  auth: WebSocketAuth;
  tls: WebSocketTlsOptions | undefined;
  pin: string | undefined;
  protocols: string[];
  handshakeTimeoutMs: number;
}

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

function parseUrl(value: unknown, schemes: readonly string[], what: string): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw bad(`${what} '${String(value)}' is not a URL.`);
  }
  if (!schemes.includes(url.protocol)) throw bad(`${what} '${url.origin}' must use ${schemes.join(' or ')}.`);
  if (url.username !== '' || url.password !== '') throw bad(`${what} must not carry credentials: use the auth option.`);
  return url;
}

/** `AB:CD:...` or `abcd...` (64 hex digits) -> `AB:CD:...`, as Node's `fingerprint256` prints it. */
export function normalizeCertFingerprint(value: string): string {
  const hex = value.replace(/^sha256\s*fingerprint\s*=\s*/i, '').replace(/:/g, '').trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw bad(`'${value}' is not a SHA-256 certificate fingerprint (64 hex digits, colons optional).`);
  }
  return hex.toUpperCase().match(/../g)!.join(':');
}

function checkAuth(auth: WebSocketAuth | undefined): WebSocketAuth {
  if (auth === undefined) return { kind: 'none' };
  if (auth.kind === 'session' || auth.kind === 'basic') {
    if (typeof auth.username !== 'string' || auth.username === '') throw bad(`WebSocket ${auth.kind} auth needs a user name.`);
    if (typeof auth.password !== 'string') throw bad(`WebSocket ${auth.kind} auth needs a password.`);
    if (auth.kind === 'basic' && auth.username.includes(':')) throw bad('A basic auth user name cannot contain a colon.');
  } else if (auth.kind === 'token') {
    if (typeof auth.token !== 'string' || auth.token === '' || /[\r\n;]/.test(auth.token)) throw bad('WebSocket token auth needs a token.');
  } else if (auth.kind !== 'none') {
    throw bad(`Unknown WebSocket auth kind '${String((auth as { kind: unknown }).kind)}' (session, basic, token, none).`);
  }
  return auth;
}

/** Check and complete WebSocket console options; throws IPMI_ERR_BAD_ARGUMENT (never mentioning a secret). */
export function resolveWebSocketOptions(options: WebSocketConsoleOptions): ResolvedWebSocketOptions {
  if (typeof options !== 'object' || options === null) throw bad('WebSocket console options must be an object.');
  if ((options.url === undefined) === (options.redfish === undefined)) {
    throw bad('A WebSocket console needs exactly one of url (wss://bmc/console0) and redfish ({ url: https://bmc }).');
  }
  const url = options.url === undefined ? undefined : parseUrl(options.url, ['ws:', 'wss:'], 'The WebSocket console URL');
  const redfish =
    options.redfish === undefined
      ? undefined
      : {
          url: parseUrl(options.redfish.url, ['http:', 'https:'], 'The Redfish service URL'),
          systemPath: options.redfish.systemPath ?? DEFAULT_REDFISH_SYSTEM_PATH,
        };
  if (redfish !== undefined && !redfish.systemPath.startsWith('/')) throw bad(`Redfish systemPath '${redfish.systemPath}' must start with '/'.`);
  const timeout = options.handshakeTimeoutMs ?? DEFAULT_WEBSOCKET_HANDSHAKE_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600_000) {
    throw bad(`WebSocket handshakeTimeoutMs must be an integer in 1..600000, not ${String(timeout)}.`);
  }
  const fingerprint = options.tls?.fingerprint256;
  return {
    url,
    redfish,
    auth: checkAuth(options.auth),
    tls: options.tls,
    pin: fingerprint === undefined ? undefined : normalizeCertFingerprint(fingerprint),
    protocols: [...(options.protocols ?? [])],
    handshakeTimeoutMs: timeout,
  };
}

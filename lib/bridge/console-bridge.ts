/**
 * ConsoleBridge: one node's console on a TCP port, the in-process replacement for Ironic's
 * `socat TCP4-LISTEN:port,bind=addr,reuseaddr,fork,max-children=1 EXEC:"ipmitool ... sol activate",pty,stderr`.
 *
 * - Raw bytes both ways; nothing is added to the stream (the client may never speak first). The only bytes
 *   of our own are the one line sent to a refused second client.
 * - One client at a time. A second one waits `inUseGraceMs` (the first may be on its way out: a client that
 *   reconnects at once can reach us before its old connection's FIN), then is refused with one line and
 *   closed; with `takeover` it replaces the first at once (same console, no re-activation). At most
 *   MAX_WAITING_CLIENTS wait (more are refused at once) and MAX_CONNECTIONS sockets exist per bridge.
 * - activation 'on-connect' (default): the console is opened when a client connects and released when it
 *   leaves. 'always': opened at listen() and kept open; console output that arrives with no client is read
 *   and DISCARDED (counted in `bytesDiscarded`): reading keeps the BMC flowing (a paused SOL stream stops
 *   ACKing and the BMC would drop or stall), and a console is a live terminal, so stale output replayed to
 *   the next client would mislead more than it helps.
 * - Serialized: a console is opened only after the previous one's deactivate() settled (bounded by
 *   `deactivateTimeoutMs`); if the console is still "in use" (IPMI_ERR_SOL_IN_USE), it is opened once more
 *   with `steal: true` (`stealOnInUse`).
 * - Backpressure end to end, like pipe(): TCP write() false -> pause the console stream (SOL stops ACKing)
 *   until 'drain'; console write() false -> pause the socket until the console drains. Per console, memory
 *   is bounded by the streams' highWaterMarks plus one chunk each way, plus `holdBytes`.
 * - Console lost while a client is connected (BMC reboot, session timeout): the client stays connected and
 *   the console is re-opened with exponential backoff (`reconnect`: initial, max, factor, jitter). What the
 *   client types meanwhile is held, up to `holdBytes` exactly (beyond that the socket is paused and the
 *   excess stays in the socket), and written to the console once it is back. Errors that retrying cannot
 *   fix (authentication, cipher suite, privilege, SOL disabled, bad argument) end the attempt: the client
 *   is disconnected and, in 'always' mode, the bridge waits for the next client before trying again.
 * - Idle timeout like socat -T: no byte either way for `idleTimeoutMs` -> the client is closed (and in
 *   'on-connect' mode the console released).
 * - No keystroke is lost with a console: every chunk written to it is kept until its write callback runs (for
 *   SOL: the BMC acknowledged it). If the console is lost, what it never acknowledged (exactly, by its
 *   `acknowledgedBytes`) goes back to the front of the hold and is written to the next console. A console
 *   released on purpose (the client left) drops it.
 *
 * Events: 'state' (state, previous), 'client-connected' (ClientInfo), 'client-disconnected'
 * (ClientInfo & { reason }), 'client-refused' (ClientInfo), 'reconnect' ({ attempt, delayMs, error }),
 * 'error' (IpmiError; emitted only when someone listens, so a BMC hiccup never crashes a conductor).
 * Debug namespace `ipmi:bridge`.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import createDebug from 'debug';
import { IpmiError, isIpmiError, type IpmiErrorCode } from '../errors.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from './console-source.js';
import { isHostSyntax } from '../host-syntax.js';

const debug = createDebug('ipmi:bridge');

export type BridgeState = 'idle' | 'connecting' | 'active' | 'reconnecting' | 'closed';
export type ActivationMode = 'on-connect' | 'always';
export type DisconnectReason = 'client-closed' | 'idle-timeout' | 'takeover' | 'console-failed' | 'bridge-closed';

export interface ReconnectOptions {
  /** delay before the first retry */
  initialDelayMs: number;
  /** upper bound of any delay (after jitter too) */
  maxDelayMs: number;
  /** growth per retry */
  factor: number;
  /** 0..1: each delay is multiplied by a random value in [1 - jitter, 1 + jitter] */
  jitter: number;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
export const DEFAULT_HOLD_BYTES = 64 * 1024;
/**
 * Re-opening a lost console: 0.5 s doubling to at most 8 s (+-20 %), so that a console is back within
 * maxDelayMs x 1.2 + one handshake (under 15 s) of its BMC answering again, however long the outage was.
 */
export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  factor: 2,
  jitter: 0.2,
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
/** Upper bound of any delay option (Node timers). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Upper bound of holdBytes. */
const MAX_HOLD_BYTES = 64 * 1024 * 1024;
/** Clients waiting (inUseGraceMs) for the current one to leave; more are refused at once. */
const MAX_WAITING_CLIENTS = 4;
/** Sockets per bridge (client, waiting, being closed); Node drops connections beyond it at accept. */
const MAX_CONNECTIONS = 32;
/** TCP keepalive on client sockets, to notice peers that vanished without a FIN. */
const CLIENT_KEEPALIVE_MS = 30_000;

/** Errors that retrying cannot fix: the attempt ends instead of backing off forever. */
const PERMANENT_ERRORS: ReadonlySet<IpmiErrorCode> = new Set<IpmiErrorCode>([
  'IPMI_ERR_AUTH',
  'IPMI_ERR_CIPHER_SUITE',
  'IPMI_ERR_PRIVILEGE',
  'IPMI_ERR_SOL_DISABLED',
  'IPMI_ERR_SOL_ENCRYPTION',
  'IPMI_ERR_BAD_ARGUMENT',
]);

export interface ConsoleBridgeOptions {
  source: ConsoleSource;
  /** address to listen on (IPv4 or IPv6 literal, or a host name) */
  host: string;
  /** 0 (default) for any free port */
  port?: number;
  activation?: ActivationMode;
  takeover?: boolean;
  /** 0 disables; default 600_000 */
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
  /** on IPMI_ERR_SOL_IN_USE, try once more with steal: true (default true) */
  stealOnInUse?: boolean;
  /** label in debug output (default: the URL) */
  name?: string;
  /**
   * Serve TLS instead of plain TCP (the URL becomes tls://host:port). key and cert in PEM; the rest of Node's
   * tls.createServer options (ca, requestCert for client certificates, minVersion...) pass through.
   */
  tls?: ConsoleTlsOptions;
}

export type ConsoleTlsOptions = tls.TlsOptions & { key: string | Buffer; cert: string | Buffer };

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

export interface ClientInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
}

export interface ReconnectEvent {
  /** 1 for the first retry */
  attempt: number;
  delayMs: number;
  error: IpmiError;
}

export interface BridgeMetrics {
  state: BridgeState;
  clientConnected: boolean;
  /** console -> client bytes written to the socket */
  bytesToClient: number;
  /** client -> console bytes accepted (written to the console or held) */
  bytesFromClient: number;
  /** console output read while no client was connected */
  bytesDiscarded: number;
  /** console re-opened after a lost console or a failed attempt */
  reconnects: number;
  /** clients accepted */
  clients: number;
  /** clients refused with the in-use line */
  refused: number;
  /** consoles opened */
  activations: number;
  /** consoles released by the bridge (deactivate() called) */
  deactivations: number;
  /** opens retried with steal: true after IPMI_ERR_SOL_IN_USE */
  steals: number;
  /** consoles that closed on their own while wanted */
  consoleLosses: number;
  /** bytes currently held for a console being reopened (<= holdBytes, plus what a lost console never took) */
  heldBytes: number;
  /** bytes a lost console never acknowledged, written again to the next one */
  replayedBytes: number;
  /** bytes queued in the client socket */
  pendingToClient: number;
  /** bytes queued in the console's writable side */
  pendingToConsole: number;
  /** bytes buffered in the console's readable side */
  pendingFromConsole: number;
}

export function backoffDelay(options: ReconnectOptions, retry: number, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** retry);
  const jittered = base * (1 - options.jitter + 2 * options.jitter * random());
  return Math.round(Math.min(options.maxDelayMs, Math.max(0, jittered)));
}

/** 'host:port', with brackets around an IPv6 literal. */
export function formatHostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Ironic's console URL for socat consoles: tcp://host:port, IPv6 in brackets (tls:// for a TLS listener). */
export function consoleUrl(host: string, port: number, scheme: 'tcp' | 'tls' = 'tcp'): string {
  return `${scheme}://${formatHostPort(host, port)}`;
}

function badOption(name: string, value: unknown, expected: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge option ${name} is ${String(value)}: expected ${expected}.`);
}

function checkNumber(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER, integer = true): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw badOption(name, value, `${integer ? 'an integer' : 'a number'} in ${min}..${max}`);
  }
  return value;
}

/** Options of a bridge that are not about where it listens or what it bridges (a manager applies them to all). */
export type BridgeSettings = Omit<ConsoleBridgeOptions, 'source' | 'host' | 'port' | 'name'>;

export interface ResolvedBridgeSettings {
  readonly activation: ActivationMode;
  readonly takeover: boolean;
  readonly idleTimeoutMs: number;
  readonly holdBytes: number;
  readonly reconnect: Readonly<ReconnectOptions>;
  readonly openTimeoutMs: number;
  readonly deactivateTimeoutMs: number;
  readonly inUseGraceMs: number;
  readonly lingerMs: number;
  readonly inUseMessage: string;
  readonly stealOnInUse: boolean;
}

/** Apply defaults and validate; throws IPMI_ERR_BAD_ARGUMENT naming the option. */
export function resolveBridgeSettings(options: BridgeSettings): ResolvedBridgeSettings {
  const activation = options.activation ?? 'on-connect';
  if (activation !== 'on-connect' && activation !== 'always') {
    throw badOption('activation', activation, "'on-connect' or 'always'");
  }
  const reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
  checkNumber('reconnect.initialDelayMs', reconnect.initialDelayMs, 0, MAX_TIMER_MS);
  checkNumber('reconnect.maxDelayMs', reconnect.maxDelayMs, reconnect.initialDelayMs, MAX_TIMER_MS);
  checkNumber('reconnect.factor', reconnect.factor, 1, 100, false);
  checkNumber('reconnect.jitter', reconnect.jitter, 0, 1, false);
  return {
    activation,
    takeover: options.takeover ?? false,
    idleTimeoutMs: checkNumber('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, 0, MAX_TIMER_MS),
    holdBytes: checkNumber('holdBytes', options.holdBytes ?? DEFAULT_HOLD_BYTES, 0, MAX_HOLD_BYTES),
    reconnect: Object.freeze(reconnect),
    openTimeoutMs: checkNumber('openTimeoutMs', options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS, 1, MAX_TIMER_MS),
    deactivateTimeoutMs: checkNumber(
      'deactivateTimeoutMs',
      options.deactivateTimeoutMs ?? DEFAULT_DEACTIVATE_TIMEOUT_MS,
      1,
      MAX_TIMER_MS,
    ),
    inUseGraceMs: checkNumber('inUseGraceMs', options.inUseGraceMs ?? DEFAULT_IN_USE_GRACE_MS, 0, 60_000),
    lingerMs: checkNumber('lingerMs', options.lingerMs ?? DEFAULT_LINGER_MS, 0, 60_000),
    inUseMessage: options.inUseMessage ?? DEFAULT_IN_USE_MESSAGE,
    stealOnInUse: options.stealOnInUse ?? true,
  };
}

function toIpmiError(value: unknown, code: IpmiErrorCode, what: string): IpmiError {
  if (value instanceof IpmiError) return value;
  const detail = value instanceof Error ? value.message : value === undefined ? 'no reason given' : String(value);
  return new IpmiError(code, `${what}: ${detail}`, { cause: value, fatal: true });
}

function clientInfo(socket: net.Socket): ClientInfo {
  return { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
}

const ignore = (): void => undefined;

export class ConsoleBridge extends EventEmitter implements ResolvedBridgeSettings {
  readonly host: string;
  readonly activation: ActivationMode;
  readonly takeover: boolean;
  readonly idleTimeoutMs: number;
  readonly holdBytes: number;
  readonly reconnect: Readonly<ReconnectOptions>;
  readonly openTimeoutMs: number;
  readonly deactivateTimeoutMs: number;
  readonly inUseGraceMs: number;
  readonly lingerMs: number;
  readonly inUseMessage: string;
  readonly stealOnInUse: boolean;

  readonly #source: ConsoleSource;
  readonly #requestedPort: number;
  readonly #name: string | undefined;
  readonly #server: net.Server;
  readonly #tls: boolean;
  #port = 0;
  #listening = false;
  #listenAttempt: Promise<number> | undefined;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #state: BridgeState = 'idle';

  #client: net.Socket | undefined;
  #detachClient: () => void = ignore;
  readonly #waiting: Array<{ socket: net.Socket; timer: NodeJS.Timeout }> = [];

  #console: ConsoleStream | undefined;
  #detachConsole: () => void = ignore;
  #opening: AbortController | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  /** failed attempts / losses since the last open console */
  #attempt = 0;
  /** a permanent error ended the last attempt: 'always' mode waits for a client */
  #suspended = false;
  /** settles when every deactivation started so far has settled (or timed out) */
  #releasing: Promise<void> = Promise.resolve();

  #hold: Buffer[] = [];
  #holdSize = 0;
  /** Chunks written to the current console whose write callback has not run yet, oldest first. */
  #unacked: Buffer[] = [];
  /** Bytes written to the current console before the first chunk of #unacked (its acknowledged prefix). */
  #ackedBase = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #lastActivity = 0;

  #bytesToClient = 0;
  #bytesFromClient = 0;
  #bytesDiscarded = 0;
  #reconnects = 0;
  #clients = 0;
  #refused = 0;
  #activations = 0;
  #deactivations = 0;
  #steals = 0;
  #consoleLosses = 0;
  #replayedBytes = 0;

  constructor(options: ConsoleBridgeOptions) {
    super();
    if (!options || typeof options.source?.open !== 'function') {
      throw badOption('source', options?.source, 'a ConsoleSource with an open() method');
    }
    if (typeof options.host !== 'string' || options.host.trim() === '' || !isHostSyntax(options.host.trim())) {
      throw badOption('host', options.host, 'an IP address or host name to listen on');
    }
    this.#source = options.source;
    this.host = options.host.trim();
    this.#requestedPort = checkNumber('port', options.port ?? 0, 0, 65535);
    const settings = resolveBridgeSettings(options);
    this.activation = settings.activation;
    this.takeover = settings.takeover;
    this.idleTimeoutMs = settings.idleTimeoutMs;
    this.holdBytes = settings.holdBytes;
    this.reconnect = settings.reconnect;
    this.openTimeoutMs = settings.openTimeoutMs;
    this.deactivateTimeoutMs = settings.deactivateTimeoutMs;
    this.inUseGraceMs = settings.inUseGraceMs;
    this.lingerMs = settings.lingerMs;
    this.inUseMessage = settings.inUseMessage;
    this.stealOnInUse = settings.stealOnInUse;
    this.#name = options.name;

    this.#tls = options.tls !== undefined;
    if (options.tls !== undefined) {
      checkTlsOptions(options.tls);
      // The TLS handshake needs the socket flowing; the bridge pauses the decrypted socket itself.
      this.#server = tls.createServer(options.tls, (socket) => {
        socket.pause();
        this.#onConnection(socket);
      });
      this.#server.on('tlsClientError', (error) => debug('%s TLS handshake failed: %s', this.#label, error.message));
    } else {
      this.#server = net.createServer({ pauseOnConnect: true }, (socket) => this.#onConnection(socket));
    }
    this.#server.maxConnections = MAX_CONNECTIONS;
    this.#server.on('error', (error) => {
      if (this.#listening) this.#emitError(toIpmiError(error, 'IPMI_ERR_SOCKET', `Console listener ${this.url} failed`));
    });
  }

  /** The bound port (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  /** tcp://host:port (IPv6 in brackets); the requested port before listen(). */
  get url(): string {
    return consoleUrl(this.host, this.#port || this.#requestedPort, this.#tls ? 'tls' : 'tcp');
  }

  get state(): BridgeState {
    return this.#state;
  }

  get listening(): boolean {
    return this.#listening;
  }

  get metrics(): BridgeMetrics {
    return {
      state: this.#state,
      clientConnected: this.#client !== undefined,
      bytesToClient: this.#bytesToClient,
      bytesFromClient: this.#bytesFromClient,
      bytesDiscarded: this.#bytesDiscarded,
      reconnects: this.#reconnects,
      clients: this.#clients,
      refused: this.#refused,
      activations: this.#activations,
      deactivations: this.#deactivations,
      steals: this.#steals,
      consoleLosses: this.#consoleLosses,
      replayedBytes: this.#replayedBytes,
      heldBytes: this.#holdSize,
      pendingToClient: this.#client?.writableLength ?? 0,
      pendingToConsole: this.#console?.writableLength ?? 0,
      pendingFromConsole: this.#console?.readableLength ?? 0,
    };
  }

  /**
   * Start listening; resolves with the bound port. `port` overrides the constructor's (the manager's
   * allocator tries several). Rejects with IPMI_ERR_SOCKET whose `cause` is the system error (EADDRINUSE...);
   * after a rejection listen() may be called again; while one is under way or once listening, it returns
   * that one's result.
   */
  listen(port: number = this.#requestedPort): Promise<number> {
    if (this.#closed) return Promise.reject(new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge ${this.url} is closed.`));
    if (this.#listenAttempt) return this.#listenAttempt;
    const attempt = this.#listen(port);
    this.#listenAttempt = attempt;
    attempt.catch(() => {
      if (this.#listenAttempt === attempt) this.#listenAttempt = undefined;
    });
    return attempt;
  }

  async #listen(port: number): Promise<number> {
    checkNumber('port', port, 0, 65535);
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#server.off('listening', onListening);
        reject(toIpmiError(error, 'IPMI_ERR_SOCKET', `Cannot listen on ${formatHostPort(this.host, port)}`));
      };
      const onListening = (): void => {
        this.#server.off('error', onError);
        resolve();
      };
      this.#server.once('error', onError);
      this.#server.once('listening', onListening);
      this.#server.listen({ host: this.host, port });
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : port;
    this.#listening = true;
    debug('%s listening (activation %s)', this.#label, this.activation);
    if (this.#closed) {
      // close() was called while we were binding: it could not close the server yet.
      await this.#closeServer();
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge ${this.url} was closed while starting.`);
    }
    this.#ensureConsole();
    this.#refreshState();
    return this.#port;
  }

  /** Stop listening, disconnect the client, release the console. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    debug('%s closing', this.#label);
    for (const { socket, timer } of this.#waiting.splice(0)) {
      clearTimeout(timer);
      socket.destroy();
    }
    this.#dropClient('bridge-closed');
    this.#stopConsole();
    this.#refreshState();
    await Promise.all([this.#closeServer(), this.#releasing]);
    try {
      await this.#source.close?.();
    } catch (error) {
      debug('%s source close failed: %s', this.#label, (error as Error).message);
    }
    debug('%s closed', this.#label);
  }

  #closeServer(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  get #label(): string {
    return this.#name ?? this.url;
  }

  // ---- clients -------------------------------------------------------------------------------------------

  #onConnection(socket: net.Socket): void {
    socket.on('error', (error) => debug('%s client socket error: %s', this.#label, error.message));
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#client === undefined) {
      this.#acceptClient(socket);
    } else if (this.takeover) {
      debug('%s takeover by %s:%s', this.#label, socket.remoteAddress, socket.remotePort);
      this.#dropClient('takeover'); // the console stays: the new client gets it as it is
      this.#acceptClient(socket);
    } else if (this.#waiting.length >= MAX_WAITING_CLIENTS) {
      this.#refuse(socket);
    } else {
      // The current client may be on its way out (its FIN not read yet): give it a moment.
      const entry = {
        socket,
        timer: setTimeout(() => {
          this.#unwait(socket);
          this.#refuse(socket);
        }, this.inUseGraceMs),
      };
      socket.once('close', () => {
        clearTimeout(entry.timer);
        this.#unwait(socket);
      });
      this.#waiting.push(entry);
    }
  }

  #unwait(socket: net.Socket): void {
    const index = this.#waiting.findIndex((w) => w.socket === socket);
    if (index >= 0) this.#waiting.splice(index, 1);
  }

  #refuse(socket: net.Socket): void {
    this.#refused++;
    const info = clientInfo(socket);
    debug('%s refused %s:%s: console in use', this.#label, info.remoteAddress, info.remotePort);
    this.emit('client-refused', info);
    this.#linger(socket, this.inUseMessage);
  }

  /** End a socket we are done with: flush (plus `message`), discard what it sends, destroy after lingerMs. */
  #linger(socket: net.Socket, message?: string): void {
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), this.lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.on('data', ignore);
    socket.resume();
    if (message) socket.end(message);
    else socket.end();
  }

  #acceptClient(socket: net.Socket): void {
    this.#client = socket;
    this.#clients++;
    this.#suspended = false;
    const info = clientInfo(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, CLIENT_KEEPALIVE_MS);
    const onData = (chunk: Buffer): void => this.#fromClient(socket, chunk);
    const onDrain = (): void => this.#updateFlow();
    const onClose = (): void => this.#clientGone(socket, 'client-closed');
    socket.on('data', onData);
    socket.on('drain', onDrain);
    socket.once('close', onClose);
    this.#detachClient = () => {
      socket.off('data', onData);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
    };
    debug('%s client %s:%s connected', this.#label, info.remoteAddress, info.remotePort);
    this.emit('client-connected', info);
    this.#touch();
    this.#armIdle();
    this.#ensureConsole();
    this.#updateFlow(); // the socket was created paused (pauseOnConnect): this starts reading it
    this.#refreshState();
  }

  /** Disconnect the current client (gracefully, bounded by lingerMs). */
  #dropClient(reason: DisconnectReason): void {
    const socket = this.#client;
    if (socket === undefined) return;
    this.#clientGone(socket, reason);
    this.#linger(socket);
  }

  #clientGone(socket: net.Socket, reason: DisconnectReason): void {
    if (socket !== this.#client) return;
    const replaced = reason === 'takeover';
    this.#detachClient();
    this.#detachClient = ignore;
    this.#client = undefined;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#hold = [];
    this.#holdSize = 0;
    const info = clientInfo(socket);
    debug('%s client %s:%s gone (%s)', this.#label, info.remoteAddress, info.remotePort, reason);
    this.emit('client-disconnected', { ...info, reason });
    if (this.activation === 'on-connect' && !replaced) this.#stopConsole();
    else this.#updateFlow();
    // A client waiting for this one takes its place (its console opens after this one's release).
    while (!replaced && this.#client === undefined && !this.#closed && this.#waiting.length > 0) {
      const next = this.#waiting.shift()!;
      clearTimeout(next.timer);
      if (!next.socket.destroyed) this.#acceptClient(next.socket);
    }
    this.#refreshState();
  }

  #fromClient(socket: net.Socket, data: Buffer): void {
    this.#touch();
    const target = this.#console;
    if (target !== undefined && target.writable) {
      this.#bytesFromClient += data.length;
      this.#writeToConsole(target, data);
    } else {
      // No console (opening or reopening): hold up to holdBytes; the rest goes back into the socket,
      // which stays paused until the console is back.
      let chunk = data;
      const room = this.holdBytes - this.#holdSize;
      if (chunk.length > room) {
        socket.pause();
        socket.unshift(chunk.subarray(room));
        chunk = chunk.subarray(0, room);
      }
      if (chunk.length > 0) {
        this.#hold.push(chunk);
        this.#holdSize += chunk.length;
        this.#bytesFromClient += chunk.length;
      }
    }
    this.#updateFlow();
  }

  #fromConsole(data: Buffer): void {
    const client = this.#client;
    if (client !== undefined && client.writable) {
      this.#touch();
      this.#bytesToClient += data.length;
      // Coalesce what the console delivers in one event-loop turn into one socket write at the end of the turn:
      // the SOL ACK (sent on the next tick) then leaves before the TCP write syscall, not after it.
      if (client.writableCorked === 0) {
        client.cork();
        setImmediate(uncork, client);
      }
      if (!client.write(data)) this.#updateFlow();
    } else {
      this.#bytesDiscarded += data.length;
    }
  }

  /**
   * The one place deciding who flows (derived from the streams' own state, no flags):
   * the console is read while the client socket needs no drain; the socket is read while the console needs
   * no drain, or, with no console, while the hold has room.
   */
  #updateFlow(): void {
    const client = this.#client;
    const target = this.#console;
    if (target !== undefined) {
      if (client !== undefined && client.writableNeedDrain) target.pause();
      else if (target.isPaused()) target.resume();
    }
    if (client !== undefined) {
      const canTake = target !== undefined ? !target.writableNeedDrain : this.#holdSize < this.holdBytes;
      if (!canTake) client.pause();
      else if (client.isPaused()) client.resume();
    }
  }

  #touch(): void {
    this.#lastActivity = performance.now();
  }

  #armIdle(): void {
    if (this.idleTimeoutMs === 0 || this.#client === undefined || this.#idleTimer !== undefined) return;
    this.#idleTimer = setTimeout(this.#checkIdle, this.idleTimeoutMs);
    this.#idleTimer.unref();
  }

  // The timer is not reset on every chunk: when it fires, it re-arms for the time left since the last byte.
  readonly #checkIdle = (): void => {
    this.#idleTimer = undefined;
    if (this.#client === undefined) return;
    const idle = performance.now() - this.#lastActivity;
    if (idle >= this.idleTimeoutMs) {
      debug('%s idle for %d ms: closing the client', this.#label, Math.round(idle));
      this.#dropClient('idle-timeout');
      return;
    }
    this.#idleTimer = setTimeout(this.#checkIdle, Math.max(1, Math.ceil(this.idleTimeoutMs - idle)));
    this.#idleTimer.unref();
  };

  // ---- console -------------------------------------------------------------------------------------------

  #wantConsole(): boolean {
    return (
      !this.#closed && this.#listening && !this.#suspended && (this.activation === 'always' || this.#client !== undefined)
    );
  }

  #ensureConsole(): void {
    if (!this.#wantConsole() || this.#console || this.#opening || this.#retryTimer) return;
    void this.#open();
  }

  async #open(): Promise<void> {
    const controller = new AbortController();
    this.#opening = controller;
    this.#refreshState();
    const attempt = this.#attempt;
    const timer = setTimeout(
      () =>
        controller.abort(
          new IpmiError('IPMI_ERR_TIMEOUT', `Opening the console took longer than ${this.openTimeoutMs} ms.`, { fatal: true }),
        ),
      this.openTimeoutMs,
    );
    timer.unref();
    let stream: ConsoleStream;
    try {
      await this.#releasing; // serialize: the previous console is released first
      try {
        stream = await this.#openOnce(controller.signal, { steal: false, attempt });
      } catch (error) {
        if (!this.stealOnInUse || !isIpmiError(error, 'IPMI_ERR_SOL_IN_USE') || controller.signal.aborted) throw error;
        debug('%s console in use: opening with steal', this.#label);
        this.#steals++;
        stream = await this.#openOnce(controller.signal, { steal: true, attempt });
      }
    } catch (error) {
      if (this.#opening !== controller) return; // cancelled: client gone or bridge closed
      this.#opening = undefined;
      this.#openFailed(toIpmiError(error, 'IPMI_ERR_PROTOCOL', 'Opening the console failed'));
      return;
    } finally {
      clearTimeout(timer);
    }
    if (this.#opening !== controller) {
      this.#release(stream); // cancelled while the source was resolving
      return;
    }
    this.#opening = undefined;
    this.#attachConsole(stream);
  }

  /** source.open() that settles when the signal fires; a stream it still resolves afterwards is released. */
  #openOnce(signal: AbortSignal, options: ConsoleOpenOptions): Promise<ConsoleStream> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const pending = this.#source.open(signal, options);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(abortError(signal));
        this.#trackRelease(pending.then((stream) => this.#deactivate(stream), ignore));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (stream) => {
          signal.removeEventListener('abort', onAbort);
          resolve(stream);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #openFailed(error: IpmiError): void {
    debug('%s opening the console failed: %s (%s)', this.#label, error.message, error.code);
    this.#emitError(error);
    if (!this.#wantConsole()) {
      this.#refreshState();
      return;
    }
    if (PERMANENT_ERRORS.has(error.code)) {
      // Retrying cannot help: end this round, as ipmitool exiting would end socat's connection.
      this.#attempt = 0;
      this.#suspended = true;
      this.#dropClient('console-failed');
      this.#refreshState();
      return;
    }
    this.#scheduleRetry(error);
  }

  #scheduleRetry(error: IpmiError): void {
    const attempt = ++this.#attempt;
    const delayMs = backoffDelay(this.reconnect, attempt - 1);
    debug('%s retry %d in %d ms', this.#label, attempt, delayMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#ensureConsole();
      this.#refreshState();
    }, delayMs);
    this.#retryTimer.unref();
    this.#refreshState();
    this.emit('reconnect', { attempt, delayMs, error } satisfies ReconnectEvent);
  }

  #attachConsole(stream: ConsoleStream): void {
    this.#console = stream;
    this.#activations++;
    if (this.#attempt > 0) this.#reconnects++;
    this.#attempt = 0;
    let failure: unknown;
    const onData = (chunk: Buffer): void => this.#fromConsole(chunk);
    const onDrain = (): void => this.#updateFlow();
    const onError = (error: unknown): void => {
      failure ??= error;
    };
    const onGone = (reason?: unknown): void => this.#consoleGone(stream, reason ?? failure);
    stream.on('data', onData);
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.once('end', onGone);
    stream.once('close', onGone);
    this.#detachConsole = () => {
      stream.off('data', onData);
      stream.off('drain', onDrain);
      stream.off('end', onGone);
      stream.off('close', onGone);
      // keep onError: a late 'error' must not go unhandled
    };
    debug('%s console active', this.#label);
    // What the client typed while the console was opening (and what a lost console never acknowledged).
    this.#unacked = [];
    this.#ackedBase = 0;
    const held = this.#hold;
    this.#hold = [];
    this.#holdSize = 0;
    for (const chunk of held) this.#writeToConsole(stream, chunk);
    this.#updateFlow();
    this.#refreshState();
    if (stream.destroyed || stream.closed) this.#consoleGone(stream, failure); // closed before we listened
  }

  /** Write to the console, keeping the chunk until its callback says the far end has it. */
  #writeToConsole(stream: ConsoleStream, chunk: Buffer): void {
    this.#unacked.push(chunk);
    stream.write(chunk, (error) => {
      if (error || stream !== this.#console || this.#unacked[0] !== chunk) return;
      this.#unacked.shift();
      this.#ackedBase += chunk.length;
    });
  }

  /** The lost console's unacknowledged bytes go back to the front of the hold (a bound: its writable buffer). */
  #replayUnacknowledged(stream: ConsoleStream): void {
    let skip = Math.max(0, (stream.acknowledgedBytes ?? this.#ackedBase) - this.#ackedBase);
    const replay: Buffer[] = [];
    for (const chunk of this.#unacked) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      replay.push(skip > 0 ? chunk.subarray(skip) : chunk);
      skip = 0;
    }
    this.#unacked = [];
    this.#ackedBase = 0;
    const size = replay.reduce((n, c) => n + c.length, 0);
    if (size === 0) return;
    debug('%s %d unacknowledged bytes kept for the next console', this.#label, size);
    this.#hold = [...replay, ...this.#hold];
    this.#holdSize += size;
    this.#replayedBytes += size;
  }

  #consoleGone(stream: ConsoleStream, reason: unknown): void {
    if (stream !== this.#console) return;
    this.#detachConsole();
    this.#detachConsole = ignore;
    this.#console = undefined;
    this.#consoleLosses++;
    if (this.#client !== undefined) this.#replayUnacknowledged(stream);
    else this.#unacked = [];
    const error = toIpmiError(reason, 'IPMI_ERR_SOL_DEACTIVATED', 'The console closed');
    debug('%s console lost: %s', this.#label, error.message);
    if (!this.#wantConsole()) {
      this.#refreshState();
      return;
    }
    this.#emitError(error);
    this.#updateFlow(); // the socket now feeds the hold
    this.#scheduleRetry(error);
  }

  /** Cancel any opening or retry and release the console. */
  #stopConsole(): void {
    if (this.#opening) {
      const controller = this.#opening;
      this.#opening = undefined;
      controller.abort(new IpmiError('IPMI_ERR_ABORTED', 'The console is no longer wanted.'));
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#attempt = 0;
    const stream = this.#console;
    if (stream !== undefined) {
      this.#detachConsole();
      this.#detachConsole = ignore;
      this.#console = undefined;
      this.#release(stream);
    }
  }

  #release(stream: ConsoleStream): void {
    this.#trackRelease(this.#deactivate(stream));
  }

  async #deactivate(stream: ConsoleStream): Promise<void> {
    this.#deactivations++;
    stream.on('error', ignore);
    stream.resume(); // nothing may wait on a paused reader while it winds down
    try {
      await stream.deactivate();
    } catch (error) {
      debug('%s deactivate failed: %s', this.#label, (error as Error).message);
    }
  }

  /** The next activation waits for `work`, at most deactivateTimeoutMs. */
  #trackRelease(work: Promise<void>): void {
    const bounded = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        debug('%s release still running after %d ms: going on', this.#label, this.deactivateTimeoutMs);
        resolve();
      }, this.deactivateTimeoutMs);
      timer.unref();
      void work.finally(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#releasing = Promise.all([this.#releasing, bounded]).then(ignore);
  }

  // ---- state ---------------------------------------------------------------------------------------------

  #refreshState(): void {
    let next: BridgeState;
    if (this.#closed) next = 'closed';
    else if (this.#console) next = 'active';
    else if (this.#opening || this.#retryTimer) next = this.#attempt > 0 ? 'reconnecting' : 'connecting';
    else next = 'idle';
    if (next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    debug('%s state %s -> %s', this.#label, previous, next);
    this.emit('state', next, previous);
  }

  #emitError(error: IpmiError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

function uncork(socket: net.Socket): void {
  socket.uncork();
}

function abortError(signal: AbortSignal): IpmiError {
  const reason: unknown = signal.reason;
  return reason instanceof IpmiError ? reason : new IpmiError('IPMI_ERR_ABORTED', 'Opening the console was aborted.', { cause: reason });
}

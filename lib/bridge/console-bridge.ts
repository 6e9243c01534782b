/**
 * ConsoleBridge: one node's console on a TCP port, the in-process replacement for Ironic's
 * `socat TCP4-LISTEN:port,bind=addr,reuseaddr,fork,max-children=1 EXEC:"ipmitool ... sol activate",pty,stderr`.
 * It composes these pieces, each in its own file:
 * - bridge-settings.ts: every option, its default and bound, resolved once into a frozen object;
 * - console-listener.ts: the net.Server / tls.Server (bind, accept paused, close);
 * - client-admission.ts: one client at a time, a grace for a reconnecting client, refusal, takeover, linger;
 * - console-supervisor.ts: open, retry with backoff, release (serialized), steal when in use;
 * - keystroke-hold.ts: keystrokes typed while the console is (re)opening; idle-watch.ts: the idle timeout;
 * and keeps here what joins them: the data path (flow control both ways), metrics and events.
 *
 * - Raw bytes both ways; nothing is added to the stream (the client may never speak first). The only bytes
 *   of our own are one line before we close a client: to a refused second client (`inUseMessage`), and to a
 *   client whose console cannot be opened for a stated reason (`console unavailable: CODE: sentence`).
 * - activation 'on-connect' (default): the console is opened when a client connects and released when it
 *   leaves. 'always': opened at listen() and kept open; console output that arrives with no client is read
 *   and DISCARDED (counted in `bytesDiscarded`): reading keeps the BMC flowing (a paused SOL stream stops
 *   ACKing and the BMC would drop or stall), and a console is a live terminal, so stale output replayed to
 *   the next client would mislead more than it helps.
 * - Backpressure end to end, like pipe(): TCP write() false -> pause the console stream (SOL stops ACKing)
 *   until 'drain'; console write() false -> pause the socket until the console drains. Per console, memory
 *   is bounded by the streams' highWaterMarks plus one chunk each way, plus `holdBytes`.
 * - Console lost while a client is connected (BMC reboot, session timeout): the client stays connected and
 *   the console is re-opened with exponential backoff. What the client types meanwhile is held, up to
 *   `holdBytes` exactly (beyond that the socket is paused and the excess stays in the socket), and written to
 *   the console once it is back. Errors inferred from silence, timeouts and an unreachable BMC are retried
 *   the same way. An error the BMC stated (wrong password or unknown user with a RAKP status code, cipher
 *   suite, privilege, SOL disabled, SOL in use after the steal policy) ends the attempt: the client reads
 *   `console unavailable: CODE: sentence\r\n` and is disconnected; in 'always' mode the bridge waits for the
 *   next client before trying again. `lastError` keeps the last error (code, message, when).
 * - Idle timeout like socat -T: no byte either way for `idleTimeoutMs` -> the client is closed (and in
 *   'on-connect' mode the console released).
 * - No keystroke is lost with a console: the console source owns the one ledger of what the far end
 *   acknowledged. If the console is lost while a client is connected, what it never acknowledged
 *   (`takeUnacknowledged()`) goes back to the front of the hold and is written to the next console. A console
 *   released on purpose (the client left) drops it.
 * - Every timer (idle, retry backoff, open timeout, in-use grace, linger, deactivate bound) runs on the
 *   `clock` setting.
 *
 * - Capture (`capture: true`, console-capture.ts; DESIGN.md "The console layer"): the console stays open with
 *   or without a client and its output enters the record at `#fromConsole` (history ring, log file, viewers); the
 *   seated client is the writer, others may watch (`viewers`), a new client may get history first (`replay`).
 *   The record never pauses the console: a viewer that falls behind its queue bound is dropped ('too-slow').
 *
 * Events: 'state' (state, previous), 'client-connected' (ClientInfo), 'client-disconnected'
 * (ClientInfo & { reason }), 'client-refused' (ClientInfo), 'reconnect' ({ attempt, delayMs, error }),
 * 'error' (IpmiError; emitted only when someone listens, so a BMC hiccup never crashes a conductor).
 * Debug namespace `ipmi:bridge`.
 */
import type net from 'node:net';
import createDebug from 'debug';
import type { Clock } from '../clock.js';
import { IpmiError } from '../errors.js';
import { isHostSyntax } from '../host-syntax.js';
import { TypedEventEmitter } from '../typed-events.js';
import { badOption, checkNumber, resolveBridgeSettings, type BridgeSettings, type ResolvedBridgeSettings } from './bridge-settings.js';
import type { BridgeMetrics, BridgeEvents, BridgeState, DisconnectReason } from './bridge-report.js';
import { ClientAdmission, clientInfo } from './client-admission.js';
import { ConsoleListener } from './console-listener.js';
import type { ConsoleSource, ConsoleStream } from './console-source.js';
import { ConsoleSupervisor, type ConsoleErrorInfo } from './console-supervisor.js';
import { ConsoleCapture, checkCaptureOptions, type CaptureOptions } from './console-capture.js';
import { IdleWatch } from './idle-watch.js';
import { KeystrokeHold } from './keystroke-hold.js';
import type { ConsoleTail, TailOptions } from '../console/history.js';
import type { ConsoleRecord } from '../console/record.js';

export {
  DEFAULT_DEACTIVATE_TIMEOUT_MS,
  DEFAULT_HOLD_BYTES,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_IN_USE_GRACE_MS,
  DEFAULT_IN_USE_MESSAGE,
  DEFAULT_LINGER_MS,
  DEFAULT_OPEN_TIMEOUT_MS,
  DEFAULT_MAX_SPREAD_MS,
  DEFAULT_RECONNECT,
  DEFAULT_SPREAD_PER_CONSOLE_MS,
  backoffDelay,
  backoffWindow,
  checkTlsOptions,
  consoleUrl,
  formatHostPort,
  resolveBridgeSettings,
  type ActivationMode,
  type BridgeSettings,
  type ConsoleTlsOptions,
  type ReconnectOptions,
  type ResolvedBridgeSettings,
  type StealPolicy,
} from './bridge-settings.js';
export { MAX_WAITING_CLIENTS, type ClientInfo } from './client-admission.js';
export type { BridgeEvents, BridgeMetrics, BridgeState, DisconnectReason } from './bridge-report.js';
export { PERMANENT_ERRORS, isStatedError, type ConsoleErrorInfo, type ReconnectEvent } from './console-supervisor.js';
export type { CaptureOptions, CaptureMetrics, ConsoleLogFileOptions } from './console-capture.js';

const debug = createDebug('ipmi:bridge');

/** The one line a client reads before it is closed because its console cannot be opened (no secrets). */
export function unavailableLine(error: IpmiError): string {
  // IpmiError messages carry no secrets by design; control characters could garble the client's terminal.
  const sentence = [...error.message].map((c) => (c < ' ' || c === '\x7f' ? ' ' : c)).join('').trim();
  return `console unavailable: ${error.code}: ${sentence}\r\n`;
}

/** TCP keepalive on client sockets, to notice peers that vanished without a FIN. */
export const CLIENT_KEEPALIVE_MS = 30_000;

export interface ConsoleBridgeOptions extends BridgeSettings, CaptureOptions {
  source: ConsoleSource;
  /** address to listen on (IPv4 or IPv6 literal, or a host name) */
  host: string;
  /** 0 (default) for any free port */
  port?: number;
  /** label in debug output (default: the URL) */
  name?: string;
  /** consoles sharing the process's reconnect budget (the fleet window, see ReconnectOptions): a manager passes its open or opening ones; default 1 */
  fleetSize?: () => number;
}

const ignore = (): void => undefined;

export class ConsoleBridge extends TypedEventEmitter<BridgeEvents> {
  readonly host: string;
  /** every setting, defaults applied, frozen */
  readonly settings: ResolvedBridgeSettings;

  readonly #source: ConsoleSource;
  readonly #name: string | undefined;
  readonly #clock: Clock;
  readonly #listener: ConsoleListener;
  readonly #admission: ClientAdmission;
  readonly #supervisor: ConsoleSupervisor;
  /** capture mode: the record (history, log file) and the viewers */
  readonly #capture: ConsoleCapture | undefined;
  #closed = false;
  #closePromise: Promise<void> | undefined;
  #state: BridgeState = 'idle';
  /** a stated error ended the last attempt: 'always' mode waits for a client */
  #suspended = false;

  #client: net.Socket | undefined;
  #detachClient: () => void = ignore;

  readonly #hold: KeystrokeHold;
  readonly #idle: IdleWatch;

  readonly #counts = { bytesToClient: 0, bytesFromClient: 0, bytesDiscarded: 0, clients: 0, refused: 0, replayedBytes: 0 };

  constructor(options: ConsoleBridgeOptions) {
    super();
    if (!options || typeof options.source?.open !== 'function') {
      throw badOption('source', options?.source, 'a ConsoleSource with an open() method');
    }
    if (typeof options.host !== 'string' || options.host.trim() === '' || !isHostSyntax(options.host.trim())) {
      throw badOption('host', options.host, 'an IP address or host name to listen on');
    }
    const { source, host, port, name, fleetSize, capture, historyBytes, replay, viewers, viewerQueueBytes, logDir, log, logName, wallTime, ...settings } = options;
    const captureOptions: CaptureOptions = { capture, historyBytes, replay, viewers, viewerQueueBytes, logDir, log, logName, wallTime };
    checkCaptureOptions(captureOptions);
    this.#source = source;
    this.host = host.trim();
    this.settings = resolveBridgeSettings(settings);
    this.#clock = this.settings.clock;
    this.#name = name;
    this.#hold = new KeystrokeHold(this.settings.holdBytes);
    this.#idle = new IdleWatch(this.#clock, this.settings.idleTimeoutMs, (idle) => {
      debug('%s idle for %d ms: closing the client', this.#label, Math.round(idle));
      this.#dropClient('idle-timeout');
    });
    const label = (): string => this.#label;
    this.#listener = new ConsoleListener(
      this.host,
      checkNumber('port', port ?? 0, 0, 65535),
      this.settings.tls,
      { onConnection: (socket) => this.#onConnection(socket), onError: (error) => this.#emitError(error) },
      label,
    );
    const takeover = this.settings.takeover || viewers?.onExtra === 'takeover';
    this.#admission = new ClientAdmission({ ...this.settings, takeover }, this.#clock, {
      occupied: () => this.#client !== undefined,
      seat: (socket) => this.#acceptClient(socket),
      replace: (socket) => {
        debug('%s takeover by %s:%s', this.#label, socket.remoteAddress, socket.remotePort);
        // The console stays: the new client gets it as it is. With capture the old one is told in one line.
        const old = this.#client!;
        if (this.#capture?.bumpWriter(socket)) this.#clientGone(old, 'takeover');
        else this.#dropClient('takeover');
        this.#acceptClient(socket);
      },
      refused: (info) => {
        this.#counts.refused++;
        debug('%s refused %s:%s: console in use', this.#label, info.remoteAddress, info.remotePort);
        this.emit('client-refused', info);
      },
    });
    this.#supervisor = new ConsoleSupervisor(source, { ...this.settings, fleetSize }, this.#clock, this.#supervisorHooks(), label);
    this.#capture = capture
      ? new ConsoleCapture(captureOptions, this.#clock, {
          close: (socket, message) => this.#admission.linger(socket, message),
          writerDropped: (socket) => this.#clientGone(socket, 'too-slow'),
        })
      : undefined;
  }

  /** Capture mode: the record (history ring, log file), else undefined. */
  get record(): ConsoleRecord | undefined {
    return this.#capture?.record;
  }

  /** Capture mode: the recent console output (the last `lines` lines and/or `bytes` bytes), else undefined. */
  consoleLog(options?: TailOptions): ConsoleTail | undefined {
    return this.#capture?.tail(options);
  }

  /** The bound port (0 before listen()). */
  get port(): number {
    return this.#listener.port;
  }

  /** tcp://host:port (IPv6 in brackets); the requested port before listen(). */
  get url(): string {
    return this.#listener.url;
  }

  get state(): BridgeState {
    return this.#state;
  }

  get listening(): boolean {
    return this.#listener.listening;
  }

  /** The last failed attempt or lost console (code, message, when), if any. */
  get lastError(): ConsoleErrorInfo | undefined {
    return this.#supervisor.lastError;
  }

  get metrics(): BridgeMetrics {
    const console = this.#supervisor.stream;
    return {
      state: this.#state,
      clientConnected: this.#client !== undefined,
      waitingClients: this.#admission.waiting,
      ...this.#counts,
      ...this.#supervisor.counters,
      heldBytes: this.#hold.size,
      pendingToClient: this.#client?.writableLength ?? 0,
      pendingToConsole: console?.writableLength ?? 0,
      pendingFromConsole: console?.readableLength ?? 0,
      ...(this.#capture ? { capture: this.#capture.metrics } : {}),
    };
  }

  /**
   * Start listening; resolves with the bound port. `port` overrides the constructor's (the manager's
   * allocator tries several). Rejects with IPMI_ERR_SOCKET whose `cause` is the system error (EADDRINUSE...);
   * after a rejection listen() may be called again; while one is under way or once listening, it returns
   * that one's result.
   */
  async listen(port?: number): Promise<number> {
    if (this.#closed) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge ${this.url} is closed.`);
    await this.#capture?.open(); // a log directory that cannot be written fails here, before anything listens
    const bound = await this.#listener.listen(port);
    debug('%s listening (activation %s)', this.#label, this.settings.activation);
    if (this.#closed) {
      // close() was called while we were binding: it could not close the server yet.
      await this.#listener.close();
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Console bridge ${this.url} was closed while starting.`);
    }
    this.#supervisor.ensure();
    this.#refreshState();
    return bound;
  }

  /** Stop listening, disconnect the client, release the console. Idempotent. */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    debug('%s closing', this.#label);
    this.#admission.closeAll();
    this.#dropClient('bridge-closed');
    this.#supervisor.stop();
    this.#refreshState();
    await Promise.all([this.#listener.close(), this.#supervisor.released, this.#capture?.close()]);
    try {
      await this.#source.close?.();
    } catch (error) {
      debug('%s source close failed: %s', this.#label, (error as Error).message);
    }
    debug('%s closed', this.#label);
  }

  get #label(): string {
    return this.#name ?? this.url;
  }

  // ---- clients -------------------------------------------------------------------------------------------

  #onConnection(socket: net.Socket): void {
    socket.on('error', (error) => debug('%s client socket error: %s', this.#label, error.message));
    if (this.#closed) socket.destroy();
    else if (this.#client === undefined || !this.#capture?.offerSpectator(socket)) this.#admission.admit(socket);
  }

  #acceptClient(socket: net.Socket): void {
    this.#client = socket;
    this.#counts.clients++;
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
    this.#capture?.seatWriter(socket); // replay first, then live output
    this.emit('client-connected', info);
    this.#idle.start();
    this.#supervisor.ensure();
    this.#updateFlow(); // the socket was created paused (pauseOnConnect): this starts reading it
    this.#refreshState();
  }

  /** Disconnect the current client (gracefully, bounded by lingerMs), after `message` if given. */
  #dropClient(reason: DisconnectReason, message?: string): void {
    const socket = this.#client;
    if (socket === undefined) return;
    this.#clientGone(socket, reason);
    this.#admission.linger(socket, message);
  }

  #clientGone(socket: net.Socket, reason: DisconnectReason): void {
    if (socket !== this.#client) return;
    const replaced = reason === 'takeover';
    this.#capture?.unseatWriter();
    this.#detachClient();
    this.#detachClient = ignore;
    this.#client = undefined;
    this.#idle.stop();
    this.#hold.clear();
    const info = clientInfo(socket);
    debug('%s client %s:%s gone (%s)', this.#label, info.remoteAddress, info.remotePort, reason);
    this.emit('client-disconnected', { ...info, reason });
    if (this.settings.activation === 'on-connect' && !replaced && !this.#capture) this.#supervisor.stop();
    else this.#updateFlow();
    // A client waiting for this one takes its place (its console opens after this one's release).
    if (!replaced && !this.#closed) this.#admission.promote();
    this.#refreshState();
  }

  // ---- data path -----------------------------------------------------------------------------------------

  #fromClient(socket: net.Socket, data: Buffer): void {
    this.#idle.touch();
    const target = this.#supervisor.stream;
    if (target !== undefined && target.writable) {
      this.#counts.bytesFromClient += data.length;
      target.write(data);
    } else {
      // No console (opening or reopening): hold up to holdBytes; the rest goes back into the socket,
      // which stays paused until the console is back.
      this.#counts.bytesFromClient += this.#hold.take(socket, data);
    }
    this.#updateFlow();
  }

  /** Console output, the one entry point (with capture: the record, i.e. history ring, log file, viewers). */
  #fromConsole(data: Buffer): void {
    const client = this.#client;
    if (this.#capture) {
      // The record is the primary reader: history, log file, every viewer's bounded queue; never paused by them.
      this.#capture.write(data);
      if (client !== undefined) {
        this.#idle.touch();
        this.#counts.bytesToClient += data.length;
      }
    } else if (client !== undefined && client.writable) {
      this.#idle.touch();
      this.#counts.bytesToClient += data.length;
      // Coalesce what the console delivers in one event-loop turn into one socket write at the end of the turn:
      // the SOL ACK (sent on the next tick) then leaves before the TCP write syscall, not after it.
      if (client.writableCorked === 0) {
        client.cork();
        setImmediate(uncork, client);
      }
      if (!client.write(data)) this.#updateFlow();
    } else {
      this.#counts.bytesDiscarded += data.length;
    }
  }

  /**
   * The one place deciding who flows (derived from the streams' own state, no flags):
   * the console is read while the client socket needs no drain; the socket is read while the console needs
   * no drain, or, with no console, while the hold has room.
   */
  #updateFlow(): void {
    const client = this.#client;
    const target = this.#supervisor.stream;
    if (target !== undefined) {
      if (client !== undefined && client.writableNeedDrain && !this.#capture) target.pause();
      else if (target.isPaused()) target.resume();
    }
    if (client !== undefined) {
      const canTake = target !== undefined ? !target.writableNeedDrain : this.#hold.hasRoom;
      if (!canTake) client.pause();
      else if (client.isPaused()) client.resume();
    }
  }

  /** A console opened: wire its data path and give it what was typed while it was opening. */
  #attachConsole(stream: ConsoleStream): () => void {
    const onData = (chunk: Buffer): void => this.#fromConsole(chunk);
    const onDrain = (): void => this.#updateFlow();
    stream.on('data', onData);
    stream.on('drain', onDrain);
    this.#hold.drainInto((chunk) => stream.write(chunk));
    this.#updateFlow();
    return () => {
      stream.off('data', onData);
      stream.off('drain', onDrain);
    };
  }

  /** A lost console's unacknowledged bytes go back to the front of the hold (bounded by its own buffers). */
  #replay(unacknowledged: Buffer): void {
    if (unacknowledged.length === 0) return;
    debug('%s %d unacknowledged bytes kept for the next console', this.#label, unacknowledged.length);
    this.#hold.putFirst(unacknowledged);
    this.#counts.replayedBytes += unacknowledged.length;
  }

  // ---- console -------------------------------------------------------------------------------------------

  #supervisorHooks(): ConstructorParameters<typeof ConsoleSupervisor>[3] {
    return {
      wanted: () =>
        !this.#closed &&
        this.#listener.listening &&
        !this.#suspended &&
        (this.settings.activation === 'always' || this.#capture !== undefined || this.#client !== undefined),
      attach: (stream) => {
        const unwire = this.#attachConsole(stream);
        const detached = this.#capture?.attached(stream);
        return () => {
          unwire();
          detached?.();
        };
      },
      lost: (stream, error) => {
        this.#capture?.lost(error);
        const unacknowledged = stream.takeUnacknowledged(); // emptied either way: the source keeps no copy
        if (this.#client !== undefined) this.#replay(unacknowledged);
        this.#updateFlow(); // the socket now feeds the hold
      },
      error: (error) => this.#emitError(error),
      gaveUp: (error) => {
        this.#suspended = true;
        this.#dropClient('console-failed', unavailableLine(error));
      },
      reconnect: (event) => this.emit('reconnect', event),
      changed: () => this.#refreshState(),
    };
  }

  // ---- state ---------------------------------------------------------------------------------------------

  #refreshState(): void {
    const next: BridgeState = this.#closed ? 'closed' : this.#supervisor.phase;
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


/**
 * A console reached over a WebSocket (ws): OpenBMC's `/console0` (raw console bytes in binary frames, both
 * ways), or the console a Redfish ComputerSystem names (SerialConsole.WebSocket.ConsoleURI). Per open(): log in
 * if the auth is a Redfish session, find the console URI if asked to, connect (TLS verified before any
 * credential is sent), relay frames as bytes. Releasing closes the WebSocket and logs the session out.
 *
 * Errors: HTTP 401/403 on login or upgrade, and an untrusted or unpinned certificate, are IPMI_ERR_AUTH (stated);
 * a system without a WebSocket console is IPMI_ERR_SOL_DISABLED; no answer in time is IPMI_ERR_TIMEOUT;
 * a refused connection IPMI_ERR_UNREACHABLE; the WebSocket closing IPMI_ERR_SESSION_CLOSED (the bridge
 * reconnects). Text frames are relayed as their UTF-8 bytes. `ConsoleOpenOptions.steal` is ignored: OpenBMC's
 * console serves several clients at once, there is nothing to take over.
 */
import createDebug from 'debug';
import { WebSocket, type RawData } from 'ws';
import { IpmiError } from '../errors.js';
import { systemClock, type Clock } from '../clock.js';
import type { ConsoleOpenOptions, ConsoleSource } from '../bridge/console-source.js';
import { connectFailure, connectVerifiedTls, httpFailure, type ConnectContext } from './http-client.js';
import { redfishConsoleUrl, redfishLogin, redfishLogout, type RedfishSession } from './redfish-session.js';
import { RelayConsoleStream } from './relay-stream.js';
import {
  MAX_WEBSOCKET_MESSAGE_BYTES,
  resolveWebSocketOptions,
  type ResolvedWebSocketOptions,
  type WebSocketConsoleOptions,
} from './websocket-options.js';

const debug = createDebug('ipmi:sources:websocket');

/** Longest wait for the server's close frame after ours; then the socket is destroyed. */
export const WEBSOCKET_RELEASE_TIMEOUT_MS = 5_000;

function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class WebSocketConsoleSource implements ConsoleSource {
  readonly #options: ResolvedWebSocketOptions;
  readonly #clock: Clock;

  /** Throws IPMI_ERR_BAD_ARGUMENT at once for bad options. */
  constructor(options: WebSocketConsoleOptions, clock: Clock = systemClock) {
    this.#options = resolveWebSocketOptions(options);
    this.#clock = clock;
  }

  get label(): string {
    const url = this.#options.url ?? this.#options.redfish!.url;
    return `websocket ${url.host}${this.#options.url?.pathname ?? ' (redfish)'}`;
  }

  async open(signal: AbortSignal, _options?: ConsoleOpenOptions): Promise<RelayConsoleStream> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = this.#clock.setTimeout(() => controller.abort(), this.#options.handshakeTimeoutMs);
    const ctx: ConnectContext = { tls: this.#options.tls, pin: this.#options.pin, signal: controller.signal, label: this.label };
    let session: RedfishSession | undefined;
    try {
      if (signal.aborted) throw new IpmiError('IPMI_ERR_ABORTED', `${this.label}: opening was aborted.`);
      session = await this.#login(ctx);
      const headers = this.#authHeaders(session);
      const url = this.#options.url ?? (await redfishConsoleUrl(this.#options.redfish!.url, this.#options.redfish!.systemPath, headers, ctx));
      return await this.#connect(url, headers, ctx, session);
    } catch (error) {
      if (session !== undefined) await this.#logout(session, ctx);
      if (controller.signal.aborted && !signal.aborted) {
        throw new IpmiError('IPMI_ERR_TIMEOUT', `${this.label}: no answer within ${this.#options.handshakeTimeoutMs} ms.`, {
          cause: error,
          fatal: true,
          inferred: true,
        });
      }
      throw connectFailure(error, this.label);
    } finally {
      timer.cancel();
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #login(ctx: ConnectContext): Promise<RedfishSession | undefined> {
    const auth = this.#options.auth;
    if (auth.kind !== 'session') return undefined;
    const base = this.#options.redfish?.url ?? httpBase(this.#options.url!);
    const session = await redfishLogin(base, auth.username, auth.password, ctx);
    debug('%s: Redfish session created', this.label);
    return session;
  }

  #authHeaders(session: RedfishSession | undefined): Record<string, string> {
    const auth = this.#options.auth;
    if (auth.kind === 'basic') return { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
    const token = auth.kind === 'token' ? auth.token : session?.token;
    if (token === undefined) return {};
    const sendAs = auth.kind === 'token' || auth.kind === 'session' ? (auth.sendAs ?? 'header') : 'header';
    return sendAs === 'cookie' ? { Cookie: `SESSION=${token}` } : { 'X-Auth-Token': token };
  }

  async #connect(url: URL, headers: Record<string, string>, ctx: ConnectContext, session: RedfishSession | undefined): Promise<RelayConsoleStream> {
    const socket = url.protocol === 'wss:' ? await connectVerifiedTls(url, ctx) : undefined;
    const ws = new WebSocket(url, this.#options.protocols, {
      headers,
      handshakeTimeout: this.#options.handshakeTimeoutMs,
      maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
      perMessageDeflate: false,
      followRedirects: false,
      ...(socket === undefined ? {} : { createConnection: () => socket }),
    });
    const stream = new RelayConsoleStream({ label: this.label });
    return new Promise<RelayConsoleStream>((resolve, reject) => {
      const fail = (error: IpmiError): void => {
        ws.terminate();
        reject(error);
      };
      const onAbort = (): void => fail(new IpmiError('IPMI_ERR_ABORTED', `${this.label}: opening was aborted.`));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        fail(httpFailure(res.statusCode ?? 0, 'the WebSocket upgrade', this.label));
      });
      ws.once('error', (error) => fail(connectFailure(error, this.label)));
      ws.once('open', () => {
        ctx.signal.removeEventListener('abort', onAbort);
        ws.removeAllListeners('error');
        this.#relay(ws, stream, session, ctx);
        debug('%s: console open (subprotocol %s)', this.label, ws.protocol || 'none');
        resolve(stream);
      });
    });
  }

  #relay(ws: WebSocket, stream: RelayConsoleStream, session: RedfishSession | undefined, ctx: ConnectContext): void {
    ws.on('message', (data: RawData) => stream.receive(rawBytes(data)));
    let failure: Error | undefined; // ws reports a local failure (a message over maxPayload...) as 'error', then 'close' 1006
    ws.on('error', (error) => {
      failure ??= error;
      debug('%s: %s', this.label, error.message);
    });
    ws.once('close', (code: number, reason: Buffer) => {
      const text = reason.length > 0 ? reason.toString('utf8').slice(0, 120) : failure?.message;
      const why = text === undefined ? '' : `: ${text}`;
      stream.lost(new IpmiError('IPMI_ERR_SESSION_CLOSED', `${this.label}: the WebSocket closed (code ${code}${why}).`, { fatal: true }));
    });
    stream.attach({
      write: (chunk, done) => ws.send(chunk, { binary: true }, done),
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      release: async () => {
        await this.#close(ws);
        if (session !== undefined) await this.#logout(session, ctx);
      },
    });
  }

  /** Log the Redfish session out, within the handshake timeout. Never rejects. */
  async #logout(session: RedfishSession, ctx: ConnectContext): Promise<void> {
    const controller = new AbortController();
    const timer = this.#clock.setTimeout(() => controller.abort(), this.#options.handshakeTimeoutMs);
    try {
      await redfishLogout(session, { ...ctx, signal: controller.signal });
    } finally {
      timer.cancel();
    }
  }

  /** Close handshake (1000), bounded by WEBSOCKET_RELEASE_TIMEOUT_MS. Never rejects. */
  #close(ws: WebSocket): Promise<void> {
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        ws.terminate();
        resolve();
      }, WEBSOCKET_RELEASE_TIMEOUT_MS);
      ws.once('close', () => {
        timer.cancel();
        resolve();
      });
      ws.close(1000);
    });
  }
}

/** The HTTP(S) origin serving a ws(s):// URL (where bmcweb's session service lives). */
function httpBase(url: URL): URL {
  const base = new URL(url.origin.replace(/^ws/, 'http'));
  return base;
}

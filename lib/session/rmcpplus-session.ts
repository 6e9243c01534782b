/**
 * IpmiSession: an IPMI 2.0 RMCP+ session over UDP, the thin driver of the session state machine
 * (session-machine.ts). The driver owns what the machine must not: the UdpTransport endpoint (its own transport,
 * or one shared by many sessions), the DNS lookup, randomness from node:crypto, and ONE timer per session behind
 * a Clock, armed at the machine's next deadline. It implements PayloadPort, so SOL (lib/sol, `activateSol(session)`)
 * can ride on it; it knows nothing of SOL.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { IpmiError } from '../errors.js';
import { PayloadType } from '../codec/rmcp.js';
import { NetFn } from '../codec/ipmi-message.js';
import { Cmd, decodeDeviceId, type DeviceId } from '../codec/commands.js';
import { privilegeName } from '../crypto/cipher-suites.js';
import { normalizeAddress, UdpTransport, type TransportEndpoint } from '../transport/udp-transport.js';
import { systemClock, type Clock, type ClockTimer } from '../clock.js';
import { completionCodeText } from '../errors.js';
import type { IpmiCommand, IpmiCommandResponse, PayloadPort } from './payload-port.js';
import { resolveSessionOptions, type IpmiSessionOptions, type ResolvedSessionOptions } from './options.js';
import { SessionMachine, type RequestOptions, type SessionState, type SessionStats } from './session-machine.js';
import { pooledRandomIvs } from './iv-source.js';

export type { IpmiSessionOptions } from './options.js';
export type { RequestOptions, SessionState, SessionStats } from './session-machine.js';

/** The events of an IpmiSession, by name: the listener's arguments. */
export interface IpmiSessionEvents {
  /** The session ended after it opened: reason undefined for a clean local close, else why (BMC lost, ...). */
  close: [reason: IpmiError | undefined];
}

/** The default AES-CBC IV source: node:crypto bytes, drawn from one pool shared by the sessions of this process. */
const defaultIvs = pooledRandomIvs();

export class IpmiSession extends EventEmitter<IpmiSessionEvents> implements PayloadPort {
  readonly #machine: SessionMachine;
  readonly #endpoint: TransportEndpoint;
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;
  #timerAt: number | undefined;
  #closeReason: IpmiError | undefined;
  #opening: { resolve(): void; reject(err: IpmiError): void } | undefined;
  readonly #solHandlers = new Set<(payload: Buffer, sessionSequence: number) => void>();
  readonly #closeHandlers = new Set<(reason: IpmiError | undefined) => void>();

  private constructor(
    private readonly opts: ResolvedSessionOptions,
    readonly address: string,
    private readonly transport: UdpTransport,
    private readonly ownsTransport: boolean,
    clock: Clock = systemClock,
  ) {
    super();
    this.#clock = clock;
    const endpoint: TransportEndpoint = {
      address,
      ports: new Set([opts.port]),
      consoleSessionId: 0,
      preSession: true,
      deliver: (datagram, envelope) => {
        this.#machine.receive(datagram, envelope, this.#clock.now());
        this.#settle();
      },
      foreign: () => {
        this.#machine.stats.dropped.foreignAddress++;
      },
    };
    this.#endpoint = endpoint;
    this.#machine = new SessionMachine({
      config: opts,
      send: (datagram, port) => transport.send(datagram, port, address),
      random: randomBytes,
      iv: defaultIvs,
      allocateSessionId: () => {
        const old = endpoint.consoleSessionId;
        endpoint.consoleSessionId = transport.allocateSessionId();
        transport.rekey(endpoint, old);
        return endpoint.consoleSessionId;
      },
      onOpen: () => this.#opening?.resolve(),
      onClose: (reason, opened) => this.#closed(reason, opened),
      onSolPayload: (payload, sequence) => {
        for (const handler of this.#solHandlers) handler(payload, sequence);
      },
    });
    transport.register(endpoint);
  }

  /** Open a session: resolves once RAKP 4 verified and the privilege level is set. */
  static async open(options: IpmiSessionOptions): Promise<IpmiSession> {
    const opts = resolveSessionOptions(options);
    if (opts.signal?.aborted) throw new IpmiError('IPMI_ERR_ABORTED', 'session open aborted');
    const { address, family } = await resolveHost(opts.host);
    const wanted = family === 6 ? 'udp6' : 'udp4';
    let transport = opts.transport;
    if (transport && transport.type !== wanted) {
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `the shared transport is ${transport.type} but ${opts.host} is IPv${family}`);
    }
    const owns = !transport;
    // A transport of its own talks to one peer: connected (see UdpTransport.send, "connected socket").
    transport ??= await UdpTransport.create({ type: wanted, peer: { address, port: opts.port } });
    const session = new IpmiSession(opts, address, transport, owns);
    await session.#handshake();
    return session;
  }

  #handshake(): Promise<void> {
    const signal = this.opts.signal;
    const onAbort = () => this.#machine.abort(new IpmiError('IPMI_ERR_ABORTED', 'session open aborted', { fatal: true }));
    signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<void>((resolve, reject) => {
      this.#opening = { resolve, reject };
      this.#machine.start(this.#clock.now());
      if (signal?.aborted) onAbort(); // aborted while the host name resolved: 'abort' has fired already
      this.#settle();
    }).finally(() => {
      this.#opening = undefined;
      signal?.removeEventListener('abort', onAbort);
    });
  }

  get state(): SessionState {
    return this.#machine.state;
  }
  get closed(): boolean {
    return this.#machine.state === 'closed';
  }
  /** The session's counters: datagrams, retransmissions, drops by reason. */
  get stats(): SessionStats {
    return this.#machine.stats;
  }
  /** The negotiated cipher suite number. */
  get cipherSuite(): number {
    return this.#machine.suite?.id ?? -1;
  }
  /** The privilege level in force: 'callback' | 'user' | 'operator' | 'administrator'. */
  get privilege(): string {
    return privilegeName(this.#machine.privilegeLevel);
  }
  get port(): number {
    return this.opts.port;
  }
  get host(): string {
    return this.opts.host;
  }
  get integrity(): boolean {
    return this.#machine.integrity;
  }
  get confidentiality(): boolean {
    return this.#machine.confidentiality;
  }
  get bmcSessionId(): number {
    return this.#machine.bmcSessionId;
  }
  get consoleSessionId(): number {
    return this.#endpoint.consoleSessionId;
  }

  /**
   * Send an IPMI command in the session and resolve with its completion code and data. Requests run one at a
   * time; each try waits timeoutMs, retried `retries` times. When every try goes unanswered the BMC is taken as
   * lost: the request rejects with IPMI_ERR_TIMEOUT and the session closes with that reason.
   */
  request(command: IpmiCommand, options: RequestOptions = {}): Promise<IpmiCommandResponse> {
    return new Promise<IpmiCommandResponse>((resolve, reject) => {
      this.#machine.request(command, options, this.#clock.now(), (err, rsp) => (err ? reject(err) : resolve(rsp!)));
      this.#settle();
    });
  }

  /** Get Device ID (section 20.1), decoded. */
  async getDeviceId(): Promise<DeviceId> {
    const rsp = await this.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID });
    if (rsp.completionCode !== 0) {
      throw new IpmiError('IPMI_ERR_COMPLETION_CODE', `Get Device ID failed: ${completionCodeText(rsp.completionCode)}`, {
        completionCode: rsp.completionCode,
      });
    }
    return decodeDeviceId(rsp.data);
  }

  /** Close Session (section 22.19), one short try, then release the socket. Idempotent. */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#machine.close(this.#clock.now(), resolve);
      this.#settle();
    });
  }

  // ---- PayloadPort -----------------------------------------------------------------------------------------

  sendSolPayload(payload: Buffer, options: { encrypt: boolean; authenticate: boolean; port: number }): void {
    if (this.#machine.state !== 'active') return;
    if (options.port !== this.opts.port) this.#endpoint.ports.add(options.port);
    this.#machine.sendPayload(PayloadType.SOL, payload, options.port, options.encrypt, options.authenticate);
  }

  onSolPayload(handler: (payload: Buffer, sessionSequence: number) => void): () => void {
    this.#solHandlers.add(handler);
    return () => this.#solHandlers.delete(handler);
  }

  onClose(handler: (reason: IpmiError | undefined) => void): () => void {
    if (this.closed) {
      queueMicrotask(() => handler(this.#closeReason));
      return () => undefined;
    }
    this.#closeHandlers.add(handler);
    return () => this.#closeHandlers.delete(handler);
  }

  // ---- the one timer ---------------------------------------------------------------------------------------

  /** After every call into the machine: mirror its handshake phase to the endpoint, re-arm the timer. */
  #settle(): void {
    this.#endpoint.preSession = this.#machine.preSession && !this.closed;
    const at = this.#machine.nextDeadline();
    if (at === this.#timerAt) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#machine.poll(this.#clock.now());
      this.#settle();
    }, at - this.#clock.now());
  }

  #closed(reason: IpmiError | undefined, opened: boolean): void {
    this.#closeReason = reason;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = undefined;
    this.transport.unregister(this.#endpoint);
    if (this.ownsTransport) void this.transport.close();
    for (const handler of this.#closeHandlers) handler(reason);
    this.#closeHandlers.clear();
    this.#solHandlers.clear();
    if (this.#opening) this.#opening.reject(reason ?? new IpmiError('IPMI_ERR_SESSION_CLOSED', 'the IPMI session was closed'));
    else if (opened) this.emit('close', reason);
  }
}

/** A numeric address as is; a host name through DNS (IPMI_ERR_UNREACHABLE when it does not resolve). */
async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  if (isIP(host)) {
    const address = normalizeAddress(host);
    return { address, family: isIP(address) === 6 ? 6 : 4 };
  }
  try {
    const found = await lookup(host);
    return { address: found.address, family: found.family === 6 ? 6 : 4 };
  } catch (err) {
    throw new IpmiError('IPMI_ERR_UNREACHABLE', `cannot resolve BMC host name "${host}"`, { cause: err, fatal: true });
  }
}

/**
 * The RMCP+ session (IPMI 2.0 sections 13.6, 13.8, 13.14 to 13.33) as a pure state machine, after ssh2's
 * `Protocol` and our SolEngine: it owns no socket, no timer and no source of randomness. The driver feeds it
 * datagrams (`receive(datagram, envelope, now)`), calls `poll(now)` at `nextDeadline()`, and gives it `send`,
 * `random`, `iv` and `allocateSessionId`. Handshake, IPMI commands, keepalive and Close Session all run on ONE
 * request tracker: one exchange in flight, the rest queued in order.
 *
 *   handshake --(Set Session Privilege answered)--> active --close()--> closing --> closed
 *        \__________(error, abort)___________________\___(BMC lost: every try of a request unanswered)__/
 */
import createDebug from 'debug';
import { IpmiError } from '../errors.js';
import { decodeV15, decodeV20, encodeV20, NO_CRYPTO, PacketRejected, PayloadType, type RmcpEnvelope, type SessionCrypto } from '../codec/rmcp.js';
import { decodeResponse, encodeRequest, NetFn } from '../codec/ipmi-message.js';
import { Cmd, encodeCloseSession } from '../codec/commands.js';
import { ConfidentialityAlgorithm, IntegrityAlgorithm, type CipherSuite } from '../crypto/cipher-suites.js';
import { RequestTracker } from './request-tracker.js';
import { RttEstimator } from './rtt-estimator.js';
import { SequenceWindow } from './sequence-window.js';
import { Handshake } from './handshake.js';
import { ipmiAnswer, preSessionInbound, type Inbound } from './inbound.js';
import type { IpmiCommand, IpmiCommandResponse } from './payload-port.js';
import type { SessionConfig } from './options.js';

const debug = createDebug('ipmi:session');

/** Inbound session sequence window (section 6.12.13 / 13.6): FreeIPMI accepts 8 behind; we keep a 32-bit bitmap. */
export const INBOUND_WINDOW_BEHIND = 8;
/** How far ahead of the highest accepted sequence number a packet may jump (lost packets in between). */
export const INBOUND_WINDOW_AHEAD = 32;
/** rqSeq is 6 bits (section 13.8); we use 1..63. */
export const RQ_SEQ_MAX = 63;
/** Close Session gets one try of at most this long: the BMC may already be gone. */
export const CLOSE_SESSION_TIMEOUT_MS = 1000;

export type SessionState = 'handshake' | 'active' | 'closing' | 'closed';

export interface SessionStats {
  sent: number;
  received: number;
  retransmits: number;
  requests: number;
  timeouts: number;
  handshakeRestarts: number;
  solSent: number;
  solReceived: number;
  dropped: {
    malformed: number;
    integrity: number;
    decrypt: number;
    unauthenticated: number;
    replay: number;
    outOfWindow: number;
    foreignAddress: number;
    unexpected: number;
  };
}

export interface RequestOptions {
  timeoutMs?: number;
  retries?: number;
}

export type RequestDone = (err: IpmiError | undefined, response?: IpmiCommandResponse) => void;

export interface SessionMachineOptions {
  config: SessionConfig;
  /** Put a datagram on the wire to `port` at the BMC's address. */
  send(datagram: Buffer, port: number): void;
  /** Cryptographically random bytes (RAKP tags and console randoms). */
  random(n: number): Buffer;
  /** 16 random bytes for one AES-CBC-128 packet (section 13.29). */
  iv(): Buffer;
  /** A console session ID for a new handshake attempt, unique among the sessions on the transport. */
  allocateSessionId(): number;
  /** The handshake completed: the session is active. */
  onOpen(): void;
  /** The session ended (reason undefined: a clean local close); `opened` false when it never opened. */
  onClose(reason: IpmiError | undefined, opened: boolean): void;
  /** An inbound SOL payload (verified, decrypted, in window) with its session sequence number. */
  onSolPayload(payload: Buffer, sessionSequence: number): void;
}

interface Queued {
  command: IpmiCommand;
  options: RequestOptions;
  done: RequestDone;
}

function emptyStats(): SessionStats {
  return {
    sent: 0,
    received: 0,
    retransmits: 0,
    requests: 0,
    timeouts: 0,
    handshakeRestarts: 0,
    solSent: 0,
    solReceived: 0,
    dropped: { malformed: 0, integrity: 0, decrypt: 0, unauthenticated: 0, replay: 0, outOfWindow: 0, foreignAddress: 0, unexpected: 0 },
  };
}

const closedError = () => new IpmiError('IPMI_ERR_SESSION_CLOSED', 'the IPMI session is closed');

export class SessionMachine {
  readonly stats: SessionStats = emptyStats();
  readonly config: SessionConfig;
  #state: SessionState = 'handshake';
  #preSession = true;
  #now = 0;
  #suite: CipherSuite | undefined;
  #privilegeLevel = 0;
  #crypto: SessionCrypto = NO_CRYPTO;
  #bmcSid = 0;
  #consoleSid = 0;
  #outboundSequence = 0;
  #window: SequenceWindow | undefined;
  #rqSeq = 0;
  #lastRequestAt = 0;
  #closeDone: (() => void)[] | undefined;
  /** The caller of the request in flight, told if the session ends under it. */
  #inFlight: RequestDone | undefined;
  readonly #queue: Queued[] = [];
  readonly #tracker: RequestTracker<Inbound>;
  readonly #handshake: Handshake;

  constructor(private readonly io: SessionMachineOptions) {
    this.config = io.config;
    const rtt = this.config.adaptiveTimeout ? new RttEstimator() : undefined;
    this.#tracker = new RequestTracker<Inbound>(() => this.stats.retransmits++, rtt);
    this.#handshake = new Handshake({
      config: this.config,
      random: (n) => io.random(n),
      exchange: (e) => this.#tracker.start({ ...e, timeoutMs: this.config.timeoutMs }, this.#now),
      sendRaw: (datagram) => this.#sendRaw(datagram, this.config.port),
      sendInSession: (payload) => this.#sendInSession(PayloadType.IPMI, payload, this.config.port, true, true),
      nextRqSeq: () => this.#nextRqSeq(),
      newConsoleSessionId: () => (this.#consoleSid = io.allocateSessionId()),
      secured: (bmcSid, crypto) => this.#secured(bmcSid, crypto),
      restarted: () => this.stats.handshakeRestarts++,
      opened: (suite, level) => this.#opened(suite, level),
      failed: (err) => this.#finish(err),
    });
  }

  get state(): SessionState {
    return this.#state;
  }
  /** True until RAKP 4 is verified: the session then also takes session-ID-0 datagrams. */
  get preSession(): boolean {
    return this.#preSession;
  }
  get suite(): CipherSuite | undefined {
    return this.#suite;
  }
  get privilegeLevel(): number {
    return this.#privilegeLevel;
  }
  get integrity(): boolean {
    return this.#crypto.integrity !== IntegrityAlgorithm.NONE;
  }
  get confidentiality(): boolean {
    return this.#crypto.confidentiality !== ConfidentialityAlgorithm.NONE;
  }
  get bmcSessionId(): number {
    return this.#bmcSid;
  }
  get consoleSessionId(): number {
    return this.#consoleSid;
  }
  /** The round-trip estimate of requests (undefined with adaptiveTimeout false). */
  get rtt(): RttEstimator | undefined {
    return this.#tracker.rtt;
  }

  /** Start the handshake. */
  start(now: number): void {
    this.#now = now;
    this.#handshake.start();
  }

  /** At or after `nextDeadline()`: retry or give up the exchange in flight, send a keepalive when idle. */
  poll(now: number): void {
    this.#now = now;
    this.#tracker.poll(now);
    const keepalive = this.#keepaliveDue();
    if (keepalive !== undefined && now >= keepalive) {
      // Get Device ID as keepalive (what ipmitool and FreeIPMI send); a lost BMC closes the session.
      this.#queue.push({ command: { netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, options: {}, done: () => undefined });
    }
    this.#pump();
  }

  /** When `poll` wants to run next, or undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    return this.#tracker.nextDeadline() ?? this.#keepaliveDue();
  }

  #keepaliveDue(): number | undefined {
    const every = this.config.keepaliveMs;
    if (every <= 0 || this.#state !== 'active' || this.#tracker.busy || this.#queue.length > 0) return undefined;
    return this.#lastRequestAt + every;
  }

  // ---- requests --------------------------------------------------------------------------------------------

  /**
   * Send an IPMI command in the session; `done` gets its completion code and data. Requests run one at a time
   * (as ipmitool and FreeIPMI do); each try waits timeoutMs, retried `retries` times with the same rqSeq and a
   * new session sequence number. When every try goes unanswered the BMC is taken as lost: the request fails
   * with IPMI_ERR_TIMEOUT and the session closes with that reason.
   */
  request(command: IpmiCommand, options: RequestOptions, now: number, done: RequestDone): void {
    this.#now = now;
    if (this.#state !== 'active') return done(closedError());
    this.#queue.push({ command, options, done });
    this.#pump();
  }

  #pump(): void {
    if (this.#tracker.busy || this.#state !== 'active') return;
    const next = this.#queue.shift();
    if (next) this.#startRequest(next);
  }

  #startRequest({ command, options, done }: Queued): void {
    const timeoutMs = options.timeoutMs ?? this.config.timeoutMs;
    const retries = options.retries ?? this.config.retries;
    const rqSeq = this.#nextRqSeq();
    const msg = encodeRequest({ netFn: command.netFn, cmd: command.cmd, rqSeq, data: command.data ?? Buffer.alloc(0) });
    this.stats.requests++;
    this.#inFlight = done;
    this.#tracker.start(
      {
        transmit: () => {
          this.#lastRequestAt = this.#now;
          this.#sendInSession(PayloadType.IPMI, msg, this.config.port, true, true);
        },
        match: (m) => ipmiAnswer(m, command.netFn, command.cmd, rqSeq),
        timeoutMs,
        retries,
        onAnswer: (rsp) => {
          this.#inFlight = undefined;
          done(undefined, { completionCode: rsp.completionCode, data: rsp.data });
          this.#pump();
        },
        onSilence: () => {
          this.#inFlight = undefined;
          this.stats.timeouts++;
          const err = new IpmiError(
            'IPMI_ERR_TIMEOUT',
            `the BMC at ${this.config.host} stopped answering (no reply to command 0x${command.cmd.toString(16)} after ${retries + 1} tries in ${(retries + 1) * timeoutMs} ms)`,
            { fatal: true },
          );
          done(err);
          this.#finish(err);
        },
      },
      this.#now,
    );
  }

  #nextRqSeq(): number {
    this.#rqSeq = this.#rqSeq >= RQ_SEQ_MAX ? 1 : this.#rqSeq + 1;
    return this.#rqSeq;
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  #sendRaw(datagram: Buffer, port: number): void {
    this.stats.sent++;
    this.io.send(datagram, port);
  }

  /** Session sequence numbers increment on every packet, retransmissions too, and skip 0 (section 13.6). */
  #nextOutboundSequence(): number {
    this.#outboundSequence = (this.#outboundSequence + 1) >>> 0;
    if (this.#outboundSequence === 0) this.#outboundSequence = 1;
    return this.#outboundSequence;
  }

  #sendInSession(payloadType: number, payload: Buffer, port: number, encrypt: boolean, authenticate: boolean): void {
    const aes = encrypt && this.confidentiality;
    const datagram = encodeV20({
      payloadType,
      sessionId: this.#bmcSid,
      sequence: this.#nextOutboundSequence(),
      payload,
      encrypt: aes,
      authenticate: authenticate && this.integrity,
      crypto: this.#crypto,
      iv: aes ? this.io.iv() : undefined,
    });
    this.#sendRaw(datagram, port);
  }

  /** Send a payload of another type (SOL) in the active session; ignored once it is not active. */
  sendPayload(payloadType: number, payload: Buffer, port: number, encrypt: boolean, authenticate: boolean): void {
    if (this.#state !== 'active') return;
    if (payloadType === PayloadType.SOL) this.stats.solSent++;
    this.#sendInSession(payloadType, payload, port, encrypt, authenticate);
  }

  // ---- receiving -------------------------------------------------------------------------------------------

  /** One datagram from the BMC's address. Whatever fails to decode or verify is counted and dropped. */
  receive(datagram: Buffer, envelope: RmcpEnvelope, now: number): void {
    this.#now = now;
    if (this.#state === 'closed') return;
    try {
      if (envelope.format === 'asf') {
        this.stats.dropped.unexpected++;
      } else if (envelope.format === 'v1.5') {
        const packet = decodeV15(datagram);
        this.stats.received++;
        this.#offer({ kind: 'ipmi', rsp: decodeResponse(packet.payload) });
      } else if (envelope.sessionId === 0) {
        const inbound = preSessionInbound(decodeV20(datagram));
        this.stats.received++;
        if (inbound) this.#offer(inbound);
        else this.stats.dropped.unexpected++;
      } else {
        this.#receiveInSession(datagram);
      }
    } catch (err) {
      if (err instanceof PacketRejected) this.stats.dropped[err.reason]++;
      else this.stats.dropped.malformed++;
      debug('%s: dropped a datagram: %s', this.config.host, (err as Error).message);
    }
    this.#pump();
  }

  #receiveInSession(datagram: Buffer): void {
    const window = this.#window;
    if (!window) {
      this.stats.dropped.unexpected++;
      return;
    }
    const packet = decodeV20(datagram, this.#crypto, true);
    const verdict = window.check(packet.sequence);
    if (verdict !== 'accepted') {
      this.stats.dropped[verdict]++;
      return;
    }
    this.stats.received++;
    if (packet.payloadType === PayloadType.IPMI) {
      this.#offer({ kind: 'ipmi', rsp: decodeResponse(packet.payload) });
    } else if (packet.payloadType === PayloadType.SOL) {
      this.stats.solReceived++;
      this.io.onSolPayload(packet.payload, packet.sequence);
    } else {
      this.stats.dropped.unexpected++;
    }
  }

  #offer(inbound: Inbound): void {
    if (!this.#tracker.offer(inbound, this.#now)) this.stats.dropped.unexpected++;
  }

  // ---- handshake results -----------------------------------------------------------------------------------

  #secured(bmcSid: number, crypto: SessionCrypto): void {
    this.#bmcSid = bmcSid;
    this.#crypto = crypto;
    this.#preSession = false;
    this.#window = new SequenceWindow({ behind: INBOUND_WINDOW_BEHIND, ahead: INBOUND_WINDOW_AHEAD, rejectZero: this.integrity });
  }

  #opened(suite: CipherSuite, level: number): void {
    this.#suite = suite;
    this.#privilegeLevel = level;
    this.#state = 'active';
    this.#lastRequestAt = this.#now;
    debug('%s: session active, suite %d, privilege level %d', this.config.host, suite.id, level);
    this.io.onOpen();
  }

  // ---- close -----------------------------------------------------------------------------------------------

  /** Close Session (section 22.19), one short try; `done` once closed. Idempotent. */
  close(now: number, done: () => void = () => undefined): void {
    this.#now = now;
    if (this.#state === 'closed') return done();
    if (this.#closeDone) {
      this.#closeDone.push(done);
      return;
    }
    this.#closeDone = [done];
    if (this.#state !== 'active') return this.#finish(undefined);
    this.#state = 'closing';
    this.#tracker.cancel();
    this.#failQueue(closedError());
    const rqSeq = this.#nextRqSeq();
    const msg = encodeRequest({ netFn: NetFn.APP, cmd: Cmd.CLOSE_SESSION, rqSeq, data: encodeCloseSession(this.#bmcSid) });
    // The BMC may already be gone; the session is closed on our side whatever it says.
    this.#tracker.start(
      {
        transmit: () => this.#sendInSession(PayloadType.IPMI, msg, this.config.port, true, true),
        match: (m) => ipmiAnswer(m, NetFn.APP, Cmd.CLOSE_SESSION, rqSeq),
        timeoutMs: Math.min(this.config.timeoutMs, CLOSE_SESSION_TIMEOUT_MS),
        retries: 0,
        onAnswer: () => this.#finish(undefined),
        onSilence: () => this.#finish(undefined),
      },
      now,
    );
  }

  /** End the session at once with `reason` (an abort, a transport failure); nothing is sent. */
  abort(reason: IpmiError): void {
    this.#finish(reason);
  }

  #failQueue(err: IpmiError): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    inFlight?.(err);
    for (const queued of this.#queue.splice(0)) queued.done(err);
  }

  #finish(reason: IpmiError | undefined): void {
    if (this.#state === 'closed') return;
    const opened = this.#state !== 'handshake';
    this.#state = 'closed';
    this.#tracker.cancel();
    this.#failQueue(reason ?? closedError());
    debug('%s: session closed%s', this.config.host, reason ? `: ${reason.code}` : '');
    this.io.onClose(reason, opened);
    for (const done of this.#closeDone ?? []) done();
  }
}

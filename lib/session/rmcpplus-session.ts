/**
 * An IPMI 2.0 RMCP+ session over UDP (IPMI 2.0 sections 13.14 to 13.33): Get Channel Authentication
 * Capabilities, optional Get Channel Cipher Suites, Open Session, RAKP 1-4, Set Session Privilege Level, then
 * requests with retries, keepalive and Close Session. Implements SolHost so a SOL payload can ride on it.
 *
 * The session owns no socket: it registers an endpoint with a UdpTransport (its own, or one shared by many).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import createDebug from 'debug';
import { IpmiError, completionCodeText } from '../errors.js';
import {
  decodeV15,
  decodeV20,
  encodeV15,
  encodeV20,
  NO_CRYPTO,
  PacketRejected,
  PayloadType,
  type RmcpEnvelope,
  type SessionCrypto,
  type V20Packet,
} from '../codec/rmcp.js';
import { decodeResponse, encodeRequest, NetFn, type IpmiResponse } from '../codec/ipmi-message.js';
import {
  decodeOpenSessionResponse,
  decodeRakp2,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeRakp1,
  encodeRakp3,
  rakpStatusText,
  type OpenSessionResponse,
  type Rakp2,
  type Rakp4,
} from '../codec/rakp.js';
import {
  Cmd,
  decodeChannelAuthCapabilities,
  decodeDeviceId,
  encodeCloseSession,
  encodeGetChannelAuthCapabilities,
  encodeGetChannelCipherSuites,
  encodeSetSessionPrivilege,
  parseCipherSuiteRecords,
  type DeviceId,
} from '../codec/commands.js';
import {
  CIPHER_SUITE_PREFERENCE,
  cipherSuiteByAlgorithms,
  cipherSuiteById,
  ConfidentialityAlgorithm,
  IntegrityAlgorithm,
  privilegeName,
  rakpHmacLength,
  type CipherSuite,
} from '../crypto/cipher-suites.js';
import { deriveSessionKeys, rakp2AuthCode, rakp3AuthCode, rakp4Icv, type RakpContext } from '../crypto/keys.js';
import { timingSafeEqual } from 'node:crypto';
import { normalizeAddress, UdpTransport, type TransportEndpoint } from '../transport/udp-transport.js';
import type { IpmiCommand, IpmiCommandResponse, SolHost } from '../sol/sol-host.js';
import { resolveSessionOptions, type IpmiSessionOptions, type ResolvedSessionOptions } from './options.js';
import { activateSol, deactivateSol, type ActivateSolOptions } from '../sol/activate.js';
import type { SolStream } from '../sol/sol-stream.js';

export type { IpmiSessionOptions } from './options.js';

const debug = createDebug('ipmi:session');

/** Inbound session sequence window (section 6.12.13 / 13.6): FreeIPMI accepts 8 behind; we keep a 32-bit bitmap. */
export const INBOUND_WINDOW_BEHIND = 8;
/** How far ahead of the highest accepted sequence number a packet may jump (lost packets in between). */
export const INBOUND_WINDOW_AHEAD = 32;
/** Get Channel Cipher Suites returns 16 bytes a call (section 22.15); a list longer than 64 calls is bogus. */
const MAX_CIPHER_SUITE_LIST_CALLS = 64;
/** rqSeq is 6 bits (section 13.8); we use 1..63. */
const RQ_SEQ_MAX = 63;

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

type Inbound =
  | { kind: 'ipmi'; rsp: IpmiResponse }
  | { kind: 'open-session'; msg: OpenSessionResponse }
  | { kind: 'rakp2'; msg: Rakp2 }
  | { kind: 'rakp4'; msg: Rakp4 };

interface Waiter {
  /** Returns true when the packet was the one awaited (the waiter then resolves). */
  offer(inbound: Inbound): boolean;
  fail(err: IpmiError): void;
}

/** Thrown inside the handshake when one step got no answer: the handshake restarts from Open Session. */
class StepTimeout extends Error {
  constructor(readonly step: string) {
    super(`no answer to ${step}`);
  }
}

/**
 * AES-CBC IVs (16 random bytes a packet) drawn from a 4 KiB CSPRNG pool: one randomBytes call per 256 packets
 * instead of one per packet (it was ~6% of the bridge's CPU in a bulk transfer, bench/). A refill allocates a
 * new pool, so bytes are never handed out twice and a returned slice never changes.
 */
const IV_POOL_SIZE = 4096;
let ivPool = Buffer.alloc(0);
let ivPoolOffset = 0;

function pooledRandomBytes(n: number): Buffer {
  if (ivPoolOffset + n > ivPool.length) {
    ivPool = randomBytes(Math.max(IV_POOL_SIZE, n));
    ivPoolOffset = 0;
  }
  const out = ivPool.subarray(ivPoolOffset, ivPoolOffset + n);
  ivPoolOffset += n;
  return out;
}

export class IpmiSession extends EventEmitter implements SolHost {
  readonly stats: SessionStats = {
    sent: 0,
    received: 0,
    retransmits: 0,
    requests: 0,
    timeouts: 0,
    handshakeRestarts: 0,
    solSent: 0,
    solReceived: 0,
    dropped: {
      malformed: 0,
      integrity: 0,
      decrypt: 0,
      unauthenticated: 0,
      replay: 0,
      outOfWindow: 0,
      foreignAddress: 0,
      unexpected: 0,
    },
  };

  private stateValue: SessionState = 'handshake';
  private suite: CipherSuite | undefined;
  private privilegeLevel = 0;
  private crypto: SessionCrypto = NO_CRYPTO;
  private bmcSid = 0;
  private outboundSequence = 0;
  private inboundHighest = 0;
  private inboundSeen = 0; // bit i: highest - i was accepted
  private rqSeq = 0;
  private waiter: Waiter | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private lastRequestAt = 0;
  private closePromise: Promise<void> | undefined;
  private readonly solHandlers = new Set<(payload: Buffer, sessionSequence: number) => void>();
  private readonly closeHandlers = new Set<(reason: IpmiError | undefined) => void>();
  private readonly endpoint: TransportEndpoint;

  private constructor(
    private readonly opts: ResolvedSessionOptions,
    readonly address: string,
    private readonly transport: UdpTransport,
    private readonly ownsTransport: boolean,
  ) {
    super();
    this.endpoint = {
      address,
      ports: new Set([opts.port]),
      consoleSessionId: 0,
      preSession: true,
      deliver: (datagram, envelope, fromPort) => this.onDatagram(datagram, envelope, fromPort),
      foreign: () => {
        this.stats.dropped.foreignAddress++;
      },
    };
    transport.register(this.endpoint);
  }

  /** Open a session: resolves once RAKP 4 verified and the privilege level is set. */
  static async open(options: IpmiSessionOptions): Promise<IpmiSession> {
    const opts = resolveSessionOptions(options);
    if (opts.signal?.aborted) throw new IpmiError('IPMI_ERR_ABORTED', 'session open aborted');
    let address: string;
    let family: 4 | 6;
    if (isIP(opts.host)) {
      address = normalizeAddress(opts.host);
      family = isIP(address) === 6 ? 6 : 4;
    } else {
      try {
        const found = await lookup(opts.host);
        address = found.address;
        family = found.family === 6 ? 6 : 4;
      } catch (err) {
        throw new IpmiError('IPMI_ERR_UNREACHABLE', `cannot resolve BMC host name "${opts.host}"`, { cause: err, fatal: true });
      }
    }
    const wanted = family === 6 ? 'udp6' : 'udp4';
    let transport = opts.transport;
    if (transport && transport.type !== wanted) {
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `the shared transport is ${transport.type} but ${opts.host} is IPv${family}`);
    }
    const owns = !transport;
    transport ??= await UdpTransport.create({ type: wanted });
    const session = new IpmiSession(opts, address, transport, owns);
    const onAbort = () => session.finish(new IpmiError('IPMI_ERR_ABORTED', 'session open aborted', { fatal: true }));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await session.handshake();
    } catch (err) {
      session.finish(err instanceof IpmiError ? err : new IpmiError('IPMI_ERR_PROTOCOL', String(err), { cause: err }), false);
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return session;
  }

  get state(): SessionState {
    return this.stateValue;
  }
  get closed(): boolean {
    return this.stateValue === 'closed';
  }
  /** The negotiated cipher suite number. */
  get cipherSuite(): number {
    return this.suite?.id ?? -1;
  }
  /** The privilege level in force: 'callback' | 'user' | 'operator' | 'administrator'. */
  get privilege(): string {
    return privilegeName(this.privilegeLevel);
  }
  get port(): number {
    return this.opts.port;
  }
  get host(): string {
    return this.opts.host;
  }
  get integrity(): boolean {
    return this.crypto.integrity !== IntegrityAlgorithm.NONE;
  }
  get confidentiality(): boolean {
    return this.crypto.confidentiality !== ConfidentialityAlgorithm.NONE;
  }
  get bmcSessionId(): number {
    return this.bmcSid;
  }
  get consoleSessionId(): number {
    return this.endpoint.consoleSessionId;
  }

  // ---- handshake -------------------------------------------------------------------------------------------

  private async handshake(): Promise<void> {
    const o = this.opts;
    // Get Channel Authentication Capabilities (section 22.13), as an IPMI v1.5 packet with auth type none,
    // asking for the v2.0 extended data: every BMC answers this before a session, and it tells "unreachable"
    // apart from "refused".
    let capsRsp: IpmiResponse;
    try {
      capsRsp = await this.preSessionRequest('v1.5', Cmd.GET_CHANNEL_AUTH_CAPABILITIES, encodeGetChannelAuthCapabilities(o.privilege));
    } catch (err) {
      if (err instanceof IpmiError && err.code === 'IPMI_ERR_TIMEOUT') {
        throw new IpmiError(
          'IPMI_ERR_UNREACHABLE',
          `no answer from a BMC at ${o.host} port ${o.port} (UDP) after ${o.retries + 1} tries of ${o.timeoutMs} ms`,
          { fatal: true },
        );
      }
      throw err;
    }
    if (capsRsp.completionCode !== 0) {
      throw new IpmiError(
        'IPMI_ERR_PROTOCOL',
        `the BMC refused Get Channel Authentication Capabilities: ${completionCodeText(capsRsp.completionCode)}`,
        { completionCode: capsRsp.completionCode, fatal: true },
      );
    }
    const caps = decodeChannelAuthCapabilities(capsRsp.data);
    if (!caps.supportsIpmi20) {
      throw new IpmiError('IPMI_ERR_PROTOCOL', `the BMC at ${o.host} does not offer IPMI 2.0 (RMCP+) on this channel`, { fatal: true });
    }
    debug('%s: channel %d, v2.0, K_g %s', o.host, caps.channel, caps.kgSet ? 'set' : 'default');

    this.suite = o.cipherSuite === 'auto' ? await this.chooseCipherSuite() : cipherSuiteById(o.cipherSuite);
    if (!this.suite) throw new IpmiError('IPMI_ERR_CIPHER_SUITE', 'no cipher suite chosen', { fatal: true });

    for (let attempt = 0; ; attempt++) {
      try {
        await this.openAndAuthenticate(this.suite);
        break;
      } catch (err) {
        if (!(err instanceof StepTimeout)) throw err;
        if (attempt >= o.retries) {
          if (err.step === 'RAKP 1') {
            // Some BMCs (ipmi_sim among them) stay silent on RAKP 1 for a user they do not know.
            throw new IpmiError(
              'IPMI_ERR_AUTH',
              `the BMC at ${o.host} never answered RAKP 1: the user name is unknown or not allowed on this channel`,
              { fatal: true },
            );
          }
          throw new IpmiError('IPMI_ERR_TIMEOUT', `the BMC at ${o.host} stopped answering during the session handshake (${err.message})`, {
            fatal: true,
          });
        }
        // BMCs dislike a repeated RAKP 1/3: restart from Open Session with a new console session ID.
        this.stats.handshakeRestarts++;
        debug('%s: %s, restarting the handshake', o.host, err.message);
      }
    }

    this.stateValue = 'active';
    this.endpoint.preSession = false;
    let rsp: IpmiCommandResponse;
    try {
      rsp = await this.request({ netFn: NetFn.APP, cmd: Cmd.SET_SESSION_PRIVILEGE_LEVEL, data: encodeSetSessionPrivilege(o.privilege) });
    } catch (err) {
      if (err instanceof IpmiError && err.code === 'IPMI_ERR_TIMEOUT') {
        // RAKP 4 verified, yet the first authenticated/encrypted packet goes unanswered: the BMC drops what we
        // sign or encrypt. ipmi_sim 2.0.33 does this with suites 7 and 8 (ipmitool fails there the same way).
        throw new IpmiError(
          'IPMI_ERR_CIPHER_SUITE',
          `the BMC at ${o.host} completed the handshake with cipher suite ${this.suite.id} but ignores its packets ` +
            `(integrity or encryption mismatch in the BMC); try another cipher suite (-C)`,
          { fatal: true, cause: err },
        );
      }
      throw err;
    }
    if (rsp.completionCode !== 0) {
      const why =
        rsp.completionCode === 0x80
          ? 'the level is not available to this user'
          : rsp.completionCode === 0x81
            ? 'it exceeds the channel or user privilege limit'
            : completionCodeText(rsp.completionCode);
      throw new IpmiError('IPMI_ERR_PRIVILEGE', `the BMC refused privilege level ${privilegeName(o.privilege)}: ${why}`, {
        completionCode: rsp.completionCode,
        fatal: true,
      });
    }
    this.privilegeLevel = (rsp.data[0] ?? o.privilege) & 0x0f || o.privilege;
    debug('%s: session active, suite %d, privilege %s', o.host, this.suite.id, this.privilege);
    this.scheduleKeepalive();
  }

  /** Get Channel Cipher Suites (section 22.15): take the strongest suite the BMC offers; suite 3 if it won't say. */
  private async chooseCipherSuite(): Promise<CipherSuite> {
    const fallback = cipherSuiteById(3)!;
    const records: Buffer[] = [];
    // ipmi_sim answers this only as an IPMI v1.5 packet, other BMCs only as an RMCP+ pre-session packet: ask
    // the first way, once; on no answer, the second way, once; then fall back to suite 3.
    let format: 'v1.5' | 'v2.0' | undefined;
    for (const candidate of ['v1.5', 'v2.0'] as const) {
      try {
        const rsp = await this.preSessionRequest(candidate, Cmd.GET_CHANNEL_CIPHER_SUITES, encodeGetChannelCipherSuites(0), 0);
        format = candidate;
        if (rsp.completionCode === 0 && rsp.data.length >= 1) records.push(rsp.data.subarray(1));
        break;
      } catch (err) {
        if (!(err instanceof IpmiError) || err.code !== 'IPMI_ERR_TIMEOUT') throw err;
      }
    }
    try {
      for (let index = 1; format && records.length === index && records[index - 1]!.length === 16 && index < MAX_CIPHER_SUITE_LIST_CALLS; index++) {
        const rsp = await this.preSessionRequest(format, Cmd.GET_CHANNEL_CIPHER_SUITES, encodeGetChannelCipherSuites(index));
        if (rsp.completionCode !== 0 || rsp.data.length < 1) break;
        records.push(rsp.data.subarray(1));
      }
    } catch (err) {
      if (!(err instanceof IpmiError) || err.code !== 'IPMI_ERR_TIMEOUT') throw err;
    }
    if (!format) debug('%s: Get Channel Cipher Suites got no answer, trying suite 3', this.opts.host);
    const offered = parseCipherSuiteRecords(Buffer.concat(records))
      .map((r) => cipherSuiteByAlgorithms(r.auth, r.integrity[0] ?? -1, r.confidentiality[0] ?? -1))
      .filter((s): s is CipherSuite => s !== undefined);
    const offeredIds = new Set(offered.map((s) => s.id));
    const best = CIPHER_SUITE_PREFERENCE.find((id) => offeredIds.has(id));
    debug('%s: BMC offers suites [%s], choosing %s', this.opts.host, [...offeredIds].join(','), best ?? '3 (fallback)');
    return best === undefined ? fallback : cipherSuiteById(best)!;
  }

  private async openAndAuthenticate(suite: CipherSuite): Promise<void> {
    const o = this.opts;
    const oldId = this.endpoint.consoleSessionId;
    this.endpoint.consoleSessionId = this.transport.allocateSessionId();
    this.transport.rekey(this.endpoint, oldId);
    this.endpoint.preSession = true;
    const consoleSessionId = this.endpoint.consoleSessionId;
    const tag = randomBytes(1)[0]! & 0x3f;
    // Sessions handshaking with one BMC over a shared transport all see its session-ID-0 answers: ours carry
    // our console session ID (sections 13.18, 13.21, 13.23); an error answer too short to hold it, our tag.
    const isOurs = (msg: { tag: number; status: number; consoleSessionId: number }) =>
      msg.tag === tag && (msg.consoleSessionId === consoleSessionId || (msg.status !== 0 && msg.consoleSessionId === 0));

    // Open Session Request/Response (sections 13.17, 13.18).
    const open = await this.handshakeStep(
      'Open Session',
      encodeOpenSessionRequest({
        tag,
        maxPrivilege: o.privilege,
        consoleSessionId,
        auth: suite.auth,
        integrity: suite.integrity,
        confidentiality: suite.confidentiality,
      }),
      PayloadType.OPEN_SESSION_REQUEST,
      (m) => (m.kind === 'open-session' && isOurs(m.msg) ? m.msg : undefined),
    );
    if (open.status !== 0) throw this.openSessionError(open.status, suite);
    if (open.auth !== suite.auth || open.integrity !== suite.integrity || open.confidentiality !== suite.confidentiality) {
      throw new IpmiError('IPMI_ERR_CIPHER_SUITE', `the BMC answered cipher suite ${suite.id} with other algorithms`, { fatal: true });
    }
    this.bmcSid = open.bmcSessionId;

    // RAKP Message 1 / 2 (sections 13.20, 13.21).
    const role = o.privilege | (o.nameOnlyLookup ? 0x10 : 0);
    const consoleRandom = randomBytes(16);
    const rakp2 = await this.handshakeStep(
      'RAKP 1',
      encodeRakp1({ tag, bmcSessionId: open.bmcSessionId, consoleRandom, role, username: o.username }),
      PayloadType.RAKP1,
      (m) => (m.kind === 'rakp2' && isOurs(m.msg) ? m.msg : undefined),
    );
    if (rakp2.status !== 0) throw this.rakpError('RAKP 2', rakp2.status);
    const ctx: RakpContext = {
      auth: suite.auth,
      password: o.password,
      kg: o.kg,
      consoleSessionId,
      bmcSessionId: open.bmcSessionId,
      consoleRandom,
      bmcRandom: rakp2.bmcRandom,
      bmcGuid: rakp2.bmcGuid,
      role,
      username: o.username,
    };
    const expected = rakp2AuthCode(ctx);
    // Cut to the algorithm's length: Supermicro/Peppercon firmware sends one byte too many (FreeIPMI's
    // "supermicro20" workaround); a short code still fails.
    const got = rakp2.authCode.subarray(0, rakpHmacLength(suite.auth));
    if (got.length !== expected.length || (expected.length > 0 && !timingSafeEqual(got, expected))) {
      throw new IpmiError(
        'IPMI_ERR_AUTH',
        `authentication failed at ${o.host}: the BMC's RAKP 2 proof does not match this password (wrong password for user "${o.username.toString()}")`,
        { fatal: true },
      );
    }

    // RAKP Message 3 / 4 (sections 13.22, 13.23).
    const keys = deriveSessionKeys(ctx);
    const rakp4 = await this.handshakeStep(
      'RAKP 3',
      encodeRakp3({ tag, status: 0, bmcSessionId: open.bmcSessionId, authCode: rakp3AuthCode(ctx) }),
      PayloadType.RAKP3,
      (m) => (m.kind === 'rakp4' && isOurs(m.msg) ? m.msg : undefined),
    );
    if (rakp4.status !== 0) throw this.rakpError('RAKP 4', rakp4.status);
    const icv = rakp4Icv(ctx, keys.sik);
    // Likewise cut: some BMCs send a non-empty ICV on suite 0, where it is empty (FreeIPMI "integritycheckvalue").
    const gotIcv = rakp4.integrityCheckValue.subarray(0, icv.length);
    if (gotIcv.length !== icv.length || (icv.length > 0 && !timingSafeEqual(gotIcv, icv))) {
      throw new IpmiError(
        'IPMI_ERR_AUTH',
        `authentication failed at ${o.host}: the RAKP 4 integrity check does not match (wrong K_g / BMC key)`,
        { fatal: true },
      );
    }
    this.crypto = {
      integrity: suite.integrity,
      confidentiality: suite.confidentiality,
      k1: keys.k1,
      k2: keys.k2,
      password: o.password,
    };
  }

  private openSessionError(status: number, suite: CipherSuite): IpmiError {
    const text = rakpStatusText(status);
    if ([0x04, 0x05, 0x06, 0x07, 0x10, 0x11].includes(status)) {
      return new IpmiError('IPMI_ERR_CIPHER_SUITE', `the BMC at ${this.opts.host} does not support cipher suite ${suite.id} (${text})`, {
        fatal: true,
      });
    }
    if ([0x09, 0x0a, 0x0b].includes(status)) {
      return new IpmiError(
        'IPMI_ERR_PRIVILEGE',
        `the BMC at ${this.opts.host} refused privilege level ${privilegeName(this.opts.privilege)} (${text})`,
        { fatal: true },
      );
    }
    return new IpmiError('IPMI_ERR_PROTOCOL', `the BMC at ${this.opts.host} refused to open a session (${text})`, { fatal: true });
  }

  private rakpError(step: string, status: number): IpmiError {
    const text = rakpStatusText(status);
    const user = this.opts.username.toString();
    if (status === 0x0d || status === 0x0c) {
      return new IpmiError('IPMI_ERR_AUTH', `authentication failed at ${this.opts.host}: user "${user}" is unknown to the BMC (${text})`, {
        fatal: true,
      });
    }
    if (status === 0x0f || status === 0x0e) {
      return new IpmiError('IPMI_ERR_AUTH', `authentication failed at ${this.opts.host}: wrong password or K_g for user "${user}" (${text})`, {
        fatal: true,
      });
    }
    if (status === 0x09 || status === 0x0a || status === 0x0b) {
      return new IpmiError(
        'IPMI_ERR_PRIVILEGE',
        `the BMC refused privilege level ${privilegeName(this.opts.privilege)} for user "${user}" (${text})`,
        { fatal: true },
      );
    }
    return new IpmiError('IPMI_ERR_AUTH', `the BMC rejected the session at ${step} (${text})`, { fatal: true });
  }

  /** One handshake message, one try: on no answer the caller restarts from Open Session. */
  private handshakeStep<T>(step: string, payload: Buffer, payloadType: number, match: (m: Inbound) => T | undefined): Promise<T> {
    const datagram = encodeV20({ payloadType, sessionId: 0, sequence: 0, payload });
    return this.await<T>(match, this.opts.timeoutMs, () => this.sendRaw(datagram, this.opts.port)).catch((err) => {
      if (err === TIMED_OUT) throw new StepTimeout(step);
      throw err;
    });
  }

  /** An IPMI request before the session exists (session ID 0), retried. */
  private async preSessionRequest(format: 'v1.5' | 'v2.0', cmd: number, data: Buffer, retries = this.opts.retries): Promise<IpmiResponse> {
    const rqSeq = this.nextRqSeq();
    const msg = encodeRequest({ netFn: NetFn.APP, cmd, rqSeq, data });
    const datagram = format === 'v1.5' ? encodeV15({ payload: msg }) : encodeV20({ payloadType: PayloadType.IPMI, sessionId: 0, sequence: 0, payload: msg });
    const match = (m: Inbound) => (m.kind === 'ipmi' && m.rsp.rqSeq === rqSeq && m.rsp.cmd === cmd && m.rsp.netFn === (NetFn.APP | 1) ? m.rsp : undefined);
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) this.stats.retransmits++;
      try {
        return await this.await(match, this.opts.timeoutMs, () => this.sendRaw(datagram, this.opts.port));
      } catch (err) {
        if (err !== TIMED_OUT) throw err;
      }
    }
    this.stats.timeouts++;
    throw new IpmiError('IPMI_ERR_TIMEOUT', `no answer from ${this.opts.host} to command 0x${cmd.toString(16)}`);
  }

  // ---- requests --------------------------------------------------------------------------------------------

  /**
   * Send an IPMI command in the session and resolve with its completion code and data. Requests run one at a
   * time (as ipmitool and FreeIPMI do); each try waits timeoutMs, retried `retries` times with the same rqSeq
   * and a new session sequence number. When every try goes unanswered the BMC is taken as lost: the request
   * rejects with IPMI_ERR_TIMEOUT and the session closes with that reason.
   */
  request(command: IpmiCommand, options: RequestOptions = {}): Promise<IpmiCommandResponse> {
    const run = () => this.runRequest(command, options);
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async runRequest(command: IpmiCommand, options: RequestOptions): Promise<IpmiCommandResponse> {
    if (this.stateValue === 'closed' || (this.stateValue === 'handshake' && this.endpoint.preSession)) {
      throw new IpmiError('IPMI_ERR_SESSION_CLOSED', 'the IPMI session is closed');
    }
    const timeoutMs = options.timeoutMs ?? this.opts.timeoutMs;
    const retries = options.retries ?? this.opts.retries;
    const rqSeq = this.nextRqSeq();
    const msg = encodeRequest({ netFn: command.netFn, cmd: command.cmd, rqSeq, data: command.data ?? Buffer.alloc(0) });
    const match = (m: Inbound) =>
      m.kind === 'ipmi' && m.rsp.rqSeq === rqSeq && m.rsp.cmd === command.cmd && m.rsp.netFn === (command.netFn | 1) ? m.rsp : undefined;
    this.stats.requests++;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) this.stats.retransmits++;
      this.lastRequestAt = Date.now();
      try {
        const rsp = await this.await(match, timeoutMs, () => this.sendInSession(PayloadType.IPMI, msg, this.opts.port, true, true));
        return { completionCode: rsp.completionCode, data: rsp.data };
      } catch (err) {
        if (err !== TIMED_OUT) throw err;
      }
    }
    this.stats.timeouts++;
    const err = new IpmiError(
      'IPMI_ERR_TIMEOUT',
      `the BMC at ${this.opts.host} stopped answering (no reply to command 0x${command.cmd.toString(16)} after ${retries + 1} tries of ${timeoutMs} ms)`,
      { fatal: true },
    );
    if (this.stateValue === 'active') this.finish(err);
    throw err;
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

  /** Activate the SOL payload (section 24.1) on this session: a Duplex to and from the host's serial port. */
  activateSol(options: ActivateSolOptions = {}): Promise<SolStream> {
    return activateSol(this, options);
  }

  /** Deactivate SOL instance `instance` (section 24.2); resolves true if it was active, false if it already was not. */
  deactivateSol(instance = 1): Promise<boolean> {
    return deactivateSol(this, instance);
  }

  private nextRqSeq(): number {
    this.rqSeq = this.rqSeq >= RQ_SEQ_MAX ? 1 : this.rqSeq + 1;
    return this.rqSeq;
  }

  /**
   * Wait for an inbound message `match` accepts, after calling `send`; rejects with TIMED_OUT after timeoutMs,
   * or with the session's reason when it closes.
   */
  private await<T>(match: (m: Inbound) => T | undefined, timeoutMs: number, send: () => void): Promise<T> {
    if (this.stateValue === 'closed') return Promise.reject(new IpmiError('IPMI_ERR_SESSION_CLOSED', 'the IPMI session is closed'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiter === waiter) this.waiter = undefined;
        reject(TIMED_OUT);
      }, timeoutMs);
      const waiter: Waiter = {
        offer: (m) => {
          const value = match(m);
          if (value === undefined) return false;
          clearTimeout(timer);
          this.waiter = undefined;
          resolve(value);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          this.waiter = undefined;
          reject(err);
        },
      };
      this.waiter = waiter;
      send();
    });
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  private sendRaw(datagram: Buffer, port: number): void {
    this.stats.sent++;
    this.transport.send(datagram, port, this.address);
  }

  /** Session sequence numbers increment on every packet, retransmissions too, and skip 0 (section 13.6). */
  private nextOutboundSequence(): number {
    this.outboundSequence = (this.outboundSequence + 1) >>> 0;
    if (this.outboundSequence === 0) this.outboundSequence = 1;
    return this.outboundSequence;
  }

  private sendInSession(payloadType: number, payload: Buffer, port: number, encrypt: boolean, authenticate: boolean): void {
    const datagram = encodeV20({
      payloadType,
      sessionId: this.bmcSid,
      sequence: this.nextOutboundSequence(),
      payload,
      encrypt: encrypt && this.confidentiality,
      authenticate: authenticate && this.integrity,
      crypto: this.crypto,
      iv: this.confidentiality && encrypt ? pooledRandomBytes(16) : undefined,
    });
    this.sendRaw(datagram, port);
  }

  // ---- SolHost ---------------------------------------------------------------------------------------------

  sendSolPayload(payload: Buffer, options: { encrypt: boolean; authenticate: boolean; port: number }): void {
    if (this.stateValue !== 'active') return;
    if (options.port !== this.opts.port) this.endpoint.ports.add(options.port);
    this.stats.solSent++;
    this.sendInSession(PayloadType.SOL, payload, options.port, options.encrypt, options.authenticate);
  }

  onSolPayload(handler: (payload: Buffer, sessionSequence: number) => void): () => void {
    this.solHandlers.add(handler);
    return () => this.solHandlers.delete(handler);
  }

  onClose(handler: (reason: IpmiError | undefined) => void): () => void {
    if (this.stateValue === 'closed') {
      queueMicrotask(() => handler(this.closeReason));
      return () => undefined;
    }
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  // ---- receiving -------------------------------------------------------------------------------------------

  private onDatagram(datagram: Buffer, envelope: RmcpEnvelope, _fromPort: number): void {
    if (this.stateValue === 'closed') return;
    try {
      if (envelope.format === 'asf') {
        this.stats.dropped.unexpected++;
        return;
      }
      if (envelope.format === 'v1.5') {
        const packet = decodeV15(datagram);
        this.stats.received++;
        this.offer({ kind: 'ipmi', rsp: decodeResponse(packet.payload) });
        return;
      }
      if (envelope.sessionId === 0) {
        this.onPreSessionPacket(decodeV20(datagram));
        return;
      }
      const packet = decodeV20(datagram, this.crypto, true);
      if (!this.acceptSequence(packet.sequence)) return;
      this.stats.received++;
      if (packet.payloadType === PayloadType.IPMI) {
        this.offer({ kind: 'ipmi', rsp: decodeResponse(packet.payload) });
      } else if (packet.payloadType === PayloadType.SOL) {
        this.stats.solReceived++;
        for (const handler of this.solHandlers) handler(packet.payload, packet.sequence);
      } else {
        this.stats.dropped.unexpected++;
      }
    } catch (err) {
      if (err instanceof PacketRejected) this.stats.dropped[err.reason]++;
      else this.stats.dropped.malformed++;
      debug('%s: dropped a datagram: %s', this.opts.host, (err as Error).message);
    }
  }

  private onPreSessionPacket(packet: V20Packet): void {
    this.stats.received++;
    switch (packet.payloadType) {
      case PayloadType.IPMI:
        return this.offer({ kind: 'ipmi', rsp: decodeResponse(packet.payload) });
      case PayloadType.OPEN_SESSION_RESPONSE:
        return this.offer({ kind: 'open-session', msg: decodeOpenSessionResponse(packet.payload) });
      case PayloadType.RAKP2:
        return this.offer({ kind: 'rakp2', msg: decodeRakp2(packet.payload) });
      case PayloadType.RAKP4:
        return this.offer({ kind: 'rakp4', msg: decodeRakp4(packet.payload) });
      default:
        this.stats.dropped.unexpected++;
    }
  }

  private offer(inbound: Inbound): void {
    if (!this.waiter || !this.waiter.offer(inbound)) this.stats.dropped.unexpected++;
  }

  /**
   * Inbound session sequence numbers (section 13.6, and FreeIPMI's practice): the first authenticated packet
   * sets the window; a packet up to INBOUND_WINDOW_AHEAD ahead moves it; one up to INBOUND_WINDOW_BEHIND behind
   * is accepted once; a repeat is a replay; anything else is out of window.
   */
  private acceptSequence(seq: number): boolean {
    if (seq === 0 && this.integrity) {
      this.stats.dropped.outOfWindow++;
      return false;
    }
    if (this.inboundHighest === 0 && this.inboundSeen === 0) {
      this.inboundHighest = seq;
      this.inboundSeen = 1;
      return true;
    }
    const ahead = (seq - this.inboundHighest) >>> 0;
    if (ahead !== 0 && ahead <= INBOUND_WINDOW_AHEAD) {
      this.inboundSeen = ahead >= 32 ? 1 : ((this.inboundSeen << ahead) | 1) >>> 0;
      this.inboundHighest = seq;
      return true;
    }
    const behind = (this.inboundHighest - seq) >>> 0;
    if (behind <= INBOUND_WINDOW_BEHIND) {
      const bit = 1 << behind;
      if (this.inboundSeen & bit) {
        this.stats.dropped.replay++;
        return false;
      }
      this.inboundSeen = (this.inboundSeen | bit) >>> 0;
      return true;
    }
    this.stats.dropped.outOfWindow++;
    return false;
  }

  // ---- keepalive and close ---------------------------------------------------------------------------------

  private scheduleKeepalive(): void {
    const every = this.opts.keepaliveMs;
    if (every <= 0 || this.stateValue !== 'active') return;
    this.lastRequestAt = Date.now();
    const tick = () => {
      if (this.stateValue !== 'active') return;
      const idle = Date.now() - this.lastRequestAt;
      if (idle >= every) {
        // Get Device ID as keepalive (what ipmitool and FreeIPMI send); a lost BMC closes the session.
        this.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }).catch(() => undefined);
        this.keepaliveTimer = setTimeout(tick, every);
      } else {
        this.keepaliveTimer = setTimeout(tick, every - idle);
      }
    };
    this.keepaliveTimer = setTimeout(tick, every);
  }

  private closeReason: IpmiError | undefined;

  /** Close Session (section 22.19), one short try, then release the socket. Idempotent. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.stateValue === 'closed') return Promise.resolve();
    this.closePromise = (async () => {
      const wasActive = this.stateValue === 'active';
      this.stateValue = 'closing';
      clearTimeout(this.keepaliveTimer);
      if (wasActive) {
        try {
          await this.runRequest(
            { netFn: NetFn.APP, cmd: Cmd.CLOSE_SESSION, data: encodeCloseSession(this.bmcSid) },
            { retries: 0, timeoutMs: Math.min(this.opts.timeoutMs, 1000) },
          );
        } catch {
          // The BMC may already be gone; the session is closed on our side whatever it says.
        }
      }
      this.finish(undefined);
    })();
    return this.closePromise;
  }

  private finish(reason: IpmiError | undefined, emit = true): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.closeReason = reason;
    clearTimeout(this.keepaliveTimer);
    this.waiter?.fail(reason ?? new IpmiError('IPMI_ERR_SESSION_CLOSED', 'the IPMI session was closed'));
    this.transport.unregister(this.endpoint);
    if (this.ownsTransport) void this.transport.close();
    debug('%s: session closed%s', this.opts.host, reason ? `: ${reason.code}` : '');
    for (const handler of this.closeHandlers) handler(reason);
    this.closeHandlers.clear();
    this.solHandlers.clear();
    if (emit) this.emit('close', reason);
  }
}

const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * The RMCP+ session handshake (IPMI 2.0 sections 13.14 to 13.23, 22.13, 22.15, 22.18) as a table of steps driven
 * by decoded messages: each step says what it sends, what answers it, and where an answer or silence leads.
 *
 *   caps        Get Channel Authentication Capabilities, IPMI v1.5 packet, auth type none (section 22.13)
 *   suites*     Get Channel Cipher Suites (section 22.15), only for cipherSuite 'auto'
 *   open        Open Session Request / Response (sections 13.17, 13.18)
 *   rakp1       RAKP 1 / RAKP 2 (sections 13.20, 13.21)
 *   rakp3       RAKP 3 / RAKP 4 (sections 13.22, 13.23)
 *   privilege   Set Session Privilege Level, the first packet inside the session (section 22.18)
 *
 * Silence during open/rakp1/rakp3 restarts from Open Session with a new console session ID (BMCs dislike a
 * repeated RAKP 1/3), at most `retries` times. Owns no socket and no timer: the host (the session state machine)
 * runs each exchange on its one request tracker.
 */
import { timingSafeEqual } from 'node:crypto';
import createDebug from 'debug';
import type { IpmiError } from '../errors.js';
import { encodeV15, encodeV20, PayloadType, type SessionCrypto } from '../codec/rmcp.js';
import { encodeRequest, NetFn, type IpmiResponse } from '../codec/ipmi-message.js';
import { encodeOpenSessionRequest, encodeRakp1, encodeRakp3, type OpenSessionResponse, type Rakp2, type Rakp4 } from '../codec/rakp.js';
import {
  Cmd,
  decodeChannelAuthCapabilities,
  encodeGetChannelAuthCapabilities,
  encodeGetChannelCipherSuites,
  encodeSetSessionPrivilege,
  parseCipherSuiteRecords,
} from '../codec/commands.js';
import { CIPHER_SUITE_PREFERENCE, cipherSuiteByAlgorithms, cipherSuiteById, rakpHmacLength, type CipherSuite } from '../crypto/cipher-suites.js';
import { deriveSessionKeys, rakp2AuthCode, rakp3AuthCode, rakp4Icv, type RakpContext } from '../crypto/keys.js';
import type { Exchange } from './request-tracker.js';
import { ipmiAnswer, type Inbound } from './inbound.js';
import * as errors from './handshake-errors.js';
import type { SessionConfig } from './options.js';

const debug = createDebug('ipmi:session');

/** Get Channel Cipher Suites returns 16 bytes a call (section 22.15); a list longer than 64 calls is bogus. */
export const MAX_CIPHER_SUITE_LIST_CALLS = 64;
/** The suite taken when the BMC will not list its suites (what ipmitool uses by default). */
export const FALLBACK_CIPHER_SUITE = 3;

/** What the handshake needs of the session it runs in. */
export interface HandshakeHost {
  readonly config: SessionConfig;
  random(n: number): Buffer;
  /** Run one exchange on the session's request tracker (timeout: the session's per-try wait). */
  exchange<T>(exchange: Omit<Exchange<Inbound, T>, 'timeoutMs'>): void;
  /** Send a datagram to the BMC's session port. */
  sendRaw(datagram: Buffer): void;
  /** Send an IPMI message inside the (secured) session. */
  sendInSession(payload: Buffer): void;
  nextRqSeq(): number;
  /** A fresh console session ID for a new attempt (the driver registers it with the transport). */
  newConsoleSessionId(): number;
  /** RAKP 4 verified: packets from now on carry the session ID and keys. */
  secured(bmcSessionId: number, crypto: SessionCrypto): void;
  /** Every restart of the handshake from Open Session. */
  restarted(): void;
  opened(suite: CipherSuite, privilegeLevel: number): void;
  failed(err: IpmiError): void;
}

type Next = StepName | IpmiError | 'done';
type StepName = 'caps' | 'suitesV15' | 'suitesV20' | 'suitesPage' | 'open' | 'rakp1' | 'rakp3' | 'privilege';

interface Step<T> {
  /** What goes on the wire, how many retries, and what answers it. */
  request(h: Handshake): Pick<Exchange<Inbound, T>, 'transmit' | 'match' | 'retries'>;
  answer(h: Handshake, answer: T): Next;
  silence(h: Handshake): Next;
}

const step = <T>(s: Step<T>): Step<unknown> => s as Step<unknown>;

/** The steps, in the order a handshake runs them. */
const STEPS: Record<StepName, Step<unknown>> = {
  caps: step<IpmiResponse>({
    request: (h) => h.preSessionRequest('v1.5', Cmd.GET_CHANNEL_AUTH_CAPABILITIES, encodeGetChannelAuthCapabilities(h.config.privilege), h.config.retries),
    answer: (h, rsp) => h.onCapabilities(rsp),
    silence: (h) => errors.unreachable(h.config),
  }),
  // ipmi_sim answers Get Channel Cipher Suites only as an IPMI v1.5 packet, other BMCs only as an RMCP+
  // pre-session packet: ask the first way, once; on no answer, the second way, once; then fall back to suite 3.
  suitesV15: step<IpmiResponse>({
    request: (h) => h.preSessionRequest('v1.5', Cmd.GET_CHANNEL_CIPHER_SUITES, encodeGetChannelCipherSuites(0), 0),
    answer: (h, rsp) => h.onSuitesRecord('v1.5', rsp),
    silence: () => 'suitesV20',
  }),
  suitesV20: step<IpmiResponse>({
    request: (h) => h.preSessionRequest('v2.0', Cmd.GET_CHANNEL_CIPHER_SUITES, encodeGetChannelCipherSuites(0), 0),
    answer: (h, rsp) => h.onSuitesRecord('v2.0', rsp),
    silence: (h) => h.chooseSuite(),
  }),
  suitesPage: step<IpmiResponse>({
    request: (h) => h.preSessionRequest(h.suitesFormat, Cmd.GET_CHANNEL_CIPHER_SUITES, encodeGetChannelCipherSuites(h.records.length), h.config.retries),
    answer: (h, rsp) => h.onSuitesRecord(h.suitesFormat, rsp),
    silence: (h) => h.chooseSuite(),
  }),
  open: step<OpenSessionResponse>({
    request: (h) => h.openSessionRequest(),
    answer: (h, open) => h.onOpenSession(open),
    silence: (h) => h.attemptSilent('Open Session'),
  }),
  rakp1: step<Rakp2>({
    request: (h) => h.rakp1Request(),
    answer: (h, rakp2) => h.onRakp2(rakp2),
    silence: (h) => h.attemptSilent('RAKP 1'),
  }),
  rakp3: step<Rakp4>({
    request: (h) => h.rakp3Request(),
    answer: (h, rakp4) => h.onRakp4(rakp4),
    silence: (h) => h.attemptSilent('RAKP 3'),
  }),
  privilege: step<IpmiResponse>({
    request: (h) => h.inSessionRequest(Cmd.SET_SESSION_PRIVILEGE_LEVEL, encodeSetSessionPrivilege(h.config.privilege)),
    answer: (h, rsp) => h.onPrivilege(rsp),
    silence: (h) => errors.suiteIgnored(h.config, h.suite!),
  }),
};

/** One attempt: Open Session, RAKP 1, RAKP 3 with one console session ID and tag. */
interface Attempt {
  consoleSessionId: number;
  tag: number;
  open?: OpenSessionResponse;
  consoleRandom?: Buffer;
  ctx?: RakpContext;
}

export class Handshake {
  suite: CipherSuite | undefined;
  suitesFormat: 'v1.5' | 'v2.0' = 'v1.5';
  readonly records: Buffer[] = [];
  #attempt: Attempt = { consoleSessionId: 0, tag: 0 };
  #attempts = 0;
  /** Attempts that ended in silence after Open Session was answered, RAKP 1 never answered. */
  #rakp1Silences = 0;
  #done = false;

  constructor(private readonly host: HandshakeHost) {}

  get config(): SessionConfig {
    return this.host.config;
  }

  start(): void {
    this.#go('caps');
  }

  #go(name: StepName): void {
    const s = STEPS[name];
    this.host.exchange({
      ...s.request(this),
      onAnswer: (answer) => this.#next(guarded(() => s.answer(this, answer))),
      onSilence: () => this.#next(s.silence(this)),
    });
  }

  #next(next: Next): void {
    if (this.#done) return;
    if (next === 'done') {
      this.#done = true;
      return;
    }
    if (typeof next === 'string') return this.#go(next);
    this.#done = true;
    this.host.failed(next);
  }

  // ---- requests --------------------------------------------------------------------------------------------

  /** An IPMI request before the session exists (session ID 0), as an IPMI v1.5 or an RMCP+ packet. */
  preSessionRequest(format: 'v1.5' | 'v2.0', cmd: number, data: Buffer, retries: number): Pick<Exchange<Inbound, IpmiResponse>, 'transmit' | 'match' | 'retries'> {
    const rqSeq = this.host.nextRqSeq();
    const msg = encodeRequest({ netFn: NetFn.APP, cmd, rqSeq, data });
    const datagram = format === 'v1.5' ? encodeV15({ payload: msg }) : encodeV20({ payloadType: PayloadType.IPMI, sessionId: 0, sequence: 0, payload: msg });
    return { transmit: () => this.host.sendRaw(datagram), match: (m) => ipmiAnswer(m, NetFn.APP, cmd, rqSeq), retries };
  }

  inSessionRequest(cmd: number, data: Buffer): Pick<Exchange<Inbound, IpmiResponse>, 'transmit' | 'match' | 'retries'> {
    const rqSeq = this.host.nextRqSeq();
    const msg = encodeRequest({ netFn: NetFn.APP, cmd, rqSeq, data });
    return { transmit: () => this.host.sendInSession(msg), match: (m) => ipmiAnswer(m, NetFn.APP, cmd, rqSeq), retries: this.config.retries };
  }

  /** A session-setup message, one try: on silence the attempt restarts from Open Session. */
  #setup<T>(payloadType: number, payload: Buffer, match: (m: Inbound) => T | undefined): Pick<Exchange<Inbound, T>, 'transmit' | 'match' | 'retries'> {
    const datagram = encodeV20({ payloadType, sessionId: 0, sequence: 0, payload });
    return { transmit: () => this.host.sendRaw(datagram), match, retries: 0 };
  }

  /**
   * Sessions handshaking with one BMC over a shared transport all see its session-ID-0 answers: ours carry our
   * console session ID (sections 13.18, 13.21, 13.23); an error answer too short to hold it, our tag.
   */
  #isOurs(msg: { tag: number; status: number; consoleSessionId: number }): boolean {
    const a = this.#attempt;
    return msg.tag === a.tag && (msg.consoleSessionId === a.consoleSessionId || (msg.status !== 0 && msg.consoleSessionId === 0));
  }

  openSessionRequest(): Pick<Exchange<Inbound, OpenSessionResponse>, 'transmit' | 'match' | 'retries'> {
    const suite = this.suite!;
    this.#attempts++;
    this.#attempt = { consoleSessionId: this.host.newConsoleSessionId(), tag: this.host.random(1)[0]! & 0x3f };
    const { consoleSessionId, tag } = this.#attempt;
    const payload = encodeOpenSessionRequest({
      tag,
      maxPrivilege: this.config.privilege,
      consoleSessionId,
      auth: suite.auth,
      integrity: suite.integrity,
      confidentiality: suite.confidentiality,
    });
    return this.#setup(PayloadType.OPEN_SESSION_REQUEST, payload, (m) => (m.kind === 'open-session' && this.#isOurs(m.msg) ? m.msg : undefined));
  }

  #role(): number {
    return this.config.privilege | (this.config.nameOnlyLookup ? 0x10 : 0);
  }

  rakp1Request(): Pick<Exchange<Inbound, Rakp2>, 'transmit' | 'match' | 'retries'> {
    const a = this.#attempt;
    a.consoleRandom = this.host.random(16);
    const payload = encodeRakp1({ tag: a.tag, bmcSessionId: a.open!.bmcSessionId, consoleRandom: a.consoleRandom, role: this.#role(), username: this.config.username });
    return this.#setup(PayloadType.RAKP1, payload, (m) => (m.kind === 'rakp2' && this.#isOurs(m.msg) ? m.msg : undefined));
  }

  rakp3Request(): Pick<Exchange<Inbound, Rakp4>, 'transmit' | 'match' | 'retries'> {
    const a = this.#attempt;
    const payload = encodeRakp3({ tag: a.tag, status: 0, bmcSessionId: a.open!.bmcSessionId, authCode: rakp3AuthCode(a.ctx!) });
    return this.#setup(PayloadType.RAKP3, payload, (m) => (m.kind === 'rakp4' && this.#isOurs(m.msg) ? m.msg : undefined));
  }

  // ---- answers ---------------------------------------------------------------------------------------------

  onCapabilities(rsp: IpmiResponse): Next {
    if (rsp.completionCode !== 0) return errors.capsRefused(rsp.completionCode);
    const caps = decodeChannelAuthCapabilities(rsp.data);
    if (!caps.supportsIpmi20) {
      return errors.protocol(`the BMC at ${this.config.host} does not offer IPMI 2.0 (RMCP+) on this channel`);
    }
    debug('%s: channel %d, v2.0, K_g %s', this.config.host, caps.channel, caps.kgSet ? 'set' : 'default');
    if (this.config.cipherSuite !== 'auto') {
      this.suite = cipherSuiteById(this.config.cipherSuite);
      return this.suite ? 'open' : errors.noSuite();
    }
    return 'suitesV15';
  }

  onSuitesRecord(format: 'v1.5' | 'v2.0', rsp: IpmiResponse): Next {
    this.suitesFormat = format;
    if (rsp.completionCode !== 0 || rsp.data.length < 1) return this.chooseSuite();
    this.records.push(rsp.data.subarray(1));
    const full = rsp.data.length - 1 === 16;
    return full && this.records.length < MAX_CIPHER_SUITE_LIST_CALLS ? 'suitesPage' : this.chooseSuite();
  }

  /** Take the strongest suite the BMC offers; suite 3 if it won't say. */
  chooseSuite(): Next {
    if (this.records.length === 0) debug('%s: Get Channel Cipher Suites got no answer, trying suite 3', this.config.host);
    const offered = parseCipherSuiteRecords(Buffer.concat(this.records))
      .map((r) => cipherSuiteByAlgorithms(r.auth, r.integrity[0] ?? -1, r.confidentiality[0] ?? -1))
      .filter((s): s is CipherSuite => s !== undefined);
    const offeredIds = new Set(offered.map((s) => s.id));
    const best = CIPHER_SUITE_PREFERENCE.find((id) => offeredIds.has(id));
    debug('%s: BMC offers suites [%s], choosing %s', this.config.host, [...offeredIds].join(','), best ?? '3 (fallback)');
    this.suite = cipherSuiteById(best ?? FALLBACK_CIPHER_SUITE)!;
    return 'open';
  }

  onOpenSession(open: OpenSessionResponse): Next {
    const suite = this.suite!;
    if (open.status !== 0) return errors.openSessionError(this.config, open.status, suite);
    if (open.auth !== suite.auth || open.integrity !== suite.integrity || open.confidentiality !== suite.confidentiality) {
      return errors.algorithmsMismatch(suite);
    }
    this.#attempt.open = open;
    return 'rakp1';
  }

  onRakp2(rakp2: Rakp2): Next {
    if (rakp2.status !== 0) return errors.rakpError(this.config, 'RAKP 2', rakp2.status);
    const a = this.#attempt;
    const o = this.config;
    a.ctx = {
      auth: this.suite!.auth,
      password: o.password,
      kg: o.kg,
      consoleSessionId: a.consoleSessionId,
      bmcSessionId: a.open!.bmcSessionId,
      consoleRandom: a.consoleRandom!,
      bmcRandom: rakp2.bmcRandom,
      bmcGuid: rakp2.bmcGuid,
      role: this.#role(),
      username: o.username,
    };
    // Cut to the algorithm's length: Supermicro/Peppercon firmware sends one byte too many (FreeIPMI's
    // "supermicro20" workaround); a short code still fails.
    const got = rakp2.authCode.subarray(0, rakpHmacLength(this.suite!.auth));
    return codesEqual(got, rakp2AuthCode(a.ctx)) ? 'rakp3' : errors.rakp2Mismatch(o);
  }

  onRakp4(rakp4: Rakp4): Next {
    if (rakp4.status === RAKP_STATUS_INVALID_INTEGRITY_CHECK_VALUE) return this.#rakp3Refused();
    if (rakp4.status !== 0) return errors.rakpError(this.config, 'RAKP 4', rakp4.status);
    const a = this.#attempt;
    const keys = deriveSessionKeys(a.ctx!);
    const icv = rakp4Icv(a.ctx!, keys.sik);
    // Likewise cut: some BMCs send a non-empty ICV on suite 0, where it is empty (FreeIPMI "integritycheckvalue").
    if (!codesEqual(rakp4.integrityCheckValue.subarray(0, icv.length), icv)) return errors.rakp4Mismatch(this.config);
    const suite = this.suite!;
    this.host.secured(a.open!.bmcSessionId, {
      integrity: suite.integrity,
      confidentiality: suite.confidentiality,
      k1: keys.k1,
      k2: keys.k2,
      password: this.config.password,
    });
    return 'privilege';
  }

  onPrivilege(rsp: IpmiResponse): Next {
    if (rsp.completionCode !== 0) return errors.privilegeRefused(this.config, rsp.completionCode);
    const level = (rsp.data[0] ?? this.config.privilege) & 0x0f || this.config.privilege;
    this.#done = true;
    this.host.opened(this.suite!, level);
    return 'done';
  }

  /**
   * RAKP 4 said our RAKP 3 code is wrong, yet RAKP 2 (keyed by the same password, section 13.31) proved the
   * password: the BMC kept another random than ours (see errors.rakp3Desync). Restart from Open Session, counted
   * like a silence; with no restart left the error is inferred, so a bridge retries it with backoff.
   */
  #rakp3Refused(): Next {
    if (this.#attempts <= this.config.retries) {
      this.host.restarted();
      debug('%s: RAKP 3 refused after a good RAKP 2, restarting the handshake', this.config.host);
      return 'open';
    }
    return errors.rakp3Desync(this.config, this.#attempts);
  }

  /**
   * A step of attempt n got no answer: restart from Open Session, or, with no restart left, say why. RAKP 1
   * unanswered in EVERY attempt (each having had its Open Session answered) suggests an unknown user (inferred);
   * anything else is a BMC that stopped answering.
   */
  attemptSilent(stepName: string): Next {
    if (stepName === 'RAKP 1') this.#rakp1Silences++;
    if (this.#attempts <= this.config.retries) {
      this.host.restarted();
      debug('%s: no answer to %s, restarting the handshake', this.config.host, stepName);
      return 'open';
    }
    if (this.#rakp1Silences === this.#attempts) return errors.rakp1NeverAnswered(this.config, this.#attempts);
    return errors.handshakeStalled(this.config, stepName);
  }
}

/** RAKP 4 status 0x0F (section 13.23, table 13-15): invalid integrity check value, i.e. our RAKP 3 code. */
const RAKP_STATUS_INVALID_INTEGRITY_CHECK_VALUE = 0x0f;

/** An answer that cannot be used (too short to decode, ...) ends the handshake with a coded error, never a throw. */
function guarded(answer: () => Next): Next {
  try {
    return answer();
  } catch (err) {
    return errors.protocol(`the BMC answered the session handshake with a message that cannot be used: ${(err as Error).message}`);
  }
}

function codesEqual(got: Buffer, expected: Buffer): boolean {
  return got.length === expected.length && (expected.length === 0 || timingSafeEqual(got, expected));
}

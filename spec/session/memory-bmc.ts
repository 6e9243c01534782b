/**
 * An in-memory BMC for the session state machine specs: no socket, no timer. `handle(datagram)` returns the
 * datagrams the BMC answers with. Built from the pure parts of the fake BMC (fixtures/fake-bmc: options,
 * command answers, BmcSession with its sequence window) and the library's codecs; the fake BMC over UDP (and
 * ipmitool against it) is what proves this behaviour against a peer nobody here wrote.
 *
 * Unlike the UDP fake BMC it answers a repeated Open Session or RAKP 1 (a duplicated datagram) with the same
 * answer, as a BMC that keys its state on the console's message should: the specs duplicate datagrams.
 */
import { timingSafeEqual } from 'node:crypto';
import { decodeV15, decodeV20, encodeV15, encodeV20, PayloadType, peekEnvelope } from '../../lib/codec/rmcp.js';
import { decodeRequest, NetFn, type IpmiRequest } from '../../lib/codec/ipmi-message.js';
import {
  decodeOpenSessionRequest,
  decodeRakp1,
  decodeRakp3,
  encodeOpenSessionResponse,
  encodeRakp2,
  encodeRakp4,
  type OpenSessionResponse,
} from '../../lib/codec/rakp.js';
import { Cmd } from '../../lib/codec/commands.js';
import { cipherSuiteByAlgorithms } from '../../lib/crypto/cipher-suites.js';
import { deriveSessionKeys, rakp2AuthCode, rakp3AuthCode, rakp4Icv, type RakpContext } from '../../lib/crypto/keys.js';
import { resolveOptions, type FakeBmcOptions, type ResolvedOptions } from '../../fixtures/fake-bmc/options.js';
import { encodeCommandResponse, getChannelAuthCapabilities, getChannelCipherSuites, getDeviceId, type CommandResult } from '../../fixtures/fake-bmc/commands.js';
import { bmcRakpContext, BmcSession } from '../../fixtures/fake-bmc/session.js';

export interface MemoryBmcOptions extends FakeBmcOptions {
  /** Stay silent on RAKP 1 for an unknown user (ipmi_sim does) instead of answering status 0x0D. */
  silentOnUnknownUser?: boolean;
  /** Bytes for session IDs and randoms (default: a counter-based stream, deterministic). */
  random?: (n: number) => Buffer;
  /**
   * Answer a repeated RAKP 1 (a duplicated datagram) with a new BMC random, as the fake BMC does, instead of
   * repeating the first RAKP 2. The console then may hold the other random: its RAKP 3 gets status 0x0F.
   */
  freshRakp2OnRepeat?: boolean;
}

const REMOTE = { address: '127.0.0.1', port: 1 };

export class MemoryBmc {
  readonly options: ResolvedOptions;
  readonly sessions = new Map<number, BmcSession>();
  readonly #keys = new WeakMap<BmcSession, { ctx: RakpContext; sik: Buffer }>();
  readonly #answers = new Map<string, Buffer>();
  readonly #random: (n: number) => Buffer;
  readonly #silentOnUnknownUser: boolean;
  readonly #freshRakp2OnRepeat: boolean;
  readonly seen = { openSession: 0, rakp1: 0, rakp3: 0, commands: [] as number[] };

  constructor(options: MemoryBmcOptions) {
    let counter = 0;
    this.#random = options.random ?? ((n) => Buffer.alloc(n, ++counter & 0xff));
    this.options = resolveOptions(options, () => this.#random(16));
    this.#silentOnUnknownUser = options.silentOnUnknownUser ?? false;
    this.#freshRakp2OnRepeat = options.freshRakp2OnRepeat ?? false;
  }

  /** One datagram from the console; the BMC's answers (none for what it drops). */
  handle(datagram: Buffer): Buffer[] {
    const env = peekEnvelope(datagram);
    if (env.format === 'v1.5') {
      const req = decodeRequest(decodeV15(datagram).payload);
      return [encodeV15({ payload: encodeCommandResponse(req, this.#preSession(req)) })];
    }
    if (env.format !== 'v2.0') return [];
    if (env.sessionId !== 0) return this.#inSession(datagram, env.sessionId);
    const pkt = decodeV20(datagram);
    const setup = (payloadType: number, payload: Buffer | undefined) =>
      payload ? [encodeV20({ payloadType, sessionId: 0, sequence: 0, payload })] : [];
    switch (pkt.payloadType) {
      case PayloadType.IPMI: {
        const req = decodeRequest(pkt.payload);
        return setup(PayloadType.IPMI, encodeCommandResponse(req, this.#preSession(req)));
      }
      case PayloadType.OPEN_SESSION_REQUEST:
        return setup(PayloadType.OPEN_SESSION_RESPONSE, this.#once(pkt.payload, () => this.#openSession(pkt.payload)));
      case PayloadType.RAKP1:
        return setup(PayloadType.RAKP2, this.#freshRakp2OnRepeat ? this.#rakp1(pkt.payload) : this.#once(pkt.payload, () => this.#rakp1(pkt.payload)));
      case PayloadType.RAKP3:
        return setup(PayloadType.RAKP4, this.#rakp3(pkt.payload));
      default:
        return [];
    }
  }

  /** The same message gets the same answer (a duplicated datagram). */
  #once(payload: Buffer, answer: () => Buffer | undefined): Buffer | undefined {
    const key = payload.toString('hex');
    const known = this.#answers.get(key);
    if (known) return known;
    const fresh = answer();
    if (fresh) this.#answers.set(key, fresh);
    return fresh;
  }

  #preSession(req: IpmiRequest): CommandResult {
    this.seen.commands.push(req.cmd);
    if (req.netFn === NetFn.APP && req.cmd === Cmd.GET_CHANNEL_AUTH_CAPABILITIES) return getChannelAuthCapabilities(this.options, req.data);
    if (req.netFn === NetFn.APP && req.cmd === Cmd.GET_CHANNEL_CIPHER_SUITES) return getChannelCipherSuites(this.options, req.data);
    return { cc: 0xd4 };
  }


  #openSession(payload: Buffer): Buffer {
    this.seen.openSession++;
    const req = decodeOpenSessionRequest(payload);
    const refused = (status: number): OpenSessionResponse => ({
      tag: req.tag,
      status,
      maxPrivilege: 0,
      consoleSessionId: req.consoleSessionId,
      bmcSessionId: 0,
      auth: 0,
      integrity: 0,
      confidentiality: 0,
    });
    const suite = cipherSuiteByAlgorithms(req.auth, req.integrity, req.confidentiality);
    if (!suite || !this.options.cipherSuites.includes(suite.id)) return encodeOpenSessionResponse(refused(0x11));
    let bmcSessionId = 0;
    while (bmcSessionId === 0 || this.sessions.has(bmcSessionId)) bmcSessionId = this.#random(4).readUInt32LE(0);
    const maxPrivilege = req.maxPrivilege === 0 ? 4 : req.maxPrivilege;
    this.sessions.set(
      bmcSessionId,
      new BmcSession({ bmcSessionId, consoleSessionId: req.consoleSessionId, suite, remote: REMOTE, openMaxPrivilege: maxPrivilege, now: 0 }),
    );
    const { auth, integrity, confidentiality } = suite;
    return encodeOpenSessionResponse({ tag: req.tag, status: 0, maxPrivilege, consoleSessionId: req.consoleSessionId, bmcSessionId, auth, integrity, confidentiality });
  }


  #rakp1(payload: Buffer): Buffer | undefined {
    this.seen.rakp1++;
    const m = decodeRakp1(payload);
    const s = this.sessions.get(m.bmcSessionId);
    const error = (status: number, consoleSessionId = s?.consoleSessionId ?? 0) =>
      encodeRakp2({ tag: m.tag, status, consoleSessionId, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), authCode: Buffer.alloc(0) });
    if (!s || s.state === 'active') return error(0x02, 0);
    const name = m.username.toString('utf8');
    const user = this.options.users.find((u) => u.name === name);
    if (!user) return this.#silentOnUnknownUser ? undefined : error(0x0d);
    if ((m.role & 0x0f) > user.privilege) return error(0x0a);
    Object.assign(s, { user, consoleRandom: m.consoleRandom, bmcRandom: this.#random(16), role: m.role, username: m.username, state: 'rakp2-sent' });
    const authCode = rakp2AuthCode(bmcRakpContext(s, this.options));
    return encodeRakp2({ tag: m.tag, status: 0, consoleSessionId: s.consoleSessionId, bmcRandom: s.bmcRandom, bmcGuid: this.options.guid, authCode });
  }

  #rakp3(payload: Buffer): Buffer | undefined {
    this.seen.rakp3++;
    const m = decodeRakp3(payload);
    const s = this.sessions.get(m.bmcSessionId);
    const rakp4 = (status: number, icv: Buffer = Buffer.alloc(0)) => encodeRakp4({ tag: m.tag, status, consoleSessionId: s?.consoleSessionId ?? 0, integrityCheckValue: icv });
    if (!s || s.state === 'opened') return rakp4(0x02);
    const ctx = bmcRakpContext(s, this.options);
    const expected = rakp3AuthCode(ctx);
    if (expected.length !== m.authCode.length || (expected.length > 0 && !timingSafeEqual(expected, m.authCode))) return rakp4(0x0f);
    if (s.state === 'rakp2-sent') {
      const keys = deriveSessionKeys(ctx);
      this.#keys.set(s, { ctx, sik: keys.sik });
      const password = Buffer.from(s.user!.password, 'utf8');
      s.crypto = { integrity: s.suite.integrity, confidentiality: s.suite.confidentiality, k1: keys.k1, k2: keys.k2, password };
      s.state = 'active';
      s.maxPrivilege = s.role & 0x0f;
      s.privilege = Math.min(2, s.maxPrivilege);
    }
    const { ctx: c, sik } = this.#keys.get(s)!;
    return rakp4(0, rakp4Icv(c, sik));
  }

  #inSession(datagram: Buffer, bmcSessionId: number): Buffer[] {
    const s = this.sessions.get(bmcSessionId);
    if (!s || s.state !== 'active') return [];
    const pkt = decodeV20(datagram, s.crypto, true);
    if (!s.window.accept(pkt.sequence) || pkt.payloadType !== PayloadType.IPMI) return [];
    const req = decodeRequest(pkt.payload);
    this.seen.commands.push(req.cmd);
    const result = this.#command(s, req);
    const aes = s.crypto.confidentiality !== 0;
    const answer = encodeV20({
      payloadType: PayloadType.IPMI,
      sessionId: s.consoleSessionId,
      sequence: s.nextSequence(),
      payload: encodeCommandResponse(req, result),
      authenticate: s.crypto.integrity !== 0,
      encrypt: aes,
      crypto: s.crypto,
      iv: aes ? this.#random(16) : undefined,
    });
    if (req.cmd === Cmd.CLOSE_SESSION) this.sessions.delete(bmcSessionId);
    return [answer];
  }

  #command(s: BmcSession, req: IpmiRequest): CommandResult {
    if (req.netFn !== NetFn.APP) return { cc: 0xc1 };
    switch (req.cmd) {
      case Cmd.GET_DEVICE_ID:
        return getDeviceId(this.options.device);
      case Cmd.SET_SESSION_PRIVILEGE_LEVEL: {
        const level = (req.data[0] ?? 0) & 0x0f || s.privilege;
        if (level > s.maxPrivilege) return { cc: 0x81 };
        s.privilege = level;
        return { cc: 0, data: Buffer.from([level]) };
      }
      case Cmd.CLOSE_SESSION:
        return { cc: 0 };
      default:
        return { cc: 0xc1 };
    }
  }
}

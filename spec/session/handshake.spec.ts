/**
 * The handshake's step table alone, against a scripted host (no BMC at all): what each step sends, where an
 * answer or silence leads. The whole handshake against a BMC is in session-machine.spec.ts.
 */
import { expect } from 'chai';
import { decodeRequest, NetFn } from '../../lib/codec/ipmi-message.js';
import { decodeV15, decodeV20, PayloadType, peekEnvelope } from '../../lib/codec/rmcp.js';
import { Cmd, encodeChannelAuthCapabilities, encodeCipherSuiteRecords } from '../../lib/codec/commands.js';
import { cipherSuiteById, SUPPORTED_CIPHER_SUITE_IDS } from '../../lib/crypto/cipher-suites.js';
import { Handshake, MAX_CIPHER_SUITE_LIST_CALLS, FALLBACK_CIPHER_SUITE, type HandshakeHost } from '../../lib/session/handshake.js';
import type { Exchange } from '../../lib/session/request-tracker.js';
import type { Inbound } from '../../lib/session/inbound.js';
import { resolveSessionOptions } from '../../lib/session/options.js';
import type { IpmiError } from '../../lib/errors.js';

class ScriptedHost implements HandshakeHost {
  readonly config = resolveSessionOptions({ host: '192.0.2.1', username: 'admin', password: 'password' });
  current: Omit<Exchange<Inbound, unknown>, 'timeoutMs'> | undefined;
  sent: Buffer[] = [];
  failure: IpmiError | undefined;
  random = (n: number) => Buffer.alloc(n, 1);
  exchange<T>(e: Omit<Exchange<Inbound, T>, 'timeoutMs'>): void {
    this.current = e as Omit<Exchange<Inbound, unknown>, 'timeoutMs'>;
    e.transmit();
  }
  sendRaw = (d: Buffer) => void this.sent.push(d);
  sendInSession = () => undefined;
  #rqSeq = 0;
  nextRqSeq = () => (this.#rqSeq = (this.#rqSeq % 63) + 1);
  newConsoleSessionId = () => 0x1234;
  secured = () => undefined;
  restarted = () => undefined;
  opened = () => undefined;
  failed = (err: IpmiError) => void (this.failure = err);

  /** The last request sent: its command and rqSeq. */
  lastRequest(): { cmd: number; rqSeq: number } {
    const d = this.sent.at(-1)!;
    const env = peekEnvelope(d);
    if (env.format === 'v2.0' && env.payloadType !== PayloadType.IPMI) return { cmd: -1, rqSeq: -1 }; // session setup
    return decodeRequest(env.format === 'v1.5' ? decodeV15(d).payload : decodeV20(d).payload);
  }

  /** Answer the request in flight with completion code 0 and `data`. */
  answer(data: Buffer): void {
    const { cmd, rqSeq } = this.lastRequest();
    const value = this.current!.match({ kind: 'ipmi', rsp: { rqAddr: 0x81, rsAddr: 0x20, netFn: NetFn.APP | 1, cmd, rqSeq, completionCode: 0, data } });
    expect(value, 'the answer matches the request in flight').to.not.equal(undefined);
    this.current!.onAnswer(value);
  }
}

const caps = encodeChannelAuthCapabilities({
  channel: 1,
  ipmi20ExtendedData: true,
  authTypes: 0,
  kgSet: false,
  perMessageAuthDisabled: false,
  userLevelAuthDisabled: false,
  nonNullUsernames: true,
  nullUsernames: false,
  anonymousLogin: false,
  supportsIpmi20: true,
  supportsIpmi15: false,
  oemId: 0,
  oemAux: 0,
});

describe('session/handshake (the step table)', () => {
  it(`Get Channel Cipher Suites stops after MAX_CIPHER_SUITE_LIST_CALLS (${MAX_CIPHER_SUITE_LIST_CALLS}) full records`, () => {
    const host = new ScriptedHost();
    const h = new Handshake(host);
    h.start();
    expect(host.lastRequest().cmd).to.equal(Cmd.GET_CHANNEL_AUTH_CAPABILITIES);
    host.answer(caps);
    const full = Buffer.concat([Buffer.from([1]), encodeCipherSuiteRecords(SUPPORTED_CIPHER_SUITE_IDS.map((id) => cipherSuiteById(id)!)).subarray(0, 16)]);
    let calls = 0;
    while (host.lastRequest().cmd === Cmd.GET_CHANNEL_CIPHER_SUITES) {
      calls++;
      expect(calls).to.be.at.most(MAX_CIPHER_SUITE_LIST_CALLS);
      host.answer(full);
    }
    expect(calls).to.equal(MAX_CIPHER_SUITE_LIST_CALLS);
    expect(h.suite, 'a suite is chosen from what was listed').to.not.equal(undefined);
    expect(host.failure).to.equal(undefined);
  });

  it(`no cipher suite list at all: suite ${FALLBACK_CIPHER_SUITE}`, () => {
    const host = new ScriptedHost();
    const h = new Handshake(host);
    h.start();
    host.answer(caps);
    host.current!.onSilence(); // v1.5 asked once
    host.current!.onSilence(); // RMCP+ asked once
    expect(h.suite?.id).to.equal(FALLBACK_CIPHER_SUITE);
  });

  it('a BMC without IPMI 2.0 on the channel: IPMI_ERR_PROTOCOL', () => {
    const host = new ScriptedHost();
    new Handshake(host).start();
    const v15only = Buffer.from(caps);
    v15only[3] = 0; // extended capabilities: no IPMI v2.0
    host.answer(v15only);
    expect(host.failure?.code).to.equal('IPMI_ERR_PROTOCOL');
    expect(host.failure?.message).to.match(/does not offer IPMI 2.0/);
  });
});

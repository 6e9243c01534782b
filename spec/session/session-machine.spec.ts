/**
 * The RMCP+ session state machine driven with no socket and no real time: a MemoryBmc answers, a simulated link
 * drops, duplicates and delays datagrams, and time is a number moved from event to event (spec/session/sim.ts).
 */
import { expect } from 'chai';
import { encodeV15, PayloadType, peekEnvelope } from '../../lib/codec/rmcp.js';
import { encodeResponse, NetFn } from '../../lib/codec/ipmi-message.js';
import { Cmd, decodeDeviceId } from '../../lib/codec/commands.js';
import { SUPPORTED_CIPHER_SUITE_IDS, cipherSuiteById } from '../../lib/crypto/cipher-suites.js';
import { IpmiError } from '../../lib/errors.js';
import { CLOSE_SESSION_TIMEOUT_MS, type RequestOptions } from '../../lib/session/session-machine.js';
import type { IpmiCommandResponse } from '../../lib/session/payload-port.js';
import { MemoryBmc, type MemoryBmcOptions } from './memory-bmc.js';
import { Sim, type Direction, type Faults } from './sim.js';

const users = [
  { name: 'admin', password: 'password', privilege: 4 },
  { name: 'viewer', password: 'viewerpw', privilege: 2 },
];

function bmcOf(options: Partial<MemoryBmcOptions> = {}): MemoryBmc {
  return new MemoryBmc({ users, ...options });
}

/** Drop datagrams `drop` picks (it sees every datagram in order, with its payload type). */
function dropping(drop: (direction: Direction, payloadType: number, datagram: Buffer) => boolean): Faults {
  return { deliveries: (direction, datagram) => (drop(direction, peekEnvelope(datagram).payloadType, datagram) ? [] : [0]) };
}

interface Outcome {
  err?: IpmiError;
  rsp?: IpmiCommandResponse;
}

function request(sim: Sim, cmd: number, options: RequestOptions = {}): Outcome {
  const outcome: Outcome = {};
  let done = false;
  sim.machine.request({ netFn: NetFn.APP, cmd }, options, sim.now, (err, rsp) => {
    done = true;
    outcome.err = err;
    outcome.rsp = rsp;
  });
  sim.runUntil(() => done);
  return outcome;
}

const inSession = (datagram: Buffer) => peekEnvelope(datagram).sessionId !== 0;

describe('session/session-machine', () => {
  describe('handshake at every supported cipher suite', () => {
    for (const suite of SUPPORTED_CIPHER_SUITE_IDS) {
      it(`suite ${suite}: opens, answers Get Device ID, closes with Close Session`, () => {
        const bmc = bmcOf();
        const sim = new Sim({ session: { cipherSuite: suite }, bmc }).open();
        expect(sim.closeReason).to.equal(undefined);
        expect(sim.machine.state).to.equal('active');
        expect(sim.machine.suite?.id).to.equal(suite);
        const expected = cipherSuiteById(suite)!;
        expect(sim.machine.integrity).to.equal(expected.integrity !== 0);
        expect(sim.machine.confidentiality).to.equal(expected.confidentiality !== 0);
        expect(sim.machine.privilegeLevel).to.equal(4);
        const { rsp } = request(sim, Cmd.GET_DEVICE_ID);
        expect(decodeDeviceId(rsp!.data).productId).to.equal(0x5342);
        let closed = false;
        sim.machine.close(sim.now, () => (closed = true));
        sim.runUntil(() => closed);
        expect(sim.machine.state).to.equal('closed');
        expect(bmc.sessions.size).to.equal(0);
        expect(sim.machine.stats.dropped).to.deep.include({ integrity: 0, decrypt: 0, malformed: 0 });
      });
    }

    it("'auto' asks Get Channel Cipher Suites and takes the strongest offered", () => {
      expect(new Sim({ session: {}, bmc: bmcOf() }).open().machine.suite?.id).to.equal(17);
      expect(new Sim({ session: {}, bmc: bmcOf({ cipherSuites: [1, 2, 7] }) }).open().machine.suite?.id).to.equal(2);
    });

    it("'auto' asks the IPMI v1.5 way, then the RMCP+ way, once each, then takes suite 3", () => {
      const faults = dropping((d, _t, datagram) => d === 'toBmc' && !inSession(datagram) && datagram.includes(Buffer.from([Cmd.GET_CHANNEL_CIPHER_SUITES])) && datagram.length < 40);
      const sim = new Sim({ session: { timeoutMs: 200 }, bmc: bmcOf(), faults }).open();
      expect(sim.machine.suite?.id).to.equal(3);
      expect(sim.now).to.be.at.least(400);
    });

    it('runs one request at a time: a second waits for the first', () => {
      const sim = new Sim({ session: { cipherSuite: 3 }, bmc: bmcOf() }).open();
      const order: string[] = [];
      const sentBefore = sim.sent.filter((x) => x.direction === 'toBmc' && inSession(x.datagram)).length;
      sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, () => order.push('first'));
      sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, () => order.push('second'));
      const inFlight = sim.sent.filter((x) => x.direction === 'toBmc' && inSession(x.datagram)).length;
      expect(inFlight, 'one datagram for two requests').to.equal(sentBefore + 1);
      sim.runUntil(() => order.length === 2);
      expect(order).to.deep.equal(['first', 'second']);
    });
  });

  describe('retries and their bound', () => {
    it('Get Channel Authentication Capabilities unanswered: retries + 1 tries, then IPMI_ERR_UNREACHABLE', () => {
      const sim = new Sim({ session: { timeoutMs: 300, retries: 2 }, bmc: bmcOf(), faults: dropping(() => true) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_UNREACHABLE');
      expect(sim.sent.filter((s) => s.direction === 'toBmc')).to.have.length(3);
      expect(sim.now).to.equal(900);
      expect(sim.machine.stats.retransmits).to.equal(2);
    });

    it('Open Session unanswered: the handshake restarts retries times, then IPMI_ERR_TIMEOUT', () => {
      const faults = dropping((d, type) => d === 'toConsole' && type === PayloadType.OPEN_SESSION_RESPONSE);
      const sim = new Sim({ session: { cipherSuite: 3, timeoutMs: 100, retries: 3 }, bmc: bmcOf(), faults }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(sim.closeReason?.message).to.match(/Open Session/);
      expect(sim.count('toBmc', PayloadType.OPEN_SESSION_REQUEST)).to.equal(4);
      expect(sim.machine.stats.handshakeRestarts).to.equal(3);
    });

    it('a lost answer to a command: the same rqSeq is sent again and answered', () => {
      let lost = 0;
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 250 }, bmc: bmcOf(), faults: dropping((d, _t, dg) => d === 'toConsole' && inSession(dg) && lost++ === 1) });
      sim.open();
      const { rsp, err } = request(sim, Cmd.GET_DEVICE_ID);
      expect(err).to.equal(undefined);
      expect(rsp?.completionCode).to.equal(0);
      expect(sim.machine.stats.retransmits).to.equal(1);
    });

    it('a command never answered: retries + 1 tries of timeoutMs, IPMI_ERR_TIMEOUT, and the session closes with it', () => {
      let open = false;
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 250, retries: 2 }, bmc: bmcOf(), faults: dropping((d, _t, dg) => open && d === 'toBmc' && inSession(dg)) }).open();
      open = true;
      const started = sim.now;
      const { err } = request(sim, Cmd.GET_DEVICE_ID, {});
      expect(err?.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(err?.fatal).to.equal(true);
      expect(sim.now - started).to.equal(750);
      expect(sim.closeReason).to.equal(err);
      expect(sim.machine.state).to.equal('closed');
      expect(sim.machine.stats.timeouts).to.equal(1);
    });

    it('per-request timeout and retries override the session defaults', () => {
      let open = false;
      const sim = new Sim({ session: { cipherSuite: 3, timeoutMs: 1000, retries: 3 }, bmc: bmcOf(), faults: dropping((d, _t, dg) => open && d === 'toBmc' && inSession(dg)) }).open();
      open = true;
      const started = sim.now;
      expect(request(sim, Cmd.GET_DEVICE_ID, { timeoutMs: 50, retries: 0 }).err?.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(sim.now - started).to.equal(50);
    });
  });

  describe('keepalive and loss detection', () => {
    it('sends Get Device ID after keepaliveMs of no request, and counts from the last request', () => {
      const bmc = bmcOf();
      const sim = new Sim({ session: { cipherSuite: 17, keepaliveMs: 10_000 }, bmc }).open();
      const t0 = sim.now;
      const deviceIds = () => bmc.seen.commands.filter((c) => c === Cmd.GET_DEVICE_ID).length;
      sim.advanceTo(t0 + 9_999);
      expect(deviceIds()).to.equal(0);
      sim.advanceTo(t0 + 10_000);
      expect(deviceIds()).to.equal(1);
      sim.advanceTo(t0 + 15_000);
      request(sim, Cmd.GET_DEVICE_ID);
      expect(deviceIds()).to.equal(2);
      sim.advanceTo(t0 + 24_999);
      expect(deviceIds()).to.equal(2);
      sim.advanceTo(t0 + 25_000);
      expect(deviceIds()).to.equal(3);
      expect(sim.machine.state).to.equal('active');
    });

    it('keepalive 0: nothing is pending once open', () => {
      const sim = new Sim({ session: { cipherSuite: 3, keepaliveMs: 0 }, bmc: bmcOf() }).open();
      expect(sim.machine.nextDeadline()).to.equal(undefined);
    });

    it('a BMC that goes silent is detected by the keepalive within keepaliveMs + (retries + 1) x timeoutMs', () => {
      let silent = false;
      const sim = new Sim({
        session: { cipherSuite: 17, keepaliveMs: 5_000, timeoutMs: 500, retries: 2 },
        bmc: bmcOf(),
        faults: dropping(() => silent),
      }).open();
      const t0 = sim.now;
      silent = true;
      sim.runUntil(() => sim.closed);
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(sim.now - t0).to.equal(5_000 + 3 * 500);
    });
  });

  describe('close', () => {
    it('Close Session gets one short try: a silent BMC still closes the session within CLOSE_SESSION_TIMEOUT_MS', () => {
      let silent = false;
      const sim = new Sim({ session: { cipherSuite: 3, timeoutMs: 5000 }, bmc: bmcOf(), faults: dropping(() => silent) }).open();
      silent = true;
      const t0 = sim.now;
      let closed = 0;
      sim.machine.close(sim.now, () => closed++);
      sim.machine.close(sim.now, () => closed++);
      sim.runUntil(() => closed === 2);
      expect(sim.now - t0).to.equal(CLOSE_SESSION_TIMEOUT_MS);
      expect(sim.closeReason).to.equal(undefined);
    });

    it('requests queued or in flight when the session closes fail with IPMI_ERR_SESSION_CLOSED; new ones too', () => {
      const sim = new Sim({ session: { cipherSuite: 3 }, bmc: bmcOf() }).open();
      const errs: (string | undefined)[] = [];
      sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, (err) => errs.push(err?.code));
      sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, (err) => errs.push(err?.code));
      sim.machine.close(sim.now);
      sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, (err) => errs.push(err?.code));
      expect(errs).to.deep.equal(['IPMI_ERR_SESSION_CLOSED', 'IPMI_ERR_SESSION_CLOSED', 'IPMI_ERR_SESSION_CLOSED']);
    });

    it('abort during the handshake ends it with the reason and leaves nothing pending', () => {
      const sim = new Sim({ session: { cipherSuite: 3 }, bmc: bmcOf() });
      sim.machine.start(0);
      sim.machine.abort(new IpmiError('IPMI_ERR_ABORTED', 'aborted'));
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_ABORTED');
      expect(sim.machine.nextDeadline()).to.equal(undefined);
    });
  });

  describe('errors', () => {
    it('wrong password: IPMI_ERR_AUTH, stated (the RAKP 2 proof does not match), no retry', () => {
      const sim = new Sim({ session: { cipherSuite: 3, password: 'nope' }, bmc: bmcOf() }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_AUTH');
      expect(sim.closeReason?.inferred).to.equal(false);
      expect(sim.closeReason?.message).to.match(/wrong password/);
      expect(sim.machine.stats.handshakeRestarts).to.equal(0);
    });

    it('unknown user, stated by the BMC (RAKP 2 status 0x0D): IPMI_ERR_AUTH, not inferred', () => {
      const sim = new Sim({ session: { cipherSuite: 3, username: 'mallory' }, bmc: bmcOf() }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_AUTH');
      expect(sim.closeReason?.inferred).to.equal(false);
      expect(sim.closeReason?.message).to.match(/unknown/);
    });

    it('wrong K_g: IPMI_ERR_AUTH naming K_g (RAKP 4)', () => {
      const sim = new Sim({ session: { cipherSuite: 17, kg: 'not-the-key' }, bmc: bmcOf({ kg: Buffer.from('the-real-bmc-key') }) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_AUTH');
      expect(sim.closeReason?.message).to.match(/K_g/);
    });

    it('a suite the BMC does not have: IPMI_ERR_CIPHER_SUITE', () => {
      const sim = new Sim({ session: { cipherSuite: 17 }, bmc: bmcOf({ cipherSuites: [3] }) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_CIPHER_SUITE');
    });

    it('a privilege above the user limit: IPMI_ERR_PRIVILEGE', () => {
      const sim = new Sim({ session: { cipherSuite: 3, username: 'viewer', password: 'viewerpw', privilege: 'administrator' }, bmc: bmcOf() }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_PRIVILEGE');
      const ok = new Sim({ session: { cipherSuite: 3, username: 'viewer', password: 'viewerpw', privilege: 'user' }, bmc: bmcOf() }).open();
      expect(ok.machine.privilegeLevel).to.equal(2);
    });

    it('Set Session Privilege never answered after RAKP 4: IPMI_ERR_CIPHER_SUITE, inferred (the BMC ignores our packets)', () => {
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 100, retries: 1 }, bmc: bmcOf(), faults: dropping((d, _t, dg) => d === 'toBmc' && inSession(dg)) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_CIPHER_SUITE');
      expect(sim.closeReason?.inferred).to.equal(true);
    });

    it('an answer that cannot be used ends the handshake with a coded error, not a throw', () => {
      // Get Channel Authentication Capabilities answered with completion code 0 and no data at all
      const empty = encodeV15({ payload: encodeResponse({ rqAddr: 0x81, rsAddr: 0x20, netFn: NetFn.APP | 1, cmd: Cmd.GET_CHANNEL_AUTH_CAPABILITIES, rqSeq: 1, completionCode: 0, data: Buffer.alloc(0) }) });
      const faults: Faults = { rewrite: (d, dg) => (d === 'toConsole' && peekEnvelope(dg).format === 'v1.5' ? empty : dg) };
      const sim = new Sim({ session: { cipherSuite: 3 }, bmc: bmcOf(), faults }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_PROTOCOL');
      expect(sim.machine.nextDeadline()).to.equal(undefined);
    });
  });

  describe('RAKP 1 silence (issue 9): IPMI_ERR_AUTH only when every attempt ended there, and inferred', () => {
    const rakp2Dropper = (drop: (n: number) => boolean) => {
      let n = 0;
      return dropping((d, type) => d === 'toConsole' && type === PayloadType.RAKP2 && drop(++n));
    };

    it('one RAKP 2 lost: the handshake restarts from Open Session and opens', () => {
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 200 }, bmc: bmcOf(), faults: rakp2Dropper((n) => n === 1) }).open();
      expect(sim.machine.state).to.equal('active');
      expect(sim.machine.stats.handshakeRestarts).to.equal(1);
      expect(sim.count('toBmc', PayloadType.OPEN_SESSION_REQUEST)).to.equal(2);
    });

    it('RAKP 1 answered in one attempt proves the user: a later lost RAKP 2 is IPMI_ERR_TIMEOUT, not IPMI_ERR_AUTH', () => {
      // attempt 1: RAKP 4 lost; attempt 2 (the last): RAKP 2 lost
      let rakp4 = 0;
      let rakp2 = 0;
      const faults = dropping((d, type) => d === 'toConsole' && ((type === PayloadType.RAKP4 && ++rakp4 === 1) || (type === PayloadType.RAKP2 && ++rakp2 === 2)));
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 200, retries: 1 }, bmc: bmcOf(), faults }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_TIMEOUT');
      expect(sim.closeReason?.message).to.match(/RAKP 1/);
    });

    it('every RAKP 2 lost: IPMI_ERR_AUTH with inferred: true, after retries + 1 attempts', () => {
      const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 200, retries: 3 }, bmc: bmcOf(), faults: rakp2Dropper(() => true) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_AUTH');
      expect(sim.closeReason?.inferred).to.equal(true);
      expect(sim.closeReason?.message).to.match(/never answered RAKP 1/);
      expect(sim.count('toBmc', PayloadType.RAKP1)).to.equal(4);
    });

    it('a BMC silent on RAKP 1 for an unknown user (ipmi_sim): IPMI_ERR_AUTH, inferred', () => {
      const sim = new Sim({ session: { cipherSuite: 3, username: 'mallory', timeoutMs: 100 }, bmc: bmcOf({ silentOnUnknownUser: true }) }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_AUTH');
      expect(sim.closeReason?.inferred).to.equal(true);
    });

    it('an Open Session lost in one attempt and RAKP 2 in the others: not every attempt reached RAKP 1, so IPMI_ERR_TIMEOUT', () => {
      let opens = 0;
      const faults = dropping((d, type) => d === 'toConsole' && ((type === PayloadType.OPEN_SESSION_RESPONSE && ++opens === 1) || type === PayloadType.RAKP2));
      const sim = new Sim({ session: { cipherSuite: 3, timeoutMs: 100, retries: 2 }, bmc: bmcOf(), faults }).open();
      expect(sim.closeReason?.code).to.equal('IPMI_ERR_TIMEOUT');
    });
  });
});

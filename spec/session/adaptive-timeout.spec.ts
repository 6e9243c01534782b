/**
 * The session's adaptive request timeout (options.adaptiveTimeout, lib/session/rtt-estimator.ts) end to end on the
 * session state machine: the handshake's answers are the first RTT samples, a lost command answer is retried after
 * a few ms on a fast path, the give-up time of the fixed timer stays, and `adaptiveTimeout: false` is the old timer.
 */
import { expect } from 'chai';
import { PayloadType, peekEnvelope } from '../../lib/codec/rmcp.js';
import { NetFn } from '../../lib/codec/ipmi-message.js';
import { Cmd } from '../../lib/codec/commands.js';
import { IpmiError } from '../../lib/errors.js';
import { resolveSessionOptions } from '../../lib/session/options.js';
import { RTO_FLOOR_MS } from '../../lib/session/rtt-estimator.js';
import { MemoryBmc } from './memory-bmc.js';
import { Sim, type Faults } from './sim.js';

const users = [{ name: 'admin', password: 'password', privilege: 4 }];
const inSession = (datagram: Buffer) => peekEnvelope(datagram).sessionId !== 0 && peekEnvelope(datagram).payloadType === PayloadType.IPMI;

/** Drop the first `n` in-session answers once `armed()` says so. */
function losingAnswers(armed: () => boolean, n: number): Faults {
  let lost = 0;
  return { deliveries: (direction, datagram) => (armed() && direction === 'toConsole' && inSession(datagram) && lost++ < n ? [] : [0]) };
}

/** Times (from `from`) of in-session datagrams to the BMC sent after the first `skip` datagrams of the run. */
function sendTimes(sim: Sim, skip: number, from: number): number[] {
  return sim.sent.slice(skip).filter((s) => s.direction === 'toBmc' && inSession(s.datagram)).map((s) => s.at - from);
}

function deviceId(sim: Sim): IpmiError | undefined {
  let done = false;
  let error: IpmiError | undefined;
  sim.machine.request({ netFn: NetFn.APP, cmd: Cmd.GET_DEVICE_ID }, {}, sim.now, (err) => {
    done = true;
    error = err;
  });
  sim.runUntil(() => done);
  return error;
}

describe('session/adaptive request timeout', () => {
  it('default on; the handshake answers give the first RTT samples', () => {
    expect(resolveSessionOptions({ host: '127.0.0.1', username: '', password: '' }).adaptiveTimeout).to.equal(true);
    const sim = new Sim({ session: { cipherSuite: 3 }, bmc: new MemoryBmc({ users }) }).open();
    expect(sim.machine.state).to.equal('active');
    expect(sim.machine.rtt?.samples).to.be.at.least(4);
  });

  it('a lost answer on a fast path: the command is retried after a few ms, not timeoutMs', () => {
    let armed = false;
    const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 1000 }, bmc: new MemoryBmc({ users }), faults: losingAnswers(() => armed, 2) }).open();
    armed = true;
    const t0 = sim.now;
    const skip = sim.sent.length;
    expect(deviceId(sim)).to.equal(undefined);
    expect(sendTimes(sim, skip, t0)).to.deep.equal([0, RTO_FLOOR_MS, 3 * RTO_FLOOR_MS]);
    expect(sim.machine.stats.retransmits).to.equal(2);
  });

  it('adaptiveTimeout false: retried after timeoutMs (the fixed timer)', () => {
    let armed = false;
    const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 1000, adaptiveTimeout: false }, bmc: new MemoryBmc({ users }), faults: losingAnswers(() => armed, 2) }).open();
    armed = true;
    const t0 = sim.now;
    const skip = sim.sent.length;
    expect(deviceId(sim)).to.equal(undefined);
    expect(sendTimes(sim, skip, t0)).to.deep.equal([0, 1000, 2000]);
    expect(sim.machine.rtt).to.equal(undefined);
  });

  it('a BMC that stops answering: IPMI_ERR_TIMEOUT after (retries + 1) x timeoutMs, as with the fixed timer', () => {
    let armed = false;
    const sim = new Sim({ session: { cipherSuite: 17, timeoutMs: 1000, retries: 3 }, bmc: new MemoryBmc({ users }), faults: losingAnswers(() => armed, Infinity) }).open();
    armed = true;
    const t0 = sim.now;
    const skip = sim.sent.length;
    expect(deviceId(sim)?.code).to.equal('IPMI_ERR_TIMEOUT');
    expect(sim.now - t0).to.equal(4000);
    expect(sendTimes(sim, skip, t0).length - 1).to.be.at.least(3);
  });

  it('adaptiveTimeout must be a boolean', () => {
    expect(() => resolveSessionOptions({ host: '127.0.0.1', username: '', password: '', adaptiveTimeout: 'yes' as unknown as boolean }))
      .to.throw(IpmiError)
      .with.property('code', 'IPMI_ERR_BAD_ARGUMENT');
  });
});

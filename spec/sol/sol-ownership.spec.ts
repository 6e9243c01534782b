/**
 * Who holds the payload (Get Payload Instance Info, section 24.5), the registry of our own sessions, and a
 * stream that lost its payload (contract C4): it never sends Deactivate Payload again.
 */
import { expect } from 'chai';
import { SolStream } from '../../lib/sol/sol-stream.js';
import { SOL_OWN_SESSIONS_MAX, SOL_OWN_SESSIONS_PER_BMC, SolSessionRegistry, payloadHolder } from '../../lib/sol/sol-ownership.js';
import { Cmd } from '../../lib/codec/commands.js';
import { SolStatus } from '../../lib/codec/sol-payload.js';
import { ManualClock } from '../../lib/clock.js';
import { IpmiError } from '../../lib/errors.js';
import { FakeSolBmc, FakeSolHost, cc, until } from './fake-sol-host.js';

function instanceInfo(holder: number) {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(holder >>> 0, 0);
  return { completionCode: 0, data };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function open(host: FakeSolHost, ownershipCheckMs: number, registry = new SolSessionRegistry()) {
  const clock = new ManualClock();
  let releases = 0;
  const stream = new SolStream(host, {
    instance: 1,
    port: 623,
    encrypt: false,
    authenticate: true,
    maxOutboundChars: 32,
    ownershipCheckMs,
    clock,
    ownSessions: registry,
    onRelease: () => void releases++,
  });
  stream.on('error', () => undefined);
  const closed = new Promise<IpmiError | undefined>((resolve) => stream.on('close', resolve));
  return { stream, closed, clock, registry, releases: () => releases };
}

const count = (host: FakeSolHost, cmd: number) => host.requests.filter((r) => r.cmd === cmd).length;

describe('SolStream ownership check (Get Payload Instance Info, section 24.5)', () => {
  it('closes with IPMI_ERR_SOL_DEACTIVATED when another session holds the payload, once the period passed', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(0x0bad) : cc(0));
    const { closed, clock, stream } = open(host, 20);
    clock.advance(19);
    expect(count(host, Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.equal(0);
    clock.advance(1);
    const reason = await closed;
    expect(reason?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
    expect(reason?.message).to.match(/taken over by another session \(BMC session 0xbad\)/);
    expect(stream.payloadLost).to.equal(true);
    // the payload belongs to someone else now: no Deactivate Payload of ours
    expect(count(host, Cmd.DEACTIVATE_PAYLOAD)).to.equal(0);
  });

  it('closes when the payload is no longer active at all (holder 0)', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(0) : cc(0));
    const { closed, clock } = open(host, 20);
    clock.advance(20);
    expect((await closed)?.message).to.match(/deactivated by another session/);
  });

  it('keeps going while we hold it, asking once a period with our instance number', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(host.bmcSessionId) : cc(0));
    const { stream, clock } = open(host, 10);
    for (let i = 1; i <= 3; i++) {
      clock.advance(10);
      await until(() => count(host, Cmd.GET_PAYLOAD_INSTANCE_INFO) === i);
      await settle();
    }
    expect(stream.destroyed).to.equal(false);
    expect(host.requests.find((r) => r.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO)!.data).to.deep.equal(Buffer.from([1, 1]));
    await stream.deactivate();
  });

  it('stops asking a BMC that lacks the command (0xC1), and 0 disables it', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? cc(0xc1) : cc(0));
    const { stream, clock } = open(host, 10);
    clock.advance(10);
    await until(() => count(host, Cmd.GET_PAYLOAD_INSTANCE_INFO) === 1);
    await settle();
    clock.advance(100);
    await settle();
    expect(count(host, Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.equal(1);
    expect(stream.destroyed).to.equal(false);
    await stream.deactivate();
    expect(count(host, Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.equal(1); // not asked at deactivate either
    expect(count(host, Cmd.DEACTIVATE_PAYLOAD)).to.equal(1);

    const quiet = new FakeSolHost();
    const q = open(quiet, 0);
    q.clock.advance(60_000);
    expect(count(quiet, Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.equal(0);
    await q.stream.deactivate();
  });
});

describe('SolStream that lost its payload (C4): never Deactivate Payload again', () => {
  it('after the BMC said "deactivating" (0x10): deactivate() resolves at once and sends nothing', async () => {
    const host = new FakeSolHost();
    const bmc = new FakeSolBmc(host);
    const { stream, closed, registry, releases } = open(host, 0);
    registry.add('127.0.0.1:623', host.bmcSessionId);
    bmc.status(SolStatus.DEACTIVATING);
    expect((await closed)?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
    expect(stream.payloadLost).to.equal(true);
    expect(registry.has('127.0.0.1:623', host.bmcSessionId)).to.equal(false); // it holds nothing now
    await stream.deactivate();
    expect(host.requests).to.have.length(0);
    expect(releases()).to.equal(1);
  });

  it('after the ownership check saw another holder: deactivate() sends nothing', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(0x77) : cc(0));
    const { stream, closed, clock } = open(host, 10);
    clock.advance(10);
    await closed;
    await stream.deactivate();
    expect(count(host, Cmd.DEACTIVATE_PAYLOAD)).to.equal(0);
  });

  it('taken over and not noticed yet: deactivate() asks who holds it and leaves the new holder alone', async () => {
    const host = new FakeSolHost();
    let holder = host.bmcSessionId;
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(holder) : cc(0));
    const { stream, closed, releases } = open(host, 0);
    holder = 0x0b; // session B took it; this BMC (like ipmi_sim) told us nothing
    await stream.deactivate();
    expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.GET_PAYLOAD_INSTANCE_INFO]);
    expect(await closed).to.equal(undefined); // ended as asked
    expect(stream.payloadLost).to.equal(true);
    expect(releases()).to.equal(1);
  });

  it('still ours: deactivate() sends Deactivate Payload and forgets the session in the registry', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(host.bmcSessionId) : cc(0));
    const { stream, registry } = open(host, 0);
    registry.add('127.0.0.1:623', host.bmcSessionId);
    await stream.deactivate();
    expect(host.requests.map((r) => r.cmd)).to.deep.equal([Cmd.GET_PAYLOAD_INSTANCE_INFO, Cmd.DEACTIVATE_PAYLOAD]);
    expect(stream.payloadLost).to.equal(false);
    expect(registry.size).to.equal(0);
  });

  it('a session that died under the stream stays in the registry (our own stale holder)', async () => {
    const host = new FakeSolHost();
    const { closed, registry } = open(host, 0);
    registry.add('127.0.0.1:623', host.bmcSessionId);
    host.close(new IpmiError('IPMI_ERR_TIMEOUT', 'the BMC stopped answering', { fatal: true }));
    await closed;
    expect(registry.has('127.0.0.1:623', host.bmcSessionId)).to.equal(true);
    expect(host.requests).to.have.length(0);
  });
});

describe('SolSessionRegistry and payloadHolder', () => {
  it('remembers sessions per BMC, forgets the least recently used beyond its bound', () => {
    const r = new SolSessionRegistry(2);
    r.add('10.0.0.1:623', 1);
    r.add('10.0.0.2:623', 1);
    expect(r.has('10.0.0.1:623', 1)).to.equal(true);
    expect(r.has('10.0.0.1:623', 2)).to.equal(false);
    r.add('10.0.0.1:623', 1); // used again: now the newest
    r.add('10.0.0.3:623', 5);
    expect(r.size).to.equal(2);
    expect(r.has('10.0.0.2:623', 1)).to.equal(false);
    expect(r.has('10.0.0.1:623', 1)).to.equal(true);
    expect(() => new SolSessionRegistry(0)).to.throw(RangeError);
  });

  it(`the default bounds: SOL_OWN_SESSIONS_PER_BMC (${SOL_OWN_SESSIONS_PER_BMC}) per BMC, its oldest first; SOL_OWN_SESSIONS_MAX (${SOL_OWN_SESSIONS_MAX}) in all`, () => {
    const r = new SolSessionRegistry();
    for (let i = 0; i <= SOL_OWN_SESSIONS_PER_BMC; i++) r.add('10.0.0.1:623', i);
    expect(r.size).to.equal(SOL_OWN_SESSIONS_PER_BMC);
    expect(r.has('10.0.0.1:623', 0)).to.equal(false);
    expect(r.has('10.0.0.1:623', SOL_OWN_SESSIONS_PER_BMC)).to.equal(true);
    for (let bmc = 0; r.size < SOL_OWN_SESSIONS_MAX; bmc++) for (let i = 0; i < SOL_OWN_SESSIONS_PER_BMC; i++) r.add(`10.1.${bmc >> 8}.${bmc & 255}:623`, i);
    r.add('10.2.0.1:623', 7);
    expect(r.size).to.equal(SOL_OWN_SESSIONS_MAX);
    expect(r.has('10.0.0.1:623', 1), 'the least recently used BMC loses its oldest session').to.equal(false);
    expect(r.has('10.0.0.1:623', 2)).to.equal(true);
    r.delete('10.2.0.1:623', 7);
    expect(r.size).to.equal(SOL_OWN_SESSIONS_MAX - 1);
    expect(() => new SolSessionRegistry(10, 0)).to.throw(RangeError);
  });

  it('a fleet after a network cut: 1000 BMCs each remember their stale holder while a new session is added to each (issue 12)', () => {
    const r = new SolSessionRegistry();
    const bmcs = Array.from({ length: 1000 }, (_, i) => `10.3.${i >> 8}.${i & 255}:623`);
    bmcs.forEach((bmc, i) => r.add(bmc, 0x1000 + i)); // the sessions lost in the cut, still holding SOL
    bmcs.forEach((bmc, i) => r.add(bmc, 0x2000 + i)); // the new ones, remembered from their Activate Payload
    expect(bmcs.filter((bmc, i) => !r.has(bmc, 0x1000 + i)), "stale holders 'own' can still take back").to.deep.equal([]);
    expect(r.size).to.equal(2000);
  });

  it('payloadHolder reads bytes 1-4 (LS first), and says when the BMC cannot answer', async () => {
    const host = new FakeSolHost();
    host.responder = () => instanceInfo(0x01020304);
    expect(await payloadHolder(host, 1)).to.deep.equal({ known: true, sessionId: 0x01020304 });
    host.responder = () => cc(0xc1);
    expect(await payloadHolder(host, 1)).to.deep.equal({ known: false, completionCode: 0xc1 });
    host.responder = () => ({ completionCode: 0, data: Buffer.from([1, 2]) });
    expect((await payloadHolder(host, 1)).known).to.equal(false);
  });
});

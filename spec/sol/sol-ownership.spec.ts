import { expect } from 'chai';
import { SolStream } from '../../lib/sol/sol-stream.js';
import { Cmd } from '../../lib/codec/commands.js';
import { IpmiError } from '../../lib/errors.js';
import { FakeSolHost, cc, until } from './fake-sol-host.js';

function instanceInfo(holder: number) {
  const data = Buffer.alloc(12);
  data.writeUInt32LE(holder >>> 0, 0);
  return { completionCode: 0, data };
}

function open(host: FakeSolHost, ownershipCheckMs: number): { stream: SolStream; closed: Promise<IpmiError | undefined> } {
  const stream = new SolStream(host, { instance: 1, port: 623, encrypt: false, authenticate: true, maxOutboundChars: 32, ownershipCheckMs });
  stream.on('error', () => undefined);
  const closed = new Promise<IpmiError | undefined>((resolve) => stream.on('close', resolve));
  return { stream, closed };
}

describe('SolStream ownership check (Get Payload Instance Info, section 24.5)', () => {
  it('closes with IPMI_ERR_SOL_DEACTIVATED when another session holds the payload', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(0x0bad) : cc(0));
    const { closed } = open(host, 20);
    const reason = await closed;
    expect(reason?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
    expect(reason?.message).to.match(/taken over by another session \(BMC session 0xbad\)/);
    // the payload belongs to someone else now: no Deactivate Payload of ours
    expect(host.requests.filter((r) => r.cmd === Cmd.DEACTIVATE_PAYLOAD)).to.have.length(0);
  });

  it('closes when the payload is no longer active at all (holder 0)', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(0) : cc(0));
    const reason = await open(host, 20).closed;
    expect(reason?.message).to.match(/deactivated by another session/);
  });

  it('keeps going while we hold it, and asks with our instance number', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? instanceInfo(host.bmcSessionId) : cc(0));
    const { stream } = open(host, 10);
    await until(() => host.requests.filter((r) => r.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO).length >= 3, 2000);
    expect(stream.destroyed).to.equal(false);
    expect(host.requests.find((r) => r.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO)!.data).to.deep.equal(Buffer.from([1, 1]));
    await stream.deactivate();
  });

  it('stops asking a BMC that lacks the command (0xC1), and 0 disables it', async () => {
    const host = new FakeSolHost();
    host.responder = (c) => (c.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO ? cc(0xc1) : cc(0));
    const { stream } = open(host, 10);
    await new Promise((r) => setTimeout(r, 100));
    expect(host.requests.filter((r) => r.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.have.length(1);
    expect(stream.destroyed).to.equal(false);
    await stream.deactivate();
    const quiet = new FakeSolHost();
    const { stream: s2 } = open(quiet, 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(quiet.requests.filter((r) => r.cmd === Cmd.GET_PAYLOAD_INSTANCE_INFO)).to.have.length(0);
    await s2.deactivate();
  });
});

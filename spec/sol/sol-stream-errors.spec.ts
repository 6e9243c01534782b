import { expect } from 'chai';
import { SolStream } from '../../lib/sol/sol-stream.js';
import { IpmiError } from '../../lib/errors.js';
import { FakeSolHost } from './fake-sol-host.js';

const open = (host: FakeSolHost) =>
  new SolStream(host, { instance: 1, port: 623, encrypt: false, authenticate: true, maxOutboundChars: 32, ownershipCheckMs: 0 });

describe('SolStream errors', () => {
  it("a lost session with only a 'close' listener: the reason comes with 'close', nothing is thrown", async () => {
    const host = new FakeSolHost();
    const stream = open(host);
    const closed = new Promise<IpmiError | undefined>((resolve) => stream.on('close', resolve));
    host.close(new IpmiError('IPMI_ERR_TIMEOUT', 'the BMC stopped answering'));
    const reason = await closed;
    expect(reason?.code).to.equal('IPMI_ERR_TIMEOUT');
  });

  it("an 'error' listener gets the error too", async () => {
    const host = new FakeSolHost();
    const stream = open(host);
    const errored = new Promise<Error>((resolve) => stream.on('error', resolve));
    host.close(new IpmiError('IPMI_ERR_TIMEOUT', 'the BMC stopped answering'));
    expect(((await errored) as IpmiError).code).to.equal('IPMI_ERR_TIMEOUT');
  });
});

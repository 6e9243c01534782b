/**
 * Issue 9, over real UDP against the fake BMC (the same cases run with no socket in session-machine.spec.ts):
 * under loss a lost RAKP 2 made the handshake fail with "IPMI_ERR_AUTH ... never answered RAKP 1: the user name
 * is unknown". Silence is no proof: IPMI_ERR_AUTH by silence only when EVERY attempt got its Open Session answered
 * and no answer to RAKP 1, and then marked `inferred`.
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { IpmiError } from '../../lib/errors.js';
import { PayloadType } from '../../lib/codec/rmcp.js';

const users = [{ name: 'admin', password: 'password', privilege: 4 }];

describe('session: RAKP 1 silence over UDP (issue 9)', function () {
  this.timeout(20_000);
  let bmc: FakeBmc;
  afterEach(async () => bmc?.close());

  async function bmcDropping(drop: (payloadType: number) => boolean): Promise<FakeBmc> {
    bmc = new FakeBmc({ users, faults: { drop: (dir, info) => dir === 'out' && drop(info.payloadType) } });
    await bmc.listen();
    return bmc;
  }

  const open = (retries: number) =>
    IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 17, timeoutMs: 150, retries, keepaliveMs: 0 });

  it('one RAKP 2 lost: the handshake opens on its restart', async () => {
    let rakp2 = 0;
    await bmcDropping((t) => t === PayloadType.RAKP2 && ++rakp2 === 1);
    const s = await open(3);
    expect(s.stats.handshakeRestarts).to.equal(1);
    await s.close();
  });

  it('RAKP 4 lost, then RAKP 2 lost on the last attempt: IPMI_ERR_TIMEOUT, not an unknown user', async () => {
    let rakp2 = 0;
    let rakp4 = 0;
    await bmcDropping((t) => (t === PayloadType.RAKP4 && ++rakp4 === 1) || (t === PayloadType.RAKP2 && ++rakp2 === 2));
    const err = (await open(1).catch((e: unknown) => e)) as IpmiError;
    expect(err).to.be.instanceOf(IpmiError);
    expect(err.code).to.equal('IPMI_ERR_TIMEOUT');
  });

  it('every RAKP 2 lost: IPMI_ERR_AUTH, inferred', async () => {
    await bmcDropping((t) => t === PayloadType.RAKP2);
    const err = (await open(2).catch((e: unknown) => e)) as IpmiError;
    expect(err.code).to.equal('IPMI_ERR_AUTH');
    expect(err.inferred).to.equal(true);
  });

  it('an unknown user stated by the BMC (status 0x0D): IPMI_ERR_AUTH, not inferred', async () => {
    await bmcDropping(() => false);
    const err = (await IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'mallory', password: 'x', cipherSuite: 17 }).catch((e: unknown) => e)) as IpmiError;
    expect(err.code).to.equal('IPMI_ERR_AUTH');
    expect(err.inferred).to.equal(false);
  });
});

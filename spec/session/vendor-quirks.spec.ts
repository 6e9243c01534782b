/**
 * BMC answers FreeIPMI has workaround flags for, absorbed by the session without a flag: authentication codes
 * longer than the algorithm's (FreeIPMI "supermicro20": Peppercon firmware sends a RAKP 2 HMAC one byte too long)
 * and a non-empty RAKP 4 integrity check value on cipher suite 0 (FreeIPMI "integritycheckvalue"). The codes are
 * cut to the algorithm's length before they are compared; a SHORT code still fails (spec/security).
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { PayloadType } from '../../lib/codec/rmcp.js';
import { UdpRelay } from '../security/udp-relay.js';

/** Append bytes to an unauthenticated RMCP+ session-setup payload, fixing its length field (offset 14, LE). */
function lengthen(bytes: Buffer, extra: Buffer): Buffer {
  const out = Buffer.concat([bytes, extra]);
  out.writeUInt16LE(bytes.readUInt16LE(14) + extra.length, 14);
  return out;
}

describe('session: vendor quirks absorbed', () => {
  let bmc: FakeBmc;
  let relay: UdpRelay;
  beforeEach(async () => {
    bmc = new FakeBmc({ users: [{ name: 'admin', password: 'password', privilege: 4 }] });
    await bmc.listen();
    relay = await UdpRelay.start(bmc.port);
  });
  afterEach(async () => {
    await relay.close();
    await bmc.close();
  });

  for (const suite of [3, 8, 17]) {
    it(`a RAKP 2 auth code one byte too long (Supermicro/Peppercon) still opens suite ${suite}`, async () => {
      let rewritten = 0;
      relay.toClient = (bytes, env) => {
        if (env?.payloadType !== PayloadType.RAKP2) return undefined;
        rewritten++;
        return lengthen(bytes, Buffer.from([0x5a]));
      };
      // the fixed timer: an early adaptive retry of RAKP 1 under load would draw a second RAKP 2 (counted below)
      const s = await IpmiSession.open({ host: '127.0.0.1', port: relay.port, username: 'admin', password: 'password', cipherSuite: suite, adaptiveTimeout: false });
      expect(rewritten).to.equal(1);
      await s.getDeviceId();
      await s.close();
    });
  }

  it('a non-empty RAKP 4 integrity check value on cipher suite 0 still opens the session', async () => {
    let rewritten = 0;
    relay.toClient = (bytes, env) => {
      if (env?.payloadType !== PayloadType.RAKP4) return undefined;
      rewritten++;
      return lengthen(bytes, Buffer.alloc(12, 0xee));
    };
    // the fixed timer: an early adaptive retry of RAKP 3 under load would draw a second RAKP 4 (counted below)
    const s = await IpmiSession.open({ host: '127.0.0.1', port: relay.port, username: 'admin', password: 'password', cipherSuite: 0, adaptiveTimeout: false });
    expect(rewritten).to.equal(1);
    await s.getDeviceId();
    await s.close();
  });
});

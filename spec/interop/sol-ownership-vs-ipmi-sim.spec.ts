/**
 * ipmi_sim never tells a session that another one took its SOL payload (no "SOL deactivating" packet,
 * fixtures/ipmi_sim/NOTES.md). Our stream notices through Get Payload Instance Info.
 */
import { expect } from 'chai';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { IpmiError } from '../../lib/errors.js';
import { requirePeer } from '../helpers/peers.js';
import { startIpmiSim, startSerialHost, type IpmiSimHandle, type SerialHost } from '../helpers/ipmi-sim.js';
import { lanplusArgs, runIpmitool, startIpmitoolSol } from '../helpers/ipmitool.js';

describe('interop: a stolen SOL payload on ipmi_sim', function () {
  this.timeout(30_000);
  let sim: IpmiSimHandle;
  let host: SerialHost;
  before(async function () {
    requirePeer(this, 'ipmi_sim');
    requirePeer(this, 'ipmitool');
    host = await startSerialHost({ mode: 'echo' });
    sim = await startIpmiSim({ solHost: host.server });
  });
  after(async () => {
    await sim?.stop();
    await host?.close();
  });

  it('ipmitool taking SOL over ends our stream with IPMI_ERR_SOL_DEACTIVATED within the check period', async () => {
    const session = await IpmiSession.open({ host: '127.0.0.1', port: sim.port, username: 'admin', password: 'password', cipherSuite: 3 });
    const sol = await activateSol(session, { ownershipCheckMs: 500 });
    sol.on('error', () => undefined);
    const closed = new Promise<IpmiError | undefined>((resolve) => sol.on('close', resolve));
    // ipmitool's own sol activate refuses a held payload, so free it the way an operator would, then take it.
    const target = { host: '127.0.0.1', port: sim.port };
    await runIpmitool([...lanplusArgs(target, { user: 'admin', password: 'password', cipherSuite: 3 }), 'sol', 'deactivate']);
    const thief = startIpmitoolSol(lanplusArgs(target, { user: 'admin', password: 'password', cipherSuite: 3 }));
    try {
      const t0 = Date.now();
      const reason = await closed;
      expect(reason?.code).to.equal('IPMI_ERR_SOL_DEACTIVATED');
      expect(Date.now() - t0).to.be.lessThan(5000);
      expect(session.closed).to.equal(false); // the session itself is fine
      await session.close();
    } finally {
      await thief.quit();
    }
  });
});

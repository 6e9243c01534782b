/**
 * Taking a console over, end to end over UDP loopback against the fake BMC (real IpmiSession, real SolStream):
 * the old holder's deactivate() must never deactivate the new holder's payload (contract C4), and steal 'own'
 * takes over only a session this process opened (C3).
 */
import { expect } from 'chai';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import { activateSol } from '../../lib/sol/activate.js';
import { SolSessionRegistry } from '../../lib/sol/sol-ownership.js';
import type { SolStream } from '../../lib/sol/sol-stream.js';
import { isIpmiError } from '../../lib/errors.js';

function echoed(sol: SolStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.includes(text)) {
        sol.off('data', onData);
        resolve();
      }
    };
    sol.on('data', onData);
    sol.once('close', (reason) => reject(new Error(`closed before the echo: ${reason?.code ?? 'clean'}`)));
    sol.write(text);
  });
}

describe('SOL takeover vs the fake BMC', function () {
  this.timeout(20_000);
  let bmc: FakeBmc;
  const sessions: IpmiSession[] = [];

  beforeEach(async () => {
    bmc = new FakeBmc({ address: '127.0.0.1', users: [{ name: 'admin', password: 'password', privilege: 4 }], sol: { host: 'echo' } });
    await bmc.listen();
  });

  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close();
    await bmc.close();
  });

  async function open(): Promise<IpmiSession> {
    const s = await IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', timeoutMs: 500, retries: 2 });
    sessions.push(s);
    return s;
  }

  it('A is taken over by B; A.deactivate() sends no Deactivate Payload; B still works', async () => {
    const registry = new SolSessionRegistry();
    const a = await activateSol(await open(), { ownSessions: registry, ownershipCheckMs: 0 });
    a.on('error', () => undefined);
    await echoed(a, 'a1');
    const sessionB = await open();
    const b = await activateSol(sessionB, { steal: 'always', ownSessions: registry, ownershipCheckMs: 0 });
    expect(bmc.solSessionId).to.equal(sessionB.bmcSessionId);
    await a.deactivate(); // at once, whether or not A heard "deactivating" yet
    expect(bmc.solSessionId).to.equal(sessionB.bmcSessionId);
    await echoed(b, 'b still works');
    expect(b.destroyed).to.equal(false);
    await b.deactivate();
    expect(bmc.solSessionId).to.equal(undefined);
  });

  it("steal 'own': our stale session's payload is taken back; a session we did not open keeps it", async () => {
    const ours = new SolSessionRegistry();
    const stale = await activateSol(await open(), { ownSessions: ours, ownershipCheckMs: 0 }); // then abandoned
    stale.on('error', () => undefined);
    const again = await open();
    const sol = await activateSol(again, { steal: 'own', ownSessions: ours, ownershipCheckMs: 0 });
    expect(bmc.solSessionId).to.equal(again.bmcSessionId);
    await echoed(sol, 'reclaimed');
    await sol.deactivate();

    // an operator (another tool: another registry) holds it now
    const admin = await open();
    const adminSol = await activateSol(admin, { ownSessions: new SolSessionRegistry(), ownershipCheckMs: 0 });
    let err: unknown;
    try {
      await activateSol(await open(), { steal: 'own', ownSessions: ours });
    } catch (e) {
      err = e;
    }
    expect(isIpmiError(err, 'IPMI_ERR_SOL_IN_USE'), String(err)).to.equal(true);
    expect((err as Error).message).to.contain(`0x${admin.bmcSessionId.toString(16)}`);
    expect(bmc.solSessionId).to.equal(admin.bmcSessionId);
    await echoed(adminSol, 'still the admin');
    await adminSol.deactivate();
  });
});

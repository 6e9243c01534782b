/**
 * Proves the ipmi_sim harness with ipmitool alone (none of our code): if these fail, interop specs that use
 * the harness cannot be trusted. Facts behind the expectations: fixtures/ipmi_sim/NOTES.md.
 */
import { expect } from 'chai';
import { requirePeers } from '../helpers/peers.js';
import {
  IPMI_SIM_WORKING_CIPHER_SUITES,
  startIpmiSim,
  startSerialHost,
  waitForAsfPong,
  type IpmiSimHandle,
  type SerialHost,
} from '../helpers/ipmi-sim.js';
import { lanplusArgs, runIpmitool, startIpmitoolSol } from '../helpers/ipmitool.js';

describe('interop: ipmi_sim harness (proven with ipmitool only)', function () {
  this.timeout(20000);
  let host: SerialHost;
  let sim: IpmiSimHandle;

  before(async function () {
    requirePeers(this, 'ipmi_sim', 'ipmitool');
    host = await startSerialHost({ mode: 'record' });
    sim = await startIpmiSim({ solHost: host.server });
    await host.waitForConnection();
  });

  // A SOL ipmitool that had to be SIGKILLed leaves the payload active for 30 s (idle timeout): free it.
  afterEach(async function () {
    if (sim?.pid) await runIpmitool([...lanplusArgs(sim, { cipherSuite: 3 }), 'sol', 'deactivate'], { timeoutMs: 5000 });
  });

  after(async function () {
    await sim?.stop();
    await host?.close();
  });

  it('binds 127.0.0.1 on a free port and answers an ASF presence ping', async function () {
    expect(sim.host).to.equal('127.0.0.1');
    expect(sim.port).to.be.above(0);
    const pong = await waitForAsfPong(sim.port, 1000);
    // RMCP ASF pong: 06 00 ff 06 | IANA 000011be | type 40 ...; supported entities 0x81 (IPMI, ASF 1.0)
    expect(pong.subarray(0, 9).toString('hex')).to.equal('0600ff06000011be40');
    expect(pong[20]).to.equal(0x81);
  });

  for (const suite of IPMI_SIM_WORKING_CIPHER_SUITES) {
    it(`ipmitool -C ${suite} mc info succeeds`, async function () {
      const res = await runIpmitool([...lanplusArgs(sim, { cipherSuite: suite }), 'mc', 'info']);
      expect(res.code, res.stderr).to.equal(0);
      expect(res.stdout).to.match(/Device ID\s+: 0/);
      expect(res.stdout).to.match(/Firmware Revision\s+: 9\.08/);
    });
  }

  it('suites 7, 8, 11, 12, 15, 16, 17 fail against ipmi_sim (as recorded in NOTES.md)', async function () {
    const suites = [7, 8, 11, 12, 15, 16, 17];
    const results = await Promise.all(
      suites.map((suite) =>
        runIpmitool([...lanplusArgs(sim, { cipherSuite: suite, retries: 1, timeoutSec: 1 }), 'mc', 'info'], {
          timeoutMs: 10000,
        }),
      ),
    );
    const summary = Object.fromEntries(suites.map((s, i) => [s, results[i]!]));
    for (const suite of suites) {
      const r = summary[suite]!;
      expect(r.code, `-C ${suite} should not succeed`).to.not.equal(0);
      expect(r.stdout, `-C ${suite}`).to.not.match(/Device ID/);
    }
    // 7/8 (HMAC-MD5-128 integrity): handshake completes, ipmi_sim never answers the first signed message.
    for (const suite of [7, 8]) expect(summary[suite]!.stderr).to.match(/Set Session Privilege Level to ADMINISTRATOR failed/);
    // 11/12 (MD5-128 integrity): ipmitool itself aborts (assertion in lanplus.c), before any signed message.
    for (const suite of [11, 12]) expect(summary[suite]!.signal ?? summary[suite]!.stderr).to.match(/SIGABRT|Assertion/);
    // 15/16/17 (SHA-256): Open Session Response status 0x04 (invalid authentication algorithm).
    for (const suite of [15, 16, 17]) expect(summary[suite]!.stderr).to.match(/invalid authentication algorithm/);
  });

  it('sol activate without a tty: typed bytes reach the host, host bytes reach stdout, ~. leaves', async function () {
    host.clearReceived();
    const sol = startIpmitoolSol(lanplusArgs(sim, { cipherSuite: 3 }));
    try {
      await sol.waitForStdout('[SOL Session operational');
      sol.write('hello console\r');
      await host.waitForReceived('hello console\r');
      host.write('from the host\r\n');
      await sol.waitForStdout('from the host\r\n');
      const res = await sol.quit();
      expect(res.code).to.equal(0);
      expect(res.stdout).to.include('[terminated ipmitool]');
    } finally {
      sol.kill();
    }
  });

  it('sol deactivate from a second ipmitool frees the payload; the first session is not told; the next first keystroke is lost', async function () {
    host.clearReceived();
    const first = startIpmitoolSol(lanplusArgs(sim, { cipherSuite: 2 }));
    let third: ReturnType<typeof startIpmitoolSol> | undefined;
    try {
      await first.waitForStdout('[SOL Session operational');
      first.write('1');
      await host.waitForReceived('1');

      // A second activation is refused while the first is active (Activate Payload cc 0x80).
      const second = await runIpmitool([...lanplusArgs(sim, { cipherSuite: 2 }), 'sol', 'activate'], {
        timeoutMs: 10000,
      });
      expect(second.code).to.not.equal(0);
      expect(second.stdout + second.stderr).to.match(/already active/i);

      // Deactivate from another session: ipmi_sim does not check ownership, so this succeeds...
      const deact = await runIpmitool([...lanplusArgs(sim, { cipherSuite: 2 }), 'sol', 'deactivate']);
      expect(deact.code, deact.stderr).to.equal(0);
      // ...and the first ipmitool gets no "SOL deactivating" packet: it is still running, unaware.
      await new Promise((r) => setTimeout(r, 300));
      expect(first.child.exitCode).to.equal(null);

      // The payload is free: a new activation works...
      third = startIpmitoolSol(lanplusArgs(sim, { cipherSuite: 2 }));
      await third.waitForStdout('[SOL Session operational');
      // ...but ipmi_sim's SOL sequence state survived the deactivation: the first session's last packet had
      // SOL seq 1, the new session's first packet is seq 1 too, so ipmi_sim ACKs it as a duplicate and
      // drops the byte (NOTES.md, "first packet of a new SOL session"). ipmitool loses that keystroke.
      third.write('3');
      await new Promise((r) => setTimeout(r, 700));
      expect(host.receivedBytes().toString('latin1')).to.equal('1');
      third.write('4');
      await host.waitForReceived('4');
      expect(host.receivedBytes().toString('latin1')).to.equal('14');
      expect((await third.quit()).code).to.equal(0);
    } finally {
      first.kill();
      third?.kill();
    }
  });

  it('restart() brings ipmi_sim back on the same port and SOL host connection', async function () {
    const port = sim.port;
    const pid = sim.pid;
    await sim.restart();
    expect(sim.port).to.equal(port);
    expect(sim.pid).to.not.equal(pid);
    const res = await runIpmitool([...lanplusArgs(sim, { cipherSuite: 3 }), 'mc', 'info']);
    expect(res.code, res.stderr).to.equal(0);
    host.clearReceived();
    const sol = startIpmitoolSol(lanplusArgs(sim, { cipherSuite: 3 }));
    try {
      await sol.waitForStdout('[SOL Session operational');
      sol.write('again\r');
      await host.waitForReceived('again\r');
      expect((await sol.quit()).code).to.equal(0);
    } finally {
      sol.kill();
    }
  });
});

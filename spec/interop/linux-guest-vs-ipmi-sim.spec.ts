/**
 * The whole path with nothing of ours at either end: a real Linux guest (QEMU, Debian's cloud kernel, busybox)
 * whose serial port is ipmi_sim's SOL host, our bridge in the middle, a real TCP client on top. The guest's
 * serial output is recorded where it leaves QEMU (spec/helpers/linux-guest.ts): what the client receives must
 * be that, byte for byte, and what the client types must run in the guest's shell.
 */
import { expect } from 'chai';
import { ConsoleBridge, IpmiConsoleSource } from '../../lib/index.js';
import { TestClient, waitUntil } from '../bridge/tcp-client.js';
import { bootLinuxGuest, GUEST_OUTPUT_TIMEOUT_MS, GUEST_READY_LINE, guestSerialBehindIpmiSim, type GuestSerialBehindIpmiSim, type LinuxGuest } from '../helpers/linux-guest.js';
import { requirePeers } from '../helpers/peers.js';

describe('interop: a real Linux guest behind ipmi_sim, through the bridge', function () {
  this.timeout(180_000);
  let serial: GuestSerialBehindIpmiSim | undefined;
  let guest: LinuxGuest | undefined;
  let bridge: ConsoleBridge | undefined;
  let client: TestClient | undefined;

  before(async function () {
    requirePeers(this, 'ipmi_sim', 'qemu', 'cpio');
    serial = await guestSerialBehindIpmiSim();
  });

  after(async () => {
    client?.destroy();
    await bridge?.close();
    await guest?.stop();
    await serial?.close();
  });

  it('a client connected before power-on receives the whole boot log byte-exact, and its keystrokes run in the guest', async () => {
    const { image, hostSocket, sim } = serial!;
    bridge = new ConsoleBridge({
      host: '127.0.0.1',
      port: 0,
      source: new IpmiConsoleSource({ host: '127.0.0.1', port: sim.port, username: 'admin', password: 'password', cipherSuite: 3 }),
    });
    bridge.on('error', () => undefined);
    const port = await bridge.listen();
    client = await TestClient.connect(port);
    await waitUntil(() => bridge?.state === 'active', 'the console to be active', GUEST_OUTPUT_TIMEOUT_MS);

    guest = await bootLinuxGuest(image, hostSocket);
    await guest.waitForOutput(GUEST_READY_LINE);
    await client.waitForText(GUEST_READY_LINE, GUEST_OUTPUT_TIMEOUT_MS);
    const received = client.data();
    const written = guest.output();
    const lines = written.subarray(0, written.indexOf(GUEST_READY_LINE)).toString('latin1').split('\n').length;
    console.log(`      guest wrote ${written.length} bytes (${lines} lines to "${GUEST_READY_LINE}"); client has ${received.length}`);
    expect(lines).to.be.above(100); // a real kernel's boot log, not a stub
    expect(received.equals(written.subarray(0, received.length)), 'the client got exactly what the guest wrote').to.equal(true);

    await client.write('echo $((6*7))\r');
    await client.waitForText('\r\n42\r\n', GUEST_OUTPUT_TIMEOUT_MS);
    await guest.waitForOutput('\r\n42\r\n');
    const all = client.data();
    expect(all.equals(guest.output().subarray(0, all.length)), 'still byte-exact after the shell answered').to.equal(true);
  });
});

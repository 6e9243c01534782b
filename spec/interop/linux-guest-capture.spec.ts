/**
 * Issue 11's proof on a real Linux guest (QEMU, Debian's cloud kernel, busybox) whose serial port is ipmi_sim's
 * SOL host, through a ConsoleManager with capture on. Nobody is connected while the guest boots: the record is
 * the console's only reader. Once the guest has finished booting (its output recorded where it leaves QEMU, the
 * ground truth, says "guest: ready"), a client connects and gets the whole boot log through replay, byte-exact;
 * the console log file holds it byte-exact; getConsoleLog(node, { lines: 50 }) returns its last 50 lines.
 * The client connects on that event, not after a fixed time: what matters is that the whole boot happened with
 * no client (it takes 2-5 s under TCG here, far longer on a loaded machine).
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConsoleManager } from '../../lib/index.js';
import { TestClient, findFreePortRange, waitUntil } from '../bridge/tcp-client.js';
import { bootLinuxGuest, GUEST_OUTPUT_TIMEOUT_MS, GUEST_READY_LINE, guestSerialBehindIpmiSim, type GuestSerialBehindIpmiSim, type LinuxGuest } from '../helpers/linux-guest.js';
import { requirePeers } from '../helpers/peers.js';

/** The last `n` lines of `text` (LF ends a line; an unfinished last line counts), the reference for tail(). */
function lastLines(text: string, n: number): string {
  const parts = text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  return parts.slice(Math.max(0, parts.length - n)).join('');
}

describe('interop: a captured console on a real Linux guest behind ipmi_sim', function () {
  this.timeout(240_000);
  let serial: GuestSerialBehindIpmiSim | undefined;
  let guest: LinuxGuest | undefined;
  let manager: ConsoleManager | undefined;
  let client: TestClient | undefined;
  let dir: string;

  before(async function () {
    requirePeers(this, 'ipmi_sim', 'qemu', 'cpio');
    serial = await guestSerialBehindIpmiSim();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-guest-log-'));
  });

  after(async () => {
    client?.destroy();
    await manager?.stopAll();
    await guest?.stop();
    await serial?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a client connecting after the whole boot gets it through replay; the log file holds it byte-exact; getConsoleLog gives the last 50 lines', async () => {
    const { image, hostSocket, sim } = serial!;
    const first = await findFreePortRange(2);
    manager = new ConsoleManager({
      address: '127.0.0.1',
      portRange: `${first}:${first + 2}`,
      capture: true,
      replay: { bytes: 256 * 1024 },
      logDir: dir,
    });
    manager.on('console-event', () => undefined);
    const info = await manager.startConsole('guest-1', { host: '127.0.0.1', port: sim.port, username: 'admin', password: 'password', cipherSuite: 3 });
    await waitUntil(() => manager!.list()[0]?.state === 'active', 'the captured console to be active', GUEST_OUTPUT_TIMEOUT_MS);

    guest = await bootLinuxGuest(image, hostSocket); // power on, nobody connected
    await guest.waitForOutput(GUEST_READY_LINE);
    // Wait until the record holds everything the guest wrote so far (the shell's prompt follows the ready line).
    await waitUntil(
      () => manager!.getConsoleLog('guest-1')!.data.length >= guest!.output().length && guest!.output().includes(GUEST_READY_LINE),
      'the record to hold the whole boot log',
      GUEST_OUTPUT_TIMEOUT_MS,
    );
    const booted = guest.output();
    const lines = booted.toString('latin1').split('\n').length;
    console.log(`      guest wrote ${booted.length} bytes (${lines} lines) with no client connected`);
    expect(lines).to.be.above(100); // a real kernel's boot log
    expect(booted.length, 'the boot log fits the default 256 KiB history').to.be.below(256 * 1024);

    const log50 = manager.getConsoleLog('guest-1', { lines: 50 })!;
    expect(log50.text).to.equal(lastLines(booted.toString('utf8'), 50));
    expect(log50.text.split('\n').length).to.be.within(50, 51);

    client = await TestClient.connect(Number(/:(\d+)$/.exec(info.url)![1]));
    await client.waitForBytes(booted.length, GUEST_OUTPUT_TIMEOUT_MS);
    expect(client.data().subarray(0, booted.length).equals(booted), 'the replay is the whole boot log, byte-exact').to.equal(true);

    await client.write('echo $((6*7))\r');
    await client.waitForText('\r\n42\r\n', GUEST_OUTPUT_TIMEOUT_MS);
    await guest.waitForOutput('\r\n42\r\n');
    const answered = guest.output().length;
    await waitUntil(() => client!.bytes >= answered, 'the client to have everything', GUEST_OUTPUT_TIMEOUT_MS);
    const received = client.data();
    expect(received.equals(guest.output().subarray(0, received.length)), 'replay + live: exactly what the guest wrote').to.equal(true);

    await manager.stopAll();
    const logged = await readFile(path.join(dir, 'guest-1.log'));
    expect(logged.length).to.be.at.least(answered);
    expect(logged.equals(guest.output().subarray(0, logged.length)), 'the console log file is byte-exact').to.equal(true);
    const audit = await readFile(path.join(dir, 'guest-1.audit.log'), 'utf8');
    expect(audit).to.match(/ attach \(writer 127\.0\.0\.1:\d+\)\n/);
  });
});

/**
 * Issue 11's spectator proof through the fake BMC (fixtures/fake-bmc): a captured console (the real
 * IpmiConsoleSource, RMCP+ suite 17 + SOL over the UDP loopback) with one writer and five spectators on real TCP
 * sockets, one spectator never reading, while the host prints until it is dropped (a few MB). The others and the console log file get
 * every byte exactly; the stalled one is dropped once its queue bound is reached; the BMC is never paused (no
 * partial ACK, no NACK from our side). Loopback only; no timing assertions.
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:net';
import { FakeBmc } from '../../fixtures/fake-bmc/index.js';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import { IpmiConsoleSource } from '../../lib/bridge/ipmi-console-source.js';
import { TestClient, waitUntil } from '../bridge/tcp-client.js';
import { startSerialHost, type SerialHost } from '../helpers/ipmi-sim.js';
import { BRIDGE_SETTINGS, patternBytes, SOL_READABLE_HWM } from './bridge-shared.js';

const USERS = [{ name: 'admin', password: 'password', privilege: 4 }];
const VIEWER_QUEUE_BYTES = 256 * 1024;
/**
 * The host prints until the stalled spectator is dropped (a paused loopback socket first fills the kernel's
 * buffers: about 4 MB here, more where tcp_wmem allows more), then AFTER_DROP more; at most MAX_TOTAL.
 */
const AFTER_DROP = 512 * 1024;
const MAX_TOTAL = 64 * 1024 * 1024;
const CHUNK = 16 * 1024;
/** The console log's slow-disk bound here: more than the host can print (MAX_TOTAL). */
const LOG_PENDING_BYTES = MAX_TOTAL;
/** How far the host may print ahead of what the writer received (else socket buffers hide when to stop). */
const LEAD = 256 * 1024;

/**
 * Write pattern bytes to the BMC's serial side (respecting its backpressure, and at most LEAD ahead of what
 * `reader` received) until `done()`, then AFTER_DROP more; returns the count.
 */
async function printUntil(socket: Socket, reader: TestClient, done: () => boolean): Promise<number> {
  let at = 0;
  let stopAt = MAX_TOTAL;
  while (at < stopAt) {
    if (stopAt === MAX_TOTAL && done()) stopAt = at + AFTER_DROP;
    const ok = socket.write(patternBytes(at, CHUNK));
    at += CHUNK;
    if (!ok) await new Promise((resolve) => socket.once('drain', resolve));
    if (at - reader.bytes > LEAD) await reader.waitForBytes(at - LEAD, 30_000);
  }
  return at;
}

describe('interop: captured console with 1 writer + 5 spectators vs the fake BMC', function () {
  this.timeout(120_000);
  let host: SerialHost;
  let hostSocket: Socket | undefined;
  let bmc: FakeBmc;
  let bridge: ConsoleBridge | undefined;
  let dir: string;
  const clients: TestClient[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-spectators-'));
    host = await startSerialHost({ mode: 'record', onConnection: (socket) => (hostSocket = socket) });
    bmc = new FakeBmc({ address: '127.0.0.1', port: 0, users: USERS, sol: { host: 'tcp', address: '127.0.0.1', port: host.port } });
    await bmc.listen();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await bridge?.close();
    await bmc.close();
    await host.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the others and the log are byte-exact, the stalled one is dropped after its bound, the BMC is never paused', async () => {
    bridge = new ConsoleBridge({
      ...BRIDGE_SETTINGS,
      source: new IpmiConsoleSource({
        host: '127.0.0.1',
        port: bmc.port,
        username: 'admin',
        password: 'password',
        cipherSuite: 17,
        sol: { readableHighWaterMark: SOL_READABLE_HWM },
      }),
      host: '127.0.0.1',
      capture: true,
      viewers: { max: 6, onExtra: 'spectate' },
      viewerQueueBytes: VIEWER_QUEUE_BYTES,
      logDir: dir,
      logName: 'node-1',
      // This spec is about viewers, not a slow disk (log-sink.spec.ts covers that bound): the log may queue the
      // whole burst, so a loaded machine whose file writes lag behind cannot make it drop (by design) and fail.
      log: { pendingBytes: LOG_PENDING_BYTES },
    });
    bridge.on('error', () => undefined);
    await bridge.listen();
    await waitUntil(() => bridge!.state === 'active' && hostSocket !== undefined, 'the captured console', 10_000);

    const writer = await TestClient.connect(bridge.port);
    clients.push(writer);
    await waitUntil(() => bridge!.metrics.clientConnected, 'the writer');
    for (let i = 0; i < 5; i++) {
      const spectator = await TestClient.connect(bridge.port);
      clients.push(spectator);
      if (i === 2) spectator.socket.pause(); // never reads
    }
    await waitUntil(() => bridge!.metrics.capture!.spectators === 5, 'five spectators');
    const stalled = clients[3]!;
    const readers = clients.filter((c) => c !== stalled);

    await writer.write('uname -a\r');
    await host.waitForReceived('uname -a\r');
    const TOTAL = await printUntil(hostSocket!, writer, () => bridge!.metrics.capture!.viewersDropped > 0);
    expect(TOTAL, 'dropped before MAX_TOTAL').to.be.below(MAX_TOTAL);
    for (const c of readers) await c.waitForBytes(TOTAL, 60_000);
    const m = bridge.metrics.capture!;
    console.log(
      `      ${(TOTAL / 1024 / 1024).toFixed(1)} MiB to 1 writer + 4 spectators; the stalled spectator dropped ` +
        `(${m.viewersDropped}); BMC retransmits ${bmc.stats.solRetransmits}`,
    );
    const expected = patternBytes(0, TOTAL);
    for (const c of readers) expect(c.data().equals(expected), 'byte-exact').to.equal(true);
    expect(m.viewersDropped, 'the stalled spectator was dropped').to.equal(1);
    expect(m.spectators).to.equal(4);
    expect(stalled.bytes, 'the stalled one never read').to.equal(0);
    expect(bmc.stats.solPartialAcks, 'no partial ACK: the BMC was never paused').to.equal(0);
    expect(bmc.stats.solNacksReceived, 'no NACK: the BMC was never paused').to.equal(0);
    expect(host.receivedBytes().toString()).to.equal('uname -a\r');

    await bridge.close();
    bridge = undefined;
    expect((await readFile(path.join(dir, 'node-1.log'))).equals(expected), 'the console log is byte-exact').to.equal(true);
    const audit = await readFile(path.join(dir, 'node-1.audit.log'), 'utf8');
    expect(audit.match(/ attach \(/g)).to.have.length(6);
    expect(audit).to.match(/ detach \(spectator 127\.0\.0\.1:\d+, dropped\)\n/);
  });
});

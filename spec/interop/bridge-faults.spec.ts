/**
 * Issue 6's faults through the whole stack (TCP client -> bridge -> RMCP+/SOL over real UDP -> BMC), with the
 * impairment proxy on the UDP path: loss, duplication and reordering; a 20 s network cut under a connected
 * client with default timings; loss against ipmi_sim.
 */
import { expect } from 'chai';
import net from 'node:net';
import { FakeBmc, generatorBytes } from '../../fixtures/fake-bmc/index.js';
import { ImpairmentProxy } from '../../fixtures/impairment-proxy.js';
import { ConsoleManager, type ConsoleEvent } from '../../lib/bridge/console-manager.js';
import { requirePeer } from '../helpers/peers.js';
import { startIpmiSim, startSerialHost } from '../helpers/ipmi-sim.js';
import { findFreePortRange } from '../bridge/tcp-client.js';

/** A manager on a free port range of its own (never a fixed range: other processes may hold it). */
async function newManager(): Promise<ConsoleManager> {
  const base = await findFreePortRange(4);
  return new ConsoleManager({ address: '127.0.0.1', portRange: `${base}:${base + 4}` });
}

const users = [{ name: 'admin', password: 'password', privilege: 4 }];

async function until(cond: () => boolean, ms: number, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Wait until `done()`, failing only when `progress()` has not grown for `stallMs`: a loaded machine moves slower,
 * but a transfer that lost bytes stops for good.
 */
async function untilDoneOrStalled(done: () => boolean, progress: () => number, stallMs: number, what: string): Promise<void> {
  let last = progress();
  let lastMovedAt = Date.now();
  while (!done()) {
    const now = progress();
    if (now !== last) {
      last = now;
      lastMovedAt = Date.now();
    } else if (Date.now() - lastMovedAt > stallMs) {
      throw new Error(`${what}: no progress for ${stallMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Client {
  socket: net.Socket;
  data: () => Buffer;
  /** Bytes received so far (without joining them). */
  length: () => number;
}

async function connectClient(url: string): Promise<Client> {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (d: Buffer) => {
    chunks.push(d);
    length += d.length;
  });
  await new Promise((r) => socket.once('connect', r));
  return { socket, data: () => Buffer.concat(chunks), length: () => length };
}

describe('interop: bridge under network faults', function () {
  this.timeout(120_000);
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('1 MB each way byte-exact through 10 % loss, 5 % duplication and 5 % reordering (fake BMC)', async function () {
    this.timeout(0); // bounded by the stall check below: a slow machine takes longer, a stuck transfer stops
    const bmc = new FakeBmc({ users, sol: { host: 'echo' }, solRetransmitMs: 25, solRetries: 100 });
    await bmc.listen();
    cleanups.push(() => bmc.close());
    const proxy = await ImpairmentProxy.start({ target: bmc.port, seed: 6, impairments: { loss: 0.1, duplicate: 0.05, reorder: 0.05 } });
    cleanups.push(() => proxy.close());
    const manager = await newManager();
    cleanups.push(() => manager.stopAll());
    const info = await manager.startConsole('lossy', {
      host: '127.0.0.1',
      port: proxy.port,
      username: 'admin',
      password: 'password',
      cipherSuite: 17,
      timeoutMs: 250,
      retries: 8,
      sol: { retransmitIntervalMs: 25, maxRetransmits: 100 },
    });
    const events: ConsoleEvent[] = [];
    manager.on('console-event', (e: ConsoleEvent) => events.push(e));
    const client = await connectClient(info.url);
    cleanups.push(async () => client.socket.destroy());
    const input = generatorBytes(1024 * 1024);
    client.socket.write(input); // echoed by the host: 1 MB client -> BMC and 1 MB BMC -> client at once
    const report = (error: Error): never => {
      const got = client.data();
      let same = 0;
      while (same < got.length && got[same] === input[same]) same++;
      throw new Error(
        `${error.message}: ${got.length} bytes back, the first ${same} right; events ${JSON.stringify(events)}; ` +
          `BMC ${JSON.stringify(bmc.stats)}; proxy ${JSON.stringify(proxy.stats)}`,
      );
    };
    const echoed = () => client.length();
    await untilDoneOrStalled(() => echoed() >= input.length, echoed, 30_000, '1 MB echoed').catch(report);
    if (!client.data().equals(input)) report(new Error('1 MB echoed, not byte-exact'));
    expect(proxy.stats.toTarget.lost + proxy.stats.toClient.lost).to.be.greaterThan(500);
    expect(proxy.stats.toTarget.duplicated + proxy.stats.toClient.duplicated).to.be.greaterThan(100);
  });

  it('a 20 s network cut under a connected client, default timings: back within 15 s, client connected, keystrokes kept', async () => {
    const bmc = new FakeBmc({ users, sol: { host: 'echo' } });
    await bmc.listen();
    cleanups.push(() => bmc.close());
    const proxy = await ImpairmentProxy.start({ target: bmc.port, seed: 20 });
    cleanups.push(() => proxy.close());
    const manager = await newManager();
    cleanups.push(() => manager.stopAll());
    const events: ConsoleEvent[] = [];
    manager.on('console-event', (e: ConsoleEvent) => events.push(e));
    // Only the defaults: keepalive 10 s, 1 s x 4 tries, SOL 500 ms x 10, reconnect 0.5 s doubling to 8 s.
    const info = await manager.startConsole('cut', { host: '127.0.0.1', port: proxy.port, username: 'admin', password: 'password' });
    const client = await connectClient(info.url);
    cleanups.push(async () => client.socket.destroy());
    let closed = false;
    client.socket.on('close', () => (closed = true));
    client.socket.write('before\r');
    await until(() => client.data().includes('before\r'), 10_000, 'echo before the cut');
    const cut = proxy.cut(20_000);
    client.socket.write('typed during the cut\r'); // unacknowledged when the console dies: replayed later
    await cut;
    const cutEnded = Date.now();
    await until(() => client.data().includes('typed during the cut\r'), 15_000, 'the console back within 15 s of the cut');
    const recovery = Date.now() - cutEnded;
    client.socket.write('after\r');
    await until(() => client.data().includes('after\r'), 5000, 'echo after the cut');
    expect(closed).to.equal(false);
    expect(events.some((e) => e.event === 'reconnect')).to.equal(true);
    expect(recovery).to.be.lessThan(15_000);
    console.log(`      console back ${recovery} ms after the 20 s cut ended`);
  });

  it('BMC restarted under a connected client (default timings): back within 15 s of it answering', async () => {
    const bmc = new FakeBmc({ users, sol: { host: 'echo' } });
    await bmc.listen();
    const port = bmc.port;
    let current = bmc;
    cleanups.push(() => current.close());
    const manager = await newManager();
    cleanups.push(() => manager.stopAll());
    const events: ConsoleEvent[] = [];
    manager.on('console-event', (e: ConsoleEvent) => events.push(e));
    const info = await manager.startConsole('reboot', { host: '127.0.0.1', port, username: 'admin', password: 'password' });
    const client = await connectClient(info.url);
    client.socket.write('one\r');
    await until(() => client.data().includes('one\r'), 10_000, 'first echo');
    await bmc.close(); // the BMC reboots
    await new Promise((r) => setTimeout(r, 12_000)); // long enough for the session to be declared lost
    current = new FakeBmc({ users, sol: { host: 'echo' }, port });
    await current.listen();
    const answering = Date.now();
    client.socket.write('two\r');
    await until(() => client.data().includes('two\r'), 15_000, 'the console back within 15 s');
    console.log(`      console back ${Date.now() - answering} ms after the BMC answered again`);
    expect(events.some((e) => e.event === 'reconnect')).to.equal(true);
    expect(client.socket.destroyed).to.equal(false);
    client.socket.destroy();
  });

  it('loss against ipmi_sim: 64 KB client -> host byte-exact through the bridge and 10 % loss', async function () {
    requirePeer(this, 'ipmi_sim');
    const host = await startSerialHost({ mode: 'record' });
    cleanups.push(() => host.close());
    const sim = await startIpmiSim({ solHost: host.server });
    cleanups.push(() => sim.stop());
    const proxy = await ImpairmentProxy.start({ target: sim.port, seed: 3, impairments: { loss: 0.1 } });
    cleanups.push(() => proxy.close());
    const manager = await newManager();
    cleanups.push(() => manager.stopAll());
    const info = await manager.startConsole('sim', {
      host: '127.0.0.1',
      port: proxy.port,
      username: 'admin',
      password: 'password',
      cipherSuite: 3,
      timeoutMs: 300,
      retries: 8,
      sol: { retransmitIntervalMs: 30, maxRetransmits: 100 },
    });
    const client = await connectClient(info.url);
    cleanups.push(async () => client.socket.destroy());
    await host.waitForConnection(10_000);
    const input = generatorBytes(64 * 1024);
    client.socket.write(input);
    await until(() => host.receivedBytes().length >= input.length, 60_000, '64 KB at the serial port');
    expect(host.receivedBytes().equals(input)).to.equal(true);
    expect(proxy.stats.toTarget.lost + proxy.stats.toClient.lost).to.be.greaterThan(50);
  });
});

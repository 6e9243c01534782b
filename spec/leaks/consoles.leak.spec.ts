/**
 * Leaks: start and stop 1000 consoles through a ConsoleManager (an in-memory console source, each with a real
 * TCP client exchanging a line), then 1000 real IPMI consoles (session + SOL per client) against a fake BMC
 * farm. File descriptors (/proc/self/fd), allocated ports (every round reuses the same exactly-sized range, and
 * the OS lets us bind every port at the end) and heap after GC return within a bound.
 */
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import type { IpmiConsoleOptions } from '../../lib/bridge/ipmi-console-source.js';
import { startFakeBmcFarm, type FakeBmcFarm } from '../../fixtures/fake-bmc/index.js';
import { FakeConsoleSource } from '../bridge/fake-console-source.js';
import { findFreePortRange } from '../bridge/tcp-client.js';

/** global.gc, exposed at run time when mocha was not started with --expose-gc. */
function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const gc = getGc();

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 20));
  gc();
  return process.memoryUsage().heapUsed;
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** Connect, send a line, wait for it to come back (echo), close. */
function exchange(port: number, line: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no echo on port ${port}, got ${JSON.stringify(got)}`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(line));
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes(line)) {
        clearTimeout(timer);
        socket.end();
        socket.once('close', () => resolve());
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function portsBindable(base: number, count: number): Promise<void> {
  for (let port = base; port < base + count; port++) {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`port ${port} still taken: ${(err as Error).message}`)));
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((r) => server.close(r));
  }
}

describe('leaks: starting and stopping consoles', function () {
  this.timeout(120_000);

  it('1000 consoles (in-memory source, real TCP clients): fds, ports and heap come back', async () => {
    const PER_ROUND = 100;
    const ROUNDS = 10;
    const base = await findFreePortRange(PER_ROUND);
    const manager = new ConsoleManager<undefined>({
      address: '127.0.0.1',
      portRange: `${base}:${base + PER_ROUND}`, // exactly one round's worth: a leaked port fails the next round
      lingerMs: 50,
      inUseGraceMs: 0,
      sourceFactory: () => new FakeConsoleSource(),
    });
    const round = async (r: number) => {
      const infos = await Promise.all(Array.from({ length: PER_ROUND }, (_, i) => manager.startConsole(`node-${r}-${i}`, undefined)));
      await Promise.all(infos.map((info, i) => exchange(Number(new URL(info.url).port), `round ${r} console ${i}\r\n`)));
      // stop half with nobody connected, half right after a client connected
      await Promise.all(
        infos.map(async (info, i) => {
          if (i % 2 === 1) {
            const s = net.connect({ host: '127.0.0.1', port: Number(new URL(info.url).port) });
            s.on('error', () => undefined);
            await new Promise((resolve) => s.once('connect', resolve));
            await manager.stopConsole(`node-${r}-${i}`);
            s.destroy();
          } else {
            await manager.stopConsole(`node-${r}-${i}`);
          }
        }),
      );
      expect(manager.list()).to.deep.equal([]);
    };
    await round(0); // warm-up: module caches, JIT, socket pools
    const fdBefore = fdCount();
    const heapBefore = await settledHeap();
    for (let r = 1; r < ROUNDS; r++) await round(r);
    await new Promise((r) => setTimeout(r, 100));
    const fdAfter = fdCount();
    const heapAfter = await settledHeap();
    console.log(`      1000 consoles: fds ${fdBefore} -> ${fdAfter}, heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB`);
    expect(fdAfter - fdBefore, 'file descriptors').to.be.at.most(5);
    expect(heapAfter - heapBefore, 'heap growth after GC').to.be.below(8e6);
    await portsBindable(base, PER_ROUND);
  });

  describe('1000 real IPMI consoles (session + SOL each) against a fake BMC farm', () => {
    let farm: FakeBmcFarm;
    const PASSWORD = 'leak-pw';
    before(async () => {
      farm = await startFakeBmcFarm({ count: 50, basePort: 0, address: '127.0.0.1', users: [{ name: 'admin', password: PASSWORD, privilege: 4 }], sol: { host: 'echo' } });
    });
    after(async () => farm.close());

    it('fds, ports, BMC sessions and heap come back', async () => {
      const PER_ROUND = farm.bmcs.length;
      const ROUNDS = 20;
      const base = await findFreePortRange(PER_ROUND);
      const manager = new ConsoleManager<IpmiConsoleOptions>({ address: '127.0.0.1', portRange: `${base}:${base + PER_ROUND}`, lingerMs: 50 });
      const round = async (r: number) => {
        const infos = await Promise.all(
          farm.ports.map((port, i) => manager.startConsole(`bmc-${i}`, { host: '127.0.0.1', port, username: 'admin', password: PASSWORD, cipherSuite: 17, keepaliveMs: 0 })),
        );
        await Promise.all(infos.map((info, i) => exchange(Number(new URL(info.url).port), `ipmi round ${r} console ${i}\r`)));
        await manager.stopAll();
        expect(manager.list()).to.deep.equal([]);
        // every session was closed on the BMC side too (Close Session), no SOL left active
        for (const bmc of farm.bmcs) {
          expect(bmc.sessions, `sessions left on BMC ${bmc.port}`).to.deep.equal([]);
          expect(bmc.solSessionId).to.equal(undefined);
        }
      };
      await round(0);
      const fdBefore = fdCount();
      const heapBefore = await settledHeap();
      for (let r = 1; r < ROUNDS; r++) await round(r);
      await new Promise((r) => setTimeout(r, 100));
      const fdAfter = fdCount();
      const heapAfter = await settledHeap();
      const opened = farm.bmcs.reduce((n, b) => n + b.stats.sessionsOpened, 0);
      console.log(`      ${opened} IPMI consoles: fds ${fdBefore} -> ${fdAfter}, heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB`);
      expect(opened).to.equal(PER_ROUND * ROUNDS);
      expect(fdAfter - fdBefore, 'file descriptors').to.be.at.most(5);
      expect(heapAfter - heapBefore, 'heap growth after GC').to.be.below(8e6);
      await portsBindable(base, PER_ROUND);
    });
  });
});

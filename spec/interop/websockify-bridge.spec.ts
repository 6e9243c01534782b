/**
 * nova-serialproxy's engine in front of our bridge: Nova's serial console proxy is websockify (it subclasses
 * websockify.ProxyRequestHandler and connects to the console's tcp:// URL), so a Nova user's bytes cross
 * WebSocket binary frames -> websockify -> TCP -> ConsoleBridge -> SOL -> the fake BMC's serial line, and back.
 * Here: the real websockify (Debian 0.10.0) proxying to a ConsoleBridge with the real IpmiConsoleSource, the
 * fake BMC behind it with its generator host ("gen N" prints N bytes of a 64-byte period; input is seen through
 * the 'sol-input' event), and `ws` as the browser. Loopback only.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import WebSocket from 'ws';
import { FakeBmc, generatorBytes } from '../../fixtures/fake-bmc/index.js';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import { IpmiConsoleSource } from '../../lib/bridge/ipmi-console-source.js';
import { freeTcpPort, requirePeer, whichBinary } from '../helpers/peers.js';
import { BRIDGE_SETTINGS, patternBytes } from './bridge-shared.js';

const USERS = [{ name: 'admin', password: 'password', privilege: 4 }];
/** The scenario's client pacing between reconnects (not an assertion delay). */
const RECONNECT_PACING_MS = 500;
const RECONNECTS = 5;
const BULK_BYTES = 200 * 1024;

interface Websockify {
  port: number;
  stop(): Promise<void>;
}

async function startWebsockify(targetPort: number): Promise<Websockify> {
  const port = await freeTcpPort();
  const child: ChildProcess = spawn(whichBinary('websockify')!, [`127.0.0.1:${port}`, `127.0.0.1:${targetPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (log.includes('proxying from')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`websockify exited (${code}): ${log}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A ws client; websockify prints its banner just before it binds, so a refused first connect is retried. */
async function openSocket(port: number, attempts = 50): Promise<WebSocket> {
  for (let i = 1; ; i++) {
    try {
      return await new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
        ws.binaryType = 'nodebuffer';
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    } catch (err) {
      if (i >= attempts || (err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Everything received on `ws` (binary frames only: a text frame fails the spec). */
function received(ws: WebSocket): { bytes(): Buffer; until(n: number): Promise<void> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    expect(isBinary, 'websockify sends binary frames').to.equal(true);
    chunks.push(data);
    size += data.length;
    for (const w of [...waiters]) w();
  });
  return {
    bytes: () => Buffer.concat(chunks),
    until: (n) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (size >= n) {
            waiters.delete(check);
            resolve();
          }
        };
        ws.once('close', () => (size >= n ? resolve() : reject(new Error(`socket closed after ${size} of ${n} bytes`))));
        waiters.add(check);
        check();
      }),
  };
}

function closed(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve();
    else ws.once('close', () => resolve());
  });
}

describe('interop: websockify (nova-serialproxy) in front of a console bridge', function () {
  this.timeout(120_000);
  let bmc: FakeBmc;
  let bridge: ConsoleBridge;
  let proxy: Websockify;
  let typed: Buffer[];

  before(function () {
    requirePeer(this, 'websockify');
  });

  beforeEach(async () => {
    typed = [];
    bmc = new FakeBmc({ users: USERS, sol: { host: 'generator' } });
    await bmc.listen();
    bmc.on('sol-input', (b: Buffer) => typed.push(b));
    const source = new IpmiConsoleSource({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 17, keepaliveMs: 500 });
    bridge = new ConsoleBridge({ ...BRIDGE_SETTINGS, source, host: '127.0.0.1' });
    bridge.on('error', () => undefined);
    await bridge.listen();
    proxy = await startWebsockify(bridge.port);
  });

  afterEach(async () => {
    await proxy?.stop();
    await bridge?.close();
    await bmc?.close();
  });

  const typedText = (): string => Buffer.concat(typed).toString('latin1');

  async function untilTyped(text: string): Promise<void> {
    if (typedText().includes(text)) return;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (!typedText().includes(text)) return;
        bmc.off('sol-input', check);
        resolve();
      };
      bmc.on('sol-input', check);
    });
  }

  it('typing reaches the serial line; host output comes back in binary frames', async () => {
    const ws = await openSocket(proxy.port);
    const got = received(ws);
    ws.send(Buffer.from('hello from nova\r'));
    await untilTyped('hello from nova\r');
    ws.send(Buffer.from('gen 100\r'));
    await got.until(100);
    expect(got.bytes().equals(generatorBytes(100))).to.equal(true);
    ws.close();
    await closed(ws);
  });

  it(`${BULK_BYTES / 1024} kB byte-exact each way through binary frames`, async () => {
    const ws = await openSocket(proxy.port);
    const got = received(ws);
    // host -> browser
    ws.send(Buffer.from(`gen ${BULK_BYTES}\r`));
    await got.until(BULK_BYTES);
    const out = got.bytes();
    expect(out.length).to.equal(BULK_BYTES);
    expect(out.equals(generatorBytes(BULK_BYTES))).to.equal(true);
    // browser -> host, in 4 kB frames
    typed = [];
    const pattern = patternBytes(0, BULK_BYTES);
    for (let off = 0; off < pattern.length; off += 4096) ws.send(pattern.subarray(off, off + 4096));
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (typed.reduce((n, b) => n + b.length, 0) < BULK_BYTES) return;
        bmc.off('sol-input', check);
        resolve();
      };
      bmc.on('sol-input', check);
      check();
    });
    expect(Buffer.concat(typed).equals(pattern)).to.equal(true);
    ws.close();
    await closed(ws);
  });

  it(`${RECONNECTS} reconnects ${RECONNECT_PACING_MS} ms apart: each one types and reads`, async () => {
    for (let i = 1; i <= RECONNECTS; i++) {
      const ws = await openSocket(proxy.port);
      const got = received(ws);
      ws.send(Buffer.from(`attempt ${i}\r`));
      await untilTyped(`attempt ${i}\r`);
      ws.send(Buffer.from(`gen ${64 * i}\r`));
      await got.until(64 * i);
      expect(got.bytes().equals(generatorBytes(64 * i)), `reconnect ${i}`).to.equal(true);
      ws.close();
      await closed(ws);
      if (i < RECONNECTS) await new Promise((r) => setTimeout(r, RECONNECT_PACING_MS)); // the client's pacing
    }
    expect(typedText()).to.equal(Array.from({ length: RECONNECTS }, (_, k) => `attempt ${k + 1}\rgen ${64 * (k + 1)}\r`).join(''));
  });
});

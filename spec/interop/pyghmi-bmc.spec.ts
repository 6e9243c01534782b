/**
 * pyghmi's BMC side (pyghmi.ipmi.bmc.Bmc 1.5.34, what virtualbmc is built on) as a second BMC implementation for
 * our client. It does serve SOL (Activate Payload starts a console.ServerConsole when the Bmc has an iohandler and
 * is_active()), so it is used for sessions, errors and SOL: fixtures/pyghmi/sol_bmc.py puts an echo line (and the
 * fake BMC's "gen N" generator) behind it.
 *
 * What it taught us (each one is asserted below):
 * - Open Session is answered with cipher suite 3's algorithms whatever was asked: another suite is refused by our
 *   client (IPMI_ERR_CIPHER_SUITE); 'auto' finds 3 in Get Channel Cipher Suites.
 * - Unknown user: RAKP 1 is never answered (IPMI_ERR_AUTH "never answered RAKP 1", after the retries). Wrong
 *   password: our client finds out from the RAKP 2 HMAC at once.
 * - Activate Payload reports payload sizes of 1 (we fall back to SOL_FALLBACK_CHARACTERS a packet) and the UDP
 *   port big-endian, i.e. byte-swapped (we stay on the session's port: chooseSolPorts).
 * - It sends 256 characters a SOL packet, one more than table 15-2 allows: workarounds.acceptOversizedPackets.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generatorBytes } from '../../fixtures/fake-bmc/index.js';
import { IpmiSession } from '../../lib/session/rmcpplus-session.js';
import type { IpmiSessionOptions } from '../../lib/session/options.js';
import { activateSol, SOL_FALLBACK_CHARACTERS } from '../../lib/sol/activate.js';
import type { SolStream } from '../../lib/sol/sol-stream.js';
import { IpmiError } from '../../lib/errors.js';
import { freeUdpPort, pyghmiPython, requirePeer } from '../helpers/peers.js';

const SERVER = fileURLToPath(new URL('../../fixtures/pyghmi/sol_bmc.py', import.meta.url));

interface PyghmiBmc {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startPyghmiBmc(): Promise<PyghmiBmc> {
  const port = await freeUdpPort();
  const child = spawn(pyghmiPython()!, [SERVER, String(port), 'admin', 'password'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`pyghmi BMC exited (${code}) before listening: ${err}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function failure(p: Promise<unknown>): Promise<IpmiError> {
  try {
    await p;
  } catch (err) {
    return err as IpmiError;
  }
  throw new Error('expected a failure');
}

/**
 * How long a wait for pyghmi's output may take before it fails with what did arrive and the SOL counters: well
 * under the spec's 60 s timeout, which would say only "timeout", and far over the tens of ms the echo takes.
 */
const OUTPUT_WAIT_MS = 20_000;

function collect(sol: SolStream): { text(): Buffer; until(n: number | string): Promise<void> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const waiters = new Set<() => void>();
  sol.on('data', (d: Buffer) => {
    chunks.push(d);
    size += d.length;
    for (const w of [...waiters]) w();
  });
  const text = (): Buffer => Buffer.concat(chunks);
  return {
    text,
    until: (want) =>
      new Promise<void>((resolve, reject) => {
        const bound = setTimeout(() => {
          waiters.delete(check);
          const got = text();
          const tail = JSON.stringify(got.subarray(Math.max(0, got.length - 80)).toString('latin1'));
          reject(new Error(`no ${JSON.stringify(want)} from pyghmi in ${OUTPUT_WAIT_MS} ms: ${size} bytes arrived, ending ${tail}; SOL stats ${JSON.stringify(sol.stats)}`));
        }, OUTPUT_WAIT_MS);
        const check = (): void => {
          if (typeof want === 'number' ? size >= want : text().includes(want)) {
            clearTimeout(bound);
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

describe('interop: our client vs pyghmi BMC (pyghmi.ipmi.bmc)', function () {
  this.timeout(60_000);
  let bmc: PyghmiBmc;
  const sessions: IpmiSession[] = [];

  before(function () {
    requirePeer(this, 'pyghmi');
  });
  beforeEach(async () => {
    bmc = await startPyghmiBmc();
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) await s.close().catch(() => undefined);
    await bmc?.stop();
  });

  async function open(extra: Partial<IpmiSessionOptions> = {}): Promise<IpmiSession> {
    const s = await IpmiSession.open({ host: '127.0.0.1', port: bmc.port, username: 'admin', password: 'password', cipherSuite: 3, ...extra });
    sessions.push(s);
    return s;
  }

  describe('sessions', () => {
    it("'auto' takes suite 3, the only one it lists; Get Device ID answers", async () => {
      const s = await open({ cipherSuite: 'auto' });
      expect(s.cipherSuite).to.equal(3);
      const id = await s.getDeviceId();
      expect(id.ipmiVersion).to.equal('2.0');
    });

    for (const suite of [0, 1, 2, 17]) {
      it(`-C ${suite}: it answers with suite 3's algorithms, which we refuse`, async () => {
        const err = await failure(open({ cipherSuite: suite }));
        expect(err.code).to.equal('IPMI_ERR_CIPHER_SUITE');
      });
    }

    it('wrong password: IPMI_ERR_AUTH from the RAKP 2 HMAC, at once', async () => {
      const err = await failure(open({ password: 'wrong' }));
      expect(err.code).to.equal('IPMI_ERR_AUTH');
      expect(err.message).to.match(/RAKP 2/);
      expect(err.message).to.not.include('wrong"');
    });

    it('unknown user: RAKP 1 is never answered, IPMI_ERR_AUTH after the retries', async () => {
      const err = await failure(open({ username: 'nobody', timeoutMs: 300, retries: 1 }));
      expect(err.code).to.equal('IPMI_ERR_AUTH');
      expect(err.message).to.match(/never answered RAKP 1/);
    });
  });

  describe('SOL', () => {
    it('echo through its byte-swapped port and payload size 1 (session port, 32 characters a packet)', async () => {
      const s = await open();
      const sol = await activateSol(s, { workarounds: { acceptOversizedPackets: true } });
      const got = collect(sol);
      const line = 'x'.repeat(3 * SOL_FALLBACK_CHARACTERS + 5) + '\r';
      sol.write(line);
      await got.until(line);
      expect(got.text().toString()).to.equal(line);
      expect(sol.stats.malformed).to.equal(0);
      await sol.deactivate();
    });

    it('bulk: 200 kB byte-exact from 256-character packets (acceptOversizedPackets)', async () => {
      const s = await open();
      const sol = await activateSol(s, { workarounds: { acceptOversizedPackets: true } });
      const got = collect(sol);
      sol.write('go\r');
      await got.until('go\r');
      const n = 200 * 1024;
      const before = got.text().length;
      sol.write(`gen ${n}\r`);
      await got.until(before + `gen ${n}\r`.length + n);
      const all = got.text();
      const echoAt = all.indexOf(`gen ${n}\r`, before);
      const bulk = all.subarray(echoAt + `gen ${n}\r`.length);
      expect(bulk.length).to.equal(n);
      expect(bulk.equals(generatorBytes(n))).to.equal(true);
      expect(sol.stats.malformed).to.equal(0);
      await sol.deactivate();
    });

    it('without acceptOversizedPackets its 256-character packets are counted malformed and dropped', async () => {
      const s = await open();
      const sol = await activateSol(s);
      sol.on('error', () => undefined);
      const got = collect(sol);
      sol.write('gen 300\r');
      await got.until('gen 300\r');
      // no event marks a dropped packet: look at the counter until it moves (the wait is for the event itself)
      await new Promise<void>((resolve) => {
        const check = (): void => (sol.stats.malformed > 0 ? resolve() : void setTimeout(check, 20));
        check();
      });
      expect(got.text().toString()).to.equal('gen 300\r');
      sol.destroy();
    });

    it('a second session gets IPMI_ERR_SOL_IN_USE (0x80)', async () => {
      const s = await open();
      const sol = await activateSol(s, { workarounds: { acceptOversizedPackets: true } });
      const t = await open();
      const err = await failure(activateSol(t));
      expect(err.code).to.equal('IPMI_ERR_SOL_IN_USE');
      await sol.deactivate();
    });
  });
});

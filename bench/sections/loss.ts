/**
 * Client -> BMC throughput through packet loss (issue 12, adaptive retransmission): a TCP client writes N bytes
 * into a console; the time until the fake BMC's host has received all of them. The impairment proxy sits on the
 * UDP path between the console and the fake BMC (fixtures/impairment-proxy.ts, same seed for every run), losing
 * the given share of datagrams both ways. Side by side:
 *   - ours, adaptive retransmission (the default: RTT-based timeout, lib/session/rtt-estimator.ts),
 *   - ours, the fixed 500 ms timer (`sol.adaptiveRetransmit: false`, `adaptiveTimeout: false`),
 *   - socat + ipmitool through the same proxy (it retransmits on its own timer).
 * The host only swallows what it gets (nothing flows back), so the BMC's own 1 s retransmit timer is out of the
 * picture: this is our sender's recovery from loss. Bridge, proxy and fake BMC run in this process.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { FakeBmc, generatorBytes } from '../../fixtures/fake-bmc/index.js';
import { ImpairmentProxy } from '../../fixtures/impairment-proxy.js';
import { ConsoleManager } from '../../lib/index.js';
import { findFreePortRange } from '../../spec/bridge/tcp-client.js';
import { freeTcpPort, freeUdpPort } from '../../spec/helpers/peers.js';
import { startSocatConsole } from '../lib/baseline.js';
import type { BenchConfig, Log } from '../lib/config.js';

export type LossMode = 'adaptive' | 'fixed' | 'socat+ipmitool';

export interface LossTrial {
  mode: LossMode;
  loss: number;
  bytes: number;
  /** undefined: did not finish within the trial's time limit */
  seconds: number | undefined;
  kBps: number | undefined;
  /** bytes the host had received when the trial ended */
  delivered: number;
  /** datagrams the proxy dropped, both ways */
  dropped: number;
  /** datagrams the console side sent towards the BMC during the transfer (data, retransmissions, ACKs) */
  sent: number;
  error?: string;
}

export interface LossResults {
  bytes: number;
  trials: LossTrial[];
}

const LOSSES = [0.03, 0.1];
const MODES: LossMode[] = ['adaptive', 'fixed', 'socat+ipmitool'];
const PROXY_SEED = 12;
/** A transfer not done by then is reported as such (with the bytes that did arrive). */
const TRIAL_LIMIT_MS = { quick: 60_000, full: 120_000 };

/** The BMC's serial host: counts what the console typed, prints nothing. */
function sinkHost(onBytes: (n: number) => void): Duplex {
  return new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb();
    },
  });
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** One transfer through the proxy; `start` opens the console and returns its TCP port and a cleanup. */
async function transfer(
  limitMs: number,
  bytes: number,
  loss: number,
  mode: LossMode,
  start: (bmcPort: number) => Promise<{ port: number; stop: () => Promise<void> }>,
): Promise<LossTrial> {
  let received = 0;
  // Activate Payload names the proxy as the SOL port: ipmitool sends SOL where the BMC says.
  const proxyPort = await freeUdpPort();
  const sol = { host: 'custom' as const, connect: () => sinkHost((n) => (received += n)) };
  const bmc = new FakeBmc({ users: [{ name: 'admin', password: 'password', privilege: 4 }], sol, solPortReported: proxyPort });
  await bmc.listen();
  // Loss only once the console is up: the measurement is the data transfer, not the handshake.
  const proxy = await ImpairmentProxy.start({ target: bmc.port, port: proxyPort, seed: PROXY_SEED });
  const trial: LossTrial = { mode, loss, bytes, seconds: undefined, kBps: undefined, dropped: 0, sent: 0, delivered: 0 };
  let opened: Awaited<ReturnType<typeof start>> | undefined;
  let socket: net.Socket | undefined;
  try {
    opened = await start(proxy.port);
    socket = await connect(opened.port);
    socket.on('error', () => undefined);
    // The console is active once a keystroke reached the host (ipmitool may not read its pty before SOL is up).
    for (let i = 0; i < 30 && received === 0; i++) {
      socket.write('\r');
      await until(() => received >= 1, 1000);
    }
    if (received === 0) throw new Error('the console did not come up');
    const base = received;
    const sentBefore = proxy.stats.toTarget.received;
    proxy.impair({ loss });
    const t0 = performance.now();
    socket.write(generatorBytes(bytes).toString('latin1').replace(/~/g, '-')); // no ipmitool escape character
    const done = await until(() => received - base >= bytes, limitMs);
    trial.delivered = received - base;
    if (done) {
      trial.seconds = (performance.now() - t0) / 1000;
      trial.kBps = bytes / 1024 / trial.seconds;
    }
    trial.sent = proxy.stats.toTarget.received - sentBefore;
    trial.dropped = proxy.stats.toTarget.lost + proxy.stats.toClient.lost;
  } catch (error) {
    trial.error = (error as Error).message;
  } finally {
    socket?.destroy();
    await opened?.stop().catch(() => undefined);
    await proxy.close();
    await bmc.close();
  }
  return trial;
}

async function ours(bmcPort: number, adaptive: boolean) {
  const base = await findFreePortRange(2);
  const manager = new ConsoleManager({ address: '127.0.0.1', portRange: `${base}:${base + 2}` });
  const info = await manager.startConsole('lossy', {
    host: '127.0.0.1',
    port: bmcPort,
    username: 'admin',
    password: 'password',
    cipherSuite: 3,
    adaptiveTimeout: adaptive,
    sol: { adaptiveRetransmit: adaptive },
  });
  return { port: Number(new URL(info.url).port), stop: () => manager.stopAll() };
}

async function baseline(bmcPort: number, pwFile: string) {
  const socat = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort, pwFile, user: 'admin', cipherSuite: 3 });
  return { port: socat.port, stop: () => socat.stop() };
}

export async function runLoss(cfg: BenchConfig, pwFile: string, log: Log): Promise<LossResults> {
  const bytes = cfg.quick ? 16 * 1024 : 64 * 1024;
  const trials: LossTrial[] = [];
  for (const loss of LOSSES) {
    for (const mode of MODES) {
      const start = mode === 'socat+ipmitool' ? (p: number) => baseline(p, pwFile) : (p: number) => ours(p, mode === 'adaptive');
      const limitMs = cfg.quick ? TRIAL_LIMIT_MS.quick : TRIAL_LIMIT_MS.full;
      const trial = await transfer(limitMs, bytes, loss, mode, start);
      log(
        `loss ${(loss * 100).toFixed(0)} %, ${mode}: ${trial.seconds === undefined ? `not done in ${limitMs / 1000} s (${trial.delivered} bytes arrived)` : `${trial.seconds.toFixed(2)} s, ${trial.kBps!.toFixed(1)} KiB/s`}` +
          `, ${trial.sent} datagrams sent to the BMC, ${trial.dropped} lost${trial.error ? ` (${trial.error})` : ''}`,
      );
      trials.push(trial);
    }
  }
  return { bytes, trials };
}

/** The report's table: one row per loss rate, the three modes side by side. */
export function renderLoss(r: LossResults): string[] {
  const out = [`## Client -> BMC through packet loss (${(r.bytes / 1024).toFixed(0)} KiB, impairment proxy, fake BMC, cipher suite 3)`, ''];
  out.push('| loss (both ways) | ours, adaptive RTO | ours, fixed 500 ms | socat + ipmitool | adaptive / fixed |');
  out.push('|---|---|---|---|---|');
  const cell = (t: LossTrial | undefined) =>
    !t ? '-' : t.kBps === undefined ? `not done: ${t.error ?? `${t.delivered} of ${t.bytes} bytes in the time limit`}` : `${t.kBps.toFixed(1)} KiB/s (${t.seconds!.toFixed(2)} s, ${t.sent} datagrams sent)`;
  for (const loss of LOSSES) {
    const get = (mode: LossMode) => r.trials.find((t) => t.loss === loss && t.mode === mode);
    const a = get('adaptive');
    const f = get('fixed');
    const ratio = a?.kBps !== undefined && f?.kBps !== undefined ? `${(a.kBps / f.kBps).toFixed(1)}x` : '-';
    out.push(`| ${(loss * 100).toFixed(0)} % | ${cell(a)} | ${cell(f)} | ${cell(get('socat+ipmitool'))} | ${ratio} |`);
  }
  out.push('');
  return out;
}

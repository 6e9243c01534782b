/**
 * Side by side against ONE ipmi_sim (it allows one SOL at a time, so ours and the baseline take turns):
 * connect-to-first-echo, keystroke echo, bulk output BMC -> client, CPU seconds per MB.
 */
import { startIpmiSim, startSerialHost } from '../../spec/helpers/ipmi-sim.js';
import { freeTcpPort } from '../../spec/helpers/peers.js';
import { serveSocket } from '../lib/hosts.js';
import { solDeactivate, startSocatConsole } from '../lib/baseline.js';
import { startNodeChild, type NodeChild } from '../lib/node-child.js';
import type { ConsoleClient } from '../lib/client.js';
import { bulkTrial, connectTrial, keystrokeTrials, openConsole, sleep, type BulkTrial, type ConnectTrial } from '../lib/trials.js';
import type { BridgeProcessConfig } from '../bridge-process.js';
import type { BenchConfig, Log } from '../lib/config.js';

export interface SideBySide {
  connect: { trials: ConnectTrial[]; pauseMs: number; recovery?: string };
  /** the first keystrokes of the console (a cold JIT for ours) */
  keystrokeMs: number[];
  /** after cfg.warmupKeystrokes more: the steady state of a long-running process */
  warmKeystrokeMs?: number[];
  bulk: BulkTrial[];
}

export interface IpmiSimResults {
  ours: SideBySide & { connectRepeat?: undefined };
  baseline: SideBySide & {
    /** back-to-back trials, as a reconnecting client would do, no recovery between them */
    connectBackToBack: { trials: ConnectTrial[]; pauseMs: number };
  };
  /** Ironic's exact command line (no -C): ipmitool asks Get Channel Cipher Suites, ipmi_sim never answers the v2.0 form */
  ironicDefaultCommand?: ConnectTrial;
  bulkBytes: number;
}

export async function runIpmiSim(cfg: BenchConfig, pwFile: string, log: Log): Promise<IpmiSimResults> {
  const host = await startSerialHost({ mode: 'custom', onConnection: serveSocket });
  const sim = await startIpmiSim({ solHost: host.server, users: [{ name: 'admin', password: 'password', maxSessions: 60 }] });
  const cleanups: (() => Promise<void>)[] = [async () => sim.stop(), async () => host.close()];
  try {
    await host.waitForConnection();
    log(`ipmi_sim on udp/${sim.port}`);

    // ---- ours -------------------------------------------------------------------------------------------
    const bridge = await startSimBridge(sim.port);
    cleanups.unshift(() => bridge.stop());
    const oursPort = bridge.ready.consoles[0]!.port;
    await connectTrial(oursPort, 'warmup', 10_000); // JIT, first SOL of ipmi_sim
    const oursConnect: ConnectTrial[] = [];
    for (let i = 0; i < cfg.connectTrials; i++) oursConnect.push(await connectTrial(oursPort, `o${i}`, 10_000));
    log(`ours connect: ${summary(oursConnect)}`);
    let client = await openConsole(oursPort);
    const oursKeys = await keystrokeTrials(client, cfg.keystrokes, 2);
    const oursWarmKeys = await warmKeystrokeTrials(client, cfg);
    const oursBulk: BulkTrial[] = [];
    await bulkTrial(client, 16_384, () => [bridge.pid], 30_000); // warm-up
    for (let i = 0; i < cfg.bulkReps; i++) oursBulk.push(await bulkTrial(client, cfg.simBulkBytes, () => [bridge.pid], 60_000, sim.pid));
    log(`ours bulk: ${oursBulk.map((b) => b.mbPerS.toFixed(3)).join(', ')} MB/s`);
    await client.close();
    await bridge.stop();
    cleanups.shift();
    await sleep(200);

    // ---- baseline: socat + ipmitool, as Ironic runs it (with -C 3, see ironicDefaultCommand) ---------------
    await solDeactivate(sim.port, pwFile, 'admin', 3);
    const socat = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort: sim.port, pwFile, user: 'admin', cipherSuite: 3 });
    cleanups.unshift(() => socat.stop());
    // Back to back: what a client reconnecting right away meets.
    const backToBack: ConnectTrial[] = [];
    for (let i = 0; i < cfg.backToBackTrials; i++) {
      backToBack.push(await connectTrial(socat.port, `b${i}`, 5000));
      await sleep(cfg.backToBackPauseMs);
    }
    log(`baseline back-to-back connect: ${summary(backToBack)}`);
    // With Ironic's own remedy between trials: `ipmitool sol deactivate`, then a pause.
    const baseConnect: ConnectTrial[] = [];
    for (let i = 0; i < cfg.connectTrials; i++) {
      await solDeactivate(sim.port, pwFile, 'admin', 3);
      await sleep(cfg.recoveryPauseMs);
      baseConnect.push(await connectTrial(socat.port, `s${i}`, 5000));
    }
    log(`baseline connect (sol deactivate + ${cfg.recoveryPauseMs} ms pause before each): ${summary(baseConnect)}`);
    await solDeactivate(sim.port, pwFile, 'admin', 3);
    await sleep(cfg.recoveryPauseMs);
    client = await openConsole(socat.port);
    const baseKeys = await keystrokeTrials(client, cfg.keystrokes, 2);
    const baseWarmKeys = await warmKeystrokeTrials(client, cfg);
    const baseBulk: BulkTrial[] = [];
    await bulkTrial(client, 16_384, () => socat.tree(), 30_000);
    for (let i = 0; i < cfg.bulkReps; i++) baseBulk.push(await bulkTrial(client, cfg.simBulkBytes, () => socat.tree(), 60_000, sim.pid));
    log(`baseline bulk: ${baseBulk.map((b) => b.mbPerS.toFixed(3)).join(', ')} MB/s`);
    await client.close();
    await socat.stop();
    cleanups.shift();

    let ironicDefaultCommand: ConnectTrial | undefined;
    if (!cfg.quick) {
      await sleep(300);
      await solDeactivate(sim.port, pwFile, 'admin', 3);
      const plain = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort: sim.port, pwFile, user: 'admin' });
      cleanups.unshift(() => plain.stop());
      ironicDefaultCommand = await connectTrial(plain.port, 'plain', 20_000);
      log(`baseline without -C (Ironic's default command line): ${ironicDefaultCommand.ms.toFixed(0)} ms ok=${ironicDefaultCommand.ok}`);
      await plain.stop();
      cleanups.shift();
    }

    return {
      ours: { connect: { trials: oursConnect, pauseMs: 0 }, keystrokeMs: oursKeys, warmKeystrokeMs: oursWarmKeys, bulk: oursBulk },
      baseline: {
        connect: { trials: baseConnect, pauseMs: cfg.recoveryPauseMs, recovery: 'ipmitool sol deactivate before each trial' },
        connectBackToBack: { trials: backToBack, pauseMs: cfg.backToBackPauseMs },
        keystrokeMs: baseKeys,
        warmKeystrokeMs: baseWarmKeys,
        bulk: baseBulk,
      },
      ...(ironicDefaultCommand ? { ironicDefaultCommand } : {}),
      bulkBytes: cfg.simBulkBytes,
    };
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

/** Our side against one ipmi_sim: a bridge process with one console (cipher suite 3, as the baseline's `-C 3`). */
export function startSimBridge(simPort: number): Promise<NodeChild<{ consoles: { port: number }[] }>> {
  return startNodeChild('bridge-process', {
    nodes: [{ nodeId: 'sim', host: '127.0.0.1', port: simPort }],
    username: 'admin',
    password: 'password',
    cipherSuite: 3,
  } satisfies BridgeProcessConfig);
}

/**
 * Keystroke echo once the JIT is warm. The first few hundred keystrokes of a fresh bridge process run partly in
 * V8's baseline tier (a profile shows its IC builtins and TurboFan compiling on a helper thread meanwhile); a
 * conductor's process runs for days with every console on the same code. Both sides get the same warm-up.
 */
async function warmKeystrokeTrials(client: ConsoleClient, cfg: BenchConfig): Promise<number[]> {
  await keystrokeTrials(client, cfg.warmupKeystrokes, 2);
  return keystrokeTrials(client, cfg.warmKeystrokes, 2);
}

function summary(trials: ConnectTrial[]): string {
  const ok = trials.filter((t) => t.ok).map((t) => t.ms).sort((a, b) => a - b);
  const fails = trials.filter((t) => !t.ok);
  return `${ok.length}/${trials.length} ok, median ${ok.length ? ok[Math.floor(ok.length / 2)]!.toFixed(1) : '-'} ms${fails.length ? `, failures: ${[...new Set(fails.map((f) => f.failure))].join(',')}` : ''}`;
}

/**
 * Against the fake BMC (a farm in its own process): bulk throughput vs the stop-and-wait limit, CPU per MB,
 * memory per active console (ours at 1, 100, N; socat+ipmitool at 1..M real ones) and the scale run
 * (N consoles open at once, each with a client typing and waiting for its echo).
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { freeTcpPort } from '../../spec/helpers/peers.js';
import { startSocatConsole, type SocatConsole } from '../lib/baseline.js';
import { ConsoleClient } from '../lib/client.js';
import { startNodeChild } from '../lib/node-child.js';
import { cpuSeconds, pssBytes, rssBytes, sampleTree } from '../lib/proc.js';
import { summarize, type Summary } from '../lib/stats.js';
import { bulkTrial, keystrokeTrials, openConsole, sleep, type BulkTrial } from '../lib/trials.js';
import type { BridgeProcessConfig } from '../bridge-process.js';
import type { FarmProcessConfig } from '../farm-process.js';
import type { BenchConfig, Log } from '../lib/config.js';

interface FarmReady {
  farms: Record<string, number[]>;
  udpEchoPort: number;
}
interface BridgeReady {
  consoles: { nodeId: string; port: number }[];
}
interface BridgeMetrics {
  states: Record<string, number>;
  activations: number;
  reconnects: number;
  steals: number;
  consoleLosses: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

export interface MemoryPoint {
  active: number;
  rssBytes: number;
  pssBytes: number;
  heapUsed?: number;
}

export interface FakeBmcResults {
  udpRttUs: Summary;
  stopAndWaitLimitMBps: number;
  /** the limit measured right before each of ours' bulk repetitions */
  repLimitsMBps: number[];
  payloadBytes: number;
  bulkBytes: number;
  ours: { bulk: BulkTrial[]; keystrokeMs: number[] };
  /** diagnostic: ours with cipher suite 0 (no integrity, no encryption) */
  oursSuite0Bulk?: BulkTrial[];
  baseline: { bulk: BulkTrial[]; keystrokeMs: number[] };
  memory: {
    /** a bridge process serving just the one console of the bulk test (plus one idle), while active */
    oursSingle: { rssBytes: number; pssBytes: number };
    ours: MemoryPoint[];
    oursListeningOnly: MemoryPoint;
    baseline: (MemoryPoint & { processes: number })[];
    baselineIdleListener: { rssBytes: number; pssBytes: number };
    baselineProcessesPerConsole: { comm: string; rssBytes: number; pssBytes: number }[];
  };
  scale: {
    consoles: number;
    opened: number;
    openFailures: string[];
    openSeconds: number;
    intervalMs: number;
    durationMs: number;
    echoes: number;
    echoFailures: number;
    consolesThatEchoed: number;
    echoMs: Summary;
    rssBytes: number;
    vmHwmBytes: number;
    cpuSeconds: number;
    metrics: BridgeMetrics;
  };
}


function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function udpRtt(port: number, count: number, size: number): Promise<number[]> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const payload = Buffer.alloc(size, 0x55);
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('udp echo timeout')), 1000);
        sock.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        sock.send(payload, port, '127.0.0.1');
      });
      out.push((performance.now() - t0) * 1000);
    }
  } finally {
    sock.close();
  }
  return out;
}

/** Run `fn` over items with at most `limit` in flight. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

export async function runFakeBmc(cfg: BenchConfig, pwFile: string, log: Log): Promise<FakeBmcResults> {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const farm = await startNodeChild<FarmReady>('farm-process', {
      username: 'admin',
      password: 'password',
      farms: [
        { name: 'gen', count: 2, host: 'generator' },
        { name: 'echo', count: cfg.scaleConsoles, host: 'bench' },
        { name: 'base', count: cfg.baselineConsoles + 1, host: 'bench' },
      ],
    } satisfies FarmProcessConfig);
    cleanups.unshift(() => farm.stop());
    const ports = farm.ready.farms;
    log(`fake BMC farm: ${Object.entries(ports).map(([k, v]) => `${v.length} ${k}`).join(', ')} (pid ${farm.pid})`);

    // ---- loopback RTT between two Node processes, and the stop-and-wait limit ---------------------------
    await udpRtt(farm.ready.udpEchoPort, 200, 300);
    const rtt = summarize(await udpRtt(farm.ready.udpEchoPort, cfg.quick ? 500 : 2000, 300));
    const payloadBytes = 255;
    const stopAndWaitLimitMBps = payloadBytes / (rtt.p50 / 1e6) / 1e6;
    log(`UDP RTT p50 ${rtt.p50.toFixed(1)} us -> stop-and-wait limit ${stopAndWaitLimitMBps.toFixed(2)} MB/s`);

    // ---- throughput, CPU and keystrokes: ours ------------------------------------------------------------
    const one = await startNodeChild<BridgeReady>('bridge-process', bridgeConfig([ports.gen![0]!, ports.base![0]!]));
    cleanups.unshift(() => one.stop());
    let client = await ConsoleClient.connect(one.ready.consoles[0]!.port);
    await client.bulkReceive(256 * 1024, 30_000); // warm-up, console open
    const oursBulk: BulkTrial[] = [];
    const repLimits: number[] = [];
    for (let i = 0; i < cfg.bulkReps; i++) {
      // The limit under the same conditions as the transfer: RTT measured right before it.
      const repRtt = summarize(await udpRtt(farm.ready.udpEchoPort, 300, 300));
      repLimits.push(payloadBytes / (repRtt.p50 / 1e6) / 1e6);
      oursBulk.push(await bulkTrial(client, cfg.fakeBulkBytes, () => [one.pid], 120_000, farm.pid));
    }
    const oneRss = { rssBytes: rssBytes(one.pid), pssBytes: pssBytes(one.pid) };
    log(`ours bulk (fake BMC): ${oursBulk.map((b) => b.mbPerS.toFixed(2)).join(', ')} MB/s, ${oursBulk.map((b) => b.cpuSPerMB.toFixed(3)).join(', ')} CPU s/MB`);
    await client.close();
    // Diagnostic: the same with cipher suite 0, to show what the crypto costs.
    const plain = await startNodeChild<BridgeReady>('bridge-process', { ...bridgeConfig([ports.gen![0]!]), cipherSuite: 0 });
    cleanups.unshift(() => plain.stop());
    const plainClient = await ConsoleClient.connect(plain.ready.consoles[0]!.port);
    await plainClient.bulkReceive(256 * 1024, 30_000);
    const oursSuite0Bulk: BulkTrial[] = [];
    for (let i = 0; i < cfg.bulkReps; i++) oursSuite0Bulk.push(await bulkTrial(plainClient, cfg.fakeBulkBytes, () => [plain.pid], 120_000, farm.pid));
    log(`ours bulk (fake BMC, suite 0): ${oursSuite0Bulk.map((b) => b.mbPerS.toFixed(2)).join(', ')} MB/s`);
    await plainClient.close();
    await plain.stop();
    cleanups.shift();
    client = await openConsole(one.ready.consoles[1]!.port);
    const oursKeys = await keystrokeTrials(client, cfg.keystrokes, 2);
    await client.close();
    await one.stop();
    cleanups.shift();

    // ---- the same through socat + ipmitool ---------------------------------------------------------------
    const genSocat = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort: ports.gen![1]!, pwFile, user: 'admin', cipherSuite: 3 });
    cleanups.unshift(() => genSocat.stop());
    client = await ConsoleClient.connect(genSocat.port);
    await client.bulkReceive(256 * 1024, 30_000);
    const baseBulk: BulkTrial[] = [];
    for (let i = 0; i < cfg.bulkReps; i++) baseBulk.push(await bulkTrial(client, cfg.fakeBulkBytes, () => genSocat.tree(), 120_000, farm.pid));
    log(`baseline bulk (fake BMC): ${baseBulk.map((b) => b.mbPerS.toFixed(2)).join(', ')} MB/s, ${baseBulk.map((b) => b.cpuSPerMB.toFixed(3)).join(', ')} CPU s/MB`);
    await client.close();
    await genSocat.stop();
    cleanups.shift();

    // ---- memory of real socat + ipmitool consoles, 1..M active ----------------------------------------------
    const socats: SocatConsole[] = [];
    for (let i = 0; i < cfg.baselineConsoles; i++) {
      const s = await startSocatConsole({ listenPort: await freeTcpPort(), bmcPort: ports.base![i + 1]!, pwFile, user: 'admin', cipherSuite: 3 });
      socats.push(s);
      cleanups.unshift(() => s.stop());
    }
    const idle = sampleTree(socats.map((s) => s.pid));
    const baseClients: ConsoleClient[] = [];
    const baseMem: (MemoryPoint & { processes: number })[] = [];
    let perConsole: { comm: string; rssBytes: number; pssBytes: number }[] = [];
    for (let i = 0; i < socats.length; i++) {
      baseClients.push(await openConsole(socats[i]!.port));
      await sleep(50);
      const sample = sampleTree(socats.slice(0, i + 1).map((s) => s.pid));
      baseMem.push({ active: i + 1, rssBytes: sample.rss, pssBytes: sample.pss, processes: sample.pids.length });
      if (i === 0) perConsole = sample.pids.map((p) => ({ comm: p.comm, rssBytes: p.rss, pssBytes: p.pss }));
    }
    const last = baseMem[baseMem.length - 1]!;
    log(`baseline memory: ${last.active} active consoles, ${last.processes} processes, RSS ${(last.rssBytes / 2 ** 20).toFixed(1)} MiB, PSS ${(last.pssBytes / 2 ** 20).toFixed(1)} MiB`);
    const baseKeys = await keystrokeTrials(baseClients[0]!, cfg.keystrokes, 2);
    for (const c of baseClients) await c.close();
    for (const s of socats) await s.stop();
    cleanups.splice(0, socats.length);

    // ---- ours: memory at 1, 100, N active, then all N typing at once -----------------------------------------
    const n = cfg.scaleConsoles;
    const many = await startNodeChild<BridgeReady>('bridge-process', bridgeConfig(ports.echo!), { readyTimeoutMs: 120_000 });
    cleanups.unshift(() => many.stop());
    await sleep(300);
    const listening: MemoryPoint = { active: 0, rssBytes: rssBytes(many.pid), pssBytes: pssBytes(many.pid) };
    const clients: (ConsoleClient | undefined)[] = new Array<ConsoleClient | undefined>(n);
    const openFailures: string[] = [];
    const oursMem: MemoryPoint[] = [];
    const t0 = performance.now();
    let opened = 0;
    for (const target of [1, Math.min(100, n), n]) {
      const idx = Array.from({ length: target - opened }, (_, k) => opened + k);
      await pool(idx, 100, async (i) => {
        try {
          clients[i] = await openConsole(many.ready.consoles[i]!.port, 30_000);
        } catch (error) {
          openFailures.push(`console ${i}: ${(error as Error).message}`);
        }
      });
      opened = target;
      await sleep(500);
      const m = await many.request<BridgeMetrics>('metrics');
      oursMem.push({ active: clients.filter(Boolean).length, rssBytes: rssBytes(many.pid), pssBytes: pssBytes(many.pid), heapUsed: m.heapUsed });
      log(`ours memory: ${oursMem[oursMem.length - 1]!.active} active, RSS ${(oursMem[oursMem.length - 1]!.rssBytes / 2 ** 20).toFixed(1)} MiB, states ${JSON.stringify(m.states)}`);
    }
    const openSeconds = (performance.now() - t0) / 1000;

    // All N at once: each client types one key per interval (jittered) and waits for its echo.
    const echoes: number[] = [];
    let echoFailures = 0;
    const echoed = new Set<number>();
    const cpu0 = cpuSeconds(many.pid);
    const tEnd = performance.now() + cfg.scaleDurationMs;
    await Promise.all(
      clients.map(async (c, i) => {
        if (!c) return;
        let k = 0;
        await sleep(Math.random() * cfg.scaleIntervalMs);
        while (performance.now() < tEnd) {
          const ch = String.fromCharCode(0x61 + (k++ % 26));
          c.consume();
          const s = performance.now();
          c.write(ch);
          try {
            await c.waitFor(ch.toUpperCase(), 5000);
            echoes.push(performance.now() - s);
            echoed.add(i);
          } catch {
            echoFailures++;
          }
          await sleep(cfg.scaleIntervalMs * (0.5 + Math.random()));
        }
      }),
    );
    const cpuS = cpuSeconds(many.pid) - cpu0;
    const metrics = await many.request<BridgeMetrics>('metrics');
    const scale = {
      consoles: n,
      opened: clients.filter(Boolean).length,
      openFailures: openFailures.slice(0, 20),
      openSeconds,
      intervalMs: cfg.scaleIntervalMs,
      durationMs: cfg.scaleDurationMs,
      echoes: echoes.length,
      echoFailures,
      consolesThatEchoed: echoed.size,
      echoMs: summarize(echoes),
      rssBytes: rssBytes(many.pid),
      vmHwmBytes: vmHwm(many.pid),
      cpuSeconds: cpuS,
      metrics,
    };
    log(`scale: ${scale.consolesThatEchoed}/${n} consoles echoed, ${echoes.length} echoes, p50 ${scale.echoMs.p50.toFixed(2)} ms p99 ${scale.echoMs.p99.toFixed(2)} ms, RSS ${(scale.rssBytes / 2 ** 20).toFixed(1)} MiB, CPU ${cpuS.toFixed(2)} s`);
    await Promise.all(clients.map((c) => c?.close()));
    await many.stop();
    cleanups.shift();

    return {
      udpRttUs: rtt,
      stopAndWaitLimitMBps,
      repLimitsMBps: repLimits,
      payloadBytes,
      bulkBytes: cfg.fakeBulkBytes,
      ours: { bulk: oursBulk, keystrokeMs: oursKeys },
      oursSuite0Bulk,
      baseline: { bulk: baseBulk, keystrokeMs: baseKeys },
      memory: {
        oursSingle: oneRss,
        ours: oursMem,
        oursListeningOnly: listening,
        baseline: baseMem,
        baselineIdleListener: { rssBytes: idle.rss / socats.length, pssBytes: idle.pss / socats.length },
        baselineProcessesPerConsole: perConsole,
      },
      scale,
    };
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

function bridgeConfig(bmcPorts: number[]): BridgeProcessConfig {
  return {
    nodes: bmcPorts.map((port, i) => ({ nodeId: `node-${i}`, host: '127.0.0.1', port })),
    username: 'admin',
    password: 'password',
    cipherSuite: 3,
  };
}


/**
 * Storms (issue 12): one bridge process with N consoles against N fake BMCs (a farm in its own process).
 *
 * 1. Connect storm: N TCP clients connect at once, each to its own console (activation on connect), and each
 *    types one keystroke right after connecting: first echo per client (from its connect), the handshake rate
 *    the farm saw (RAKP 4s sent per second), Open Session requests per BMC (retransmissions show as > 1), and
 *    the CPU of the bridge, the farm and this process over the storm, to say who is the bottleneck.
 * 2. Reconnect storm: the N consoles active, the farm drops every datagram for `cutMs` (the conductor lost its
 *    network), then answers again. Every client types one key at the restore (the bridge holds it until its
 *    console is back): time from the restore until each echo; Open Session requests per BMC after the restore
 *    (max, mean) and during the cut (swallowed by it: how often each console retried), retries scheduled per
 *    console, the handshake spread.
 */
import { performance } from 'node:perf_hooks';
import { ConsoleClient } from '../lib/client.js';
import { startNodeChild, type NodeChild } from '../lib/node-child.js';
import { cpuSeconds } from '../lib/proc.js';
import { summarize, type Summary } from '../lib/stats.js';
import { sleep } from '../lib/trials.js';
import type { BridgeProcessConfig } from '../bridge-process.js';
import type { FarmProcessConfig } from '../farm-process.js';
import type { BenchConfig, Log } from '../lib/config.js';
import { FARM_STAGES, type FakeBmcFarmCounters, type FarmStage } from '../../fixtures/fake-bmc/farm.js';

interface FarmReady {
  farms: Record<string, number[]>;
}
interface BridgeReady {
  consoles: { nodeId: string; port: number }[];
}
interface BridgeMetrics {
  states: Record<string, number>;
  activations: number;
  reconnects: number;
  consoleLosses: number;
  retriesScheduled: number;
  retriesMaxPerConsole: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** error codes and client disconnect reasons since the bridge started, with counts */
  events: Record<string, number>;
}

/** CPU seconds spent by each process over a phase. */
export interface StormCpu {
  bridgeS: number;
  farmS: number;
  /** this process: the N TCP clients */
  clientsS: number;
  wallS: number;
}

export interface PerBmc {
  max: number;
  mean: number;
  /** how many BMCs saw 0, 1, 2, 3 and 4 or more */
  histogram: number[];
}

export interface ConnectStormResult {
  consoles: number;
  echoed: number;
  failures: string[];
  /** per client, from its TCP connect to the echo of its keystroke */
  firstEchoMs: Summary;
  /** TCP connect alone */
  tcpConnectMs: Summary;
  /** completed handshakes per second at the farm, first to last RAKP 4 */
  handshakesPerS: number;
  handshakeSpanS: number;
  openSessionRequests: PerBmc;
  /** when each BMC first saw each step of the opening, ms after the storm started (p50 / p99 / max over BMCs) */
  stagesMs: Partial<Record<FarmStage, { p50: number; p99: number; max: number }>>;
  cpu: StormCpu;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
}

export interface ReconnectStormResult {
  consoles: number;
  cutMs: number;
  /** bridge states just before the restore */
  statesAtRestore: Record<string, number>;
  back: number;
  failures: string[];
  /** restore -> each console's echo */
  backMs: Summary;
  /** restore -> the last console's echo */
  allBackS: number;
  /** Open Session requests reaching each BMC after the restore (retransmissions included) */
  openSessionRequests: PerBmc;
  /** Open Session requests each BMC would have seen during the cut (all of them swallowed) */
  openSessionRequestsInCut: PerBmc;
  /** handshakes completed after the restore, and over how long */
  handshakes: number;
  handshakeSpanS: number;
  retriesScheduled: number;
  retriesMaxPerConsole: number;
  consoleLosses: number;
  cpu: StormCpu;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  /** consoles back per second after the restore (index = second) */
  backPerSecond: number[];
}

export interface StormsResults {
  consoles: number;
  connect?: ConnectStormResult;
  reconnect: ReconnectStormResult[];
}

function perBmc(counts: number[]): PerBmc {
  const histogram = [0, 0, 0, 0, 0];
  for (const c of counts) histogram[Math.min(4, c)]!++;
  return { max: counts.reduce((a, b) => Math.max(a, b), 0), mean: counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length), histogram };
}

interface CpuMark {
  bridge: number;
  farm: number;
  clients: NodeJS.CpuUsage;
  at: number;
}

function cpuMark(bridge: NodeChild<unknown>, farm: NodeChild<unknown>): CpuMark {
  return { bridge: cpuSeconds(bridge.pid), farm: cpuSeconds(farm.pid), clients: process.cpuUsage(), at: performance.now() };
}

function cpuSince(mark: CpuMark, bridge: NodeChild<unknown>, farm: NodeChild<unknown>): StormCpu {
  const c = process.cpuUsage(mark.clients);
  return {
    bridgeS: cpuSeconds(bridge.pid) - mark.bridge,
    farmS: cpuSeconds(farm.pid) - mark.farm,
    clientsS: (c.user + c.system) / 1e6,
    wallS: (performance.now() - mark.at) / 1000,
  };
}

function handshakeSpan(at: number[]): { n: number; spanS: number; perS: number } {
  if (at.length === 0) return { n: 0, spanS: 0, perS: 0 };
  const spanS = (at[at.length - 1]! - at[0]!) / 1000;
  return { n: at.length, spanS, perS: at.length / Math.max(spanS, 0.001) };
}

function stages(counters: FakeBmcFarmCounters, startedAt: number): ConnectStormResult['stagesMs'] {
  const out: ConnectStormResult['stagesMs'] = {};
  for (const stage of FARM_STAGES) {
    const at = counters.stagesAt[stage].filter((t): t is number => t !== null).map((t) => t - startedAt);
    if (at.length === 0) continue;
    const s = summarize(at);
    out[stage] = { p50: s.p50, p99: s.p99, max: s.max };
  }
  return out;
}

async function connectStorm(
  ports: number[],
  bridge: NodeChild<BridgeReady>,
  farm: NodeChild<FarmReady>,
  clients: (ConsoleClient | undefined)[],
  log: Log,
): Promise<ConnectStormResult> {
  await farm.request('reset');
  await bridge.request<BridgeMetrics>('metrics'); // resets the event-loop histogram
  const mark = cpuMark(bridge, farm);
  const startedAt = Date.now();
  const failures: string[] = [];
  const echoes: number[] = [];
  const connects: number[] = [];
  await Promise.all(
    ports.map(async (port, i) => {
      const t0 = performance.now();
      try {
        const client = await ConsoleClient.connect(port, '127.0.0.1', 30_000);
        clients[i] = client;
        connects.push(performance.now() - t0);
        client.write('k');
        echoes.push((await client.waitFor('K', 60_000)) - t0);
        client.consume();
      } catch (error) {
        failures.push(`console ${i}: ${(error as Error).message}`);
      }
    }),
  );
  const cpu = cpuSince(mark, bridge, farm);
  const metrics = await bridge.request<BridgeMetrics>('metrics');
  const counters = await farm.request<FakeBmcFarmCounters>('counters storm');
  const hs = handshakeSpan(counters.handshakesAt);
  const result: ConnectStormResult = {
    consoles: ports.length,
    echoed: echoes.length,
    failures: failures.slice(0, 20),
    firstEchoMs: summarize(echoes),
    tcpConnectMs: summarize(connects),
    handshakesPerS: hs.perS,
    handshakeSpanS: hs.spanS,
    openSessionRequests: perBmc(counters.openSessionRequests),
    stagesMs: stages(counters, startedAt),
    cpu,
    eventLoopDelayMs: metrics.eventLoopDelayMs,
  };
  log(`connect storm stages (ms after the start, p50/p99): ${Object.entries(result.stagesMs).map(([k, v]) => `${k} ${v.p50.toFixed(0)}/${v.p99.toFixed(0)}`).join(', ')}`);
  log(
    `connect storm: ${result.echoed}/${result.consoles} echoed, first echo p50 ${result.firstEchoMs.p50.toFixed(0)} p99 ${result.firstEchoMs.p99.toFixed(0)} max ${result.firstEchoMs.max.toFixed(0)} ms; ` +
      `${hs.n} handshakes in ${hs.spanS.toFixed(2)} s (${hs.perS.toFixed(0)}/s), Open Session per BMC max ${result.openSessionRequests.max}; ` +
      `CPU bridge ${cpu.bridgeS.toFixed(2)} s, farm ${cpu.farmS.toFixed(2)} s, clients ${cpu.clientsS.toFixed(2)} s in ${cpu.wallS.toFixed(2)} s; bridge loop delay p99 ${metrics.eventLoopDelayMs.p99.toFixed(0)} ms max ${metrics.eventLoopDelayMs.max.toFixed(0)} ms`,
  );
  return result;
}

async function reconnectStorm(
  cutMs: number,
  bridge: NodeChild<BridgeReady>,
  farm: NodeChild<FarmReady>,
  clients: (ConsoleClient | undefined)[],
  log: Log,
): Promise<ReconnectStormResult> {
  await farm.request('reset');
  await bridge.request<BridgeMetrics>('metrics'); // resets the retry counts and the event-loop histogram
  const before = await bridge.request<BridgeMetrics>('metrics');
  const mark = cpuMark(bridge, farm);
  await farm.request('cut');
  log(`reconnect storm: network cut for ${cutMs / 1000} s`);
  await sleep(cutMs);
  const atRestore = await bridge.request<BridgeMetrics>('metrics');
  log(`reconnect storm: at the restore ${JSON.stringify(atRestore.states)}, events ${JSON.stringify(atRestore.events)}`);
  const inCut = await farm.request<FakeBmcFarmCounters>('counters storm');
  await farm.request('reset');
  const { at: restoredAt } = await farm.request<{ at: number }>('restore');
  const t0 = performance.now();
  const failures: string[] = [];
  const back: number[] = [];
  await Promise.all(
    clients.map(async (client, i) => {
      if (!client) return;
      try {
        client.consume();
        client.write('r');
        back.push((await client.waitFor('R', 120_000)) - t0);
      } catch (error) {
        failures.push(`console ${i}: ${(error as Error).message}`);
      }
    }),
  );
  const cpu = cpuSince(mark, bridge, farm);
  const after = await bridge.request<BridgeMetrics>('metrics');
  log(`reconnect storm: after ${JSON.stringify(after.states)}, events ${JSON.stringify(after.events)}`);
  const counters = await farm.request<FakeBmcFarmCounters>('counters storm');
  const hs = handshakeSpan(counters.handshakesAt);
  const backPerSecond: number[] = [];
  for (const ms of back) backPerSecond[Math.floor(ms / 1000)] = (backPerSecond[Math.floor(ms / 1000)] ?? 0) + 1;
  const result: ReconnectStormResult = {
    consoles: clients.length,
    cutMs,
    statesAtRestore: atRestore.states,
    back: back.length,
    failures: failures.slice(0, 20),
    backMs: summarize(back),
    allBackS: back.reduce((a, b) => Math.max(a, b), 0) / 1000,
    openSessionRequests: perBmc(counters.openSessionRequests),
    openSessionRequestsInCut: perBmc(inCut.openSessionRequestsCut),
    handshakes: hs.n,
    handshakeSpanS: hs.n ? (counters.handshakesAt[hs.n - 1]! - restoredAt) / 1000 : 0,
    retriesScheduled: atRestore.retriesScheduled + after.retriesScheduled,
    retriesMaxPerConsole: Math.max(atRestore.retriesMaxPerConsole, after.retriesMaxPerConsole),
    consoleLosses: after.consoleLosses - before.consoleLosses,
    cpu,
    eventLoopDelayMs: after.eventLoopDelayMs,
    backPerSecond: Array.from(backPerSecond, (v) => v ?? 0),
  };
  log(
    `reconnect storm (${cutMs / 1000} s cut): ${result.back}/${result.consoles} back, all back ${result.allBackS.toFixed(1)} s after the restore (p50 ${(result.backMs.p50 / 1000).toFixed(1)} s); ` +
      `states at restore ${JSON.stringify(result.statesAtRestore)}; Open Session per BMC after restore max ${result.openSessionRequests.max} mean ${result.openSessionRequests.mean.toFixed(2)}, ` +
      `in the cut max ${result.openSessionRequestsInCut.max} mean ${result.openSessionRequestsInCut.mean.toFixed(2)}; retries max ${result.retriesMaxPerConsole}/console; ` +
      `CPU bridge ${cpu.bridgeS.toFixed(2)} s, farm ${cpu.farmS.toFixed(2)} s in ${cpu.wallS.toFixed(1)} s`,
  );
  return result;
}

/** Every console echoes again (before the next cut starts from a clean state). */
async function allActive(bridge: NodeChild<BridgeReady>, n: number, timeoutMs: number, log: Log): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const m = await bridge.request<BridgeMetrics>('metrics');
    if ((m.states['active'] ?? 0) === n) return true;
    if (performance.now() + 500 >= until) log(`not all active: ${JSON.stringify(m.states)}, events ${JSON.stringify(m.events)}`);
    await sleep(500);
  }
  return false;
}

export async function runStorms(cfg: BenchConfig, log: Log): Promise<StormsResults> {
  const n = cfg.stormConsoles;
  const cleanups: (() => Promise<void>)[] = [];
  const clients: (ConsoleClient | undefined)[] = new Array<ConsoleClient | undefined>(n);
  try {
    const farm = await startNodeChild<FarmReady>('farm-process', {
      username: 'admin',
      password: 'password',
      farms: [{ name: 'storm', count: n, host: 'bench' }],
    } satisfies FarmProcessConfig);
    cleanups.unshift(() => farm.stop());
    const bridge = await startNodeChild<BridgeReady>(
      'bridge-process',
      {
        nodes: farm.ready.farms['storm']!.map((port, i) => ({ nodeId: `node-${i}`, host: '127.0.0.1', port })),
        username: 'admin',
        password: 'password',
        cipherSuite: 3,
      } satisfies BridgeProcessConfig,
      { readyTimeoutMs: 120_000 },
    );
    cleanups.unshift(() => bridge.stop());
    log(`storms: ${n} consoles (bridge pid ${bridge.pid}, farm pid ${farm.pid})`);
    await sleep(1000); // listeners settled
    const results: StormsResults = { consoles: n, reconnect: [] };
    results.connect = await connectStorm(
      bridge.ready.consoles.map((c) => c.port),
      bridge,
      farm,
      clients,
      log,
    );
    for (const cutMs of cfg.stormCutsMs) {
      if (!(await allActive(bridge, clients.filter(Boolean).length, 60_000, log))) log('reconnect storm: not every console active before the cut');
      results.reconnect.push(await reconnectStorm(cutMs, bridge, farm, clients, log));
    }
    return results;
  } finally {
    await Promise.all(clients.map((c) => c?.close()));
    for (const c of cleanups) await c().catch(() => undefined);
  }
}

/** A benchmark target row (report.ts's Target). */
interface StormTarget {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

/** Connect storm: first echo p99 under this (issue 12). */
export const CONNECT_STORM_P99_TARGET_MS = 500;
/** Reconnect storm: "no BMC sees more than a few handshakes": Open Session requests per BMC after the cut. */
export const RECONNECT_STORM_MAX_OPEN_SESSIONS_PER_BMC = 3;

export function stormTargets(r: StormsResults): StormTarget[] {
  const out: StormTarget[] = [];
  const c = r.connect;
  if (c) {
    out.push({
      name: `connect storm: ${c.consoles} clients at once, first echo p99`,
      target: `< ${CONNECT_STORM_P99_TARGET_MS} ms`,
      value: `${c.firstEchoMs.p99.toFixed(0)} ms (${c.echoed}/${c.consoles} echoed; CPU bridge ${c.cpu.bridgeS.toFixed(2)} s, farm ${c.cpu.farmS.toFixed(2)} s, clients ${c.cpu.clientsS.toFixed(2)} s)`,
      met: c.echoed === c.consoles && c.firstEchoMs.p99 < CONNECT_STORM_P99_TARGET_MS,
    });
  }
  for (const s of r.reconnect) {
    out.push({
      name: `reconnect storm: ${s.consoles} consoles, ${s.cutMs / 1000} s cut, every console back`,
      target: 'all',
      value: `${s.back}/${s.consoles}, all back ${s.allBackS.toFixed(1)} s after the restore`,
      met: s.back === s.consoles,
    });
    out.push({
      name: `reconnect storm (${s.cutMs / 1000} s cut): Open Session requests per BMC`,
      target: `<= ${RECONNECT_STORM_MAX_OPEN_SESSIONS_PER_BMC}`,
      value: `max ${s.openSessionRequests.max}, mean ${s.openSessionRequests.mean.toFixed(2)}`,
      met: s.openSessionRequests.max <= RECONNECT_STORM_MAX_OPEN_SESSIONS_PER_BMC,
    });
  }
  return out;
}

const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '-');

/** The storms' tables, in Markdown lines. */
export function renderStorms(r: StormsResults): string[] {
  const out: string[] = [`## Storms: ${r.consoles} consoles in one bridge process, ${r.consoles} fake BMCs in the farm process`, ''];
  const c = r.connect;
  if (c) {
    out.push('### Connect storm: every client connects at once and types one key');
    out.push('');
    out.push('| echoed | first echo p50 / p99 / max | TCP connect p50 / max | handshakes at the farm | Open Session per BMC (max) | CPU: bridge / farm / clients, in wall | CPU per console opened: bridge / farm | bridge event-loop delay p99 / max |');
    out.push('|---|---|---|---|---|---|---|---|');
    out.push(
      `| ${c.echoed}/${c.consoles} | ${f0(c.firstEchoMs.p50)} / ${f0(c.firstEchoMs.p99)} / ${f0(c.firstEchoMs.max)} ms | ${f0(c.tcpConnectMs.p50)} / ${f0(c.tcpConnectMs.max)} ms | ${f0(c.handshakesPerS)}/s over ${c.handshakeSpanS.toFixed(2)} s | ${c.openSessionRequests.max} | ${c.cpu.bridgeS.toFixed(2)} / ${c.cpu.farmS.toFixed(2)} / ${c.cpu.clientsS.toFixed(2)} s in ${c.cpu.wallS.toFixed(2)} s | ${((c.cpu.bridgeS / c.consoles) * 1000).toFixed(2)} / ${((c.cpu.farmS / c.consoles) * 1000).toFixed(2)} ms | ${f0(c.eventLoopDelayMs.p99)} / ${f0(c.eventLoopDelayMs.max)} ms |`,
    );
    out.push('');
    out.push(
      'Every process serves its ready sockets in arrival order, so all consoles advance one step per round and finish together: p99 is the storm\'s total CPU over the cores the three processes get (BENCHMARKS.md, "Storms").',
    );
    out.push('');
    out.push(`When each BMC first saw each step, ms after the storm started (p50 / p99 over the BMCs): ${Object.entries(c.stagesMs).map(([k, v]) => `${k} ${f0(v.p50)} / ${f0(v.p99)}`).join('; ')}.`);
    out.push('');
  }
  if (r.reconnect.length) {
    out.push('### Reconnect storm: the network cut between bridge and farm, then back; each client types one key at the restore');
    out.push('');
    out.push('| cut | consoles reconnecting at the restore | back | all back after the restore (p50) | Open Session per BMC after the restore: max / mean | handshakes after the restore, over | retries per console (max) | CPU: bridge / farm, in wall |');
    out.push('|---|---|---|---|---|---|---|---|');
    for (const s of r.reconnect) {
      out.push(
        `| ${s.cutMs / 1000} s | ${s.statesAtRestore['reconnecting'] ?? 0} | ${s.back}/${s.consoles} | ${s.allBackS.toFixed(1)} s (${(s.backMs.p50 / 1000).toFixed(1)} s) | ${s.openSessionRequests.max} / ${s.openSessionRequests.mean.toFixed(2)} | ${s.handshakes} over ${s.handshakeSpanS.toFixed(1)} s | ${s.retriesMaxPerConsole} | ${s.cpu.bridgeS.toFixed(2)} / ${s.cpu.farmS.toFixed(2)} s in ${s.cpu.wallS.toFixed(1)} s |`,
      );
    }
    out.push('');
    for (const s of r.reconnect) out.push(`Consoles back per second after the ${s.cutMs / 1000} s cut: ${s.backPerSecond.join(' ')}.`);
    out.push('');
  }
  return out;
}

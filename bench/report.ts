/**
 * Figures and the Markdown table from the raw results (both go into latest.json; the table into latest.md).
 */
import { median, percentile, summarize } from './lib/stats.js';
import type { BenchConfig } from './lib/config.js';
import type { IpmiSimResults } from './sections/ipmi-sim.js';
import type { FakeBmcResults } from './sections/fake-bmc.js';
import type { BootStormResults } from './sections/boot-storm.js';
import { stormFigures, renderStorm, type StormFigures } from './storm-report.js';
import { renderStorms, stormTargets, type StormsResults } from './sections/storms.js';
import { renderLoss, type LossResults } from './sections/loss.js';
import type { ConnectTrial, BulkTrial } from './lib/trials.js';

const MiB = 2 ** 20;

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
  ipmitool: string;
  socat: string;
  ipmiSim: string;
  /** 1, 5, 15 min: other work on the machine skews every figure */
  loadAvgStart: number[];
  loadAvgEnd?: number[];
}

export interface Results {
  startedAt: string;
  durationS: number;
  command: string;
  machine: Machine;
  config: BenchConfig;
  ipmiSim?: IpmiSimResults;
  fakeBmc?: FakeBmcResults;
  bootStorm?: BootStormResults;
  storms?: StormsResults;
  loss?: LossResults;
  figures?: Figures;
  errors: string[];
}

export interface Figures {
  ipmiSim?: {
    bulkMBps: { ours: number; baseline: number; ratio: number };
    cpuSPerMB: { ours: number; baseline: number; ratio: number };
    connectMs: { ours: { p50: number; p95: number; ok: number; n: number }; baseline: { p50: number; p95: number; ok: number; n: number }; ratioP50: number; ratioP95: number };
    backToBack: { ours: { ok: number; n: number }; baseline: { ok: number; n: number; solInUse: number; pauseMs: number } };
    keystrokeMs: { ours: { p50: number; p99: number }; baseline: { p50: number; p99: number }; ratioP50: number; ratioP99: number };
    /** the same once the JIT is warm: n keystrokes measured after `warmup` more */
    warmKeystrokeMs?: { ours: { p50: number; p99: number }; baseline: { p50: number; p99: number }; ratioP50: number; ratioP99: number; n: number };
    ironicDefaultCommandMs?: number;
  };
  fakeBmc?: {
    bulkMBps: { ours: number; baseline: number; ratio: number; oursSuite0?: number };
    /** one SOL packet's loop (255 B / throughput) and the CPU each side spent per packet, microseconds */
    perPacketUs: { loop: number; bridgeCpu: number; bmcCpu: number };
    stopAndWaitLimitMBps: number;
    /** payload / (loopback RTT + the fake BMC's own CPU per packet): what even a zero-cost console could reach */
    bmcBoundLimitMBps: number;
    udpRttUsP50: number;
    oursVsLimit: number;
    cpuSPerMB: { ours: number; baseline: number; ratio: number };
    keystrokeMs: { ours: { p50: number; p99: number }; baseline: { p50: number; p99: number }; ratioP50: number; ratioP99: number };
    memory: {
      baselinePerConsole: { rssBytes: number; pssBytes: number; measured: number };
      rows: { active: number; oursRss: number; oursPss: number; baselineRss: number; baselinePss: number; baselineMeasured: boolean }[];
      oursListeningRss: number;
      oursPerConsoleTotal: number;
      oursPerConsoleMarginal: number;
      ratioTotal: number;
      ratioMarginal: number;
    };
    scale: { consoles: number; opened: number; echoed: number; p50: number; p99: number; rssBytes: number; vmHwmBytes: number; echoes: number; echoFailures: number; openSeconds: number; cpuSeconds: number };
  };
  bootStorm?: StormFigures;
  targets: Target[];
}

const ok = (t: ConnectTrial[]): number[] => t.filter((x) => x.ok).map((x) => x.ms);
const bulkMed = (b: BulkTrial[]): number => median(b.map((x) => x.mbPerS));
const cpuMed = (b: BulkTrial[]): number => median(b.map((x) => x.cpuSPerMB));

export function figures(r: Results): Figures {
  const f: Figures = { targets: [] };
  const s = r.ipmiSim;
  if (s) {
    const oc = ok(s.ours.connect.trials);
    const bc = ok(s.baseline.connect.trials);
    const bb = s.baseline.connectBackToBack.trials;
    f.ipmiSim = {
      bulkMBps: { ours: bulkMed(s.ours.bulk), baseline: bulkMed(s.baseline.bulk), ratio: bulkMed(s.ours.bulk) / bulkMed(s.baseline.bulk) },
      cpuSPerMB: { ours: cpuMed(s.ours.bulk), baseline: cpuMed(s.baseline.bulk), ratio: cpuMed(s.ours.bulk) / cpuMed(s.baseline.bulk) },
      connectMs: {
        ours: { p50: percentile(oc, 50), p95: percentile(oc, 95), ok: oc.length, n: s.ours.connect.trials.length },
        baseline: { p50: percentile(bc, 50), p95: percentile(bc, 95), ok: bc.length, n: s.baseline.connect.trials.length },
        ratioP50: percentile(oc, 50) / percentile(bc, 50),
        ratioP95: percentile(oc, 95) / percentile(bc, 95),
      },
      backToBack: {
        ours: { ok: oc.length, n: s.ours.connect.trials.length },
        baseline: { ok: bb.filter((t) => t.ok).length, n: bb.length, solInUse: bb.filter((t) => t.failure === 'sol-in-use').length, pauseMs: s.baseline.connectBackToBack.pauseMs },
      },
      keystrokeMs: keys(s.ours.keystrokeMs, s.baseline.keystrokeMs),
      ...(s.ours.warmKeystrokeMs && s.baseline.warmKeystrokeMs
        ? { warmKeystrokeMs: { ...keys(s.ours.warmKeystrokeMs, s.baseline.warmKeystrokeMs), n: s.ours.warmKeystrokeMs.length } }
        : {}),
      ...(s.ironicDefaultCommand ? { ironicDefaultCommandMs: s.ironicDefaultCommand.ms } : {}),
    };
    const i = f.ipmiSim;
    f.targets.push(
      { name: 'ipmi_sim bulk throughput', target: '>= 1.0x baseline', value: `${i.bulkMBps.ratio.toFixed(2)}x`, met: i.bulkMBps.ratio >= 1 },
      { name: 'connect-to-first-echo p50', target: '<= 0.25x baseline', value: `${i.connectMs.ratioP50.toFixed(2)}x`, met: i.connectMs.ratioP50 <= 0.25 },
      echoTarget('ipmi_sim keystroke echo p50 / p99, first keystrokes', i.keystrokeMs),
    );
    if (i.warmKeystrokeMs) f.targets.push(echoTarget('ipmi_sim keystroke echo p50 / p99, warm', i.warmKeystrokeMs));
  }
  const b = r.fakeBmc;
  if (b) {
    const mem = b.memory;
    const baseLast = mem.baseline[mem.baseline.length - 1]!;
    const perRss = baseLast.rssBytes / baseLast.active;
    const perPss = baseLast.pssBytes / baseLast.active;
    const rows = mem.ours.map((p) => {
      const measured = mem.baseline.find((x) => x.active === p.active);
      return {
        active: p.active,
        oursRss: p.rssBytes,
        oursPss: p.pssBytes,
        baselineRss: measured ? measured.rssBytes : perRss * p.active,
        baselinePss: measured ? measured.pssBytes : perPss * p.active,
        baselineMeasured: measured !== undefined,
      };
    });
    const top = mem.ours[mem.ours.length - 1]!;
    const perTotal = top.rssBytes / top.active;
    const perMarginal = (top.rssBytes - mem.oursListeningOnly.rssBytes) / top.active;
    const sc = b.scale;
    f.fakeBmc = {
      bulkMBps: {
        ours: bulkMed(b.ours.bulk),
        baseline: bulkMed(b.baseline.bulk),
        ratio: bulkMed(b.ours.bulk) / bulkMed(b.baseline.bulk),
        ...(b.oursSuite0Bulk ? { oursSuite0: bulkMed(b.oursSuite0Bulk) } : {}),
      },
      perPacketUs: perPacket(b.ours.bulk, b.payloadBytes),
      stopAndWaitLimitMBps: median(b.repLimitsMBps),
      bmcBoundLimitMBps: median(
        b.ours.bulk.map((t, k) => {
          const rttUs = b.payloadBytes / b.repLimitsMBps[k]!; // bytes / (MB/s) = microseconds
          const bmcUs = (t.bmcCpuS * 1e6) / (t.bytes / b.payloadBytes);
          return b.payloadBytes / (rttUs + bmcUs);
        }),
      ),
      udpRttUsP50: b.udpRttUs.p50,
      oursVsLimit: median(b.ours.bulk.map((t, k) => t.mbPerS / b.repLimitsMBps[k]!)),
      cpuSPerMB: { ours: cpuMed(b.ours.bulk), baseline: cpuMed(b.baseline.bulk), ratio: cpuMed(b.ours.bulk) / cpuMed(b.baseline.bulk) },
      keystrokeMs: keys(b.ours.keystrokeMs, b.baseline.keystrokeMs),
      memory: {
        baselinePerConsole: { rssBytes: perRss, pssBytes: perPss, measured: baseLast.active },
        rows,
        oursListeningRss: mem.oursListeningOnly.rssBytes,
        oursPerConsoleTotal: perTotal,
        oursPerConsoleMarginal: perMarginal,
        ratioTotal: perRss / perTotal,
        ratioMarginal: perRss / perMarginal,
      },
      scale: {
        consoles: sc.consoles,
        opened: sc.opened,
        echoed: sc.consolesThatEchoed,
        p50: sc.echoMs.p50,
        p99: sc.echoMs.p99,
        rssBytes: sc.rssBytes,
        vmHwmBytes: sc.vmHwmBytes,
        echoes: sc.echoes,
        echoFailures: sc.echoFailures,
        openSeconds: sc.openSeconds,
        cpuSeconds: sc.cpuSeconds,
      },
    };
    const fb = f.fakeBmc;
    f.targets.push(
      {
        name: 'fake BMC bulk throughput',
        target: '>= 0.5x stop-and-wait limit',
        // three decimals: 0.4987 would read as a 0.50x that is marked not met
        value: `${fb.oursVsLimit.toFixed(3)}x (${fb.bulkMBps.ours.toFixed(2)} of ${fb.stopAndWaitLimitMBps.toFixed(2)} MB/s)`,
        met: fb.oursVsLimit >= 0.5,
      },
      {
        name: 'memory per active console',
        target: '<= 1/50 of socat+ipmitool',
        value: `1/${fb.memory.ratioTotal.toFixed(0)} (total RSS / N), 1/${fb.memory.ratioMarginal.toFixed(0)} (marginal)`,
        met: fb.memory.ratioTotal >= 50,
      },
      {
        name: `${fb.scale.consoles} consoles: all echo`,
        target: 'all',
        value: `${fb.scale.echoed}/${fb.scale.consoles} (${fb.scale.echoFailures} echo timeouts)`,
        met: fb.scale.echoed === fb.scale.consoles && fb.scale.echoFailures === 0,
      },
      { name: `${fb.scale.consoles} consoles: echo p99`, target: '< 50 ms', value: `${fb.scale.p99.toFixed(1)} ms`, met: fb.scale.p99 < 50 },
      { name: `${fb.scale.consoles} consoles: RSS`, target: '< 300 MB', value: `${(fb.scale.vmHwmBytes / 1e6).toFixed(0)} MB peak`, met: fb.scale.vmHwmBytes < 300e6 },
    );
  }
  if (r.bootStorm) {
    f.bootStorm = stormFigures(r.bootStorm);
    f.targets.push(...f.bootStorm.targets);
  }
  if (r.storms) f.targets.push(...stormTargets(r.storms));
  return f;
}

function perPacket(bulk: BulkTrial[], payload: number): { loop: number; bridgeCpu: number; bmcCpu: number } {
  const packets = (t: BulkTrial): number => t.bytes / payload;
  return {
    loop: median(bulk.map((t) => (t.ms * 1000) / packets(t))),
    bridgeCpu: median(bulk.map((t) => (t.cpuS * 1e6) / packets(t))),
    bmcCpu: median(bulk.map((t) => (t.bmcCpuS * 1e6) / packets(t))),
  };
}

function keys(ours: number[], base: number[]): { ours: { p50: number; p99: number }; baseline: { p50: number; p99: number }; ratioP50: number; ratioP99: number } {
  const o = summarize(ours);
  const b = summarize(base);
  return { ours: { p50: o.p50, p99: o.p99 }, baseline: { p50: b.p50, p99: b.p99 }, ratioP50: o.p50 / b.p50, ratioP99: o.p99 / b.p99 };
}

type EchoFigures = ReturnType<typeof keys>;

/** A target: echo p50 and p99 at or below socat+ipmitool's. */
function echoTarget(name: string, k: EchoFigures): Target {
  return { name, target: '<= 1.0x baseline', value: `${k.ratioP50.toFixed(2)}x / ${k.ratioP99.toFixed(2)}x`, met: k.ratioP50 <= 1 && k.ratioP99 <= 1 };
}

/** A table row: echo p50 / p99 of both sides and their ratios. */
function echoRow(label: string, k: EchoFigures): string {
  return `| ${label} | ${ms(k.ours.p50)} / ${ms(k.ours.p99)} | ${ms(k.baseline.p50)} / ${ms(k.baseline.p99)} | ${x2(k.ratioP50)} / ${x2(k.ratioP99)} |`;
}

const ms = (x: number): string => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(1)) : '-');
const mb = (x: number): string => `${(x / MiB).toFixed(1)} MiB`;
const kb = (x: number): string => `${(x / 1024).toFixed(0)} KiB`;
const x2 = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}x` : '-');

export function renderReport(r: Results, f: Figures = figures(r)): string {
  const m = r.machine;
  const out: string[] = [];
  out.push(`# ipmi-sol-bridge vs socat + ipmitool`);
  out.push('');
  out.push(`\`${r.command}\` — ${r.startedAt}, ${r.durationS} s${r.config.quick ? ' (quick: fewer trials, smaller transfers)' : ''}`);
  out.push('');
  out.push(`Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}; ${m.ipmitool}, ${m.socat}, ipmi_sim ${m.ipmiSim}; load average at start ${m.loadAvgStart.map((l) => l.toFixed(2)).join(' ')}, at end ${(m.loadAvgEnd ?? []).map((l) => l.toFixed(2)).join(' ')}.`);
  out.push('');
  const i = f.ipmiSim;
  if (i) {
    out.push(`## Side by side on one ipmi_sim (taking turns; cipher suite 3 both)`);
    out.push('');
    out.push('| | ours (bridge process) | socat + ipmitool | ratio ours/baseline |');
    out.push('|---|---|---|---|');
    out.push(`| Bulk BMC -> TCP client, ${(r.ipmiSim!.bulkBytes / 1024).toFixed(0)} KiB, MB/s (median) | ${i.bulkMBps.ours.toFixed(2)} | ${i.bulkMBps.baseline.toFixed(2)} | ${x2(i.bulkMBps.ratio)} |`);
    out.push(`| Connect-to-first-echo p50 / p95, ms | ${ms(i.connectMs.ours.p50)} / ${ms(i.connectMs.ours.p95)} (${i.connectMs.ours.ok}/${i.connectMs.ours.n} ok, back to back) | ${ms(i.connectMs.baseline.p50)} / ${ms(i.connectMs.baseline.p95)} (${i.connectMs.baseline.ok}/${i.connectMs.baseline.n} ok, \`sol deactivate\` before each) | ${x2(i.connectMs.ratioP50)} / ${x2(i.connectMs.ratioP95)} |`);
    out.push(`| Reconnect right away (${i.backToBack.baseline.pauseMs} ms pause for the baseline, none for ours) | ${i.backToBack.ours.ok}/${i.backToBack.ours.n} ok | ${i.backToBack.baseline.ok}/${i.backToBack.baseline.n} ok (${i.backToBack.baseline.solInUse} "SOL payload already active") | |`);
    out.push(echoRow(`Keystroke echo p50 / p99, ms (the console's first ${r.ipmiSim!.ours.keystrokeMs.length})`, i.keystrokeMs));
    const w = i.warmKeystrokeMs;
    if (w) out.push(echoRow(`Keystroke echo p50 / p99, ms, warm (${w.n} after ${r.config.warmupKeystrokes} more, both sides)`, w));
    out.push(`| CPU s per MB moved (bridge process vs socat x2 + ipmitool) | ${i.cpuSPerMB.ours.toFixed(3)} | ${i.cpuSPerMB.baseline.toFixed(3)} | ${x2(i.cpuSPerMB.ratio)} |`);
    out.push('');
  }
  const b = f.fakeBmc;
  if (b) {
    out.push(`## Fake BMC (farm in its own process; cipher suite 3 both)`);
    out.push('');
    out.push('| | ours | socat + ipmitool | ratio ours/baseline |');
    out.push('|---|---|---|---|');
    out.push(`| Bulk (generator host), ${(r.fakeBmc!.bulkBytes / MiB).toFixed(0)} MiB, MB/s (median) | ${b.bulkMBps.ours.toFixed(2)} | ${b.bulkMBps.baseline.toFixed(2)} | ${x2(b.bulkMBps.ratio)} |`);
    out.push(`| Stop-and-wait limit: ${r.fakeBmc!.payloadBytes} B / loopback UDP RTT p50, Node to Node (${b.udpRttUsP50.toFixed(1)} us before the runs), measured before each repetition | ${b.stopAndWaitLimitMBps.toFixed(2)} MB/s (median) | | ours = ${x2(b.oursVsLimit)} the limit (median of per-repetition ratios) |`);
    out.push(`| One ${r.fakeBmc!.payloadBytes}-byte SOL packet's loop, and the CPU each side spent on it (ours) | ${b.perPacketUs.loop.toFixed(0)} us: bridge CPU ${b.perPacketUs.bridgeCpu.toFixed(0)} us + fake BMC CPU ${b.perPacketUs.bmcCpu.toFixed(0)} us | | |`);
    out.push(`| Limit with the fake BMC's own CPU per packet: ${r.fakeBmc!.payloadBytes} B / (RTT + BMC CPU per packet) | ${b.bmcBoundLimitMBps.toFixed(2)} MB/s | | ours = ${x2(b.bulkMBps.ours / b.bmcBoundLimitMBps)} of it |`);
    if (b.bulkMBps.oursSuite0 !== undefined) out.push(`| Bulk, ours with cipher suite 0 (no integrity, no AES: the crypto's share) | ${b.bulkMBps.oursSuite0.toFixed(2)} | | |`);
    out.push(`| CPU s per MB moved | ${b.cpuSPerMB.ours.toFixed(3)} | ${b.cpuSPerMB.baseline.toFixed(3)} | ${x2(b.cpuSPerMB.ratio)} |`);
    out.push(echoRow('Keystroke echo p50 / p99, ms', b.keystrokeMs));
    out.push('');
    const mm = b.memory;
    out.push(`### Memory with N active consoles`);
    out.push('');
    out.push(`| active consoles | ours: bridge RSS (PSS) | socat + ipmitool: summed RSS (PSS) | baseline RSS / ours |`);
    out.push('|---|---|---|---|');
    out.push(`| 1, bridge process serving only it (+1 idle node) | ${mb(r.fakeBmc!.memory.oursSingle.rssBytes)} (${mb(r.fakeBmc!.memory.oursSingle.pssBytes)}) | ${mb(mm.baselinePerConsole.rssBytes)} (${mb(mm.baselinePerConsole.pssBytes)}) mean | ${(mm.baselinePerConsole.rssBytes / r.fakeBmc!.memory.oursSingle.rssBytes).toFixed(2)}x |`);
    out.push(`| 0 of ${r.fakeBmc!.scale.consoles} (all listening, none active) | ${mb(mm.oursListeningRss)} | ${mb(r.fakeBmc!.memory.baselineIdleListener.rssBytes)} per idle socat listener | |`);
    for (const row of mm.rows) {
      out.push(`| ${row.active} | ${mb(row.oursRss)} (${mb(row.oursPss)}) | ${mb(row.baselineRss)} (${mb(row.baselinePss)})${row.baselineMeasured ? ' measured' : ' extrapolated'} | ${(row.baselineRss / row.oursRss).toFixed(2)}x |`);
    }
    out.push(`| per active console | ${kb(mm.oursPerConsoleTotal)} (RSS / N at ${mm.rows[mm.rows.length - 1]!.active}), ${kb(mm.oursPerConsoleMarginal)} marginal | ${mb(mm.baselinePerConsole.rssBytes)} RSS, ${mb(mm.baselinePerConsole.pssBytes)} PSS (mean of ${mm.baselinePerConsole.measured} real ones) | ${mm.ratioTotal.toFixed(0)}x (${mm.ratioMarginal.toFixed(0)}x marginal) |`);
    out.push('');
    const sc = b.scale;
    out.push(`### ${sc.consoles} consoles at once in one bridge process`);
    out.push('');
    out.push('| opened | echoed | echoes (timeouts) | echo p50 / p99 | RSS now / peak | bridge CPU during the echo load | time to open all |');
    out.push('|---|---|---|---|---|---|---|');
    out.push(`| ${sc.opened}/${sc.consoles} | ${sc.echoed}/${sc.consoles} | ${sc.echoes} (${sc.echoFailures}) | ${ms(sc.p50)} / ${ms(sc.p99)} ms | ${mb(sc.rssBytes)} / ${mb(sc.vmHwmBytes)} | ${sc.cpuSeconds.toFixed(2)} s in ${(r.fakeBmc!.scale.durationMs / 1000).toFixed(0)} s | ${sc.openSeconds.toFixed(1)} s |`);
    out.push('');
  }
  if (r.bootStorm && f.bootStorm) out.push(...renderStorm(r.bootStorm, f.bootStorm));
  if (r.storms) out.push(...renderStorms(r.storms));
  if (r.loss) out.push(...renderLoss(r.loss));
  out.push('## Targets');
  out.push('');
  out.push('| target | wanted | measured | met |');
  out.push('|---|---|---|---|');
  for (const t of f.targets) out.push(`| ${t.name} | ${t.target} | ${t.value} | ${t.met === null ? '-' : t.met ? 'yes' : '**no**'} |`);
  out.push('');
  if (i?.ironicDefaultCommandMs !== undefined) {
    out.push(`Ironic's exact command line has no \`-C\`: ipmitool 1.8.19 then asks Get Channel Cipher Suites in the IPMI 2.0 form, which ipmi_sim never answers, and falls back to suite 3 after its retries: connect-to-first-echo ${(i.ironicDefaultCommandMs / 1000).toFixed(1)} s (one trial). The table uses \`-C 3\` for the baseline.`);
    out.push('');
  }
  if (r.errors.length) {
    out.push('## Errors');
    out.push('');
    for (const e of r.errors) out.push(`- ${e.split('\n')[0]}`);
    out.push('');
  }
  return out.join('\n');
}

/**
 * The boot storm's figures, targets (issue 12) and Markdown table, from its raw results.
 */
import type { BootStormResults, StormSide } from './sections/boot-storm.js';

/** One row of the report's target table (the same shape as report.ts's Target; no import back, no circle). */
export interface StormTarget {
  name: string;
  target: string;
  value: string;
  met: boolean | null;
}

/** Issue 12's targets for the boot storm. */
export const STORM_TARGET_US_PER_PACKET = 20;
export const STORM_TARGET_CPU_S_PER_MB = 0.1;
export const STORM_TARGET_CPU_RATIO = 0.25;
/** memory per active console <= 1/100 of socat+ipmitool's */
export const STORM_TARGET_MEMORY_RATIO = 100;

export interface StormSideFigures {
  consoles: number;
  exact: number;
  wallS: number;
  idealS: number;
  wallVsIdeal: number;
  cpuS: number;
  cpuSPerConsole: number;
  cpuSPerMB: number;
  cpuUsPerPacket: number;
  /** share of one core over the storm */
  coreShare: number;
  bytesPerPacket: number;
  memoryPerConsoleBytes: number;
}

export interface StormFigures {
  ours: StormSideFigures & {
    logsExact: number;
    /** on consoles printing their boot log */
    echoP50Ms: number;
    echoP99Ms: number;
    echoSamples: number;
    echoFailures: number;
    /** on quiet consoles of the same bridge during the storm */
    quietEchoP50Ms: number;
    quietEchoP99Ms: number;
    openPerConsoleBytes: number;
  };
  baseline?: StormSideFigures;
  /** ours / baseline CPU s per MB */
  cpuRatio?: number;
  /** baseline / ours memory per console */
  memoryRatio?: number;
  /** Node's floor at the same console count: the storm's I/O alone, and with suite 3's crypto (us per datagram) */
  floor?: { ioUs: number; cryptoUs: number; ioSystemUs: number; cryptoSystemUs: number; datagramsPerWakeup: number };
  targets: StormTarget[];
}

function sideFigures(s: StormSide): StormSideFigures {
  return {
    consoles: s.consoles,
    exact: s.exact,
    wallS: s.wallS,
    idealS: s.idealS,
    wallVsIdeal: s.wallS / s.idealS,
    cpuS: s.cpuS,
    cpuSPerConsole: s.cpuSPerConsole,
    cpuSPerMB: s.cpuSPerMB,
    cpuUsPerPacket: s.cpuUsPerPacket,
    coreShare: s.cpuS / s.wallS,
    bytesPerPacket: s.bytesPerPacket,
    memoryPerConsoleBytes: s.memory.perConsoleBytes,
  };
}

export function stormFigures(r: BootStormResults): StormFigures {
  const o = r.ours;
  const e = o.echo.printing;
  const q = o.echo.quiet;
  const ours = {
    ...sideFigures(o),
    logsExact: o.logs.exact,
    echoP50Ms: e.ms.p50,
    echoP99Ms: e.ms.p99,
    echoSamples: e.samples,
    echoFailures: e.failures,
    quietEchoP50Ms: q.ms.p50,
    quietEchoP99Ms: q.ms.p99,
    openPerConsoleBytes: o.memory.openPerConsoleBytes ?? NaN,
  };
  const baseline = r.baseline ? sideFigures(r.baseline) : undefined;
  const cpuRatio = baseline ? ours.cpuSPerMB / baseline.cpuSPerMB : undefined;
  const memoryRatio = baseline ? baseline.memoryPerConsoleBytes / ours.memoryPerConsoleBytes : undefined;
  const n = o.consoles;
  const floor = r.floor
    ? { ioUs: r.floor.io.usPerDatagram, cryptoUs: r.floor.crypto.usPerDatagram, ioSystemUs: r.floor.io.systemUs, cryptoSystemUs: r.floor.crypto.systemUs, datagramsPerWakeup: r.floor.crypto.datagramsPerWakeup }
    : undefined;
  const floorNote = floor ? `; Node's floor for the same I/O + crypto: ${floor.cryptoUs.toFixed(1)} us` : '';
  const targets: StormTarget[] = [
    { name: `boot storm, ${n} consoles: client streams byte-exact`, target: 'all', value: `${o.exact}/${n}`, met: o.exact === n },
    { name: `boot storm, ${n} consoles: captured log files byte-exact`, target: 'all', value: `${o.logs.exact}/${o.logs.checked}`, met: o.logs.exact === o.logs.checked },
    { name: 'boot storm: bridge CPU per SOL packet', target: `<= ${STORM_TARGET_US_PER_PACKET} us`, value: `${ours.cpuUsPerPacket.toFixed(1)} us (${ours.bytesPerPacket.toFixed(0)} B packets${floorNote})`, met: ours.cpuUsPerPacket <= STORM_TARGET_US_PER_PACKET },
    { name: 'boot storm: bridge CPU s per MB', target: `<= ${STORM_TARGET_CPU_S_PER_MB}`, value: ours.cpuSPerMB.toFixed(3), met: ours.cpuSPerMB <= STORM_TARGET_CPU_S_PER_MB },
    {
      name: 'boot storm: CPU s per MB vs socat+ipmitool',
      target: `<= ${STORM_TARGET_CPU_RATIO}x`,
      value: cpuRatio === undefined ? 'no baseline run' : `${cpuRatio.toFixed(2)}x (${ours.cpuSPerMB.toFixed(3)} vs ${baseline!.cpuSPerMB.toFixed(3)})`,
      met: cpuRatio === undefined ? null : cpuRatio <= STORM_TARGET_CPU_RATIO,
    },
    {
      name: 'boot storm: memory per active console',
      target: `<= 1/${STORM_TARGET_MEMORY_RATIO} of socat+ipmitool`,
      value: memoryRatio === undefined ? 'no baseline run' : `1/${memoryRatio.toFixed(0)}`,
      met: memoryRatio === undefined ? null : memoryRatio >= STORM_TARGET_MEMORY_RATIO,
    },
    { name: 'boot storm: on time', target: '(reported)', value: `${ours.wallS.toFixed(1)} s for ${ours.idealS.toFixed(1)} s at line rate (${ours.wallVsIdeal.toFixed(2)}x)`, met: null },
    { name: `boot storm: keystroke echo p50 / p99 on ${e.consoles} printing consoles`, target: '(reported)', value: `${ours.echoP50Ms.toFixed(2)} / ${ours.echoP99Ms.toFixed(2)} ms (${ours.echoSamples} keys, ${ours.echoFailures} timeouts)`, met: null },
    { name: `boot storm: keystroke echo p50 / p99 on ${q.consoles} quiet consoles`, target: '(reported)', value: `${ours.quietEchoP50Ms.toFixed(2)} / ${ours.quietEchoP99Ms.toFixed(2)} ms (${q.samples} keys, ${q.failures} timeouts)`, met: null },
  ];
  return { ours, ...(baseline ? { baseline } : {}), ...(cpuRatio === undefined ? {} : { cpuRatio }), ...(memoryRatio === undefined ? {} : { memoryRatio }), ...(floor ? { floor } : {}), targets };
}

const mib = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MiB`;
const kib = (x: number): string => `${(x / 1024).toFixed(0)} KiB`;
const f3 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3));

export function renderStorm(r: BootStormResults, f: StormFigures): string[] {
  const c = r.config;
  const o = f.ours;
  const b = f.baseline;
  const out: string[] = [];
  out.push(`## Boot storm (fake BMC farm in its own process; cipher suite ${c.cipherSuite} both)`);
  out.push('');
  out.push(
    `Each node prints ${(c.bootBytes / 1000).toFixed(0)} kB of boot log at ${c.baud} baud (${(c.baud / 10 / 1000).toFixed(1)} kB/s), all nodes at once; ` +
      `ours: ${o.consoles} consoles, captured (history + log file each), one TCP client per console${c.semiSpaceMiB !== undefined ? `, bridge under \`node --max-semi-space-size=${c.semiSpaceMiB}\`` : ''}; socat + ipmitool: ${b ? `${b.consoles} consoles` : 'not run'}, one client each.`,
  );
  out.push('');
  out.push('| | ours (bridge process) | socat + ipmitool (socat x2 + ipmitool per console) | ratio ours/baseline |');
  out.push('|---|---|---|---|');
  const row = (name: string, ours: string, base: string, ratio = ''): number => out.push(`| ${name} | ${ours} | ${base} | ${ratio} |`);
  row('consoles', `${o.consoles}`, b ? `${b.consoles}` : '-');
  row('client streams byte-exact', `${o.exact}/${o.consoles} (log files ${o.logsExact}/${o.consoles})`, b ? `${b.exact}/${b.consoles}` : '-');
  row('wall time, boot to last byte (line-rate time)', `${o.wallS.toFixed(1)} s (${o.idealS.toFixed(1)} s, ${o.wallVsIdeal.toFixed(2)}x)`, b ? `${b.wallS.toFixed(1)} s (${b.wallVsIdeal.toFixed(2)}x)` : '-');
  row('CPU s in all (share of one core)', `${o.cpuS.toFixed(2)} (${o.coreShare.toFixed(2)})`, b ? `${b.cpuS.toFixed(2)} (${b.coreShare.toFixed(2)})` : '-');
  row('CPU s per console', f3(o.cpuSPerConsole), b ? f3(b.cpuSPerConsole) : '-', b ? `${(o.cpuSPerConsole / b.cpuSPerConsole).toFixed(2)}x` : '');
  row('CPU s per MB', f3(o.cpuSPerMB), b ? f3(b.cpuSPerMB) : '-', f.cpuRatio === undefined ? '' : `${f.cpuRatio.toFixed(2)}x`);
  row('CPU us per SOL packet (mean packet size)', `${o.cpuUsPerPacket.toFixed(1)} (${o.bytesPerPacket.toFixed(0)} B)`, b ? `${b.cpuUsPerPacket.toFixed(1)} (${b.bytesPerPacket.toFixed(0)} B)` : '-', b ? `${(o.cpuUsPerPacket / b.cpuUsPerPacket).toFixed(2)}x` : '');
  row('memory per console, open and captured, before the boot', `${kib(o.openPerConsoleBytes)} ((RSS all open - RSS before any console) / consoles)`, b ? `${mib(r.baseline!.memory.beforeStormBytes / b.consoles)} (summed RSS / N)` : '-');
  row('memory per active console during the storm', `${kib(o.memoryPerConsoleBytes)} (peak RSS - RSS before any console, / N; each history then holds its log)`, b ? `${mib(b.memoryPerConsoleBytes)} (peak summed RSS / N)` : '-', f.memoryRatio === undefined ? '' : `1/${f.memoryRatio.toFixed(0)}`);
  row(`keystroke echo p50 / p99 during the storm, ${r.ours.echo.printing.consoles} printing consoles`, `${o.echoP50Ms.toFixed(2)} / ${o.echoP99Ms.toFixed(2)} ms (${o.echoSamples} keys, ${o.echoFailures} timeouts)`, '-');
  row(`keystroke echo p50 / p99 during the storm, ${r.ours.echo.quiet.consoles} quiet consoles (same bridge)`, `${o.quietEchoP50Ms.toFixed(2)} / ${o.quietEchoP99Ms.toFixed(2)} ms (${r.ours.echo.quiet.samples} keys, ${r.ours.echo.quiet.failures} timeouts)`, '-');
  if (f.floor) {
    row(
      "Node's floor at the same console count: CPU us per datagram for the I/O alone / with suite-3 crypto (fixtures/perf/storm-floor.ts)",
      `${f.floor.ioUs.toFixed(1)} / ${f.floor.cryptoUs.toFixed(1)} (system ${f.floor.ioSystemUs.toFixed(1)} / ${f.floor.cryptoSystemUs.toFixed(1)}; ${f.floor.datagramsPerWakeup.toFixed(1)} datagrams per wake-up)`,
      '-',
      `ours / floor: ${(o.cpuUsPerPacket / f.floor.cryptoUs).toFixed(2)}x`,
    );
  }
  out.push('');
  out.push(
    `Bridge CPU ${r.ours.bridge.cpuUserS.toFixed(2)} s user + ${r.ours.bridge.cpuSystemS.toFixed(2)} s system; ` +
      `bench process (clients, byte checks) ${r.ours.clientsCpuS.toFixed(2)} s; 1-minute load average ${r.ours.loadAvg1[0].toFixed(1)} at the boot, ${r.ours.loadAvg1[1].toFixed(1)} at the end. ` +
      `Bridge: ${r.ours.bridge.packetsReceived} SOL packets received, ${r.ours.bridge.packetsSent} sent, ${r.ours.bridge.retransmits} retransmits, ${r.ours.bridge.reconnects} reconnects, ` +
      `${r.ours.bridge.logBytesDropped} log bytes dropped; fake BMCs: ${r.ours.packets} data packets, ${r.ours.bmcRetransmits} retransmits, farm CPU ${r.ours.farmCpuS.toFixed(2)} s. ` +
      `Bridge RSS ${mib(r.ours.memory.beforeConsolesBytes ?? 0)} before any console, ${mib(r.ours.memory.beforeStormBytes)} with all open, ${mib(r.ours.memory.peakBytes)} peak during the storm; after it, V8 heap used ${mib(r.ours.bridge.heapUsedBytes)}, array buffers ${mib(r.ours.bridge.arrayBuffersBytes)}. ` +
      `During the storm, V8's young generation peaked at ${mib(r.ours.bridge.youngPeakBytes)} committed and its old space at ${mib(r.ours.bridge.oldPeakBytes)}; ` +
      `${r.ours.bridge.gc.minor} scavenges (${r.ours.bridge.gc.minorMs.toFixed(0)} ms) and ${r.ours.bridge.gc.major} mark-compacts (${r.ours.bridge.gc.majorMs.toFixed(0)} ms).`,
  );
  out.push('');
  return out;
}

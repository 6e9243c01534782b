/**
 * What every bench section is given: its settings (quick or full run) and where it logs progress.
 */
export type Log = (message: string) => void;

export interface BenchConfig {
  quick: boolean;
  connectTrials: number;
  backToBackTrials: number;
  backToBackPauseMs: number;
  recoveryPauseMs: number;
  keystrokes: number;
  /**
   * Keystroke echo on ipmi_sim again once the JIT is warm (bench/sections/ipmi-sim.ts): this many keystrokes
   * typed and not counted, then `warmKeystrokes` measured. Their sum is a multiple of 15 (SOL sequence numbers
   * run 1..15), so each side's last SOL sequence number is where the cold run left it (ipmi_sim E8).
   */
  warmupKeystrokes: number;
  warmKeystrokes: number;
  bulkReps: number;
  simBulkBytes: number;
  fakeBulkBytes: number;
  /** consoles in the scale run (memory at 1, 100 and this many) */
  scaleConsoles: number;
  /** real socat+ipmitool consoles measured for memory */
  baselineConsoles: number;
  /** echo load on every console at once: one keystroke per interval per console, for this long */
  scaleIntervalMs: number;
  scaleDurationMs: number;
  /** connect and reconnect storms (bench/sections/storms.ts): consoles, and the network cuts, one run each */
  stormConsoles: number;
  stormCutsMs: number[];
  /** the boot storm section (bench/sections/boot-storm.ts) */
  storm: BootStormConfig;
}

export interface BootStormConfig {
  /** consoles booting at once through one bridge process */
  consoles: number;
  /** boot log bytes each node prints */
  bootBytes: number;
  /** serial line rate of every node (8N1: baud / 10 bytes per second) */
  baud: number;
  /** consoles typed on during the storm (their hosts echo while printing) */
  echoConsoles: number;
  /** mean pause between keystrokes on one echo console */
  echoIntervalMs: number;
  /** socat + ipmitool consoles booting the same way afterwards; 0: no baseline */
  baselineConsoles: number;
  cipherSuite: number;
  /** the bridge's sessions share one UDP socket instead of one each */
  sharedTransport?: boolean;
  /** the console logs' coalescing interval (log option flushMs); unset: the library's default */
  logFlushMs?: number;
  /** the bridge process under `node --max-semi-space-size=N` (MiB); unset: V8's default (up to 16 MiB, x3 young generation) */
  semiSpaceMiB?: number;
  /** seconds of each Node-floor measurement after the storm (bench/lib/storm-floor.ts); 0: not measured */
  floorSeconds: number;
}

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
}

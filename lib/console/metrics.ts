/**
 * Prometheus metrics of many consoles, by prom-client (an optional dependency: loaded only when metrics are asked
 * for; without it `createConsoleMetrics` rejects with IPMI_ERR_BAD_ARGUMENT naming the package).
 *
 * Nothing is counted twice: the consoles keep their own counters (bridge metrics, SOL stats, record and viewer
 * stats); at each scrape `collect()` is called once and every family is filled from that one snapshot. Between
 * scrapes the registry costs nothing per console.
 *
 * Names follow Prometheus conventions: base units (bytes), `_total` for counters, the node ID as the `node` label.
 * Per console (`node`):
 *   ipmi_sol_console_received_bytes_total     console output read (node -> bridge)
 *   ipmi_sol_console_sent_bytes_total         keystrokes written (bridge -> node)
 *   ipmi_sol_console_received_packets_total, ipmi_sol_console_sent_packets_total, ipmi_sol_console_retransmits_total
 *                                             SOL packets (consoles whose source reports them)
 *   ipmi_sol_console_reconnects_total         console re-opened after a loss or a failed attempt
 *   ipmi_sol_console_viewers                  clients connected now
 *   ipmi_sol_console_viewers_dropped_total    clients dropped for falling behind their queue bound
 *   ipmi_sol_console_log_dropped_bytes_total  console output the log file could not take
 *   ipmi_sol_console_state{state}             1 for the console's current state
 *   ipmi_sol_console_last_error_info{code}    1 for the last error's code, while there is one
 * Process totals (sums over the consoles running now, and a count by state):
 *   ipmi_sol_consoles{state}, ipmi_sol_viewers, ipmi_sol_received_bytes_total, ipmi_sol_sent_bytes_total,
 *   ipmi_sol_reconnects_total, ipmi_sol_viewers_dropped_total
 * With `processMetrics: true`, prom-client's default process metrics too (process_resident_memory_bytes,
 * process_cpu_seconds_total, nodejs_eventloop_lag_seconds, ...).
 */
import { IpmiError } from '../errors.js';

/** One console's numbers at scrape time. */
export interface ConsoleMetricsSample {
  nodeId: string;
  state: string;
  bytesFromConsole: number;
  bytesToConsole: number;
  packetsReceived?: number;
  packetsSent?: number;
  retransmits?: number;
  reconnects: number;
  viewers: number;
  viewersDropped: number;
  logBytesDropped?: number;
  /** an IpmiErrorCode */
  lastError?: string;
}

export interface ConsoleMetricsOptions {
  /** metric name prefix; default 'ipmi_sol_' */
  prefix?: string;
  /** add prom-client's default process metrics; default false */
  processMetrics?: boolean;
}

export interface ConsoleMetrics {
  /** the Content-Type of `metrics()` (Prometheus text format 0.0.4) */
  readonly contentType: string;
  /** Prometheus text of every console now */
  metrics(): Promise<string>;
}

export const DEFAULT_METRICS_PREFIX = 'ipmi_sol_';
/** Every state a console can be in (the bridge's states), so ipmi_sol_consoles{state} always has all of them. */
export const CONSOLE_STATES: readonly string[] = Object.freeze(['idle', 'connecting', 'active', 'reconnecting', 'closed']);

type Field = 'bytesFromConsole' | 'bytesToConsole' | 'packetsReceived' | 'packetsSent' | 'retransmits' | 'reconnects' | 'viewers' | 'viewersDropped' | 'logBytesDropped';

/** [name after the prefix, help, field, counter?] */
const PER_CONSOLE: ReadonlyArray<readonly [string, string, Field, boolean]> = [
  ['console_received_bytes_total', 'Console output read from the node.', 'bytesFromConsole', true],
  ['console_sent_bytes_total', 'Keystrokes written to the node.', 'bytesToConsole', true],
  ['console_received_packets_total', 'SOL packets received from the BMC.', 'packetsReceived', true],
  ['console_sent_packets_total', 'SOL packets sent to the BMC.', 'packetsSent', true],
  ['console_retransmits_total', 'SOL packets sent again for want of an acknowledgement.', 'retransmits', true],
  ['console_reconnects_total', 'Console re-opened after a loss or a failed attempt.', 'reconnects', true],
  ['console_viewers', 'Clients connected to the console now.', 'viewers', false],
  ['console_viewers_dropped_total', 'Clients dropped for falling behind their queue bound.', 'viewersDropped', true],
  ['console_log_dropped_bytes_total', 'Console output the log file could not take (slow disk).', 'logBytesDropped', true],
];

/** [name after the prefix, help, field, counter?]: sums over all consoles */
const TOTALS: ReadonlyArray<readonly [string, string, Field, boolean]> = [
  ['viewers', 'Clients connected to all consoles now.', 'viewers', false],
  ['received_bytes_total', 'Console output read, all consoles running now.', 'bytesFromConsole', true],
  ['sent_bytes_total', 'Keystrokes written, all consoles running now.', 'bytesToConsole', true],
  ['reconnects_total', 'Console re-opens, all consoles running now.', 'reconnects', true],
  ['viewers_dropped_total', 'Clients dropped for falling behind, all consoles running now.', 'viewersDropped', true],
];

type PromClient = typeof import('prom-client');

async function loadPromClient(): Promise<PromClient> {
  try {
    const mod = (await import('prom-client')) as PromClient & { default?: PromClient };
    return mod.Registry ? mod : mod.default!;
  } catch (error) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'Console metrics need the package prom-client (npm install prom-client).', { cause: error });
  }
}

/** The scrape's one view of the consoles, read by every metric family's collect(). */
interface SnapshotHolder {
  samples: ConsoleMetricsSample[];
}

/** Per-console counters and gauges (node label), and their process-wide totals. */
function registerCounters(prom: PromClient, registry: import('prom-client').Registry, prefix: string, snap: SnapshotHolder): void {
  for (const [name, help, field, counter] of PER_CONSOLE) {
    const Kind = counter ? prom.Counter : prom.Gauge;
    new Kind({
      name: prefix + name,
      help,
      labelNames: ['node'],
      registers: [registry],
      collect(this: { reset(): void; inc(labels: object, value: number): void }) {
        this.reset();
        for (const s of snap.samples) {
          const value = s[field];
          if (value !== undefined) this.inc({ node: s.nodeId }, value);
        }
      },
    });
  }
  for (const [name, help, field, counter] of TOTALS) {
    const Kind = counter ? prom.Counter : prom.Gauge;
    new Kind({
      name: prefix + name,
      help,
      registers: [registry],
      collect(this: { reset(): void; inc(value: number): void }) {
        this.reset();
        this.inc(snap.samples.reduce((sum, s) => sum + (s[field] ?? 0), 0));
      },
    });
  }
}

/** State and last-error info gauges per console, and the count of consoles per state. */
function registerStates(prom: PromClient, registry: import('prom-client').Registry, prefix: string, snap: SnapshotHolder): void {
  new prom.Gauge({
    name: `${prefix}console_state`,
    help: 'The console is in this state (1).',
    labelNames: ['node', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snap.samples) this.set({ node: s.nodeId, state: s.state }, 1);
    },
  });
  new prom.Gauge({
    name: `${prefix}console_last_error_info`,
    help: 'The code of the console\'s last error (1), while it has one.',
    labelNames: ['node', 'code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of snap.samples) if (s.lastError) this.set({ node: s.nodeId, code: s.lastError }, 1);
    },
  });
  new prom.Gauge({
    name: `${prefix}consoles`,
    help: 'Consoles by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = new Map(CONSOLE_STATES.map((state) => [state, 0]));
      for (const s of snap.samples) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
}

/** A Prometheus registry over the consoles that `collect` returns at each scrape. */
export async function createConsoleMetrics(
  collect: () => Iterable<ConsoleMetricsSample>,
  options: ConsoleMetricsOptions = {},
): Promise<ConsoleMetrics> {
  const prom = await loadPromClient();
  const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX;
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Bad metrics prefix '${prefix}'.`);
  const registry = new prom.Registry();
  const snap: SnapshotHolder = { samples: [] };
  registerCounters(prom, registry, prefix, snap);
  registerStates(prom, registry, prefix, snap);
  if (options.processMetrics) prom.collectDefaultMetrics({ register: registry });

  // One scrape at a time: the families read the one snapshot.
  let queue: Promise<unknown> = Promise.resolve();
  const scrape = async (): Promise<string> => {
    snap.samples = [...collect()];
    try {
      return await registry.metrics();
    } finally {
      snap.samples = [];
    }
  };
  return {
    contentType: registry.contentType,
    metrics() {
      const result = queue.then(scrape, scrape);
      queue = result.catch(() => undefined);
      return result;
    },
  };
}

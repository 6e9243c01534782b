/**
 * The console-layer side of the CLI's `serve`:
 * - `--capture [--log-dir DIR [--log-timestamps]] [--replay 4KiB|50lines] [--extra-clients refuse|spectate|takeover
 *   [--max-clients N]]` become the bridge's capture options;
 * - `--metrics ADDR:PORT` starts the HTTP listener (/metrics, /healthz);
 * - `serve --config nodes.json` runs a ConsoleManager for every node of the file; SIGHUP reloads it.
 * Every problem is an IpmiError (the CLI prints `CODE: sentence`).
 */
import {
  ConsoleManager,
  IpmiError,
  parseReplay,
  type CaptureOptions,
  type ConsoleMetricsSample,
  type ExtraClientPolicy,
} from '../lib/index.js';
import { ConfigRunner, DEFAULT_SPECTATE_MAX_CLIENTS, loadServeConfig } from './serve-config.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';

type Flags = Map<string, string | true>;

function bad(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', message);
}

function value(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** The capture options the flags ask for (none without --capture; the console-layer flags need it). */
export function captureOptionsFromFlags(flags: Flags, logName: string): CaptureOptions {
  const dependent = ['--log-dir', '--log-timestamps', '--replay', '--extra-clients', '--max-clients'].filter((f) => flags.has(f));
  if (!flags.has('--capture')) {
    if (dependent.length > 0) throw bad(`${dependent[0]} needs --capture`);
    return {};
  }
  const options: CaptureOptions = { capture: true, logName };
  const logDir = value(flags, '--log-dir');
  if (logDir !== undefined) options.logDir = logDir;
  if (flags.has('--log-timestamps')) {
    if (logDir === undefined) throw bad('--log-timestamps needs --log-dir DIR');
    options.log = { timestamps: true };
  }
  const replay = value(flags, '--replay');
  if (replay !== undefined) options.replay = parseReplay(replay);
  const extra = value(flags, '--extra-clients');
  if (extra !== undefined && extra !== 'refuse' && extra !== 'spectate' && extra !== 'takeover') {
    throw bad(`--extra-clients ${extra}: refuse, spectate or takeover`);
  }
  const maxText = value(flags, '--max-clients');
  const max = maxText === undefined ? undefined : Number(maxText);
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) throw bad(`--max-clients ${maxText}: a positive integer`);
  if (extra !== undefined || max !== undefined) {
    const onExtra = (extra ?? 'refuse') as ExtraClientPolicy;
    options.viewers = { onExtra, max: max ?? (onExtra === 'spectate' ? DEFAULT_SPECTATE_MAX_CLIENTS : 1) };
  }
  return options;
}

/** ADDR:PORT or [IPV6]:PORT of --metrics. */
export function parseMetricsAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) throw bad(`--metrics ${text}: expected ADDR:PORT or [IPV6]:PORT`);
  return { host: m[1] ?? m[2]!, port };
}

/** The metrics listener --metrics asks for, if any. */
export async function metricsFromFlags(flags: Flags, samples: () => ConsoleMetricsSample[], note: (line: string) => void): Promise<MetricsServer | undefined> {
  const text = value(flags, '--metrics');
  if (text === undefined) return undefined;
  const { host, port } = parseMetricsAddress(text);
  const server = await startMetricsServer({ host, port, samples });
  note(`[metrics on http://${host.includes(':') ? `[${host}]` : host}:${server.port}/metrics]\n`);
  return server;
}

/**
 * `serve --config FILE`: a console per node of the file, each URL printed as `NODE URL`; SIGHUP reloads the file;
 * SIGINT/SIGTERM stop every console and resolve 0.
 */
export async function serveConfig(
  flags: Flags,
  note: (line: string) => void,
  io: { signals?: NodeJS.EventEmitter; out?: (line: string) => void } = {},
): Promise<number> {
  const signals = io.signals ?? process;
  const out = io.out ?? ((line: string) => void process.stdout.write(line));
  const file = value(flags, '--config')!;
  const config = loadServeConfig(file);
  const manager = new ConsoleManager({ address: config.address, ...(config.portRange ? { portRange: config.portRange } : {}) });
  manager.on('console-event', (event: { nodeId: string; event: string; error?: IpmiError }) => {
    if (event.event === 'error' && event.error) note(`${event.nodeId}: ${event.error.code}: ${event.error.message}\n`);
  });
  const runner = new ConfigRunner(manager, (line) => out(`${line}\n`));
  // Every signal handler before the first URL is printed: a supervisor may signal the moment it reads one, and
  // SIGHUP's default action would end the process. A reload asked for meanwhile waits for the first start.
  const stopped = new Promise<void>((resolve) => {
    signals.once('SIGINT', resolve);
    signals.once('SIGTERM', resolve);
  });
  const initial = runner.apply(config);
  let reloading: Promise<void> = initial.then(
    () => undefined,
    () => undefined,
  );
  const reload = (): void => {
    reloading = reloading.then(async () => {
      try {
        const next = loadServeConfig(file);
        if (next.address !== config.address || next.portRange !== config.portRange) {
          note('config: address and portRange changes take effect at the next start\n');
        }
        const diff = await runner.apply(next);
        note(`[config reloaded: ${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed]\n`);
      } catch (error) {
        const e = error as IpmiError;
        note(`${e.code ?? 'IPMI_ERR_BAD_ARGUMENT'}: ${e.message} (the running consoles are unchanged)\n`);
      }
    });
  };
  signals.on('SIGHUP', reload);
  try {
    await initial;
  } catch (error) {
    signals.off('SIGHUP', reload);
    throw error;
  }
  const metrics = await metricsFromFlags(flags, () => manager.metricsSamples(), note);
  await stopped;
  signals.off('SIGHUP', reload);
  await reloading;
  await metrics?.close();
  await manager.stopAll();
  return 0;
}

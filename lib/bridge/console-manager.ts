/**
 * ConsoleManager: the conductor-facing side. One ConsoleBridge per node, ports from a range (Ironic's
 * `[console] port_range`, end excluded) handed out only after a bind on them succeeded, and the console info
 * Ironic returns for socat consoles: `{ type: 'socat', url: 'tcp://host:port' }`.
 *
 * - getConsole() only reads: it never touches a connected client (Ironic's socat driver runs
 *   `sol deactivate` on every get; we must not). Its result serializes as Ironic's `{ type, url }`; the
 *   console's `state` and `lastError` ride along as non-enumerable properties. list() shows them too.
 * - startConsole(..., { verify: true }) / restore(..., { verify: true }) first check the BMC (open and close a
 *   session, ConsoleSource.verify) and fail for that node (wrong password, unknown user, unreachable...).
 * - startConsole() on a started node restarts it cleanly, on the same port when possible.
 * - Operations on one node are serialized; different nodes proceed in parallel.
 * - Every bridge event is re-emitted as 'console-event' ({ nodeId, event, ... }).
 */
import createDebug from 'debug';
import type { Clock } from '../clock.js';
import { IpmiError, isIpmiError } from '../errors.js';
import { TypedEventEmitter } from '../typed-events.js';
import {
  ConsoleBridge,
  type ActivationMode,
  type BridgeMetrics,
  type BridgeState,
  type BridgeSettings,
  type ClientInfo,
  type ConsoleErrorInfo,
  type DisconnectReason,
  type ReconnectEvent,
  resolveBridgeSettings,
} from './console-bridge.js';
import type { ConsoleSource } from './console-source.js';
import { loadConsoleSource, sourceFor, type ConsoleSourceOptions } from '../sources/source-for.js';
import { checkCaptureOptions, metricsSample, type CaptureOptions } from './console-capture.js';
import type { ConsoleTail, TailOptions } from '../console/history.js';
import type { ConsoleMetricsSample } from '../console/metrics.js';
import { PortAllocator, isPortTaken } from './port-range.js';
import { isHostSyntax } from '../host-syntax.js';

const debug = createDebug('ipmi:bridge');

/** Ironic's default `[console] port_range`. */
export const DEFAULT_PORT_RANGE = '10000:20000';

export interface ConsoleInfo {
  type: 'socat';
  url: string;
}

export interface ConsoleManagerOptions<B = ConsoleSourceOptions> extends BridgeSettings, Omit<CaptureOptions, 'logName'> {
  /** address the consoles listen on (Ironic: `[console] socat_address`); IPv6 gives tcp://[addr]:port */
  address: string;
  /** 'start:end[,start:end...]', end excluded; default '10000:20000' */
  portRange?: string;
  /** builds a node's console source; default: sourceFor(options): IPMI SOL, or `kind: 'ssh' | 'websocket'` */
  sourceFactory?: (nodeId: string, bmcOptions: B) => ConsoleSource;
}

/** Per node: a port, and capture settings that override the manager's for this node only. */
export interface StartConsoleOptions extends Omit<CaptureOptions, 'logName' | 'wallTime'> {
  /** listen on this port, as is (in the range or not); default: the node's previous port, else the range */
  port?: number;
  /**
   * Check the BMC first (open and close a session; no SOL), bounded by openTimeoutMs: a wrong password, an
   * unknown user or an unreachable BMC rejects startConsole with that IpmiError and nothing is started.
   */
  verify?: boolean;
}

export interface RestoreOptions {
  /** verify each enabled node's BMC first (see StartConsoleOptions.verify); a failure is that node's error */
  verify?: boolean;
}

/** getConsole()'s answer: Ironic's console info, plus (non-enumerable, so JSON stays `{ type, url }`) status. */
export type ConsoleStatus = ConsoleInfo & {
  readonly state: BridgeState;
  readonly lastError: ConsoleErrorInfo | undefined;
};

export interface ConsoleListEntry {
  nodeId: string;
  url: string;
  port: number;
  state: BridgeState;
  /** the last failed attempt or lost console (kept after recovery; `state` says where it stands) */
  lastError: ConsoleErrorInfo | undefined;
  metrics: BridgeMetrics;
}

export type ConsoleEvent =
  | { nodeId: string; event: 'state'; state: BridgeState; previous: BridgeState }
  | { nodeId: string; event: 'client-connected' | 'client-refused'; client: ClientInfo }
  | { nodeId: string; event: 'client-disconnected'; client: ClientInfo; reason: DisconnectReason }
  | ({ nodeId: string; event: 'reconnect' } & ReconnectEvent)
  | { nodeId: string; event: 'error'; error: IpmiError };

export interface RestoreNode<B = ConsoleSourceOptions> {
  nodeId: string;
  bmcOptions: B;
  /** console enabled for this node: started if true, stopped if false */
  enabled: boolean;
  port?: number;
}

export interface RestoreResult {
  nodeId: string;
  enabled: boolean;
  /** console info of a started console */
  info?: ConsoleInfo;
  /** why starting it failed (the other nodes are restored regardless) */
  error?: IpmiError;
}

interface ManagedConsole {
  bridge: ConsoleBridge;
  port: number;
  info: ConsoleInfo;
}

function checkNodeId(nodeId: unknown): asserts nodeId is string {
  if (typeof nodeId !== 'string' || nodeId === '') {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `A console node ID must be a non-empty string, not ${String(nodeId)}.`);
  }
}

function checkPort(port: unknown): asserts port is number | undefined {
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `A console port must be an integer in 1..65535, not ${String(port)}.`);
  }
}

/** The events of a ConsoleManager: every bridge event of every node, as one ConsoleEvent. */
export interface ConsoleManagerEvents {
  'console-event': [event: ConsoleEvent];
}

export class ConsoleManager<B = ConsoleSourceOptions> extends TypedEventEmitter<ConsoleManagerEvents> {
  readonly address: string;
  readonly #allocator: PortAllocator;
  readonly #settings: BridgeSettings & CaptureOptions;
  readonly #clock: Clock;
  readonly #verifyTimeoutMs: number;
  readonly #sourceFactory: (nodeId: string, bmcOptions: B) => ConsoleSource;
  readonly #consoles = new Map<string, ManagedConsole>();
  readonly #queues = new Map<string, Promise<void>>();
  /** nodes whose console is open or opening (state neither idle nor closed): the fleet reconnects spread over */
  readonly #live = new Set<string>();

  constructor(options: ConsoleManagerOptions<B>) {
    super();
    const { address, portRange, sourceFactory, ...settings } = options;
    if (typeof address !== 'string' || address.trim() === '') {
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'The console manager needs an address to listen on.');
    }
    if (!isHostSyntax(address.trim())) {
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `The console manager address '${address}' is not an IP address or host name.`);
    }
    this.address = address.trim();
    this.#allocator = new PortAllocator(portRange ?? DEFAULT_PORT_RANGE);
    this.#settings = settings;
    // Without a factory, B is ConsoleSourceOptions (the default type argument).
    this.#sourceFactory = sourceFactory ?? ((_nodeId, bmcOptions) => sourceFor(bmcOptions as ConsoleSourceOptions));
    const resolved = resolveBridgeSettings(settings); // fail on bad settings now, not at the first startConsole()
    this.#clock = resolved.clock;
    this.#verifyTimeoutMs = resolved.openTimeoutMs;
    checkCaptureOptions(settings);
  }

  get activation(): ActivationMode {
    return this.#settings.activation ?? 'on-connect';
  }

  /**
   * Start (or restart) a node's console; `bmcOptions` is IPMI's (no kind) or `{ kind: 'ssh' | 'websocket', ... }`. Resolves once it listens. With `port`, that port is used as is;
   * otherwise the node's previous port if it can be bound again, else the first free port of the range.
   * Rejects with IPMI_ERR_NO_FREE_PORTS, IPMI_ERR_SOCKET (bind failed), IPMI_ERR_BAD_ARGUMENT; with `verify`,
   * with what the BMC check found (IPMI_ERR_AUTH, IPMI_ERR_UNREACHABLE, IPMI_ERR_TIMEOUT...), the node's
   * previous console (if any) left as it was.
   */
  async startConsole(nodeId: string, bmcOptions: B, options: StartConsoleOptions = {}): Promise<ConsoleInfo> {
    checkNodeId(nodeId);
    const { port: requested, verify: _verify, ...overrides } = options;
    checkPort(requested);
    const capture: CaptureOptions = { ...this.#settings };
    for (const [key, value] of Object.entries(overrides)) if (value !== undefined) Object.assign(capture, { [key]: value });
    checkCaptureOptions(capture); // before the node's current console is touched
    return this.#serialize(nodeId, async () => {
      const source = await loadConsoleSource(this.#sourceFactory(nodeId, bmcOptions)); // ssh2/ws missing: fails here
      if (options.verify === true) await this.#verify(nodeId, source);
      const previous = this.#consoles.get(nodeId);
      if (previous) {
        debug('node %s: restarting console %s', nodeId, previous.info.url);
        await this.#stop(nodeId, previous);
      }
      const bridge = new ConsoleBridge({
        ...this.#settings,
        ...capture,
        source,
        host: this.address,
        name: `node ${nodeId}`,
        logName: nodeId,
        fleetSize: () => Math.max(1, this.#live.size), // the reconnect window grows with the consoles running
      });
      let port: number;
      try {
        port = await this.#bind(bridge, requested, previous?.port);
      } catch (error) {
        await bridge.close();
        throw error;
      }
      const managed: ManagedConsole = { bridge, port, info: { type: 'socat', url: bridge.url } };
      this.#forwardEvents(nodeId, bridge);
      this.#consoles.set(nodeId, managed);
      debug('node %s: console on %s', nodeId, managed.info.url);
      return { ...managed.info };
    });
  }

  /**
   * The console info of a started console, else undefined. Pure read: a connected client is untouched.
   * `state` and `lastError` are non-enumerable: JSON.stringify gives Ironic's `{ type, url }`.
   */
  getConsole(nodeId: string): ConsoleStatus | undefined {
    const managed = this.#consoles.get(nodeId);
    if (!managed) return undefined;
    return Object.defineProperties(
      { ...managed.info },
      { state: { value: managed.bridge.state }, lastError: { value: managed.bridge.lastError } },
    ) as ConsoleStatus;
  }

  /** Stop a node's console (disconnect its client, release SOL, free the port). Unknown node: no-op. */
  stopConsole(nodeId: string): Promise<void> {
    return this.#serialize(nodeId, async () => {
      const managed = this.#consoles.get(nodeId);
      if (managed) await this.#stop(nodeId, managed);
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#consoles.keys()].map((nodeId) => this.stopConsole(nodeId)));
  }

  /**
   * The recent output of a captured console (`capture: true`): the last `lines` lines and/or `bytes` bytes of
   * its history, as text (Nova's get_console_output) and raw bytes. Undefined for a node with no console or no
   * capture. Pure read.
   */
  getConsoleLog(nodeId: string, options: TailOptions = {}): ConsoleTail | undefined {
    return this.#consoles.get(nodeId)?.bridge.consoleLog(options);
  }

  /** Every console's numbers for Prometheus (createConsoleMetrics(() => manager.metricsSamples())). */
  metricsSamples(): ConsoleMetricsSample[] {
    return [...this.#consoles].map(([nodeId, { bridge }]) => metricsSample(nodeId, bridge.metrics, bridge.lastError?.code));
  }

  list(): ConsoleListEntry[] {
    return [...this.#consoles].map(([nodeId, { bridge, port, info }]) => ({
      nodeId,
      url: info.url,
      port,
      state: bridge.state,
      lastError: bridge.lastError,
      metrics: bridge.metrics,
    }));
  }

  /**
   * Bring consoles in line with what the conductor knows (start or takeover): enabled nodes are started
   * (nodes with an explicit port first, so that the range never hands their port to another node), disabled
   * ones stopped. Nodes not listed are left alone. Never rejects for one node's failure: each result says
   * how that node went, in the order given. With `verify`, a node whose BMC check fails is not started and its
   * result carries the error (a wrong password is never reported as started).
   */
  async restore(nodes: ReadonlyArray<RestoreNode<B>>, options: RestoreOptions = {}): Promise<RestoreResult[]> {
    const order = nodes
      .map((node, index) => ({ node, index }))
      .sort((a, b) => rank(a.node) - rank(b.node) || a.index - b.index);
    const results: RestoreResult[] = new Array<RestoreResult>(nodes.length);
    for (const { node, index } of order) {
      const result: RestoreResult = { nodeId: node.nodeId, enabled: node.enabled };
      try {
        if (node.enabled) {
          const start: StartConsoleOptions = { verify: options.verify === true };
          if (node.port !== undefined) start.port = node.port;
          result.info = await this.startConsole(node.nodeId, node.bmcOptions, start);
        } else {
          await this.stopConsole(node.nodeId);
        }
      } catch (error) {
        result.error =
          error instanceof IpmiError
            ? error
            : new IpmiError('IPMI_ERR_SOCKET', `Restoring the console of node ${node.nodeId} failed.`, { cause: error });
        debug('node %s: restore failed: %s', node.nodeId, result.error.message);
      }
      results[index] = result;
    }
    return results;
  }

  /**
   * Check the BMC behind `source`: its verify() (IPMI: open and close a session), else open the console and
   * release it (steal 'never'; "in use" proves the far end answered). Bounded by openTimeoutMs.
   */
  async #verify(nodeId: string, source: ConsoleSource): Promise<void> {
    const controller = new AbortController();
    const timeoutMs = this.#verifyTimeoutMs;
    const timer = this.#clock.setTimeout(
      () => controller.abort(new IpmiError('IPMI_ERR_TIMEOUT', `Checking the BMC of node ${nodeId} took longer than ${timeoutMs} ms.`)),
      timeoutMs,
    );
    try {
      if (source.verify) await source.verify(controller.signal);
      else await openAndRelease(source, controller.signal);
      debug('node %s: BMC verified', nodeId);
    } catch (error) {
      await source.close?.().catch(() => undefined);
      const failure: unknown = controller.signal.aborted ? controller.signal.reason : error; // the timeout, named
      throw failure instanceof IpmiError
        ? failure
        : new IpmiError('IPMI_ERR_PROTOCOL', `Checking the BMC of node ${nodeId} failed: ${String(failure)}`, { cause: failure });
    } finally {
      timer.cancel();
    }
  }

  /** Listen on the explicit port, else the previous one if it binds again, else the range. */
  async #bind(bridge: ConsoleBridge, explicit: number | undefined, previous: number | undefined): Promise<number> {
    if (explicit !== undefined) return this.#bindExplicit(bridge, explicit);
    if (previous !== undefined && !this.#allocator.includes(previous)) {
      try {
        return await this.#bindExplicit(bridge, previous);
      } catch (error) {
        if (!isPortTaken(error)) throw error;
      }
    }
    const { port } = await this.#allocator.acquire((candidate) => bridge.listen(candidate), { prefer: previous });
    return port;
  }

  async #bindExplicit(bridge: ConsoleBridge, port: number): Promise<number> {
    const owner = [...this.#consoles].find(([, managed]) => managed.port === port)?.[0];
    if (!this.#allocator.reserve(port)) {
      throw new IpmiError(
        'IPMI_ERR_SOCKET',
        `Console port ${port} is already used${owner === undefined ? '' : ` by the console of node ${owner}`}.`,
      );
    }
    try {
      return await bridge.listen(port);
    } catch (error) {
      this.#allocator.release(port);
      throw error;
    }
  }

  async #stop(nodeId: string, managed: ManagedConsole): Promise<void> {
    this.#consoles.delete(nodeId);
    this.#live.delete(nodeId);
    await managed.bridge.close();
    this.#allocator.release(managed.port);
    debug('node %s: console %s stopped', nodeId, managed.info.url);
  }

  #forwardEvents(nodeId: string, bridge: ConsoleBridge): void {
    const emit = (event: ConsoleEvent): boolean => this.emit('console-event', event);
    const track = (state: BridgeState): void => {
      if (state === 'idle' || state === 'closed') this.#live.delete(nodeId);
      else this.#live.add(nodeId);
    };
    track(bridge.state); // activation 'always' may be connecting already
    bridge.on('state', (state, previous) => {
      track(state);
      emit({ nodeId, event: 'state', state, previous });
    });
    bridge.on('client-connected', (client) => emit({ nodeId, event: 'client-connected', client }));
    bridge.on('client-refused', (client) => emit({ nodeId, event: 'client-refused', client }));
    bridge.on('client-disconnected', ({ reason, ...client }) => emit({ nodeId, event: 'client-disconnected', client, reason }));
    bridge.on('reconnect', (detail) => emit({ nodeId, event: 'reconnect', ...detail }));
    bridge.on('error', (error) => emit({ nodeId, event: 'error', error }));
  }

  /** Run `work` after every earlier operation on the same node has settled. */
  #serialize<T>(nodeId: string, work: () => Promise<T>): Promise<T> {
    const run = (this.#queues.get(nodeId) ?? Promise.resolve()).then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(nodeId, settled);
    void settled.then(() => {
      if (this.#queues.get(nodeId) === settled) this.#queues.delete(nodeId);
    });
    return run;
  }
}

async function openAndRelease(source: ConsoleSource, signal: AbortSignal): Promise<void> {
  try {
    const stream = await source.open(signal, { steal: 'never', attempt: 0 });
    await stream.deactivate();
  } catch (error) {
    if (!isIpmiError(error, 'IPMI_ERR_SOL_IN_USE')) throw error;
  }
}

function rank(node: RestoreNode<unknown>): number {
  if (!node.enabled) return 0; // stops first: they free ports
  return node.port === undefined ? 2 : 1;
}

/**
 * The console supervisor: opens a node's console when it is wanted, re-opens it with exponential backoff when
 * an attempt fails or the console is lost, and releases it when it is no longer wanted. It owns the console's
 * lifecycle, not its bytes: the bridge wires the data path through `attach`.
 *
 * - Serialized: a console is opened only after the previous one's deactivate() settled (bounded by
 *   `deactivateTimeoutMs`). Every attempt passes the `steal` policy: a held console is taken over within the
 *   attempt's own session ("steal in one session": before, a first attempt with 'never' failed as in use and a
 *   second one opened another session, two handshakes per BMC for every console back after a network cut).
 *   IPMI_ERR_SOL_IN_USE is then a stated answer: the round ends, no retry loop.
 * - An attempt longer than `openTimeoutMs` is aborted and counts as IPMI_ERR_TIMEOUT.
 * - An error the far end stated (PERMANENT_ERRORS, not `inferred`: a RAKP status code, a completion code) ends
 *   the round: `gaveUp` is called, no retry. One inferred from silence (IPMI_ERR_AUTH "never answered RAKP 1"
 *   under loss), a timeout, an unreachable BMC, a lost console are retried with backoff.
 * - The last error (code, message, when) stays readable in `lastError`.
 * - Retry n waits a random share of its window (full jitter by default): the window doubles from
 *   reconnect.initialDelayMs to maxDelayMs and is never shorter than the fleet window, spreadPerConsoleMs per
 *   console the process has open or opening (`fleetSize`, a manager's count), so that a conductor whose N consoles
 *   were lost together (its network went away) re-opens them spread over a window that grows with N instead
 *   of in one burst: no BMC sees a handshake storm, nor does the bridge's CPU (bridge-settings.ts).
 * - Every timer (open timeout, retry backoff, deactivate bound) runs on the injected Clock.
 */
import createDebug from 'debug';
import type { Clock, ClockTimer } from '../clock.js';
import { IpmiError, type IpmiErrorCode } from '../errors.js';
import { backoffDelay, type ReconnectOptions } from './bridge-settings.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream, StealPolicy } from './console-source.js';

const debug = createDebug('ipmi:bridge');

/** Errors that retrying cannot fix, when stated by the far end (not inferred): the attempt ends. */
export const PERMANENT_ERRORS: ReadonlySet<IpmiErrorCode> = new Set<IpmiErrorCode>([
  'IPMI_ERR_AUTH',
  'IPMI_ERR_CIPHER_SUITE',
  'IPMI_ERR_PRIVILEGE',
  'IPMI_ERR_SOL_DISABLED',
  'IPMI_ERR_SOL_ENCRYPTION',
  'IPMI_ERR_BAD_ARGUMENT',
  'IPMI_ERR_SOL_IN_USE', // after the steal policy was applied: someone it does not cover holds the console
]);

export interface ReconnectEvent {
  /** 1 for the first retry */
  attempt: number;
  delayMs: number;
  error: IpmiError;
}

/** An error retrying cannot fix: stated by the far end (or by us: bad argument), not inferred from silence. */
export function isStatedError(error: IpmiError): boolean {
  return PERMANENT_ERRORS.has(error.code) && !error.inferred;
}

/** The last error of a console, as getConsole()/list() show it. */
export interface ConsoleErrorInfo {
  code: IpmiErrorCode;
  message: string;
  /** when it happened (wall time) */
  at: Date;
  /** stated by the far end (the round ended) or inferred/transient (retried) */
  retried: boolean;
}

export type SupervisorPhase = 'idle' | 'connecting' | 'reconnecting' | 'active';

export interface SupervisorSettings {
  readonly reconnect: Readonly<ReconnectOptions>;
  readonly openTimeoutMs: number;
  readonly deactivateTimeoutMs: number;
  readonly steal: StealPolicy;
  /** the jitter's randomness, uniform in [0, 1) (default Math.random) */
  readonly random?: () => number;
  /** how many consoles share the process's reconnect budget, read at every retry (default 1; a manager's open or opening consoles) */
  readonly fleetSize?: () => number;
}

/** What the supervisor asks of its owner (the bridge). */
export interface SupervisorHooks {
  /** a console should be open now */
  wanted(): boolean;
  /** a console is open: wire its data path; returns the unwiring */
  attach(stream: ConsoleStream): () => void;
  /** the console closed on its own while wanted (a retry is scheduled right after) */
  lost(stream: ConsoleStream, error: IpmiError): void;
  /** an attempt failed or a console was lost (before any retry is scheduled) */
  error(error: IpmiError): void;
  /** an attempt failed with an error retrying cannot fix: no retry */
  gaveUp(error: IpmiError): void;
  reconnect(event: ReconnectEvent): void;
  /** the phase may have changed */
  changed(): void;
}

export interface SupervisorCounters {
  reconnects: number;
  activations: number;
  deactivations: number;
  steals: number;
  consoleLosses: number;
}

const ignore = (): void => undefined;

export function toIpmiError(value: unknown, code: IpmiErrorCode, what: string): IpmiError {
  if (value instanceof IpmiError) return value;
  const detail = value instanceof Error ? value.message : value === undefined ? 'no reason given' : String(value);
  return new IpmiError(code, `${what}: ${detail}`, { cause: value, fatal: true });
}

function abortError(signal: AbortSignal): IpmiError {
  const reason: unknown = signal.reason;
  return reason instanceof IpmiError ? reason : new IpmiError('IPMI_ERR_ABORTED', 'Opening the console was aborted.', { cause: reason });
}

export class ConsoleSupervisor {
  readonly counters: SupervisorCounters = { reconnects: 0, activations: 0, deactivations: 0, steals: 0, consoleLosses: 0 };
  readonly #source: ConsoleSource;
  readonly #settings: SupervisorSettings;
  readonly #clock: Clock;
  readonly #hooks: SupervisorHooks;
  readonly #label: () => string;
  #stream: ConsoleStream | undefined;
  #detach: () => void = ignore;
  #opening: AbortController | undefined;
  #retryTimer: ClockTimer | undefined;
  /** failed attempts / losses since the last open console */
  #attempt = 0;
  /** settles when every deactivation started so far has settled (or timed out) */
  #releasing: Promise<void> = Promise.resolve();
  #lastError: ConsoleErrorInfo | undefined;

  constructor(source: ConsoleSource, settings: SupervisorSettings, clock: Clock, hooks: SupervisorHooks, label: () => string) {
    this.#source = source;
    this.#settings = settings;
    this.#clock = clock;
    this.#hooks = hooks;
    this.#label = label;
  }

  /** The open console, if any. */
  get stream(): ConsoleStream | undefined {
    return this.#stream;
  }

  get phase(): SupervisorPhase {
    if (this.#stream) return 'active';
    if (this.#opening || this.#retryTimer) return this.#attempt > 0 ? 'reconnecting' : 'connecting';
    return 'idle';
  }

  /** The last failed attempt or lost console, if any (kept after recovery; the phase says where it stands). */
  get lastError(): ConsoleErrorInfo | undefined {
    return this.#lastError;
  }

  /** Settles once every release started so far settled (each bounded by deactivateTimeoutMs). */
  get released(): Promise<void> {
    return this.#releasing;
  }

  /** Open a console if one is wanted and none is open, opening or waiting for its retry. */
  ensure(): void {
    if (!this.#hooks.wanted() || this.#stream || this.#opening || this.#retryTimer) return;
    void this.#open();
  }

  /** Cancel any opening or retry and release the console. */
  stop(): void {
    if (this.#opening) {
      const controller = this.#opening;
      this.#opening = undefined;
      controller.abort(new IpmiError('IPMI_ERR_ABORTED', 'The console is no longer wanted.'));
    }
    this.#retryTimer?.cancel();
    this.#retryTimer = undefined;
    this.#attempt = 0;
    const stream = this.#stream;
    if (stream !== undefined) {
      this.#unwire();
      this.#release(stream);
    }
  }

  async #open(): Promise<void> {
    const controller = new AbortController();
    this.#opening = controller;
    this.#hooks.changed();
    const timeout = this.#settings.openTimeoutMs;
    const timer = this.#clock.setTimeout(
      () => controller.abort(new IpmiError('IPMI_ERR_TIMEOUT', `Opening the console took longer than ${timeout} ms.`, { fatal: true })),
      timeout,
    );
    let stream: ConsoleStream;
    try {
      await this.#releasing; // serialize: the previous console is released first
      stream = await this.#openWithSteal(controller.signal);
    } catch (error) {
      if (this.#opening !== controller) return; // cancelled: client gone or bridge closed
      this.#opening = undefined;
      this.#failed(toIpmiError(error, 'IPMI_ERR_PROTOCOL', 'Opening the console failed'));
      return;
    } finally {
      timer.cancel();
    }
    if (this.#opening !== controller) {
      this.#release(stream); // cancelled while the source was resolving
      return;
    }
    this.#opening = undefined;
    this.#attach(stream);
  }

  #openWithSteal(signal: AbortSignal): Promise<ConsoleStream> {
    return this.#openOnce(signal, {
      steal: this.#settings.steal,
      attempt: this.#attempt,
      onSteal: () => {
        debug('%s console was held: taken over (steal %s)', this.#label(), this.#settings.steal);
        this.counters.steals++;
      },
    });
  }

  /** source.open() that settles when the signal fires; a stream it still resolves afterwards is released. */
  #openOnce(signal: AbortSignal, options: ConsoleOpenOptions): Promise<ConsoleStream> {
    if (signal.aborted) return Promise.reject(abortError(signal));
    const pending = this.#source.open(signal, options);
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(abortError(signal));
        this.#trackRelease(pending.then((stream) => this.#deactivate(stream), ignore));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (stream) => {
          signal.removeEventListener('abort', onAbort);
          resolve(stream);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  #failed(error: IpmiError): void {
    debug('%s opening the console failed: %s (%s)', this.#label(), error.message, error.code);
    const stated = isStatedError(error);
    this.#record(error, !stated);
    this.#hooks.error(error);
    if (!this.#hooks.wanted()) {
      this.#hooks.changed();
      return;
    }
    if (stated) {
      // Retrying cannot help: end this round, as ipmitool exiting would end socat's connection.
      this.#attempt = 0;
      this.#hooks.gaveUp(error);
      this.#hooks.changed();
      return;
    }
    this.#scheduleRetry(error);
  }

  #scheduleRetry(error: IpmiError): void {
    const attempt = ++this.#attempt;
    const { reconnect, random = Math.random, fleetSize } = this.#settings;
    const delayMs = backoffDelay(reconnect, attempt - 1, random, fleetSize?.() ?? 1);
    debug('%s retry %d in %d ms', this.#label(), attempt, delayMs);
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.ensure();
      this.#hooks.changed();
    }, delayMs);
    this.#hooks.changed();
    this.#hooks.reconnect({ attempt, delayMs, error });
  }

  #attach(stream: ConsoleStream): void {
    this.#stream = stream;
    this.counters.activations++;
    if (this.#attempt > 0) this.counters.reconnects++;
    this.#attempt = 0;
    let failure: unknown;
    const onError = (error: unknown): void => {
      failure ??= error;
    };
    const onGone = (reason?: unknown): void => this.#gone(stream, reason ?? failure);
    stream.on('error', onError); // kept after detach: a late 'error' must not go unhandled
    stream.once('end', onGone);
    stream.once('close', onGone);
    const unwireData = this.#hooks.attach(stream);
    this.#detach = () => {
      stream.off('end', onGone);
      stream.off('close', onGone);
      unwireData();
    };
    debug('%s console active', this.#label());
    this.#hooks.changed();
    if (stream.destroyed || stream.closed) this.#gone(stream, failure); // closed before we listened
  }

  #unwire(): void {
    this.#detach();
    this.#detach = ignore;
    this.#stream = undefined;
  }

  #gone(stream: ConsoleStream, reason: unknown): void {
    if (stream !== this.#stream) return;
    this.#unwire();
    this.counters.consoleLosses++;
    const error = toIpmiError(reason, 'IPMI_ERR_SOL_DEACTIVATED', 'The console closed');
    debug('%s console lost: %s', this.#label(), error.message);
    this.#record(error, true);
    if (!this.#hooks.wanted()) {
      this.#hooks.changed();
      return;
    }
    this.#hooks.lost(stream, error);
    this.#hooks.error(error);
    this.#scheduleRetry(error);
  }

  #record(error: IpmiError, retried: boolean): void {
    this.#lastError = { code: error.code, message: error.message, at: new Date(), retried };
  }

  #release(stream: ConsoleStream): void {
    this.#trackRelease(this.#deactivate(stream));
  }

  async #deactivate(stream: ConsoleStream): Promise<void> {
    this.counters.deactivations++;
    stream.on('error', ignore);
    stream.resume(); // nothing may wait on a paused reader while it winds down
    try {
      await stream.deactivate();
    } catch (error) {
      debug('%s deactivate failed: %s', this.#label(), (error as Error).message);
    }
  }

  /** The next activation waits for `work`, at most deactivateTimeoutMs. */
  #trackRelease(work: Promise<void>): void {
    const bounded = new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        debug('%s release still running after %d ms: going on', this.#label(), this.#settings.deactivateTimeoutMs);
        resolve();
      }, this.#settings.deactivateTimeoutMs);
      void work.finally(() => {
        timer.cancel();
        resolve();
      });
    });
    this.#releasing = Promise.all([this.#releasing, bounded]).then(ignore);
  }
}

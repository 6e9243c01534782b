/**
 * The console supervisor alone: no socket, no real time (a ManualClock drives backoff, the open timeout and the
 * deactivation bound). Sources here are small in-memory fakes.
 */
import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { ManualClock } from '../../lib/clock.js';
import { IpmiError } from '../../lib/errors.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from '../../lib/bridge/console-source.js';
import { ConsoleSupervisor, isStatedError, type ReconnectEvent, type SupervisorHooks } from '../../lib/bridge/console-supervisor.js';
import { DEFAULT_RECONNECT, backoffWindow, type ReconnectOptions } from '../../lib/bridge/bridge-settings.js';
import { turns } from './fake-console-source.js';
import { mulberry32 as seeded } from '../../fixtures/random.js';

class Stream extends PassThrough implements ConsoleStream {
  deactivations = 0;
  constructor(readonly hangOnDeactivate = false) {
    super();
  }
  deactivate(): Promise<void> {
    this.deactivations++;
    if (this.hangOnDeactivate) return new Promise(() => undefined);
    this.destroy();
    return Promise.resolve();
  }
  takeUnacknowledged(): Buffer {
    return Buffer.alloc(0);
  }
}

/** open() answers from a script: an error, a stream, or 'hang' (never settles unless aborted). */
class ScriptedSource implements ConsoleSource {
  readonly calls: ConsoleOpenOptions[] = [];
  constructor(readonly script: Array<IpmiError | Stream | 'hang'>) {}
  open(signal: AbortSignal, options: ConsoleOpenOptions): Promise<ConsoleStream> {
    this.calls.push(options);
    const next = this.script.shift() ?? new Stream();
    if (next instanceof IpmiError) return Promise.reject(next);
    if (next === 'hang') return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)));
    return Promise.resolve(next);
  }
}

const SETTINGS = {
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0, spreadPerConsoleMs: 0, maxSpreadMs: 0 },
  openTimeoutMs: 5000,
  deactivateTimeoutMs: 3000,
  steal: 'own' as const,
};

function harness(source: ConsoleSource, settings = SETTINGS) {
  const clock = new ManualClock();
  const log: string[] = [];
  const reconnects: ReconnectEvent[] = [];
  let wanted = true;
  const hooks: SupervisorHooks = {
    wanted: () => wanted,
    attach: () => {
      log.push('attach');
      return () => log.push('detach');
    },
    lost: (_stream, error) => log.push(`lost ${error.code}`),
    error: (error) => log.push(`error ${error.code}`),
    gaveUp: (error) => log.push(`gave up ${error.code}`),
    reconnect: (event) => reconnects.push(event),
    changed: () => undefined,
  };
  const supervisor = new ConsoleSupervisor(source, settings, clock, hooks, () => 'spec');
  return { clock, log, reconnects, supervisor, unwant: () => (wanted = false) };
}

describe('bridge/console-supervisor', () => {
  it('backs off 100, 200, 400 ms (on the clock) through transient errors, then attaches', async () => {
    const source = new ScriptedSource([
      new IpmiError('IPMI_ERR_TIMEOUT', 'no answer'),
      new IpmiError('IPMI_ERR_UNREACHABLE', 'nothing there'),
      new IpmiError('IPMI_ERR_AUTH', 'RAKP 1 never answered', { inferred: true }),
    ]);
    const { clock, log, reconnects, supervisor } = harness(source);
    supervisor.ensure();
    for (const delay of [100, 200, 400]) {
      await turns(3);
      expect(reconnects.at(-1)!.delayMs).to.equal(delay);
      expect(supervisor.phase).to.equal('reconnecting');
      clock.advance(delay - 1);
      expect(source.calls.length, 'not before its delay').to.equal(reconnects.length);
      clock.advance(1);
    }
    await turns(3);
    expect(supervisor.phase).to.equal('active');
    expect(log.at(-1)).to.equal('attach');
    expect(source.calls.map((c) => c.attempt)).to.deep.equal([0, 1, 2, 3]);
    expect(supervisor.counters).to.include({ activations: 1, reconnects: 1 });
    expect(supervisor.lastError).to.include({ code: 'IPMI_ERR_AUTH', retried: true });
  });

  it('an attempt longer than openTimeoutMs is aborted as IPMI_ERR_TIMEOUT and retried', async () => {
    const source = new ScriptedSource(['hang']);
    const { clock, reconnects, supervisor } = harness(source);
    supervisor.ensure();
    await turns(3);
    clock.advance(4999);
    await turns(3);
    expect(reconnects).to.have.length(0);
    clock.advance(1);
    await turns(3);
    expect(reconnects.map((r) => r.error.code)).to.deep.equal(['IPMI_ERR_TIMEOUT']);
  });

  it('a stated error ends the round: gaveUp, no retry armed; the steal policy goes with the first attempt', async () => {
    const inUse = new IpmiError('IPMI_ERR_SOL_IN_USE', 'held by someone else', { completionCode: 0x80 });
    const source = new ScriptedSource([inUse, inUse]);
    const { clock, log, supervisor } = harness(source);
    supervisor.ensure();
    await turns(5);
    expect(source.calls.map((c) => c.steal)).to.deep.equal(['own']);
    expect(log).to.deep.equal(['error IPMI_ERR_SOL_IN_USE', 'gave up IPMI_ERR_SOL_IN_USE']);
    expect(clock.pending(), 'no retry armed, the open timeout cancelled').to.equal(0);
    clock.advance(60_000);
    expect(source.calls).to.have.length(1);
    expect(supervisor.phase).to.equal('idle');
    expect(isStatedError(new IpmiError('IPMI_ERR_AUTH', 'status 0x0d'))).to.equal(true);
    expect(isStatedError(new IpmiError('IPMI_ERR_AUTH', 'silence', { inferred: true }))).to.equal(false);
    expect(isStatedError(new IpmiError('IPMI_ERR_TIMEOUT', 'silence'))).to.equal(false);
  });

  it('the next open waits for the previous release, at most deactivateTimeoutMs', async () => {
    const stuck = new Stream(true);
    const source = new ScriptedSource([stuck, new Stream()]);
    const { clock, supervisor } = harness(source);
    supervisor.ensure();
    await turns(3);
    expect(supervisor.phase).to.equal('active');
    supervisor.stop(); // release starts and hangs
    expect(stuck.deactivations).to.equal(1);
    supervisor.ensure();
    await turns(5);
    expect(source.calls, 'waits for the release').to.have.length(1);
    clock.advance(3000);
    await turns(5);
    expect(source.calls).to.have.length(2);
    expect(supervisor.phase).to.equal('active');
  });

  it('a lost console is reported with its error and re-opened after the first backoff delay', async () => {
    const first = new Stream();
    const source = new ScriptedSource([first]);
    const { clock, log, reconnects, supervisor } = harness(source);
    supervisor.ensure();
    await turns(3);
    first.destroy(new IpmiError('IPMI_ERR_SOL_DEACTIVATED', 'taken over'));
    await turns(3);
    expect(log).to.include.members(['lost IPMI_ERR_SOL_DEACTIVATED', 'error IPMI_ERR_SOL_DEACTIVATED']);
    expect(reconnects.map((r) => [r.attempt, r.delayMs])).to.deep.equal([[1, 100]]);
    clock.advance(100);
    await turns(3);
    expect(supervisor.phase).to.equal('active');
    expect(supervisor.counters).to.include({ consoleLosses: 1, activations: 2, reconnects: 1 });
  });
});


/** How long one attempt takes while the network is cut: the handshake's first step, 1 s x (1 + 3 retries). */
const ATTEMPT_IN_CUT_MS = 4000;
const CUT_MS = 30_000;
const STEP_MS = 100;

/**
 * N supervisors whose consoles are lost together, a network cut of CUT_MS (every open fails after
 * ATTEMPT_IN_CUT_MS), then the network back: per console, the attempts made in the cut and when it was back.
 */
async function storm(n: number, reconnect: ReconnectOptions): Promise<{ attemptsInCut: number[]; backAtMs: number[] }> {
  const clock = new ManualClock();
  const random = seeded(12);
  let cut = false;
  const attempts = new Array<number>(n).fill(0);
  const backAt = new Array<number>(n).fill(Number.NaN);
  const streams: Stream[] = [];
  const supervisors = Array.from({ length: n }, (_, i) => {
    const source: ConsoleSource = {
      open: () => {
        if (!cut) {
          const stream = new Stream();
          streams[i] = stream;
          return Promise.resolve(stream);
        }
        attempts[i]!++;
        return new Promise((_, reject) => clock.setTimeout(() => reject(new IpmiError('IPMI_ERR_TIMEOUT', 'no answer')), ATTEMPT_IN_CUT_MS));
      },
    };
    const hooks: SupervisorHooks = {
      wanted: () => true,
      attach: () => {
        if (cut === false && clock.now() >= CUT_MS) backAt[i] = clock.now() - CUT_MS;
        return () => undefined;
      },
      lost: () => undefined,
      error: () => undefined,
      gaveUp: () => undefined,
      reconnect: () => undefined,
      changed: () => undefined,
    };
    const settings = { reconnect, openTimeoutMs: 30_000, deactivateTimeoutMs: 3000, steal: 'own' as const, random, fleetSize: () => n };
    return new ConsoleSupervisor(source, settings, clock, hooks, () => `console ${i}`);
  });
  for (const s of supervisors) s.ensure();
  await turns(3);
  expect(supervisors.every((s) => s.phase === 'active')).to.equal(true);
  cut = true;
  for (const stream of streams) stream.destroy(new IpmiError('IPMI_ERR_TIMEOUT', 'the BMC stopped answering'));
  for (let t = 0; t < CUT_MS; t += STEP_MS) {
    await turns(3);
    clock.advance(STEP_MS);
  }
  const attemptsInCut = [...attempts];
  cut = false;
  for (let t = 0; t < 5 * CUT_MS && supervisors.some((s) => s.phase !== 'active'); t += STEP_MS) {
    await turns(3);
    clock.advance(STEP_MS);
  }
  await turns(3);
  for (const s of supervisors) s.stop();
  return { attemptsInCut, backAtMs: backAt };
}

/** Most consoles back within any one second after the network came back. */
function peakPerSecond(backAtMs: number[]): number {
  const perSecond = new Map<number, number>();
  for (const ms of backAtMs) perSecond.set(Math.floor(ms / 1000), (perSecond.get(Math.floor(ms / 1000)) ?? 0) + 1);
  return Math.max(...perSecond.values());
}

describe('bridge/console-supervisor: reconnect storms (issue 12)', function () {
  this.timeout(60_000);

  it('1000 consoles lost together: back spread over the fleet window, at most 2x its even rate, a few attempts each in a 30 s cut', async () => {
    const n = 1000;
    const window = backoffWindow(DEFAULT_RECONNECT, 10, n);
    expect(window, 'fleet window for 1000 consoles').to.equal(10_000);
    const { attemptsInCut, backAtMs } = await storm(n, DEFAULT_RECONNECT);
    expect(backAtMs.filter((ms) => Number.isNaN(ms)), 'every console back').to.have.length(0);
    // An attempt in flight at the restore ends with the cut's timeout; the retry after it lies in the window.
    expect(Math.max(...backAtMs)).to.be.at.most(ATTEMPT_IN_CUT_MS + window);
    // Retries land uniformly over the window: about N / window per second, never a burst of them all.
    const even = (n / window) * 1000;
    expect(peakPerSecond(backAtMs)).to.be.at.most(2 * even);
    // Each console retried a few times in 30 s (an attempt takes 4 s, then waits a share of a 10 s window).
    expect(Math.max(...attemptsInCut)).to.be.at.most(6);
    expect(attemptsInCut.reduce((a, b) => a + b, 0) / n).to.be.within(2, 5);
  });

  it('the spread scales with the number of consoles: the rate of re-opens after the cut stays about 1 / spreadPerConsoleMs', async () => {
    const reconnect = { ...DEFAULT_RECONNECT, maxDelayMs: 1000, spreadPerConsoleMs: 20 };
    for (const n of [250, 1000]) {
      const { backAtMs } = await storm(n, reconnect);
      const span = Math.max(...backAtMs) - Math.min(...backAtMs);
      expect(span, `${n} consoles come back over about n x 20 ms`).to.be.within(0.8 * n * 20, ATTEMPT_IN_CUT_MS + n * 20);
      expect(peakPerSecond(backAtMs), `${n} consoles: re-opens per second`).to.be.at.most(2 * (1000 / 20));
    }
  });
});

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
import { turns } from './fake-console-source.js';

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
  reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0 },
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

  it('a stated error ends the round: gaveUp, no retry armed; steal policy tried once after IPMI_ERR_SOL_IN_USE', async () => {
    const inUse = new IpmiError('IPMI_ERR_SOL_IN_USE', 'held by someone else', { completionCode: 0x80 });
    const source = new ScriptedSource([inUse, inUse]);
    const { clock, log, supervisor } = harness(source);
    supervisor.ensure();
    await turns(5);
    expect(source.calls.map((c) => c.steal)).to.deep.equal(['never', 'own']);
    expect(log).to.deep.equal(['error IPMI_ERR_SOL_IN_USE', 'gave up IPMI_ERR_SOL_IN_USE']);
    expect(clock.pending(), 'no retry armed, the open timeout cancelled').to.equal(0);
    clock.advance(60_000);
    expect(source.calls).to.have.length(2);
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

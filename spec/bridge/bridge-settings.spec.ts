/** Bridge settings: declared once, resolved once into a frozen object with every default; every bound checked. */
import { expect } from 'chai';
import { systemClock, ManualClock } from '../../lib/clock.js';
import { isIpmiError } from '../../lib/errors.js';
import {
  DEFAULT_MAX_SPREAD_MS,
  DEFAULT_RECONNECT,
  DEFAULT_SPREAD_PER_CONSOLE_MS,
  MAX_GRACE_MS,
  MAX_HOLD_BYTES,
  MAX_TIMER_MS,
  backoffDelay,
  backoffWindow,
  resolveBridgeSettings,
  type BridgeSettings,
} from '../../lib/bridge/bridge-settings.js';

function refused(settings: BridgeSettings): string | undefined {
  try {
    resolveBridgeSettings(settings);
  } catch (error) {
    return isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT') ? error.message : `not a bad argument: ${String(error)}`;
  }
  return undefined;
}

describe('bridge/bridge-settings', () => {
  it('applies every default into one frozen object', () => {
    const settings = resolveBridgeSettings();
    expect(Object.isFrozen(settings)).to.equal(true);
    expect(Object.isFrozen(settings.reconnect)).to.equal(true);
    expect(settings).to.include({
      activation: 'on-connect',
      takeover: false,
      idleTimeoutMs: 600_000,
      holdBytes: 64 * 1024,
      openTimeoutMs: 30_000,
      deactivateTimeoutMs: 10_000,
      inUseGraceMs: 250,
      lingerMs: 2_000,
      inUseMessage: 'console in use by another client\r\n',
      steal: 'own',
      clock: systemClock,
    });
    expect(settings.reconnect).to.deep.equal(DEFAULT_RECONNECT);
    const clock = new ManualClock();
    expect(resolveBridgeSettings({ clock, steal: 'always', reconnect: { jitter: 0 } })).to.include({ clock, steal: 'always' });
  });

  it('checks every bound, naming the option', () => {
    expect(refused({ holdBytes: MAX_HOLD_BYTES })).to.equal(undefined);
    expect(refused({ holdBytes: MAX_HOLD_BYTES + 1 })).to.contain('holdBytes');
    expect(refused({ inUseGraceMs: MAX_GRACE_MS + 1 })).to.contain('inUseGraceMs');
    expect(refused({ lingerMs: -1 })).to.contain('lingerMs');
    expect(refused({ openTimeoutMs: 0 })).to.contain('openTimeoutMs');
    expect(refused({ deactivateTimeoutMs: MAX_TIMER_MS + 1 })).to.contain('deactivateTimeoutMs');
    expect(refused({ reconnect: { factor: 0.5 } })).to.contain('reconnect.factor');
    expect(refused({ steal: 'sometimes' as never })).to.contain('steal');
    expect(refused({ activation: 'never' as never })).to.contain('activation');
    expect(refused({ clock: {} as never })).to.contain('clock');
    expect(refused({ stealOnInUse: true } as never)).to.contain("steal: 'never' | 'own' | 'always'");
    expect(refused({ reconnect: { spreadPerConsoleMs: -1 } })).to.contain('reconnect.spreadPerConsoleMs');
    expect(refused({ reconnect: { maxSpreadMs: MAX_TIMER_MS + 1 } })).to.contain('reconnect.maxSpreadMs');
    expect(refused({ random: 'dice' as never })).to.contain('random');
  });

  it('the reconnect window: doubling to maxDelayMs for one console, at least spreadPerConsoleMs per console, at most maxSpreadMs (issue 12)', () => {
    expect(DEFAULT_RECONNECT).to.include({ jitter: 1, spreadPerConsoleMs: DEFAULT_SPREAD_PER_CONSOLE_MS, maxSpreadMs: DEFAULT_MAX_SPREAD_MS });
    expect([0, 1, 2, 3, 4, 9].map((retry) => backoffWindow(DEFAULT_RECONNECT, retry, 1))).to.deep.equal([500, 1000, 2000, 4000, 8000, 8000]);
    expect([0, 4, 9].map((retry) => backoffWindow(DEFAULT_RECONNECT, retry, 1000)), '1000 consoles').to.deep.equal([10_000, 10_000, 10_000]);
    expect(backoffWindow(DEFAULT_RECONNECT, 0, 5000), '5000 consoles').to.equal(50_000);
    expect(backoffWindow(DEFAULT_RECONNECT, 0, 1_000_000), 'bounded').to.equal(DEFAULT_MAX_SPREAD_MS);
    // Full jitter: uniform over [0, window].
    expect(backoffDelay(DEFAULT_RECONNECT, 0, () => 0, 1000)).to.equal(10_000);
    expect(backoffDelay(DEFAULT_RECONNECT, 0, () => 0.25, 1000)).to.equal(7_500);
    expect(backoffDelay(DEFAULT_RECONNECT, 0, () => 0.999_99, 1000)).to.equal(0);
  });
});

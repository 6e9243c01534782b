/** Bridge settings: declared once, resolved once into a frozen object with every default; every bound checked. */
import { expect } from 'chai';
import { systemClock, ManualClock } from '../../lib/clock.js';
import { isIpmiError } from '../../lib/errors.js';
import {
  DEFAULT_RECONNECT,
  MAX_GRACE_MS,
  MAX_HOLD_BYTES,
  MAX_TIMER_MS,
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
  });
});

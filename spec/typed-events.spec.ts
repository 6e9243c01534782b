/**
 * Typed events (lib/typed-events.ts): listeners get their argument types with no annotation, and a misspelt
 * event or a wrong listener does not compile (npm run typecheck checks the @ts-expect-error lines below).
 */
import { expect } from 'chai';
import { ConsoleBridge, type BridgeState } from '../lib/bridge/console-bridge.js';
import { ConsoleManager, type ConsoleEvent } from '../lib/bridge/console-manager.js';
import { IpmiError } from '../lib/errors.js';
import { TypedEventEmitter } from '../lib/typed-events.js';
import { FakeConsoleSource } from './bridge/fake-console-source.js';

interface DoorEvents {
  open: [by: string, at: number];
  close: [];
}

describe('typed-events', () => {
  it('types each listener from the event map and is still an EventEmitter at run time', () => {
    const door = new TypedEventEmitter<DoorEvents>();
    const seen: string[] = [];
    door.on('open', (by, at) => seen.push(`${by.toUpperCase()}@${at.toFixed(0)}`));
    door.once('close', () => seen.push('closed'));
    const wrongUses = (): void => {
      // @ts-expect-error: no such event
      door.on('opened', () => undefined);
      // @ts-expect-error: wrong argument type
      door.emit('open', 42, 1);
    };
    expect(wrongUses).to.be.a('function'); // compiled, never run
    door.emit('open', 'ann', 3);
    door.emit('close');
    door.emit('close');
    expect(seen).to.deep.equal(['ANN@3', 'closed']);
    expect(door.listenerCount('open')).to.equal(1);
  });

  it("ConsoleManager 'console-event' and ConsoleBridge events are typed under strict", async () => {
    const consoles = new ConsoleManager({ address: '127.0.0.1', portRange: '10000:10001', sourceFactory: () => new FakeConsoleSource() });
    const events: ConsoleEvent[] = [];
    consoles.on('console-event', (e) => {
      events.push(e);
      if (e.event === 'error') expect(e.error.code).to.be.a('string'); // narrowed: e.error is an IpmiError
    });
    consoles.emit('console-event', { nodeId: 'n', event: 'error', error: new IpmiError('IPMI_ERR_TIMEOUT', 'x') });
    expect(events[0]!.nodeId).to.equal('n');

    const bridge = new ConsoleBridge({ source: new FakeConsoleSource(), host: '127.0.0.1' });
    const states: BridgeState[] = [];
    bridge.on('state', (state, previous) => states.push(state, previous));
    bridge.on('client-disconnected', ({ reason }) => states.push(reason === 'idle-timeout' ? 'idle' : 'closed'));
    const wrongUse = (): void => {
      // @ts-expect-error: a state listener gets BridgeState values, not numbers
      bridge.on('state', (state: number) => state);
    };
    expect(wrongUse).to.be.a('function'); // compiled, never run
    await bridge.close();
    expect(states).to.deep.equal(['closed', 'idle']);
  });
});

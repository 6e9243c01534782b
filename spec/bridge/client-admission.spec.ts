/** Client admission alone: in-memory sockets, a ManualClock for the grace and the linger. */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { ManualClock } from '../../lib/clock.js';
import { ClientAdmission, MAX_WAITING_CLIENTS, type AdmissionSeat } from '../../lib/bridge/client-admission.js';

/** The few net.Socket members admission uses. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  sent = '';
  ended = false;
  constructor(readonly remotePort: number) {
    super();
  }
  readonly remoteAddress = '127.0.0.1';
  end(message?: string): void {
    this.sent += message ?? '';
    this.ended = true;
  }
  resume(): void {}
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

const SETTINGS = { takeover: false, inUseGraceMs: 250, lingerMs: 2000, inUseMessage: 'in use\r\n' };

function harness(settings = SETTINGS) {
  const clock = new ManualClock();
  const log: string[] = [];
  let seated: FakeSocket | undefined;
  const seat: AdmissionSeat = {
    occupied: () => seated !== undefined,
    seat: (socket) => {
      seated = socket as unknown as FakeSocket;
      log.push(`seat ${seated.remotePort}`);
    },
    replace: (socket) => {
      seated = socket as unknown as FakeSocket;
      log.push(`replace ${seated.remotePort}`);
    },
    refused: (info) => log.push(`refused ${info.remotePort}`),
  };
  const admission = new ClientAdmission(settings, clock, seat);
  const admit = (port: number): FakeSocket => {
    const socket = new FakeSocket(port);
    admission.admit(socket as unknown as net.Socket);
    return socket;
  };
  return { clock, log, admission, admit, vacate: () => (seated = undefined) };
}

describe('bridge/client-admission', () => {
  it('seats the first; a second waits inUseGraceMs, then reads the in-use line and lingers at most lingerMs', () => {
    const { clock, log, admission, admit } = harness();
    admit(1);
    const second = admit(2);
    expect(admission.waiting).to.equal(1);
    clock.advance(249);
    expect(log).to.deep.equal(['seat 1']);
    clock.advance(1);
    expect(log).to.deep.equal(['seat 1', 'refused 2']);
    expect(second.sent).to.equal('in use\r\n');
    expect(admission.waiting).to.equal(0);
    clock.advance(1999);
    expect(second.destroyed).to.equal(false);
    clock.advance(1);
    expect(second.destroyed).to.equal(true);
  });

  it('a waiting client takes the seat when it frees within the grace; one that left is skipped', () => {
    const { clock, log, admission, admit, vacate } = harness();
    admit(1);
    const gone = admit(2);
    admit(3);
    gone.destroy();
    expect(admission.waiting).to.equal(1);
    vacate();
    admission.promote();
    expect(log).to.deep.equal(['seat 1', 'seat 3']);
    clock.advance(10_000);
    expect(log).to.not.include('refused 3');
  });

  it(`refuses at once beyond MAX_WAITING_CLIENTS (${MAX_WAITING_CLIENTS}); takeover replaces instead`, () => {
    const { log, admit } = harness();
    admit(1);
    for (let i = 0; i < MAX_WAITING_CLIENTS; i++) admit(10 + i);
    admit(99);
    expect(log).to.deep.equal(['seat 1', 'refused 99']);
    const takeover = harness({ ...SETTINGS, takeover: true });
    takeover.admit(1);
    takeover.admit(2);
    expect(takeover.log).to.deep.equal(['seat 1', 'replace 2']);
  });

  it('closeAll destroys every waiting socket and cancels its grace', () => {
    const { clock, log, admission, admit } = harness();
    admit(1);
    const waiting = admit(2);
    admission.closeAll();
    expect(waiting.destroyed).to.equal(true);
    expect(clock.pending()).to.equal(0);
    expect(log).to.deep.equal(['seat 1']);
  });
});

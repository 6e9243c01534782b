import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import type net from 'node:net';
import { KeystrokeHold } from '../../lib/bridge/keystroke-hold.js';

/** A stand-in socket: records pause() and what was unshifted back into it. */
function fakeSocket(): { socket: net.Socket; unshifted: Buffer[]; paused: () => boolean } {
  const stream = new PassThrough();
  const unshifted: Buffer[] = [];
  const socket = Object.assign(stream, {
    unshift: (chunk: Buffer) => {
      unshifted.push(Buffer.from(chunk));
    },
  }) as unknown as net.Socket;
  return { socket, unshifted, paused: () => stream.isPaused() };
}

describe('bridge: KeystrokeHold', () => {
  it('holds up to its limit and gives the excess back to the paused socket', () => {
    const hold = new KeystrokeHold(10);
    const { socket, unshifted, paused } = fakeSocket();
    expect(hold.take(socket, Buffer.from('abcdef'))).to.equal(6);
    expect(paused()).to.equal(false);
    expect(hold.take(socket, Buffer.from('ghijklmn'))).to.equal(4);
    expect(paused()).to.equal(true);
    expect(Buffer.concat(unshifted).toString()).to.equal('klmn');
    expect(hold.size).to.equal(10);
    expect(hold.hasRoom).to.equal(false);
    const out: string[] = [];
    hold.drainInto((c) => out.push(c.toString()));
    expect(out.join('')).to.equal('abcdefghij');
    expect(hold.size).to.equal(0);
    expect(hold.hasRoom).to.equal(true);
  });

  it('unacknowledged bytes of a lost console go first, even past the limit; nothing more is held then', () => {
    const hold = new KeystrokeHold(4);
    const { socket, unshifted } = fakeSocket();
    hold.take(socket, Buffer.from('cd'));
    hold.putFirst(Buffer.from('ab12345'));
    expect(hold.size).to.equal(9);
    // over the limit: a new chunk goes back whole (never a negative slice)
    expect(hold.take(socket, Buffer.from('ef'))).to.equal(0);
    expect(Buffer.concat(unshifted).toString()).to.equal('ef');
    const out: Buffer[] = [];
    hold.drainInto((c) => out.push(c));
    expect(Buffer.concat(out).toString()).to.equal('ab12345cd');
  });

  it('clear drops everything', () => {
    const hold = new KeystrokeHold(4);
    hold.putFirst(Buffer.from('xy'));
    hold.clear();
    const out: Buffer[] = [];
    hold.drainInto((c) => out.push(c));
    expect(out).to.deep.equal([]);
  });
});

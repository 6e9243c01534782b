/** The boot storm client's echo split: bytes >= 0x80 are echoes, the rest is log output, in order. */
import { expect } from 'chai';
import { splitEchoes } from '../../../bench/lib/storm-client.js';

describe('bench storm client', function () {
  it('splitEchoes takes echo bytes out and reports each as its 7-bit byte, keeping the log bytes in order', function () {
    const echoes: number[] = [];
    const out = splitEchoes(Buffer.from([0x41, 0xe1, 0x42, 0x43, 0xe2]), (b) => echoes.push(b));
    expect([...out]).to.deep.equal([0x41, 0x42, 0x43]);
    expect(echoes).to.deep.equal([0x61, 0x62]);
  });

  it('splitEchoes returns a chunk without echoes as is', function () {
    const chunk = Buffer.from('plain text\r\n');
    expect(splitEchoes(chunk, () => expect.fail('no echo'))).to.equal(chunk);
  });
});

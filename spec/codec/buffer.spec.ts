import { expect } from 'chai';
import { BufferReader, BufferWriter, CodecError, fromHex } from '../../lib/codec/buffer.js';

describe('codec/buffer', () => {
  it('reads little-endian fields and refuses to read past the end', () => {
    const r = new BufferReader(Buffer.from('0102030405060708ff', 'hex'));
    expect(r.u8()).to.equal(1);
    expect(r.u16le()).to.equal(0x0302);
    expect(r.u32le()).to.equal(0x07060504);
    expect(r.remaining).to.equal(2);
    expect(() => r.u16le()).to.not.throw();
    expect(() => r.u8()).to.throw(CodecError);
  });

  it('grows while writing and copies out', () => {
    const w = new BufferWriter(1);
    w.u8(1).u16le(0x0302).u24le(0x060504).u32le(0x0a090807).fill(0xff, 3).bytes(Buffer.from([0xee]));
    expect(w.toBuffer().toString('hex')).to.equal('0102030405060708090affffffee');
  });

  it('reads hex with comments and spaces', () => {
    expect(fromHex('06 00 # rmcp\nff 07')).to.deep.equal(Buffer.from([6, 0, 0xff, 7]));
    expect(() => fromHex('abc')).to.throw();
  });
});

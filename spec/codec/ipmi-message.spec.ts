import { expect } from 'chai';
import { checksum, decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../lib/codec/ipmi-message.js';

describe('codec/ipmi-message (IPMI 2.0 section 13.8)', () => {
  it('encodes requests exactly as ipmitool does', () => {
    // rsAddr 20, netFn 06<<2, chk1, rqAddr 81, rqSeq<<2, cmd, data, chk2 = -(81 + 04 + 01)
    expect(encodeRequest({ netFn: 6, cmd: 1, rqSeq: 1, data: Buffer.alloc(0) }).toString('hex')).to.equal('2018c88104017a');
    // ipmitool's Get Channel Auth Capabilities, from fixtures/packets/suite3-ipmitool-ipmi_sim.hex
    expect(encodeRequest({ netFn: 6, cmd: 0x38, rqSeq: 0, data: Buffer.from([0x8e, 0x04]) }).toString('hex')).to.equal('2018c88100388e04b5');
  });

  it('round-trips requests and responses and checks both checksums', () => {
    const req = encodeRequest({ netFn: 0x0c, cmd: 0x22, rqSeq: 63, data: Buffer.from([1, 2, 3]) });
    expect(decodeRequest(req)).to.include({ netFn: 0x0c, cmd: 0x22, rqSeq: 63 });
    const rsp = encodeResponse({ netFn: 0x07, cmd: 0x01, rqSeq: 5, completionCode: 0xc1, data: Buffer.from([7]), rqAddr: 0x81, rsAddr: 0x20 });
    expect(decodeResponse(rsp)).to.include({ netFn: 7, cmd: 1, rqSeq: 5, completionCode: 0xc1 });
    for (let i = 0; i < rsp.length; i++) {
      const bad = Buffer.from(rsp);
      bad[i]! ^= 0x10;
      expect(() => decodeResponse(bad), `byte ${i}`).to.throw();
    }
  });

  it('checksum makes the covered bytes sum to zero', () => {
    const bytes = Buffer.from([0x20, 0x18]);
    expect((0x20 + 0x18 + checksum(bytes, 0, 2)) & 0xff).to.equal(0);
  });

  it('rejects short messages', () => {
    expect(() => decodeResponse(Buffer.alloc(6))).to.throw();
    expect(() => decodeRequest(Buffer.alloc(0))).to.throw();
  });
});

import { expect } from 'chai';
import { encodeV20, decodeV20, PayloadType } from '../../lib/codec/rmcp.js';
import { encodeResponse, NetFn } from '../../lib/codec/ipmi-message.js';
import { encodeRakp4 } from '../../lib/codec/rakp.js';
import { ipmiAnswer, preSessionInbound } from '../../lib/session/inbound.js';

const packet = (payloadType: number, payload: Buffer) => decodeV20(encodeV20({ payloadType, sessionId: 0, sequence: 0, payload }));

describe('session/inbound', () => {
  it('decodes the session-setup payloads a handshake waits for, and nothing else', () => {
    const rakp4 = preSessionInbound(packet(PayloadType.RAKP4, encodeRakp4({ tag: 7, status: 0, consoleSessionId: 9, integrityCheckValue: Buffer.alloc(12) })));
    expect(rakp4?.kind).to.equal('rakp4');
    expect(preSessionInbound(packet(PayloadType.SOL, Buffer.alloc(4)))).to.equal(undefined);
    expect(() => preSessionInbound(packet(PayloadType.RAKP2, Buffer.alloc(3)))).to.throw();
  });

  it('an IPMI answer matches its request by NetFn + 1, command and rqSeq', () => {
    const rsp = encodeResponse({ rqAddr: 0x81, rsAddr: 0x20, netFn: NetFn.APP | 1, cmd: 0x01, rqSeq: 5, completionCode: 0, data: Buffer.alloc(0) });
    const m = preSessionInbound(packet(PayloadType.IPMI, rsp))!;
    expect(ipmiAnswer(m, NetFn.APP, 0x01, 5)).to.not.equal(undefined);
    expect(ipmiAnswer(m, NetFn.APP, 0x01, 6)).to.equal(undefined);
    expect(ipmiAnswer(m, NetFn.APP, 0x02, 5)).to.equal(undefined);
    expect(ipmiAnswer(m, NetFn.TRANSPORT, 0x01, 5)).to.equal(undefined);
  });
});

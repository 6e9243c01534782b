/**
 * Messages a session waits for, decoded from datagrams (IPMI 2.0 sections 13.18, 13.21, 13.23 and 13.8): what the
 * request tracker matches answers against.
 */
import { PayloadType, type V20Packet } from '../codec/rmcp.js';
import { decodeResponse, type IpmiResponse } from '../codec/ipmi-message.js';
import { decodeOpenSessionResponse, decodeRakp2, decodeRakp4, type OpenSessionResponse, type Rakp2, type Rakp4 } from '../codec/rakp.js';

export type Inbound =
  | { kind: 'ipmi'; rsp: IpmiResponse }
  | { kind: 'open-session'; msg: OpenSessionResponse }
  | { kind: 'rakp2'; msg: Rakp2 }
  | { kind: 'rakp4'; msg: Rakp4 };

/** A session-ID-0 RMCP+ packet as the message it carries; undefined for a payload type no session step awaits. */
export function preSessionInbound(packet: V20Packet): Inbound | undefined {
  switch (packet.payloadType) {
    case PayloadType.IPMI:
      return { kind: 'ipmi', rsp: decodeResponse(packet.payload) };
    case PayloadType.OPEN_SESSION_RESPONSE:
      return { kind: 'open-session', msg: decodeOpenSessionResponse(packet.payload) };
    case PayloadType.RAKP2:
      return { kind: 'rakp2', msg: decodeRakp2(packet.payload) };
    case PayloadType.RAKP4:
      return { kind: 'rakp4', msg: decodeRakp4(packet.payload) };
    default:
      return undefined;
  }
}

/** The response to request `rqSeq` of command `cmd` in NetFn `netFn` (the response NetFn is the request's + 1). */
export function ipmiAnswer(m: Inbound, netFn: number, cmd: number, rqSeq: number): IpmiResponse | undefined {
  return m.kind === 'ipmi' && m.rsp.rqSeq === rqSeq && m.rsp.cmd === cmd && m.rsp.netFn === (netFn | 1) ? m.rsp : undefined;
}

/**
 * IPMI LAN message format, IPMI 2.0 section 13.8 (figure 13-4) and table 13-4:
 *   request   rsAddr netFn<<2|rsLUN chk1 rqAddr rqSeq<<2|rqLUN cmd data... chk2
 *   response  rqAddr netFn<<2|rqLUN chk1 rsAddr rqSeq<<2|rsLUN cmd completionCode data... chk2
 * chk1 is the two's complement checksum of the two bytes before it; chk2 of everything after chk1.
 */
import { BufferReader, BufferWriter, CodecError } from './buffer.js';

export const BMC_SLAVE_ADDRESS = 0x20;
/** Remote console software ID 0x81 (section 5.5: software IDs 0x81..0x8D for remote consoles). */
export const REMOTE_CONSOLE_SWID = 0x81;

export const NetFn = {
  CHASSIS: 0x00,
  SENSOR: 0x04,
  APP: 0x06,
  STORAGE: 0x0a,
  TRANSPORT: 0x0c,
} as const;

export interface IpmiRequest {
  netFn: number;
  cmd: number;
  rqSeq: number; // 6 bits
  data: Buffer;
  rsAddr?: number;
  rqAddr?: number;
  rsLun?: number;
  rqLun?: number;
}

export interface IpmiResponse {
  netFn: number; // the response netFn (request netFn | 1)
  cmd: number;
  rqSeq: number;
  completionCode: number;
  data: Buffer;
  rqAddr: number;
  rsAddr: number;
}

export function checksum(buf: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + buf[i]!) & 0xff;
  return (0x100 - sum) & 0xff;
}

export function encodeRequest(req: IpmiRequest): Buffer {
  const w = new BufferWriter(7 + req.data.length);
  w.u8(req.rsAddr ?? BMC_SLAVE_ADDRESS).u8(((req.netFn & 0x3f) << 2) | ((req.rsLun ?? 0) & 3));
  w.u8(0); // chk1 placeholder
  w.u8(req.rqAddr ?? REMOTE_CONSOLE_SWID).u8(((req.rqSeq & 0x3f) << 2) | ((req.rqLun ?? 0) & 3)).u8(req.cmd);
  w.bytes(req.data).u8(0);
  const out = w.toBuffer();
  out[2] = checksum(out, 0, 2);
  out[out.length - 1] = checksum(out, 3, out.length - 1);
  return out;
}

function verifyChecksums(buf: Buffer): void {
  if (buf.length < 7) throw new CodecError(`IPMI message too short (${buf.length} bytes)`);
  if (checksum(buf, 0, 2) !== buf[2]) throw new CodecError('IPMI header checksum mismatch');
  if (checksum(buf, 3, buf.length - 1) !== buf[buf.length - 1]) throw new CodecError('IPMI data checksum mismatch');
}

export function decodeRequest(buf: Buffer): IpmiRequest {
  verifyChecksums(buf);
  const r = new BufferReader(buf, 0, buf.length - 1);
  const rsAddr = r.u8();
  const nl = r.u8();
  r.skip(1);
  const rqAddr = r.u8();
  const sl = r.u8();
  const cmd = r.u8();
  return { rsAddr, netFn: nl >> 2, rsLun: nl & 3, rqAddr, rqSeq: sl >> 2, rqLun: sl & 3, cmd, data: Buffer.from(r.rest()) };
}

export function encodeResponse(rsp: IpmiResponse): Buffer {
  const w = new BufferWriter(8 + rsp.data.length);
  w.u8(rsp.rqAddr).u8((rsp.netFn & 0x3f) << 2).u8(0);
  w.u8(rsp.rsAddr).u8((rsp.rqSeq & 0x3f) << 2).u8(rsp.cmd).u8(rsp.completionCode).bytes(rsp.data).u8(0);
  const out = w.toBuffer();
  out[2] = checksum(out, 0, 2);
  out[out.length - 1] = checksum(out, 3, out.length - 1);
  return out;
}

export function decodeResponse(buf: Buffer): IpmiResponse {
  verifyChecksums(buf);
  if (buf.length < 8) throw new CodecError('IPMI response without completion code');
  const r = new BufferReader(buf, 0, buf.length - 1);
  const rqAddr = r.u8();
  const netFn = r.u8() >> 2;
  r.skip(1);
  const rsAddr = r.u8();
  const rqSeq = r.u8() >> 2;
  const cmd = r.u8();
  const completionCode = r.u8();
  return { rqAddr, netFn, rsAddr, rqSeq, cmd, completionCode, data: Buffer.from(r.rest()) };
}

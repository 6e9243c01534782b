/**
 * RMCP+ session setup payloads, IPMI 2.0 sections 13.17 to 13.23.
 */
import { BufferReader, BufferWriter, CodecError } from './buffer.js';

/** RMCP+ and RAKP message status codes, IPMI 2.0 table 13-15. */
export const RAKP_STATUS_TEXT: Record<number, string> = {
  0x00: 'no errors',
  0x01: 'insufficient resources to create a session',
  0x02: 'invalid session ID',
  0x03: 'invalid payload type',
  0x04: 'invalid authentication algorithm',
  0x05: 'invalid integrity algorithm',
  0x06: 'no matching authentication payload',
  0x07: 'no matching integrity payload',
  0x08: 'inactive session ID',
  0x09: 'invalid role',
  0x0a: 'unauthorized role or privilege level requested',
  0x0b: 'insufficient resources to create a session at the requested role',
  0x0c: 'invalid name length',
  0x0d: 'unauthorized name',
  0x0e: 'unauthorized GUID',
  0x0f: 'invalid integrity check value',
  0x10: 'invalid confidentiality algorithm',
  0x11: 'no cipher suite match with proposed security algorithms',
  0x12: 'illegal or unrecognized parameter',
};

export function rakpStatusText(status: number): string {
  return RAKP_STATUS_TEXT[status] ?? `status 0x${status.toString(16).padStart(2, '0')}`;
}

export interface OpenSessionRequest {
  tag: number;
  maxPrivilege: number; // 0 = highest the user/channel allows
  consoleSessionId: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}

export interface OpenSessionResponse {
  tag: number;
  status: number;
  maxPrivilege: number;
  consoleSessionId: number;
  bmcSessionId: number;
  auth: number;
  integrity: number;
  confidentiality: number;
}

/* Algorithm payload record, section 13.17: type(1) reserved(2) length=8(1) algorithm(1) reserved(3). */
function writeAlgorithm(w: BufferWriter, type: number, algorithm: number): void {
  w.u8(type).u16le(0).u8(8).u8(algorithm & 0x3f).fill(0, 3);
}

function readAlgorithm(r: BufferReader, type: number): number {
  const t = r.u8();
  r.skip(2);
  const len = r.u8();
  if (t !== type) throw new CodecError(`algorithm record type ${t}, expected ${type}`);
  if (len !== 8) throw new CodecError(`algorithm record length ${len}, expected 8`);
  const algorithm = r.u8() & 0x3f;
  r.skip(3);
  return algorithm;
}

/* Open Session Request (0x10): tag maxPriv reserved(2) consoleSID(4) auth(8) integrity(8) confidentiality(8). */
export function encodeOpenSessionRequest(m: OpenSessionRequest): Buffer {
  const w = new BufferWriter(32);
  w.u8(m.tag).u8(m.maxPrivilege).u16le(0).u32le(m.consoleSessionId);
  writeAlgorithm(w, 0, m.auth);
  writeAlgorithm(w, 1, m.integrity);
  writeAlgorithm(w, 2, m.confidentiality);
  return w.toBuffer();
}

export function decodeOpenSessionRequest(buf: Buffer): OpenSessionRequest {
  const r = new BufferReader(buf);
  const tag = r.u8();
  const maxPrivilege = r.u8() & 0x0f;
  r.skip(2);
  const consoleSessionId = r.u32le();
  return {
    tag,
    maxPrivilege,
    consoleSessionId,
    auth: readAlgorithm(r, 0),
    integrity: readAlgorithm(r, 1),
    confidentiality: readAlgorithm(r, 2),
  };
}

/* Open Session Response (0x11): tag status maxPriv reserved consoleSID(4) bmcSID(4) auth(8) integ(8) conf(8).
 * On a non-zero status the BMC may stop after consoleSID (section 13.18). */
export function encodeOpenSessionResponse(m: OpenSessionResponse): Buffer {
  const w = new BufferWriter(36);
  w.u8(m.tag).u8(m.status).u8(m.maxPrivilege).u8(0).u32le(m.consoleSessionId);
  if (m.status !== 0) return w.toBuffer();
  w.u32le(m.bmcSessionId);
  writeAlgorithm(w, 0, m.auth);
  writeAlgorithm(w, 1, m.integrity);
  writeAlgorithm(w, 2, m.confidentiality);
  return w.toBuffer();
}

export function decodeOpenSessionResponse(buf: Buffer): OpenSessionResponse {
  const r = new BufferReader(buf);
  const tag = r.u8();
  const status = r.u8();
  if (status !== 0) {
    const maxPrivilege = r.remaining > 0 ? r.u8() : 0;
    if (r.remaining > 0) r.skip(1);
    const consoleSessionId = r.remaining >= 4 ? r.u32le() : 0;
    return { tag, status, maxPrivilege, consoleSessionId, bmcSessionId: 0, auth: 0, integrity: 0, confidentiality: 0 };
  }
  const maxPrivilege = r.u8() & 0x0f;
  r.skip(1);
  const consoleSessionId = r.u32le();
  const bmcSessionId = r.u32le();
  return {
    tag,
    status,
    maxPrivilege,
    consoleSessionId,
    bmcSessionId,
    auth: readAlgorithm(r, 0),
    integrity: readAlgorithm(r, 1),
    confidentiality: readAlgorithm(r, 2),
  };
}

export interface Rakp1 {
  tag: number;
  bmcSessionId: number;
  consoleRandom: Buffer;
  role: number; // privilege | 0x10 name-only lookup
  username: Buffer;
}

/* RAKP1 (0x12): tag reserved(3) bmcSID(4) Rm(16) role reserved(2) ulen username(ulen <= 16). */
export function encodeRakp1(m: Rakp1): Buffer {
  if (m.consoleRandom.length !== 16) throw new CodecError('R_m must be 16 bytes');
  if (m.username.length > 16) throw new CodecError('user name longer than 16 bytes');
  const w = new BufferWriter(28 + m.username.length);
  w.u8(m.tag).fill(0, 3).u32le(m.bmcSessionId).bytes(m.consoleRandom).u8(m.role).u16le(0);
  w.u8(m.username.length).bytes(m.username);
  return w.toBuffer();
}

export function decodeRakp1(buf: Buffer): Rakp1 {
  const r = new BufferReader(buf);
  const tag = r.u8();
  r.skip(3);
  const bmcSessionId = r.u32le();
  const consoleRandom = Buffer.from(r.bytes(16));
  const role = r.u8();
  r.skip(2);
  const ulen = r.u8();
  if (ulen > 16) throw new CodecError(`user name length ${ulen} > 16`);
  return { tag, bmcSessionId, consoleRandom, role, username: Buffer.from(r.bytes(ulen)) };
}

export interface Rakp2 {
  tag: number;
  status: number;
  consoleSessionId: number;
  bmcRandom: Buffer;
  bmcGuid: Buffer;
  authCode: Buffer;
}

/* RAKP2 (0x13): tag status reserved(2) consoleSID(4) Rc(16) GUIDc(16) keyExchangeAuthCode(N). */
export function encodeRakp2(m: Rakp2): Buffer {
  const w = new BufferWriter(40 + m.authCode.length);
  w.u8(m.tag).u8(m.status).u16le(0).u32le(m.consoleSessionId);
  if (m.status !== 0) return w.toBuffer();
  w.bytes(m.bmcRandom).bytes(m.bmcGuid).bytes(m.authCode);
  return w.toBuffer();
}

export function decodeRakp2(buf: Buffer): Rakp2 {
  const r = new BufferReader(buf);
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  const consoleSessionId = r.remaining >= 4 ? r.u32le() : 0;
  if (status !== 0) {
    return { tag, status, consoleSessionId, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), authCode: Buffer.alloc(0) };
  }
  const bmcRandom = Buffer.from(r.bytes(16));
  const bmcGuid = Buffer.from(r.bytes(16));
  return { tag, status, consoleSessionId, bmcRandom, bmcGuid, authCode: Buffer.from(r.rest()) };
}

export interface Rakp3 {
  tag: number;
  status: number;
  bmcSessionId: number;
  authCode: Buffer;
}

/* RAKP3 (0x14): tag status reserved(2) bmcSID(4) keyExchangeAuthCode(N). */
export function encodeRakp3(m: Rakp3): Buffer {
  const w = new BufferWriter(8 + m.authCode.length);
  w.u8(m.tag).u8(m.status).u16le(0).u32le(m.bmcSessionId).bytes(m.authCode);
  return w.toBuffer();
}

export function decodeRakp3(buf: Buffer): Rakp3 {
  const r = new BufferReader(buf);
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  const bmcSessionId = r.u32le();
  return { tag, status, bmcSessionId, authCode: Buffer.from(r.rest()) };
}

export interface Rakp4 {
  tag: number;
  status: number;
  consoleSessionId: number;
  integrityCheckValue: Buffer;
}

/* RAKP4 (0x15): tag status reserved(2) consoleSID(4) integrityCheckValue(N). */
export function encodeRakp4(m: Rakp4): Buffer {
  const w = new BufferWriter(8 + m.integrityCheckValue.length);
  w.u8(m.tag).u8(m.status).u16le(0).u32le(m.consoleSessionId).bytes(m.integrityCheckValue);
  return w.toBuffer();
}

export function decodeRakp4(buf: Buffer): Rakp4 {
  const r = new BufferReader(buf);
  const tag = r.u8();
  const status = r.u8();
  r.skip(2);
  const consoleSessionId = r.remaining >= 4 ? r.u32le() : 0;
  return { tag, status, consoleSessionId, integrityCheckValue: Buffer.from(r.rest()) };
}

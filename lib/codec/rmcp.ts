/**
 * RMCP (ASF 2.0 / IPMI 2.0 section 13.1.3) and the IPMI v1.5 and v2.0 (RMCP+) session headers
 * (IPMI 2.0 sections 13.6 and 13.8, table 13-8). Pure functions: bytes in, objects out.
 *
 *   RMCP header     06 00 FF 07          version, reserved, sequence (FF: no RMCP ACK), class IPMI
 *   v1.5 session    authType(00) seq(4 LE) sessionId(4 LE) [authCode(16)] length(1) payload [legacy pad]
 *   v2.0 session    authType(06) payloadType(1) [OEM IANA(4) OEM payload ID(2)] sessionId(4 LE) seq(4 LE)
 *                   length(2 LE) payload [trailer]
 *   trailer         pad(FF...) padLength(1) nextHeader(07) authCode(N)   -- authenticated packets only;
 *                   pad makes authType..nextHeader a multiple of 4 bytes (section 13.28.4).
 */
import { BufferReader, BufferWriter, CodecError } from './buffer.js';
import { verifyAuthCode, writeAuthCode, type IntegrityKeys } from '../crypto/integrity.js';
import { decryptPayload, encryptedLength, encryptPayloadInto } from '../crypto/aes-cbc.js';
import { ConfidentialityAlgorithm, IntegrityAlgorithm, integrityCodeLength } from '../crypto/cipher-suites.js';

export const RMCP_VERSION = 0x06;
export const RMCP_SEQ_NO_ACK = 0xff;
export const RMCP_CLASS_IPMI = 0x07;
export const RMCP_CLASS_ASF = 0x06;
export const AUTH_TYPE_NONE = 0x00;
export const AUTH_TYPE_RMCPPLUS = 0x06;
export const NEXT_HEADER = 0x07;

/** Payload types, IPMI 2.0 table 13-16. */
export const PayloadType = {
  IPMI: 0x00,
  SOL: 0x01,
  OEM: 0x02,
  OPEN_SESSION_REQUEST: 0x10,
  OPEN_SESSION_RESPONSE: 0x11,
  RAKP1: 0x12,
  RAKP2: 0x13,
  RAKP3: 0x14,
  RAKP4: 0x15,
} as const;
export type PayloadType = (typeof PayloadType)[keyof typeof PayloadType];

export const PAYLOAD_ENCRYPTED = 0x80;
export const PAYLOAD_AUTHENTICATED = 0x40;
/** The largest datagram we build or accept; RMCP+ packets are far smaller (SOL carries at most 255 chars). */
export const MAX_DATAGRAM = 1500;

export interface SessionCrypto extends IntegrityKeys {
  confidentiality: ConfidentialityAlgorithm;
  /** K2, whose first 16 bytes are the AES-CBC-128 key. */
  k2: Buffer;
}

export const NO_CRYPTO: SessionCrypto = Object.freeze({
  integrity: IntegrityAlgorithm.NONE,
  confidentiality: ConfidentialityAlgorithm.NONE,
  k1: Buffer.alloc(0),
  k2: Buffer.alloc(0),
  password: Buffer.alloc(0),
});

export interface V20Packet {
  format: 'v2.0';
  payloadType: number; // bits 5:0
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
  /** Plaintext payload (decrypted when `encrypted`). */
  payload: Buffer;
  oem?: { iana: number; payloadId: number };
}

export interface V15Packet {
  format: 'v1.5';
  authType: number;
  sessionId: number;
  sequence: number;
  authCode?: Buffer;
  payload: Buffer;
}

/** What can be read from a datagram before any key is known: enough to dispatch it to its session. */
export interface RmcpEnvelope {
  format: 'v1.5' | 'v2.0' | 'asf';
  payloadType: number;
  encrypted: boolean;
  authenticated: boolean;
  sessionId: number;
  sequence: number;
}

function writeRmcpHeader(w: BufferWriter): void {
  w.u8(RMCP_VERSION).u8(0).u8(RMCP_SEQ_NO_ACK).u8(RMCP_CLASS_IPMI);
}

/** Peek at a datagram's RMCP and session headers. Throws CodecError when it is not RMCP/IPMI. */
export function peekEnvelope(datagram: Buffer): RmcpEnvelope {
  const r = new BufferReader(datagram);
  if (r.u8() !== RMCP_VERSION) throw new CodecError('not RMCP version 1.0');
  r.skip(2);
  const cls = r.u8() & 0x1f;
  if (cls === RMCP_CLASS_ASF) {
    return { format: 'asf', payloadType: -1, encrypted: false, authenticated: false, sessionId: 0, sequence: 0 };
  }
  if (cls !== RMCP_CLASS_IPMI) throw new CodecError(`unknown RMCP class 0x${cls.toString(16)}`);
  const authType = r.u8() & 0x0f;
  if (authType === AUTH_TYPE_RMCPPLUS) {
    const pt = r.u8();
    if ((pt & 0x3f) === PayloadType.OEM) r.skip(6);
    const sessionId = r.u32le();
    const sequence = r.u32le();
    return {
      format: 'v2.0',
      payloadType: pt & 0x3f,
      encrypted: (pt & PAYLOAD_ENCRYPTED) !== 0,
      authenticated: (pt & PAYLOAD_AUTHENTICATED) !== 0,
      sessionId,
      sequence,
    };
  }
  const sequence = r.u32le();
  const sessionId = r.u32le();
  return { format: 'v1.5', payloadType: PayloadType.IPMI, encrypted: false, authenticated: authType !== 0, sessionId, sequence };
}

export interface EncodeV20Options {
  payloadType: number;
  sessionId: number;
  sequence: number;
  payload: Buffer;
  /** Encrypt with the session's confidentiality algorithm (AES-CBC-128). */
  encrypt?: boolean;
  /** Add the integrity trailer. */
  authenticate?: boolean;
  crypto?: SessionCrypto;
  /** 16 random bytes for AES-CBC; injected so that golden packets are reproducible. */
  iv?: Buffer;
}

/**
 * Mechanism "one-allocation encode" (issue 12, copies between Buffers): the datagram's exact length is known
 * before any byte is written (header, IV + ciphertext, integrity pad, AuthCode), so it is built in one Buffer:
 * the ciphertext is written in place and the AuthCode copied after it. The former BufferWriter + concat path made
 * four copies of every SOL packet (padded plaintext, IV|ciphertext concat, writer, writer -> trailer concat).
 * Byte-exact: spec/codec/golden-sessions.spec.ts and spec/codec/rmcp.spec.ts.
 */
export function encodeV20(opts: EncodeV20Options): Buffer {
  const crypto = opts.crypto ?? NO_CRYPTO;
  const encrypt = opts.encrypt === true && crypto.confidentiality === ConfidentialityAlgorithm.AES_CBC_128;
  const authenticate = opts.authenticate === true && crypto.integrity !== IntegrityAlgorithm.NONE;
  if (opts.encrypt && !encrypt) throw new CodecError('encryption requested but no confidentiality algorithm');
  if (opts.authenticate && !authenticate) throw new CodecError('authentication requested but no integrity algorithm');
  if (encrypt && !opts.iv) throw new CodecError('AES-CBC-128 needs an IV');
  const payload = opts.payload;
  const bodyLength = encrypt ? encryptedLength(payload.length) : payload.length;
  const HEADER = 16; // RMCP 4 + authType 1 + payloadType 1 + sessionId 4 + sequence 4 + length 2
  const bodyEnd = HEADER + bodyLength;
  // Integrity pad: authType..nextHeader (header from offset 4, plus padLength and nextHeader) % 4 == 0.
  const pad = authenticate ? (4 - ((bodyEnd - 4 + 2) % 4)) % 4 : 0;
  const codeLength = authenticate ? integrityCodeLength(crypto.integrity) : 0;
  const unsignedEnd = authenticate ? bodyEnd + pad + 2 : bodyEnd;
  const out = Buffer.allocUnsafe(unsignedEnd + codeLength);
  out[0] = RMCP_VERSION;
  out[1] = 0;
  out[2] = RMCP_SEQ_NO_ACK;
  out[3] = RMCP_CLASS_IPMI;
  out[4] = AUTH_TYPE_RMCPPLUS;
  out[5] = (opts.payloadType & 0x3f) | (encrypt ? PAYLOAD_ENCRYPTED : 0) | (authenticate ? PAYLOAD_AUTHENTICATED : 0);
  out.writeUInt32LE(opts.sessionId >>> 0, 6);
  out.writeUInt32LE(opts.sequence >>> 0, 10);
  out.writeUInt16LE(bodyLength & 0xffff, 14);
  if (encrypt) encryptPayloadInto(crypto.k2, opts.iv!, payload, out, HEADER);
  else out.set(payload, HEADER);
  if (!authenticate) return out;
  out.fill(0xff, bodyEnd, bodyEnd + pad);
  out[bodyEnd + pad] = pad;
  out[bodyEnd + pad + 1] = NEXT_HEADER;
  writeAuthCode(crypto, out.subarray(4, unsignedEnd), out, unsignedEnd);
  return out;
}

export type DecodeFailure =
  | 'malformed'
  | 'integrity'
  | 'decrypt'
  | 'unauthenticated'; // a session with integrity received a packet without it

export class PacketRejected extends CodecError {
  constructor(
    readonly reason: DecodeFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decode a whole RMCP+ datagram. With `crypto` whose integrity is not NONE, an authenticated packet must carry a
 * valid AuthCode; `requireAuthenticated` rejects packets that carry none (an in-session packet on a session with
 * integrity must be authenticated, section 13.28.4).
 */
export function decodeV20(datagram: Buffer, crypto: SessionCrypto = NO_CRYPTO, requireAuthenticated = false): V20Packet {
  try {
    const r = new BufferReader(datagram);
    if (r.u8() !== RMCP_VERSION) throw new PacketRejected('malformed', 'not RMCP');
    r.skip(2);
    if ((r.u8() & 0x1f) !== RMCP_CLASS_IPMI) throw new PacketRejected('malformed', 'not RMCP class IPMI');
    if ((r.u8() & 0x0f) !== AUTH_TYPE_RMCPPLUS) throw new PacketRejected('malformed', 'not an RMCP+ packet');
    const pt = r.u8();
    const payloadType = pt & 0x3f;
    let oem: V20Packet['oem'];
    if (payloadType === PayloadType.OEM) oem = { iana: r.u32le(), payloadId: r.u16le() };
    const sessionId = r.u32le();
    const sequence = r.u32le();
    const length = r.u16le();
    let payload = r.bytes(length);
    const encrypted = (pt & PAYLOAD_ENCRYPTED) !== 0;
    const authenticated = (pt & PAYLOAD_AUTHENTICATED) !== 0;
    if (authenticated) {
      if (crypto.integrity === IntegrityAlgorithm.NONE) {
        throw new PacketRejected('integrity', 'authenticated packet on a session without integrity');
      }
      const codeLength = integrityCodeLength(crypto.integrity);
      const trailerStart = r.offset;
      const total = datagram.length;
      if (total - trailerStart < 2 + codeLength) throw new PacketRejected('malformed', 'trailer truncated');
      const nextHeaderAt = total - codeLength - 1;
      const padLength = datagram[nextHeaderAt - 1]!;
      if (datagram[nextHeaderAt] !== NEXT_HEADER) throw new PacketRejected('malformed', 'bad next header');
      if (nextHeaderAt - 1 - padLength !== trailerStart) throw new PacketRejected('malformed', 'bad integrity pad');
      const code = datagram.subarray(total - codeLength);
      if (!verifyAuthCode(crypto, datagram.subarray(4, total - codeLength), code)) {
        throw new PacketRejected('integrity', 'AuthCode mismatch');
      }
    } else if (requireAuthenticated && crypto.integrity !== IntegrityAlgorithm.NONE) {
      throw new PacketRejected('unauthenticated', 'packet without integrity on an authenticated session');
    }
    if (encrypted) {
      if (crypto.confidentiality !== ConfidentialityAlgorithm.AES_CBC_128) {
        throw new PacketRejected('decrypt', 'encrypted packet on a session without confidentiality');
      }
      const plain = decryptPayload(crypto.k2, payload);
      if (!plain) throw new PacketRejected('decrypt', 'AES-CBC-128 payload did not decrypt');
      payload = plain;
    } else {
      payload = Buffer.from(payload);
    }
    const packet: V20Packet = { format: 'v2.0', payloadType, encrypted, authenticated, sessionId, sequence, payload };
    if (oem) packet.oem = oem;
    return packet;
  } catch (err) {
    if (err instanceof PacketRejected) throw err;
    throw new PacketRejected('malformed', (err as Error).message);
  }
}

/** An IPMI v1.5 packet with auth type NONE: used before a session for Get Channel Auth Capabilities. */
export function encodeV15(opts: { sessionId?: number; sequence?: number; payload: Buffer }): Buffer {
  const w = new BufferWriter(14 + opts.payload.length + 1);
  writeRmcpHeader(w);
  w.u8(AUTH_TYPE_NONE).u32le(opts.sequence ?? 0).u32le(opts.sessionId ?? 0).u8(opts.payload.length).bytes(opts.payload);
  return w.toBuffer();
}

export function decodeV15(datagram: Buffer): V15Packet {
  try {
    const r = new BufferReader(datagram);
    if (r.u8() !== RMCP_VERSION) throw new PacketRejected('malformed', 'not RMCP');
    r.skip(2);
    if ((r.u8() & 0x1f) !== RMCP_CLASS_IPMI) throw new PacketRejected('malformed', 'not RMCP class IPMI');
    const authType = r.u8() & 0x0f;
    if (authType === AUTH_TYPE_RMCPPLUS) throw new PacketRejected('malformed', 'not an IPMI v1.5 packet');
    const sequence = r.u32le();
    const sessionId = r.u32le();
    const packet: V15Packet = { format: 'v1.5', authType, sessionId, sequence, payload: Buffer.alloc(0) };
    if (authType !== AUTH_TYPE_NONE) packet.authCode = Buffer.from(r.bytes(16));
    const length = r.u8();
    packet.payload = Buffer.from(r.bytes(length));
    return packet;
  } catch (err) {
    if (err instanceof PacketRejected) throw err;
    throw new PacketRejected('malformed', (err as Error).message);
  }
}

/**
 * Session sequence numbers increase with every packet a side sends, retransmissions included (section 13.6), so
 * they order packets where the 4-bit SOL sequence number cannot: is `seq` older than `newest`? (32-bit serial
 * number arithmetic, RFC 1982.)
 */
export function isOlderSequence(seq: number, newest: number): boolean {
  const behind = (newest - seq) >>> 0;
  return behind !== 0 && behind < 0x80000000;
}

/** ASF Presence Ping (ASF 2.0 section 3.2.4.1), the classic "is anything listening" probe on port 623. */
export function encodeAsfPing(tag: number): Buffer {
  return Buffer.from([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, tag & 0xff, 0x00, 0x00]);
}

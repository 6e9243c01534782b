/**
 * SOL payload (payload type 0x01), IPMI 2.0 section 15.9, table 15-2 (console to BMC) and 15-3 (BMC to console):
 *   packetSequence(1)  bits 3:0, 1..15; 0 = ACK/NACK-only packet (no characters)
 *   ackSequence(1)     bits 3:0, the packet being ACKed/NACKed; 0 = this packet ACKs nothing
 *   acceptedCount(1)   characters accepted from the ACKed packet
 *   operation(1)       console to BMC: operation bits; BMC to console: status bits
 *   data(...)          characters
 */
import { BufferReader, CodecError } from './buffer.js';

export const SOL_HEADER_LENGTH = 4;
/** The accepted character count is one byte: no SOL packet carries more than 255 characters. */
export const SOL_MAX_CHARACTERS = 255;
export const SOL_MAX_SEQUENCE = 15;

/** Operation bits, console to BMC (table 15-2, byte 4). */
export const SolOperation = {
  NACK: 0x40,
  RING_WOR: 0x20,
  GENERATE_BREAK: 0x10,
  CTS_PAUSE: 0x08,
  DROP_DCD_DSR: 0x04,
  FLUSH_INBOUND: 0x02,
  FLUSH_OUTBOUND: 0x01,
} as const;

/** Status bits, BMC to console (table 15-3, byte 4). */
export const SolStatus = {
  NACK: 0x40,
  TRANSFER_UNAVAILABLE: 0x20,
  DEACTIVATING: 0x10,
  TRANSMIT_OVERRUN: 0x08,
  BREAK_DETECTED: 0x04,
} as const;

export interface SolPacket {
  sequence: number; // 0 = ACK-only
  ackSequence: number; // 0 = none
  acceptedCount: number;
  /** operation bits (console to BMC) or status bits (BMC to console) */
  flags: number;
  data: Buffer;
}

export function encodeSolPacket(p: SolPacket): Buffer {
  if (p.data.length > SOL_MAX_CHARACTERS) throw new CodecError(`SOL packet of ${p.data.length} characters > 255`);
  const out = Buffer.allocUnsafe(SOL_HEADER_LENGTH + p.data.length);
  out[0] = p.sequence & 0x0f;
  out[1] = p.ackSequence & 0x0f;
  out[2] = p.acceptedCount & 0xff;
  out[3] = p.flags & 0xff;
  p.data.copy(out, SOL_HEADER_LENGTH);
  return out;
}

export function decodeSolPacket(buf: Buffer): SolPacket {
  const r = new BufferReader(buf);
  const sequence = r.u8() & 0x0f;
  const ackSequence = r.u8() & 0x0f;
  const acceptedCount = r.u8();
  const flags = r.u8();
  return { sequence, ackSequence, acceptedCount, flags, data: Buffer.from(r.rest()) };
}

/** Next data packet sequence number: 1..15, wrapping to 1 (0 is reserved for ACK-only packets). */
export function nextSolSequence(seq: number): number {
  return seq >= SOL_MAX_SEQUENCE ? 1 : seq + 1;
}

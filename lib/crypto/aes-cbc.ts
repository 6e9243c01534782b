/**
 * AES-CBC-128 payload encryption, IPMI 2.0 section 13.29: payload = 16-byte IV | ciphertext.
 * The plaintext is followed by confidentiality pad bytes 01 02 .. N and then the pad length N, so that
 * (plaintext + pad + 1) is a multiple of 16. Node's own PKCS#7 padding is off.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

const BLOCK = 16;

export function aesKey(k2: Buffer): Buffer {
  return k2.subarray(0, 16);
}

export function encryptPayload(k2: Buffer, iv: Buffer, plaintext: Buffer): Buffer {
  if (iv.length !== BLOCK) throw new RangeError('AES-CBC-128 IV must be 16 bytes');
  const padLength = (BLOCK - ((plaintext.length + 1) % BLOCK)) % BLOCK;
  const padded = Buffer.alloc(plaintext.length + padLength + 1);
  plaintext.copy(padded);
  for (let i = 0; i < padLength; i++) padded[plaintext.length + i] = i + 1;
  padded[padded.length - 1] = padLength;
  const cipher = createCipheriv('aes-128-cbc', aesKey(k2), iv);
  cipher.setAutoPadding(false);
  return Buffer.concat([iv, cipher.update(padded), cipher.final()]);
}

/** Returns the plaintext, or undefined when the payload is malformed or its pad bytes are wrong. */
export function decryptPayload(k2: Buffer, payload: Buffer): Buffer | undefined {
  if (payload.length < 2 * BLOCK || payload.length % BLOCK !== 0) return undefined;
  const iv = payload.subarray(0, BLOCK);
  const decipher = createDecipheriv('aes-128-cbc', aesKey(k2), iv);
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(payload.subarray(BLOCK)), decipher.final()]);
  const padLength = padded[padded.length - 1]!;
  if (padLength >= BLOCK || padLength + 1 > padded.length) return undefined;
  const end = padded.length - 1 - padLength;
  for (let i = 0; i < padLength; i++) if (padded[end + i] !== i + 1) return undefined;
  return padded.subarray(0, end);
}

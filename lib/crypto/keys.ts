/**
 * RAKP key exchange computations, IPMI 2.0 sections 13.31 (RAKP2/RAKP3 auth codes), 13.32 (SIK, K1, K2)
 * and 13.33 (RAKP4 integrity check value). All inputs are explicit; nothing here is random or stateful.
 */
import { createHmac } from 'node:crypto';
import { AuthAlgorithm, authHash, rakp4IcvLength } from './cipher-suites.js';

export interface RakpContext {
  auth: AuthAlgorithm;
  /** K_uid: the user's password (up to 20 bytes; HMAC zero-pads it, as the spec requires). */
  password: Buffer;
  /** K_g: the BMC key. Where absent or all zero, K_uid is used (section 13.31). */
  kg?: Buffer | undefined;
  consoleSessionId: number; // SID_m
  bmcSessionId: number; // SID_c
  consoleRandom: Buffer; // R_m, 16 bytes
  bmcRandom: Buffer; // R_c, 16 bytes
  bmcGuid: Buffer; // GUID_c, 16 bytes
  /** Role byte exactly as sent in RAKP1: privilege | 0x10 for name-only lookup. */
  role: number;
  username: Buffer;
}

function hmac(auth: AuthAlgorithm, key: Buffer, ...parts: Buffer[]): Buffer {
  const hash = authHash(auth);
  if (!hash) return Buffer.alloc(0);
  const h = createHmac(hash, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function u32le(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

function roleAndName(ctx: RakpContext): Buffer {
  return Buffer.concat([Buffer.from([ctx.role, ctx.username.length]), ctx.username]);
}

export function effectiveKg(ctx: Pick<RakpContext, 'kg' | 'password'>): Buffer {
  if (ctx.kg && ctx.kg.length > 0 && ctx.kg.some((b) => b !== 0)) return ctx.kg;
  return ctx.password;
}

/** RAKP2 key exchange auth code: HMAC_Kuid(SID_m | SID_c | R_m | R_c | GUID_c | role | ulen | user). */
export function rakp2AuthCode(ctx: RakpContext): Buffer {
  return hmac(
    ctx.auth,
    ctx.password,
    u32le(ctx.consoleSessionId),
    u32le(ctx.bmcSessionId),
    ctx.consoleRandom,
    ctx.bmcRandom,
    ctx.bmcGuid,
    roleAndName(ctx),
  );
}

/** RAKP3 key exchange auth code: HMAC_Kuid(R_c | SID_m | role | ulen | user). */
export function rakp3AuthCode(ctx: RakpContext): Buffer {
  return hmac(ctx.auth, ctx.password, ctx.bmcRandom, u32le(ctx.consoleSessionId), roleAndName(ctx));
}

/** SIK = HMAC_Kg(R_m | R_c | role | ulen | user). */
export function sessionIntegrityKey(ctx: RakpContext): Buffer {
  return hmac(ctx.auth, effectiveKg(ctx), ctx.consoleRandom, ctx.bmcRandom, roleAndName(ctx));
}

/** K_n = HMAC_SIK(20 bytes of n); the constant is 20 bytes long even for HMAC-SHA256 (section 13.32). */
export function additionalKey(auth: AuthAlgorithm, sik: Buffer, n: 1 | 2 | 3): Buffer {
  return hmac(auth, sik, Buffer.alloc(20, n));
}

/** RAKP4 integrity check value: HMAC_SIK(R_m | SID_c | GUID_c), truncated per algorithm. */
export function rakp4Icv(ctx: RakpContext, sik: Buffer): Buffer {
  return hmac(ctx.auth, sik, ctx.consoleRandom, u32le(ctx.bmcSessionId), ctx.bmcGuid).subarray(
    0,
    rakp4IcvLength(ctx.auth),
  );
}

export interface SessionKeys {
  sik: Buffer;
  k1: Buffer;
  k2: Buffer;
}

export function deriveSessionKeys(ctx: RakpContext): SessionKeys {
  const sik = sessionIntegrityKey(ctx);
  return { sik, k1: additionalKey(ctx.auth, sik, 1), k2: additionalKey(ctx.auth, sik, 2) };
}

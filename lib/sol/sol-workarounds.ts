/**
 * Pure helpers for the vendor workarounds of SolWorkarounds that change what the engine sends (after FreeIPMI
 * libipmiconsole's workaround flags and engine options). No state, no timers: the engine calls them.
 *
 * SOL payload (IPMI 2.0 section 15.9, table 15-2): [0] packet sequence number (bits 3:0), [1] ACK/NACK sequence
 * number, [2] accepted character count, [3] operation bits, [4..] characters.
 */

/**
 * Serial keepalive interval when SolWorkarounds.serialKeepalive is on and serialKeepaliveMs is not given: 60 s,
 * libipmiconsole's (its session timeout; a NUL reaching getty too often is a risk of its own).
 */
export const DEFAULT_SOL_SERIAL_KEEPALIVE_MS = 60_000;
/** Smallest serial keepalive interval accepted (a keepalive is one SOL packet and its ACK). */
export const MIN_SOL_SERIAL_KEEPALIVE_MS = 10;

/** The same SOL payload under another packet sequence number (byte 0, bits 3:0); the rest is unchanged. */
export function renumberSolPayload(payload: Buffer, sequence: number): Buffer {
  const out = Buffer.from(payload);
  out[0] = (out[0]! & 0xf0) | (sequence & 0x0f);
  return out;
}

/**
 * FreeIPMI "solpacketseq": should the retransmission after `sends` transmissions of a data packet go out under
 * the next sequence number? Every `after` transmissions; 0 or undefined: never.
 */
export function bumpSequenceNow(sends: number, after: number | undefined): boolean {
  return after !== undefined && after > 0 && sends > 0 && sends % after === 0;
}

/** The serial keepalive interval in force (see DEFAULT_SOL_SERIAL_KEEPALIVE_MS), clamped to the minimum. */
export function serialKeepaliveInterval(ms: number | undefined): number {
  if (ms === undefined || !Number.isFinite(ms)) return DEFAULT_SOL_SERIAL_KEEPALIVE_MS;
  return Math.max(MIN_SOL_SERIAL_KEEPALIVE_MS, ms);
}

/**
 * The characters of a serial keepalive packet: FreeIPMI --serial-keepalive sends one NUL (it reaches the host:
 * getty may take it as a break and change its baud rate), --serial-keepalive-empty none (some BMCs do not ACK
 * a packet without characters, which then does nothing).
 */
export function serialKeepaliveCharacters(mode: 'nul' | 'empty'): Buffer {
  return mode === 'nul' ? Buffer.from([0x00]) : Buffer.alloc(0);
}

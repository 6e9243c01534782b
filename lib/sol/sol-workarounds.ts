/**
 * The vendor workarounds (SolWorkarounds, data) and pure helpers for those that change what the engine sends (after FreeIPMI
 * libipmiconsole's workaround flags and engine options). No state, no timers: the engine calls them.
 *
 * SOL payload (IPMI 2.0 section 15.9, table 15-2): [0] packet sequence number (bits 3:0), [1] ACK/NACK sequence
 * number, [2] accepted character count, [3] operation bits, [4..] characters.
 */

/**
 * Vendor quirks absorbed as data (after FreeIPMI libipmiconsole's workaround flags). Each one is used.
 */
export interface SolWorkarounds {
  /**
   * FreeIPMI "solpayloadsize": ignore the payload sizes of the Activate Payload response and send
   * SOL_FALLBACK_CHARACTERS characters a packet (used by activateSol).
   */
  ignoreSolPayloadSize?: boolean;
  /** Do not send the priming packet (SOL_PRIME_SEQUENCE) for BMCs that choke on an empty data packet. */
  skipSequencePrime?: boolean;
  /**
   * An ACK without the NACK bit and with accepted count 0 acknowledges the whole packet (OpenIPMI's client
   * notes some Intel BMCs do this). Without it, such an ACK means "nothing taken": the characters are
   * resent as a new packet after one retransmit interval.
   */
  zeroAcceptedMeansAll?: boolean;
  /**
   * Take BMC packets of up to SOL_OVERSIZED_MAX_CHARACTERS characters. pyghmi's server side (pyghmi.ipmi.bmc,
   * console.ServerConsole.maxoutcount) sends 256 a packet, one more than the one-byte accepted count can
   * acknowledge (section 15.9, table 15-2); it reads an ACK without the NACK bit as "all taken", whatever the
   * count says. Without this flag such packets are counted as malformed and dropped.
   */
  acceptOversizedPackets?: boolean;
  /**
   * FreeIPMI "solpacketseq" (Intel Windmill, Quanta Winterfell): a BMC stuck on a sequence number never ACKs
   * retransmissions of it. Every this many unacknowledged transmissions of a data packet, its characters go out
   * under the next sequence number instead (they may reach the host twice if only our ACK was lost). Still
   * bounded by maxRetransmits.
   */
  bumpSequenceAfterSends?: number;
  /**
   * FreeIPMI --serial-keepalive ('nul') / --serial-keepalive-empty ('empty'): when the BMC sent no characters for
   * serialKeepaliveMs and nothing is in flight, send a packet with one NUL character / none. Some BMCs stop
   * sending host output after a host reboot (Intel SR1520ML) or until something is typed (Dell) while the
   * session stays up; such a packet makes them talk again. libipmiconsole sends its keepalive once no SOL packet
   * at all came for its session timeout (60 s); we count only packets with characters, so that our own typing
   * (whose ACKs keep coming) does not hide a BMC whose output stopped. See lib/sol/sol-workarounds.ts.
   */
  serialKeepalive?: 'nul' | 'empty';
  /** Interval of serialKeepalive (DEFAULT_SOL_SERIAL_KEEPALIVE_MS). */
  serialKeepaliveMs?: number;
}

/** Largest BMC packet taken with workarounds.acceptOversizedPackets (pyghmi sends 256). */
export const SOL_OVERSIZED_MAX_CHARACTERS = 1024;

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

/**
 * Activate Payload for SOL (IPMI 2.0 section 24.1) and the SolStream that carries it.
 *
 * Request (table 24-1):  payload type 0x01 | instance | aux: bit7 encrypt, bit6 authenticate, bits3:2 serial
 *                        alert behaviour (01b = deferred while SOL is active), bit1 keep CTS/DCD deasserted | 00 00 00
 * Response (table 24-2): aux(4) | inbound payload size (2, LE) | outbound payload size (2, LE) | UDP port (2, LE) |
 *                        VLAN (2, LE)
 * "Inbound" is from the BMC's point of view: what it accepts from us.
 */
import { IpmiError, completionCodeText } from '../errors.js';
import { Cmd, SolActivateAux, decodeActivatePayloadResponse, encodeActivatePayload, type ActivatePayloadResponse } from '../codec/commands.js';
import { NetFn } from '../codec/ipmi-message.js';
import { SOL_HEADER_LENGTH, SOL_MAX_CHARACTERS } from '../codec/sol-payload.js';
import { SolStream } from './sol-stream.js';
import { deactivateSol } from './sol-commands.js';
import type { InboundPausePolicy, SolWorkarounds } from './sol-engine.js';
import type { SolHost } from './sol-host.js';

export { deactivateSol } from './sol-commands.js';

/** The RMCP/RMCP+ port (section 13.1.3). */
export const RMCP_PORT = 623;
/**
 * Characters a packet when the BMC's payload size is unusable (FreeIPMI's choice, "a decent power of two";
 * ipmi_sim's inbound buffer is 32 bytes).
 */
export const SOL_FALLBACK_CHARACTERS = 32;
/** Smallest usable payload size: the 4-byte SOL header plus one character. */
export const SOL_MIN_PAYLOAD_SIZE = SOL_HEADER_LENGTH + 1;
/** Largest usable payload size: the header plus 255 characters (the accepted count is one byte). */
export const SOL_MAX_PAYLOAD_SIZE = SOL_HEADER_LENGTH + SOL_MAX_CHARACTERS;

/** Activate Payload completion codes (table 24-2). */
export const ActivateCompletion = {
  ALREADY_ACTIVE: 0x80,
  TYPE_DISABLED: 0x81,
  LIMIT_REACHED: 0x82,
  CANNOT_ENCRYPT: 0x83,
  REQUIRES_ENCRYPTION: 0x84,
} as const;

/**
 * Which UDP port SOL payloads go to. Activate Payload names a port (table 24-2), but ipmitool refuses any port
 * but the session's (or its byte swap), so BMCs in the field accept SOL on the session's port; and behind a
 * port forward or NAT the reported port (the BMC's own) is not reachable at all.
 * - 'auto' (default): start on the session's port. Where the BMC reported another, plausible port, the
 *   stream's first packet (the empty priming packet) doubles as a probe: unanswered there, it is tried once on
 *   the reported port, and SOL stays there only if the BMC answers there; otherwise it goes back to the
 *   session's port. 0 and byte-swapped ports (Supermicro X8DTH) are never tried.
 * - 'session': always the session's port (FreeIPMI's "solport" workaround).
 * - 'reported': always the reported port, as FreeIPMI does by default (0 still means the session's port).
 */
export type SolPortPolicy = 'auto' | 'session' | 'reported';

export interface ActivateSolOptions {
  /** Payload instance, 1..15 (default 1). */
  instance?: number;
  /** If another session holds the payload (0x80): deactivate it and activate again, once. */
  steal?: boolean;
  solPort?: SolPortPolicy;
  workarounds?: SolWorkarounds;
  retransmitIntervalMs?: number;
  maxRetransmits?: number;
  inboundPause?: InboundPausePolicy;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Monotonic milliseconds; injectable for specs. */
  clock?: () => number;
  /** Ask the BMC who holds the payload this often (DEFAULT_SOL_OWNERSHIP_CHECK_MS); 0 disables. */
  ownershipCheckMs?: number;
}

/** Characters a packet for a BMC inbound payload size (see SOL_FALLBACK_CHARACTERS). */
function chooseSolPortsAsOptions(ports: { port: number; alternate?: number }): { port: number; alternatePort?: number } {
  return ports.alternate === undefined ? { port: ports.port } : { port: ports.port, alternatePort: ports.alternate };
}

export function solCharactersPerPacket(inboundPayloadSize: number, workarounds: SolWorkarounds = {}): number {
  if (workarounds.ignoreSolPayloadSize) return SOL_FALLBACK_CHARACTERS;
  if (inboundPayloadSize < SOL_MIN_PAYLOAD_SIZE || inboundPayloadSize > SOL_MAX_PAYLOAD_SIZE) return SOL_FALLBACK_CHARACTERS;
  return inboundPayloadSize - SOL_HEADER_LENGTH;
}

function swap16(n: number): number {
  return ((n & 0xff) << 8) | ((n >> 8) & 0xff);
}

/** The UDP port for SOL payloads first, and the one to move to if that goes unanswered (see SolPortPolicy). */
export function chooseSolPorts(reported: number, sessionPort: number, policy: SolPortPolicy = 'auto'): { port: number; alternate?: number } {
  if (policy === 'session' || reported === 0 || reported === sessionPort) return { port: sessionPort };
  if (policy === 'reported') return { port: reported };
  if (reported === swap16(sessionPort) || reported === swap16(RMCP_PORT)) return { port: sessionPort }; // byte-swapped
  return { port: sessionPort, alternate: reported };
}

/** The port SOL starts on (see chooseSolPorts). */
export function chooseSolPort(reported: number, sessionPort: number, policy: SolPortPolicy = 'auto'): number {
  return chooseSolPorts(reported, sessionPort, policy).port;
}

function validate(options: ActivateSolOptions): number {
  const instance = options.instance ?? 1;
  if (!Number.isInteger(instance) || instance < 1 || instance > 15) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `SOL payload instance must be 1..15, not ${String(instance)}`);
  }
  const { retransmitIntervalMs: interval, maxRetransmits: retries } = options;
  if (interval !== undefined && !(Number.isFinite(interval) && interval > 0)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `retransmitIntervalMs must be a positive number of milliseconds, not ${String(interval)}`);
  }
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `maxRetransmits must be a non-negative integer, not ${String(retries)}`);
  }
  if (options.solPort !== undefined && !['auto', 'session', 'reported'].includes(options.solPort)) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `solPort must be 'auto', 'session' or 'reported', not ${String(options.solPort)}`);
  }
  return instance;
}

/** The operator-readable error for an Activate Payload completion code. */
export function activateError(completionCode: number, instance: number): IpmiError {
  const opts = { completionCode, fatal: true };
  switch (completionCode) {
    case ActivateCompletion.ALREADY_ACTIVE:
      return new IpmiError(
        'IPMI_ERR_SOL_IN_USE',
        `SOL payload already active on another session (instance ${instance}); deactivate it there, or activate with steal to take it over`,
        opts,
      );
    case ActivateCompletion.TYPE_DISABLED:
      return new IpmiError('IPMI_ERR_SOL_DISABLED', 'Serial-over-LAN is disabled on this BMC (SOL configuration parameter "SOL Enable", or the channel\'s payload access)', opts);
    case ActivateCompletion.LIMIT_REACHED:
      return new IpmiError('IPMI_ERR_SOL_LIMIT', 'The BMC has reached its limit of active SOL payload instances', opts);
    case ActivateCompletion.CANNOT_ENCRYPT:
      return new IpmiError('IPMI_ERR_SOL_ENCRYPTION', 'The BMC cannot activate SOL with encryption; use a cipher suite without confidentiality or change the BMC\'s SOL authentication settings', opts);
    case ActivateCompletion.REQUIRES_ENCRYPTION:
      return new IpmiError('IPMI_ERR_SOL_ENCRYPTION', 'The BMC requires SOL to be encrypted; use a cipher suite with AES-CBC-128 (3, 8, 12 or 17)', opts);
    default:
      return new IpmiError('IPMI_ERR_COMPLETION_CODE', `Activate Payload (SOL instance ${instance}) failed: ${completionCodeText(completionCode)}`, opts);
  }
}

/**
 * Activate SOL in `host`'s session and return the stream. With `steal`, a payload held by another session
 * (0x80) is deactivated and activation is tried once more. Get Payload Activation Status is never asked:
 * some BMCs answer "not active" there and 0x80 to Activate Payload.
 */
export async function activateSol(host: SolHost, options: ActivateSolOptions = {}): Promise<SolStream> {
  const instance = validate(options);
  const encrypt = host.confidentiality;
  const authenticate = host.integrity;
  const aux = (encrypt ? SolActivateAux.ENCRYPT : 0) | (authenticate ? SolActivateAux.AUTHENTICATE : 0) | SolActivateAux.ALERTS_DEFERRED;
  const request = () => host.request({ netFn: NetFn.APP, cmd: Cmd.ACTIVATE_PAYLOAD, data: encodeActivatePayload(instance, aux) });

  let rsp = await request();
  if (rsp.completionCode === ActivateCompletion.ALREADY_ACTIVE && options.steal) {
    // Whatever the BMC says to Deactivate (0x80 "not active" included), try once more.
    await deactivateSol(host, instance);
    rsp = await request();
  }
  if (rsp.completionCode !== 0) {
    const err = activateError(rsp.completionCode, instance);
    if (rsp.completionCode === ActivateCompletion.ALREADY_ACTIVE && options.steal) {
      throw new IpmiError('IPMI_ERR_SOL_IN_USE', `SOL payload still active on another session after deactivating it (instance ${instance})`, {
        completionCode: rsp.completionCode,
        fatal: true,
      });
    }
    throw err;
  }

  let info: ActivatePayloadResponse;
  try {
    info = decodeActivatePayloadResponse(rsp.data);
  } catch (cause) {
    throw new IpmiError('IPMI_ERR_PROTOCOL', `Activate Payload response of ${rsp.data.length} bytes is too short (at least 10 expected)`, { cause, fatal: true });
  }
  const workarounds = options.workarounds ?? {};
  return new SolStream(host, {
    instance,
    ...chooseSolPortsAsOptions(chooseSolPorts(info.port, host.port, options.solPort)),
    encrypt,
    authenticate,
    maxOutboundChars: solCharactersPerPacket(info.inboundPayloadSize, workarounds),
    retransmitIntervalMs: options.retransmitIntervalMs,
    maxRetransmits: options.maxRetransmits,
    inboundPause: options.inboundPause,
    workarounds,
    readableHighWaterMark: options.readableHighWaterMark,
    writableHighWaterMark: options.writableHighWaterMark,
    ownershipCheckMs: options.ownershipCheckMs,
    clock: options.clock,
  });
}

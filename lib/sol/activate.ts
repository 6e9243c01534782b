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
import type { Clock } from '../clock.js';
import { SolStream } from './sol-stream.js';
import { deactivateSol } from './sol-commands.js';
import { chooseSolPorts, type SolPortPolicy } from './sol-port.js';
import { bmcOf, ownSolSessions, payloadHolder, type SolSessionRegistry } from './sol-ownership.js';
import type { InboundPausePolicy, SolWorkarounds } from './sol-engine.js';
import type { IpmiCommandResponse, SolHost } from './sol-host.js';

export { deactivateSol } from './sol-commands.js';
export { RMCP_PORT, chooseSolPort, chooseSolPorts, type SolPortPolicy } from './sol-port.js';

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
 * What to do when another session holds the payload (Activate Payload answers 0x80):
 * - 'never': reject with IPMI_ERR_SOL_IN_USE.
 * - 'own': take it over (Deactivate Payload, then Activate again, once) only when Get Payload Instance Info
 *   (section 24.5) names a session this process activated SOL in (see SolSessionRegistry): our own stale session
 *   after a quick reconnect. Anyone else's (an operator's `ipmitool sol activate`, another tool): reject with
 *   IPMI_ERR_SOL_IN_USE naming the holder's session ID. So does a BMC that cannot say who holds it.
 * - 'always': take it over from anyone.
 */
export type SolStealPolicy = 'never' | 'own' | 'always';

export interface ActivateSolOptions {
  /** Payload instance, 1..15 (default 1). */
  instance?: number;
  /** See SolStealPolicy (default 'never'); `true` means 'always' and `false` 'never'. */
  steal?: SolStealPolicy | boolean;
  /** Sessions this process activated SOL in, for steal 'own' (default: the process-wide ownSolSessions). */
  ownSessions?: SolSessionRegistry;
  /** Called when the payload was held by another session and this activation took it over. */
  onSteal?: () => void;
  solPort?: SolPortPolicy;
  workarounds?: SolWorkarounds;
  /** Fixed retransmission interval, or the adaptive timeout's initial value and ceiling (default 500 ms). */
  retransmitIntervalMs?: number;
  /** Retransmissions before IPMI_ERR_SOL_TIMEOUT, at (maxRetransmits + 1) x retransmitIntervalMs. */
  maxRetransmits?: number;
  /** RTT-based retransmission timeout (RFC 6298, default true); false: the fixed retransmitIntervalMs timer. */
  adaptiveRetransmit?: boolean;
  inboundPause?: InboundPausePolicy;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  /** Every timer of the stream (default systemClock); specs pass a ManualClock. */
  clock?: Clock;
  /** Ask the BMC who holds the payload this often (DEFAULT_SOL_OWNERSHIP_CHECK_MS); 0 disables. */
  ownershipCheckMs?: number;
  /** Runs once after the stream ended (see SolStreamOptions.onRelease). */
  onRelease?: () => Promise<void> | void;
}

/** Characters a packet for a BMC inbound payload size (see SOL_FALLBACK_CHARACTERS). */
export function solCharactersPerPacket(inboundPayloadSize: number, workarounds: SolWorkarounds = {}): number {
  if (workarounds.ignoreSolPayloadSize) return SOL_FALLBACK_CHARACTERS;
  if (inboundPayloadSize < SOL_MIN_PAYLOAD_SIZE || inboundPayloadSize > SOL_MAX_PAYLOAD_SIZE) return SOL_FALLBACK_CHARACTERS;
  return inboundPayloadSize - SOL_HEADER_LENGTH;
}

const STEAL_POLICIES: readonly SolStealPolicy[] = ['never', 'own', 'always'];

function stealPolicyOf(steal: ActivateSolOptions['steal']): SolStealPolicy {
  if (steal === undefined || steal === false) return 'never';
  if (steal === true) return 'always';
  if (STEAL_POLICIES.includes(steal)) return steal;
  throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `steal must be 'never', 'own' or 'always', not ${String(steal)}`);
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
  if (options.adaptiveRetransmit !== undefined && typeof options.adaptiveRetransmit !== 'boolean') {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `adaptiveRetransmit must be true or false, not ${String(options.adaptiveRetransmit)}`);
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
 * Activate SOL in `host`'s session and return the stream. A payload another session holds (0x80) is taken over
 * per `steal` (SolStealPolicy). Get Payload Activation Status is never asked: some BMCs answer "not active"
 * there and 0x80 to Activate Payload.
 */
export async function activateSol(host: SolHost, options: ActivateSolOptions = {}): Promise<SolStream> {
  const instance = validate(options);
  const steal = stealPolicyOf(options.steal);
  const ownSessions = options.ownSessions ?? ownSolSessions;
  const rsp = await activatePayload(host, instance, steal, ownSessions, options.onSteal);
  let info: ActivatePayloadResponse;
  try {
    info = decodeActivatePayloadResponse(rsp.data);
  } catch (cause) {
    throw new IpmiError('IPMI_ERR_PROTOCOL', `Activate Payload response of ${rsp.data.length} bytes is too short (at least 10 expected)`, { cause, fatal: true });
  }
  const workarounds = options.workarounds ?? {};
  const ports = chooseSolPorts(info.port, host.port, options.solPort);
  return new SolStream(host, {
    instance,
    port: ports.port,
    alternatePort: ports.alternate,
    encrypt: host.confidentiality,
    authenticate: host.integrity,
    maxOutboundChars: solCharactersPerPacket(info.inboundPayloadSize, workarounds),
    retransmitIntervalMs: options.retransmitIntervalMs,
    maxRetransmits: options.maxRetransmits,
    adaptiveRetransmit: options.adaptiveRetransmit,
    inboundPause: options.inboundPause,
    workarounds,
    readableHighWaterMark: options.readableHighWaterMark,
    writableHighWaterMark: options.writableHighWaterMark,
    ownershipCheckMs: options.ownershipCheckMs,
    clock: options.clock,
    ownSessions,
    onRelease: options.onRelease,
  });
}

/**
 * Activate Payload, taking a held payload over per `steal`. The session is remembered as ours before the
 * request: the BMC may activate the payload even when its answer is lost, and our next session must be able
 * to take it back with 'own'.
 */
async function activatePayload(
  host: SolHost,
  instance: number,
  steal: SolStealPolicy,
  ownSessions: SolSessionRegistry,
  onSteal: (() => void) | undefined,
): Promise<IpmiCommandResponse> {
  const aux = (host.confidentiality ? SolActivateAux.ENCRYPT : 0) | (host.integrity ? SolActivateAux.AUTHENTICATE : 0) | SolActivateAux.ALERTS_DEFERRED;
  const request = () => host.request({ netFn: NetFn.APP, cmd: Cmd.ACTIVATE_PAYLOAD, data: encodeActivatePayload(instance, aux) });
  const bmc = bmcOf(host);
  ownSessions.add(bmc, host.bmcSessionId);
  let rsp = await request();
  if (rsp.completionCode === ActivateCompletion.ALREADY_ACTIVE && steal !== 'never') {
    if (steal === 'own') await assertHeldByUs(host, instance, ownSessions);
    // Whatever the BMC says to Deactivate (0x80 "not active" included), try once more.
    await deactivateSol(host, instance);
    rsp = await request();
    if (rsp.completionCode === ActivateCompletion.ALREADY_ACTIVE) {
      throw new IpmiError('IPMI_ERR_SOL_IN_USE', `SOL payload still active on another session after deactivating it (instance ${instance})`, {
        completionCode: rsp.completionCode,
        fatal: true,
      });
    }
    if (rsp.completionCode === 0) onSteal?.();
  }
  if (rsp.completionCode === 0) return rsp;
  // Refused: this session holds nothing, unless a lost answer to our own first request activated it (0x80).
  if (rsp.completionCode !== ActivateCompletion.ALREADY_ACTIVE) ownSessions.delete(bmc, host.bmcSessionId);
  throw activateError(rsp.completionCode, instance);
}

/**
 * steal 'own': the payload may be taken over only from a session this process activated SOL in (section 24.5
 * names the holder). Otherwise IPMI_ERR_SOL_IN_USE, saying who holds it.
 */
async function assertHeldByUs(host: SolHost, instance: number, ownSessions: SolSessionRegistry): Promise<void> {
  const holder = await payloadHolder(host, instance);
  const opts = { completionCode: ActivateCompletion.ALREADY_ACTIVE, fatal: true };
  if (!holder.known) {
    throw new IpmiError(
      'IPMI_ERR_SOL_IN_USE',
      `SOL payload instance ${instance} is active on another session and the BMC does not say which (Get Payload Instance Info: ${completionCodeText(holder.completionCode)}); steal 'own' takes over only a session this process opened, 'always' takes it from anyone`,
      opts,
    );
  }
  if (holder.sessionId === 0 || ownSessions.has(bmcOf(host), holder.sessionId)) return;
  throw new IpmiError(
    'IPMI_ERR_SOL_IN_USE',
    `SOL payload instance ${instance} is held by BMC session 0x${holder.sessionId.toString(16)}, which this process did not open (an operator's ipmitool or another tool); not taken over with steal 'own' ('always' takes it from anyone)`,
    opts,
  );
}

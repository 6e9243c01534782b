/**
 * The one error class of ipmi-sol-bridge. `code` is stable and meant for programs; `message` is meant for an
 * operator. Secrets (password, K_g, SIK, K1, K2) never appear in either.
 */
export type IpmiErrorCode =
  | 'IPMI_ERR_TIMEOUT' // the BMC stopped answering (request retries exhausted, keepalive lost)
  | 'IPMI_ERR_UNREACHABLE' // nothing ever answered at that address (or ICMP said the port is closed)
  | 'IPMI_ERR_AUTH' // wrong password, unknown user, K_g mismatch, bad RAKP HMAC
  | 'IPMI_ERR_CIPHER_SUITE' // the cipher suite is unknown to us or refused by the BMC
  | 'IPMI_ERR_PRIVILEGE' // the privilege level asked for is not available to this user/channel
  | 'IPMI_ERR_COMPLETION_CODE' // an IPMI command answered with a non-zero completion code
  | 'IPMI_ERR_SOL_IN_USE' // Activate Payload: 0x80, SOL already active on another session
  | 'IPMI_ERR_SOL_DISABLED' // Activate Payload: 0x81, payload type disabled
  | 'IPMI_ERR_SOL_LIMIT' // Activate Payload: 0x82, activation limit reached
  | 'IPMI_ERR_SOL_ENCRYPTION' // Activate Payload: 0x83/0x84, encryption setting refused
  | 'IPMI_ERR_SOL_DEACTIVATED' // the BMC deactivated the SOL payload
  | 'IPMI_ERR_SOL_TIMEOUT' // the BMC stopped acknowledging SOL packets
  | 'IPMI_ERR_SESSION_CLOSED' // the session was closed (locally or by the BMC)
  | 'IPMI_ERR_ABORTED' // an AbortSignal fired
  | 'IPMI_ERR_BAD_ARGUMENT' // an option or argument is invalid; raised before anything starts
  | 'IPMI_ERR_PROTOCOL' // the BMC answered with something the protocol does not allow
  | 'IPMI_ERR_LOG' // a console log directory or file cannot be created or written
  | 'IPMI_ERR_NO_FREE_PORTS' // the console port range is exhausted
  | 'IPMI_ERR_SOCKET'; // a local socket error (bind failed, address in use)

export interface IpmiErrorOptions {
  completionCode?: number;
  /** true when the error ends the session or stream it was raised on */
  fatal?: boolean;
  /**
   * true when the cause was inferred from silence (for example RAKP 1 never answered, which under packet loss
   * proves nothing), not stated by the BMC in a status or completion code. An inferred error is worth retrying;
   * a stated one (a RAKP status code, a completion code) is not.
   */
  inferred?: boolean;
  cause?: unknown;
}

export class IpmiError extends Error {
  readonly code: IpmiErrorCode;
  readonly completionCode: number | undefined;
  readonly fatal: boolean;
  readonly inferred: boolean;

  constructor(code: IpmiErrorCode, message: string, options: IpmiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IpmiError';
    this.code = code;
    this.completionCode = options.completionCode;
    this.fatal = options.fatal ?? false;
    this.inferred = options.inferred ?? false;
  }
}

export function isIpmiError(value: unknown, code?: IpmiErrorCode): value is IpmiError {
  return value instanceof IpmiError && (code === undefined || value.code === code);
}

/** Generic completion code texts, IPMI 2.0 table 5-2. */
const COMPLETION_CODE_TEXT: Record<number, string> = {
  0xc0: 'node busy',
  0xc1: 'invalid command',
  0xc2: 'command invalid for given LUN',
  0xc3: 'timeout while processing command',
  0xc4: 'out of space',
  0xc5: 'reservation cancelled or invalid reservation ID',
  0xc6: 'request data truncated',
  0xc7: 'request data length invalid',
  0xc8: 'request data field length limit exceeded',
  0xc9: 'parameter out of range',
  0xca: 'cannot return number of requested data bytes',
  0xcb: 'requested sensor, data, or record not present',
  0xcc: 'invalid data field in request',
  0xcd: 'command illegal for specified sensor or record type',
  0xce: 'command response could not be provided',
  0xcf: 'cannot execute duplicated request',
  0xd0: 'SDR repository in update mode',
  0xd1: 'device in firmware update mode',
  0xd2: 'BMC initialization in progress',
  0xd3: 'destination unavailable',
  0xd4: 'insufficient privilege level',
  0xd5: 'command not supported in present state',
  0xd6: 'command sub-function disabled or unavailable',
  0xff: 'unspecified error',
};

export function completionCodeText(code: number): string {
  return COMPLETION_CODE_TEXT[code] ?? `completion code 0x${code.toString(16).padStart(2, '0')}`;
}

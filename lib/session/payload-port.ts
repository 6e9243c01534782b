/**
 * What a layer above the session (SOL, lib/sol) may use of it: run an IPMI command, send and receive payloads of
 * one type, learn when the session ends. IpmiSession implements it; SOL specs use a fake. lib/sol consumes this
 * type (as `SolHost`); the session knows nothing of SOL.
 */
import type { IpmiError } from '../errors.js';

export interface IpmiCommand {
  netFn: number;
  cmd: number;
  data?: Buffer;
}

export interface IpmiCommandResponse {
  completionCode: number;
  data: Buffer;
}

export interface PayloadPort {
  /** Send an IPMI command in the session, with the session's retries; rejects with IpmiError on timeout/close. */
  request(command: IpmiCommand): Promise<IpmiCommandResponse>;
  /**
   * Send one SOL payload (4-byte SOL header + characters) in the session to `port` on the BMC's address.
   * `encrypt`/`authenticate` follow what Activate Payload asked for; the session refuses what it cannot do.
   */
  sendSolPayload(payload: Buffer, options: { encrypt: boolean; authenticate: boolean; port: number }): void;
  /**
   * Receive every inbound SOL payload of this session (already verified and decrypted), with the packet's
   * session sequence number (0 where the session does not number its packets). Returns an unsubscribe.
   */
  onSolPayload(handler: (payload: Buffer, sessionSequence: number) => void): () => void;
  /** Called once when the session ends; reason undefined for a clean local close. Returns an unsubscribe. */
  onClose(handler: (reason: IpmiError | undefined) => void): () => void;
  /** The UDP port the session talks to (the one the user gave). */
  readonly port: number;
  /** The session negotiated an integrity algorithm (packets can be authenticated). */
  readonly integrity: boolean;
  /** The session negotiated AES-CBC-128 (packets can be encrypted). */
  readonly confidentiality: boolean;
  /** The BMC's session ID for this session (Get Payload Instance Info reports the holder's). */
  readonly bmcSessionId: number;
  readonly closed: boolean;
}

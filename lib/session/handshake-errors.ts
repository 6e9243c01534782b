/**
 * The errors a handshake ends with, worded for an operator: what the BMC stated (a status or completion code, IPMI
 * 2.0 tables 5-2 and 13-15) or what its silence suggests (`inferred`).
 */
import { IpmiError, completionCodeText } from '../errors.js';
import { rakpStatusText } from '../codec/rakp.js';
import { privilegeName, type CipherSuite } from '../crypto/cipher-suites.js';

export interface Who {
  host: string;
  port: number;
  username: Buffer;
  privilege: number;
  timeoutMs: number;
  retries: number;
}

export function unreachable(o: Who): IpmiError {
  return new IpmiError(
    'IPMI_ERR_UNREACHABLE',
    `no answer from a BMC at ${o.host} port ${o.port} (UDP) after ${o.retries + 1} tries of ${o.timeoutMs} ms`,
    { fatal: true },
  );
}

export function capsRefused(completionCode: number): IpmiError {
  return new IpmiError('IPMI_ERR_PROTOCOL', `the BMC refused Get Channel Authentication Capabilities: ${completionCodeText(completionCode)}`, {
    completionCode,
    fatal: true,
  });
}

/** Open Session Response status (section 13.18). */
export function openSessionError(o: Who, status: number, suite: CipherSuite): IpmiError {
  const text = rakpStatusText(status);
  if ([0x04, 0x05, 0x06, 0x07, 0x10, 0x11].includes(status)) {
    return new IpmiError('IPMI_ERR_CIPHER_SUITE', `the BMC at ${o.host} does not support cipher suite ${suite.id} (${text})`, { fatal: true });
  }
  if ([0x09, 0x0a, 0x0b].includes(status)) {
    return new IpmiError('IPMI_ERR_PRIVILEGE', `the BMC at ${o.host} refused privilege level ${privilegeName(o.privilege)} (${text})`, { fatal: true });
  }
  return new IpmiError('IPMI_ERR_PROTOCOL', `the BMC at ${o.host} refused to open a session (${text})`, { fatal: true });
}

/** RAKP 2 / RAKP 4 status (sections 13.21, 13.23): stated by the BMC, so never `inferred`. */
export function rakpError(o: Who, step: string, status: number): IpmiError {
  const text = rakpStatusText(status);
  const user = o.username.toString();
  if (status === 0x0d || status === 0x0c) {
    return new IpmiError('IPMI_ERR_AUTH', `authentication failed at ${o.host}: user "${user}" is unknown to the BMC (${text})`, { fatal: true });
  }
  if (status === 0x0f || status === 0x0e) {
    return new IpmiError('IPMI_ERR_AUTH', `authentication failed at ${o.host}: wrong password or K_g for user "${user}" (${text})`, { fatal: true });
  }
  if (status === 0x09 || status === 0x0a || status === 0x0b) {
    return new IpmiError('IPMI_ERR_PRIVILEGE', `the BMC refused privilege level ${privilegeName(o.privilege)} for user "${user}" (${text})`, {
      fatal: true,
    });
  }
  return new IpmiError('IPMI_ERR_AUTH', `the BMC rejected the session at ${step} (${text})`, { fatal: true });
}

export function rakp2Mismatch(o: Who): IpmiError {
  return new IpmiError(
    'IPMI_ERR_AUTH',
    `authentication failed at ${o.host}: the BMC's RAKP 2 proof does not match this password (wrong password for user "${o.username.toString()}")`,
    { fatal: true },
  );
}

export function rakp4Mismatch(o: Who): IpmiError {
  return new IpmiError('IPMI_ERR_AUTH', `authentication failed at ${o.host}: the RAKP 4 integrity check does not match (wrong K_g / BMC key)`, {
    fatal: true,
  });
}

/**
 * Every handshake attempt got an Open Session answer and none an answer to RAKP 1: some BMCs (ipmi_sim among them)
 * stay silent on RAKP 1 for a user they do not know. Silence proves nothing under loss, so the error is `inferred`.
 */
export function rakp1NeverAnswered(o: Who, attempts: number): IpmiError {
  return new IpmiError(
    'IPMI_ERR_AUTH',
    `the BMC at ${o.host} never answered RAKP 1 (${attempts} tries): the user name is unknown or not allowed on this channel`,
    { fatal: true, inferred: true },
  );
}

/**
 * RAKP 4 status 0x0F (invalid integrity check value) after the BMC's RAKP 2 proved it holds this password: our
 * RAKP 3 was computed from another BMC random than the one the BMC kept. A BMC that answers a duplicated RAKP 1
 * with a new random (our fake BMC does) causes it when the network duplicates or reorders RAKP 1/2. Not proof of a
 * wrong password (RAKP 3's code is keyed by the same password as RAKP 2's), so `inferred`.
 */
export function rakp3Desync(o: Who, attempts: number): IpmiError {
  return new IpmiError(
    'IPMI_ERR_AUTH',
    `the BMC at ${o.host} refused RAKP 3 in ${attempts} tries although its RAKP 2 proved this password (a duplicated RAKP 1 may have changed its random)`,
    { fatal: true, inferred: true },
  );
}

export function handshakeStalled(o: Who, step: string): IpmiError {
  return new IpmiError('IPMI_ERR_TIMEOUT', `the BMC at ${o.host} stopped answering during the session handshake (no answer to ${step})`, {
    fatal: true,
  });
}

export function algorithmsMismatch(suite: CipherSuite): IpmiError {
  return new IpmiError('IPMI_ERR_CIPHER_SUITE', `the BMC answered cipher suite ${suite.id} with other algorithms`, { fatal: true });
}

/**
 * RAKP 4 verified, yet the first authenticated/encrypted packet goes unanswered: the BMC drops what we sign or
 * encrypt. ipmi_sim 2.0.33 does this with suites 7 and 8 (ipmitool fails there the same way). Inferred from
 * silence: under heavy loss every try may simply have been lost.
 */
export function suiteIgnored(o: Who, suite: CipherSuite): IpmiError {
  return new IpmiError(
    'IPMI_ERR_CIPHER_SUITE',
    `the BMC at ${o.host} completed the handshake with cipher suite ${suite.id} but ignores its packets ` +
      `(integrity or encryption mismatch in the BMC); try another cipher suite (-C)`,
    { fatal: true, inferred: true, cause: new IpmiError('IPMI_ERR_TIMEOUT', `no answer from ${o.host} to Set Session Privilege Level`) },
  );
}

/** Set Session Privilege Level completion code (section 22.18). */
export function privilegeRefused(o: Who, completionCode: number): IpmiError {
  const why =
    completionCode === 0x80
      ? 'the level is not available to this user'
      : completionCode === 0x81
        ? 'it exceeds the channel or user privilege limit'
        : completionCodeText(completionCode);
  return new IpmiError('IPMI_ERR_PRIVILEGE', `the BMC refused privilege level ${privilegeName(o.privilege)}: ${why}`, { completionCode, fatal: true });
}

export function protocol(message: string): IpmiError {
  return new IpmiError('IPMI_ERR_PROTOCOL', message, { fatal: true });
}

export function noSuite(): IpmiError {
  return new IpmiError('IPMI_ERR_CIPHER_SUITE', 'no cipher suite chosen', { fatal: true });
}

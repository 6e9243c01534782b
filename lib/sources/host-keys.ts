/**
 * SSH host key checking, as OpenSSH does it with StrictHostKeyChecking=yes: a key is accepted only when it is
 * pinned (its SHA256 fingerprint, as `ssh-keygen -lf` prints it) or listed for that host in a known_hosts file.
 * An unknown key and a changed key are refused; nothing is ever added to a file.
 *
 * known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): `[marker] hostnames keytype base64-key [comment]`, where
 * hostnames is a comma-separated list of names, `[host]:port` for a port other than 22, patterns with `*`/`?`,
 * `!negated` patterns, or one hashed entry `|1|base64(salt)|base64(HMAC-SHA1(salt, host))`. `@revoked` keys are
 * refused; `@cert-authority` lines are ignored (certificates are not supported).
 */
import { createHash, createHmac } from 'node:crypto';
import { IpmiError } from '../errors.js';

/** A known_hosts file larger than this is refused (it is read on every connection). */
export const MAX_KNOWN_HOSTS_BYTES = 4 * 1024 * 1024;

/** OpenSSH's fingerprint of a public key blob (the wire-format key): `SHA256:` + unpadded base64 of its SHA-256. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** Normalize a pinned fingerprint (`SHA256:xxx`, or the bare base64 with or without padding). */
export function normalizeFingerprint(value: string): string {
  const trimmed = value.trim();
  const bare = trimmed.startsWith('SHA256:') ? trimmed.slice('SHA256:'.length) : trimmed;
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(bare)) {
    throw new IpmiError(
      'IPMI_ERR_BAD_ARGUMENT',
      `'${value}' is not a SHA256 host key fingerprint (ssh-keygen -lf prints 'SHA256:' and 43 base64 characters).`,
    );
  }
  return `SHA256:${bare.replace(/=$/, '')}`;
}

/** The key type inside a wire-format key blob (string keytype, RFC 4253 section 6.6). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return '';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

interface KnownHostLine {
  marker: '' | '@revoked' | '@cert-authority';
  hosts: string;
  keyType: string;
  key: Buffer;
}

function parseLine(line: string): KnownHostLine | undefined {
  const fields = line.trim().split(/\s+/);
  if (fields.length === 0 || fields[0] === '' || fields[0]!.startsWith('#')) return undefined;
  let marker: KnownHostLine['marker'] = '';
  if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostLine['marker'];
  const [hosts, keyType, key] = fields;
  if (hosts === undefined || keyType === undefined || key === undefined) return undefined;
  return { marker, hosts, keyType, key: Buffer.from(key, 'base64') };
}

/** How a host is written in known_hosts: `host` for port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globToRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function hostMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (salt === undefined || hash === undefined) return false;
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return digest === hash;
  }
  let matched = false;
  for (const pattern of hosts.split(',')) {
    if (pattern.startsWith('!')) {
      if (globToRegExp(pattern.slice(1)).test(name)) return false;
    } else if (globToRegExp(pattern).test(name)) {
      matched = true;
    }
  }
  return matched;
}

export type HostKeyVerdict =
  | { accepted: true }
  | { accepted: false; why: 'unknown' | 'changed' | 'revoked'; fingerprint: string };

/** Check a presented host key against known_hosts text for `host`:`port`. */
export function checkKnownHosts(text: string, host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const keyType = keyTypeOf(keyBlob);
  const fingerprint = sshFingerprint(keyBlob);
  let sawHost = false;
  let accepted = false;
  for (const line of text.split(/\r?\n/)) {
    const entry = parseLine(line);
    if (entry === undefined || entry.marker === '@cert-authority' || !hostMatches(entry.hosts, name)) continue;
    const same = entry.key.equals(keyBlob);
    if (entry.marker === '@revoked') {
      if (same) return { accepted: false, why: 'revoked', fingerprint };
      continue;
    }
    if (same) accepted = true;
    else if (entry.keyType === keyType) sawHost = true;
  }
  if (accepted) return { accepted: true };
  return { accepted: false, why: sawHost ? 'changed' : 'unknown', fingerprint };
}

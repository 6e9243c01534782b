/** known_hosts matching and fingerprints, checked against OpenSSH's own tools (ssh-keygen) where they exist. */
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  checkKnownHosts,
  keyTypeOf,
  knownHostsName,
  MAX_KNOWN_HOSTS_BYTES,
  normalizeFingerprint,
  sshFingerprint,
} from '../../lib/sources/host-keys.js';
import { SshConsoleSource } from '../../lib/sources/ssh-console-source.js';
import { isIpmiError } from '../../lib/errors.js';
import { hasPeer } from '../helpers/peers.js';

function keyBlob(type: string, body: Buffer): Buffer {
  const t = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(t.length);
  return Buffer.concat([head, t, body]);
}

const KEY = keyBlob('ssh-ed25519', Buffer.alloc(36, 1));
const OTHER = keyBlob('ssh-ed25519', Buffer.alloc(36, 2));
const RSA = keyBlob('ssh-rsa', Buffer.alloc(64, 3));
const b64 = (blob: Buffer): string => blob.toString('base64');

describe('host keys', () => {
  it('sshFingerprint equals what ssh-keygen -lf prints', function () {
    if (!hasPeer('sshd')) this.skip(); // ssh-keygen comes with OpenSSH
    const dir = mkdtempSync(join(tmpdir(), 'ipmi-hostkey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
      const pub = readFileSync(join(dir, 'k.pub'), 'utf8').split(' ');
      const printed = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
      expect(sshFingerprint(Buffer.from(pub[1]!, 'base64'))).to.equal(printed);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalizes pinned fingerprints and refuses other hash formats', () => {
    const fp = sshFingerprint(KEY);
    expect(normalizeFingerprint(fp)).to.equal(fp);
    expect(normalizeFingerprint(`${fp.slice('SHA256:'.length)}=`)).to.equal(fp);
    expect(() => normalizeFingerprint('MD5:12:34')).to.throw(/not a SHA256 host key fingerprint/);
  });

  it('names hosts as known_hosts does: bare for port 22, [host]:port otherwise', () => {
    expect(knownHostsName('bmc1', 22)).to.equal('bmc1');
    expect(knownHostsName('10.0.0.1', 2200)).to.equal('[10.0.0.1]:2200');
    expect(keyTypeOf(KEY)).to.equal('ssh-ed25519');
  });

  it('accepts a listed key, refuses an unknown host, and calls a different key of the same type "changed"', () => {
    const text = `# comment\n\nbmc1,10.0.0.1 ssh-ed25519 ${b64(KEY)} admin@x\n[10.0.0.2]:2200 ssh-ed25519 ${b64(KEY)}\n`;
    expect(checkKnownHosts(text, 'bmc1', 22, KEY)).to.deep.equal({ accepted: true });
    expect(checkKnownHosts(text, '10.0.0.1', 22, KEY).accepted).to.equal(true);
    expect(checkKnownHosts(text, '10.0.0.2', 2200, KEY).accepted).to.equal(true);
    expect(checkKnownHosts(text, '10.0.0.2', 22, KEY)).to.include({ accepted: false, why: 'unknown' });
    expect(checkKnownHosts(text, 'bmc1', 22, OTHER)).to.include({ accepted: false, why: 'changed' });
    expect(checkKnownHosts(text, 'bmc1', 22, RSA)).to.include({ accepted: false, why: 'unknown' });
    expect(checkKnownHosts(text, 'bmc2', 22, KEY)).to.include({ accepted: false, why: 'unknown', fingerprint: sshFingerprint(KEY) });
  });

  it('matches hashed hosts (|1|salt|hmac), wildcards and negations', () => {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[bmc9]:2200').digest('base64');
    const text = [
      `|1|${salt.toString('base64')}|${hash} ssh-ed25519 ${b64(KEY)}`,
      `bmc-rack?-*,!bmc-rack1-7 ssh-ed25519 ${b64(OTHER)}`,
    ].join('\n');
    expect(checkKnownHosts(text, 'bmc9', 2200, KEY).accepted).to.equal(true);
    expect(checkKnownHosts(text, 'bmc9', 22, KEY).accepted).to.equal(false);
    expect(checkKnownHosts(text, 'bmc-rack2-14', 22, OTHER).accepted).to.equal(true);
    expect(checkKnownHosts(text, 'bmc-rack1-7', 22, OTHER).accepted).to.equal(false);
  });

  it('refuses a revoked key even when it is also listed, and ignores @cert-authority lines', () => {
    const text = `bmc1 ssh-ed25519 ${b64(KEY)}\n@revoked * ssh-ed25519 ${b64(KEY)}\n@cert-authority * ssh-ed25519 ${b64(OTHER)}\n`;
    expect(checkKnownHosts(text, 'bmc1', 22, KEY)).to.include({ accepted: false, why: 'revoked' });
    expect(checkKnownHosts(text, 'bmc1', 22, OTHER)).to.include({ accepted: false, why: 'changed' });
  });

  it(`a known_hosts file over MAX_KNOWN_HOSTS_BYTES (${MAX_KNOWN_HOSTS_BYTES}) is refused before connecting`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipmi-hostkey-'));
    try {
      const file = join(dir, 'known_hosts');
      writeFileSync(file, '');
      truncateSync(file, MAX_KNOWN_HOSTS_BYTES + 1);
      const source = new SshConsoleSource({ host: '127.0.0.1', port: 9, username: 'u', password: 'p', hostKey: { knownHostsFile: file } });
      const error = await source.open(new AbortController().signal).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.satisfy((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
      expect((error as Error).message).to.match(/larger than/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

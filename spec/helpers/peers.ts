/**
 * Real interop peers (ipmi_sim, ipmitool, socat, tshark, FreeIPMI, websockify, sshd, QEMU, pyghmi) and free loopback ports.
 *
 * A missing peer is a skip on a developer machine and a failure in CI (CI=true): CI images are
 * expected to carry every peer, so a silent skip there would hide lost coverage.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export type PeerName =
  | 'ipmi_sim'
  | 'ipmitool'
  | 'socat'
  | 'tshark'
  | 'ipmiconsole'
  | 'bmc-info'
  | 'websockify'
  | 'sshd'
  | 'qemu'
  | 'cpio'
  | 'pyghmi';

/** Executable looked up on PATH for each peer. */
export const PEER_BINARIES: Readonly<Record<PeerName, string>> = {
  ipmi_sim: 'ipmi_sim',
  ipmitool: 'ipmitool',
  socat: 'socat',
  tshark: 'tshark',
  ipmiconsole: 'ipmiconsole',
  'bmc-info': 'bmc-info',
  websockify: 'websockify',
  sshd: 'sshd',
  qemu: 'qemu-system-x86_64',
  cpio: 'cpio',
  pyghmi: 'python3',
};

/** Directories searched after PATH: Debian puts sshd, ipmiconsole and bmc-info in sbin, not on a user's PATH. */
const SBIN_DIRECTORIES = ['/usr/sbin', '/sbin'];

const found = new Map<string, string | null>();

/** Absolute path of an executable on PATH, or null. Cached per process. */
export function whichBinary(binary: string): string | null {
  const cached = found.get(binary);
  if (cached !== undefined) return cached;
  let result: string | null = null;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...SBIN_DIRECTORIES]) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, fsConstants.X_OK);
      result = candidate;
      break;
    } catch {
      // not here
    }
  }
  found.set(binary, result);
  return result;
}

/** True when the peer's binary is installed (on PATH and executable); pyghmi: a python3 that imports it. */
export function hasPeer(name: PeerName): boolean {
  if (name === 'pyghmi') return pyghmiPython() !== null;
  return whichBinary(PEER_BINARIES[name]) !== null;
}

let pyghmiInterpreter: string | null | undefined;

/**
 * A python3 that can import pyghmi's BMC side (Debian's python3-pyghmi lives in /usr/bin/python3's
 * dist-packages, which a pyenv or venv python3 earlier on PATH does not see), or null. Cached per process.
 */
export function pyghmiPython(): string | null {
  if (pyghmiInterpreter !== undefined) return pyghmiInterpreter;
  pyghmiInterpreter = null;
  for (const candidate of ['/usr/bin/python3', whichBinary('python3')]) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ['-c', 'import pyghmi.ipmi.bmc'], { stdio: 'ignore', timeout: 20_000 });
    if (r.status === 0) {
      pyghmiInterpreter = candidate;
      break;
    }
  }
  return pyghmiInterpreter;
}

/** True when running under CI (CI=true), where a missing peer is a failure, not a skip. */
export function isCi(): boolean {
  return process.env.CI === 'true';
}

/**
 * Skip the current test/hook when `name` is not installed; with CI=true throw instead.
 * Call it first thing in `before`/`it`: `requirePeer(this, 'ipmi_sim')` (needs a `function`, not an arrow).
 */
export function requirePeer(ctx: Mocha.Context, name: PeerName): void {
  if (hasPeer(name)) return;
  const reason = name === 'pyghmi' ? "peer 'pyghmi' (python3 -c 'import pyghmi.ipmi.bmc') is not installed" : `peer '${name}' (${PEER_BINARIES[name]}) is not installed`;
  if (isCi()) {
    throw new Error(`${reason}; CI=true requires every interop peer (install it in the CI image)`);
  }
  console.log(`      skipping: ${reason}`);
  ctx.skip();
}

/** requirePeer for several peers at once. */
export function requirePeers(ctx: Mocha.Context, ...names: PeerName[]): void {
  for (const name of names) requirePeer(ctx, name);
}

/** A UDP port that was free on 127.0.0.1 a moment ago (bind to 0, read, close). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on 0, read, close). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the bound TCP port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/**
 * A real Linux guest as a console host: QEMU (TCG, no KVM) boots Debian's cloud kernel with a busybox
 * initramfs, and its first serial port (ttyS0, `console=ttyS0`) is relayed to a socket of ours, usually the
 * connection ipmi_sim's `sol "tcp:HOST:PORT"` dialled: the guest then is the host whose serial console SOL carries.
 *
 * The kernel and busybox come from Debian's packages (`apt-get download`, `dpkg-deb -x`), never installed into
 * the system; the image is built once into a cache directory and reused. Everything the guest writes on its
 * serial port is recorded here, before any of our code sees it: that record is the ground truth a console log is
 * compared with, byte for byte.
 *
 *   const image = await prepareLinuxGuest();
 *   const guest = await bootLinuxGuest(image, hostSocket);    // "power on": QEMU starts now
 *   await guest.waitForOutput('guest: ready');                // the init script's last line before the shell
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startIpmiSim, startSerialHost, type IpmiSimHandle, type SerialHost } from './ipmi-sim.js';
import { whichBinary } from './peers.js';

const run = promisify(execFile);

/** The Debian meta package whose dependency names the kernel image package. */
export const GUEST_KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
export const GUEST_BUSYBOX_PACKAGE = 'busybox-static';
/** Memory given to the guest; the cloud kernel and a 1 MB initramfs boot in far less. */
export const GUEST_MEMORY_MIB = 256;
/** The last line the init script prints before it starts the shell on the console. */
export const GUEST_READY_LINE = 'guest: ready';

/** The guest's /init: mounts the kernel file systems, says it is ready and runs a shell on the console. */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "guest: init started"
echo "${GUEST_READY_LINE}"
exec setsid cttyhack sh
`;

export interface LinuxGuestImage {
  kernel: string;
  initrd: string;
  /** e.g. linux-image-6.1.0-57-cloud-amd64 */
  kernelPackage: string;
}

/** The cache directory; LINUX_GUEST_CACHE overrides it. */
export function guestCacheDir(): string {
  return process.env.LINUX_GUEST_CACHE ?? join(tmpdir(), 'ipmi-sol-bridge-linux-guest');
}

async function kernelPackageName(): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', GUEST_KERNEL_META_PACKAGE]);
  const match = /Depends: (linux-image-\S+)/.exec(stdout);
  if (!match?.[1]) throw new Error(`apt-cache depends ${GUEST_KERNEL_META_PACKAGE} names no kernel package (run apt-get update)`);
  return match[1];
}

async function buildInitrd(root: string, busybox: string, initrd: string): Promise<void> {
  for (const dir of ['bin', 'dev', 'proc', 'sys']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  writeFileSync(join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
  await run('sh', ['-c', `cd "${root}" && find . | cpio -o -H newc 2>/dev/null | gzip -1 > "${initrd}"`]);
}

/**
 * Download (once) the kernel and busybox packages, extract them and build the initramfs. Cached per kernel
 * package: a second call returns at once.
 */
export async function prepareLinuxGuest(): Promise<LinuxGuestImage> {
  const kernelPackage = await kernelPackageName();
  const dir = join(guestCacheDir(), kernelPackage);
  const image = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), kernelPackage };
  if (existsSync(image.kernel) && existsSync(image.initrd)) return image;
  mkdirSync(guestCacheDir(), { recursive: true });
  const work = mkdtempSync(join(guestCacheDir(), 'build-'));
  try {
    await run('apt-get', ['download', kernelPackage, GUEST_BUSYBOX_PACKAGE], { cwd: work });
    const extracted = join(work, 'x');
    for (const deb of readdirSync(work).filter((f) => f.endsWith('.deb'))) {
      await run('dpkg-deb', ['-x', join(work, deb), extracted]);
    }
    const vmlinuz = readdirSync(join(extracted, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${kernelPackage} holds no /boot/vmlinuz-*`);
    const out = join(work, 'out');
    mkdirSync(out);
    copyFileSync(join(extracted, 'boot', vmlinuz), join(out, 'vmlinuz'));
    await buildInitrd(join(work, 'root'), join(extracted, 'bin', 'busybox'), join(out, 'initrd.gz'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return image;
}

export interface LinuxGuest {
  /** Every byte the guest wrote on its serial port so far (the ground truth). */
  output(): Buffer;
  /** Resolves once the guest's output contains `text` (checked on every chunk; no polling). */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** Kill QEMU (power off). Idempotent. */
  stop(): Promise<void>;
  readonly pid: number | undefined;
}

/** Default wait for guest output: TCG boots to the shell in 2-5 s here; a loaded CI machine gets far more. */
export const GUEST_OUTPUT_TIMEOUT_MS = 60_000;

/**
 * Power on a guest whose serial port is relayed to `serial` (both ways). QEMU dials a relay server of ours
 * (`-chardev socket` in client mode), so the guest starts booting only once it is connected to the relay and
 * nothing it prints is lost between them.
 */
export async function bootLinuxGuest(image: LinuxGuestImage, serial: Socket): Promise<LinuxGuest> {
  const qemu = whichBinary('qemu-system-x86_64');
  if (!qemu) throw new Error('qemu-system-x86_64 is not installed');
  const chunks: Buffer[] = [];
  let length = 0;
  const waiters = new Set<() => void>();
  const relay = createServer();
  await new Promise<void>((resolve, reject) => {
    relay.once('error', reject);
    relay.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = relay.address() as AddressInfo;
  relay.once('connection', (guestSide: Socket) => {
    relay.close();
    guestSide.setNoDelay(true);
    guestSide.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      for (const wake of [...waiters]) wake();
    });
    guestSide.pipe(serial, { end: false });
    serial.pipe(guestSide, { end: false });
    guestSide.on('error', () => undefined);
  });
  const child: ChildProcess = spawn(
    qemu,
    [
      '-m', String(GUEST_MEMORY_MIB),
      '-display', 'none',
      '-no-reboot',
      '-nodefaults',
      '-kernel', image.kernel,
      '-initrd', image.initrd,
      '-append', 'console=ttyS0,115200 panic=-1',
      '-chardev', `socket,id=ser0,host=127.0.0.1,port=${port}`,
      '-serial', 'chardev:ser0',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const output = (): Buffer => Buffer.concat(chunks, length);
  return {
    output,
    pid: child.pid,
    waitForOutput(text: string, timeoutMs = GUEST_OUTPUT_TIMEOUT_MS): Promise<void> {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!output().includes(text)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`the guest did not print ${JSON.stringify(text)} in ${timeoutMs} ms (qemu: ${stderr.trim() || 'no stderr'})`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(): Promise<void> {
      relay.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** ipmi_sim with its SOL host side ready for a guest: the image, the serial host and ipmi_sim's connection to it. */
export interface GuestSerialBehindIpmiSim {
  image: LinuxGuestImage;
  host: SerialHost;
  /** ipmi_sim's connection to the serial host: what bootLinuxGuest relays the guest's ttyS0 to. */
  hostSocket: Socket;
  sim: IpmiSimHandle;
  /** Stop ipmi_sim and the serial host. */
  close(): Promise<void>;
}

/** Build (or reuse) the guest image, start the serial host and ipmi_sim, and wait until ipmi_sim dialled in. */
export async function guestSerialBehindIpmiSim(): Promise<GuestSerialBehindIpmiSim> {
  const image = await prepareLinuxGuest();
  const host = await startSerialHost({ mode: 'custom' });
  const sim = await startIpmiSim({ solHost: host.server });
  const hostSocket = await host.waitForConnection();
  return {
    image,
    host,
    hostSocket,
    sim,
    async close() {
      await sim.stop();
      await host.close();
    },
  };
}

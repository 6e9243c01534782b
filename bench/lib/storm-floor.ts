/**
 * Node's own floor for the boot storm's I/O, measured in the same run as the storm (issue 12): the CPU that a
 * "bridge" doing only the storm's I/O (a UDP reply and a TCP write per datagram), and then that I/O plus suite 3's
 * crypto, costs per SOL-sized datagram at the storm's console count and line rate. fixtures/perf/storm-floor.ts does
 * the work, in a process of its own (and forks its peer); this runs it and reads its one JSON line.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Log } from './config.js';

const FLOOR_SCRIPT = fileURLToPath(new URL('../../fixtures/perf/storm-floor.ts', import.meta.url));
/** JIT and socket buffers warm before the measured window. */
const FLOOR_WARMUP_S = 3;
/** The floor process is killed if it has not answered this long after its window should have ended. */
const FLOOR_GRACE_MS = 60_000;

export interface FloorFigure {
  consoles: number;
  crypto: boolean;
  seconds: number;
  datagrams: number;
  lineRateDatagrams: number;
  usPerDatagram: number;
  userUs: number;
  systemUs: number;
  datagramsPerWakeup: number;
  preemptions: number;
}

export interface StormFloor {
  /** the UDP reply and the TCP write alone */
  io: FloorFigure;
  /** plus HMAC-SHA1-96 of the datagram, AES-128-CBC decrypt of its payload, HMAC-SHA1-96 of the reply */
  crypto: FloorFigure;
}

function runFloor(consoles: number, seconds: number, crypto: boolean): Promise<FloorFigure> {
  const args = ['--import', 'tsx', FLOOR_SCRIPT, '--json', '--consoles', String(consoles), '--seconds', String(seconds), '--warmup', String(FLOOR_WARMUP_S)];
  if (crypto) args.push('--crypto');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: (seconds + FLOOR_WARMUP_S) * 1000 + FLOOR_GRACE_MS }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`storm floor: ${error.message} ${stderr}`));
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (!line) return reject(new Error(`storm floor printed no result: ${stdout} ${stderr}`));
      resolve(JSON.parse(line) as FloorFigure);
    });
  });
}

export async function measureStormFloor(consoles: number, seconds: number, log: Log): Promise<StormFloor> {
  const io = await runFloor(consoles, seconds, false);
  const crypto = await runFloor(consoles, seconds, true);
  log(
    `boot storm floor (${consoles} consoles, no IPMI state): I/O ${io.usPerDatagram.toFixed(1)} us per datagram (user ${io.userUs.toFixed(1)}, system ${io.systemUs.toFixed(1)}), ` +
      `I/O + suite-3 crypto ${crypto.usPerDatagram.toFixed(1)} us (user ${crypto.userUs.toFixed(1)}, system ${crypto.systemUs.toFixed(1)}); ${crypto.datagramsPerWakeup.toFixed(1)} datagrams per wake-up`,
  );
  return { io, crypto };
}

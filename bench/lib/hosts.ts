/**
 * The "host" behind the serial port in every benchmark, for ipmi_sim (a TCP server it dials) and the fake BMC
 * (a custom SOL host):
 *  - every byte typed comes back at once, letters upper-cased (so a pty's local echo, which socat+ipmitool
 *    has before ipmitool switches the terminal to raw mode, can never pass for the host's answer);
 *  - a line `gen <n>` (CR or LF) also makes the host print exactly generatorBytes(n), with backpressure,
 *    like the fake BMC's generator host.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { generatorBytes, GENERATOR_PERIOD } from '../../fixtures/fake-bmc/index.js';

const CHUNK = 16 * 1024;
const LINE_LIMIT = 256;

export function upperCase(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    out[i] = b >= 0x61 && b <= 0x7a ? b - 0x20 : b;
  }
  return out;
}

export function createBenchHost(): Duplex {
  let line = '';
  const jobs: number[] = [];
  let offset = 0;
  let wanting = true;
  const produce = (): void => {
    while (wanting && jobs.length > 0) {
      const n = Math.min(jobs[0]! - offset, CHUNK);
      // keep the pattern continuous across chunks: generatorBytes(n, offset)
      const chunk = generatorBytes(n, offset % GENERATOR_PERIOD);
      offset += n;
      if (offset >= jobs[0]!) {
        jobs.shift();
        offset = 0;
      }
      wanting = host.push(chunk);
    }
  };
  const host: Duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      for (const byte of chunk) {
        if (byte === 0x0d || byte === 0x0a) {
          const m = /^\s*gen\s+(\d+)\s*$/i.exec(line);
          if (m && Number(m[1]) > 0) jobs.push(Number(m[1]));
          line = '';
        } else if (line.length < LINE_LIMIT) {
          line += String.fromCharCode(byte);
        }
      }
      wanting = host.push(upperCase(chunk)) && wanting;
      produce();
      cb();
    },
    read() {
      wanting = true;
      produce();
    },
    final(cb) {
      host.push(null);
      cb();
    },
  });
  return host;
}

/** Serve a TCP socket (ipmi_sim's serial connection) with a bench host. */
export function serveSocket(socket: Socket): void {
  socket.setNoDelay(true);
  const host = createBenchHost();
  socket.pipe(host).pipe(socket);
  socket.on('error', () => undefined);
}

/**
 * `node --expose-gc --import tsx bench/capture-scale.ts [--capture] [--log-dir DIR] [count]`: `count` (default
 * 1000) consoles held open on a farm of fake BMCs (in their own process, echo hosts: idle, nothing printed), in
 * this process: with `--capture`, captured (record + viewer set, log files with --log-dir); without, activation
 * 'always' (SOL open too, output discarded: the same sessions, no record). Prints RSS before and after, per
 * console, and the CPU this process spends over IDLE_MS with every console idle.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleManager, UdpTransport } from '../lib/index.js';
import { startNodeChild } from './lib/node-child.js';

const IDLE_MS = 20_000;
const args = process.argv.slice(2);
const capture = args.includes('--capture');
const logDirArg = args.indexOf('--log-dir');
const logDir = logDirArg >= 0 ? (args[logDirArg + 1] ?? mkdtempSync(join(tmpdir(), 'capture-scale-'))) : undefined;
const count = Number(args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--log-dir')[0] ?? 1000);
const gc = (globalThis as { gc?: () => void }).gc;

function rss(): number {
  gc?.();
  return process.memoryUsage().rss;
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const farm = await startNodeChild<{ farms: Record<string, number[]> }>('farm-process', {
    username: 'admin',
    password: 'password',
    farms: [{ name: 'idle', count, host: 'echo' }],
  });
  const transport = await UdpTransport.create({ bindAddress: '127.0.0.1', recvBufferSize: 4 << 20 });
  const manager = new ConsoleManager({
    address: '127.0.0.1',
    portRange: '20000:30000',
    ...(capture ? { capture: true, ...(logDir ? { logDir } : {}) } : { activation: 'always' as const }),
  });
  manager.on('console-event', () => undefined);
  const before = rss();
  const ports = farm.ready.farms.idle!;
  for (let i = 0; i < ports.length; i += 100) {
    await Promise.all(
      ports.slice(i, i + 100).map((port, j) =>
        manager.startConsole(`node-${i + j}`, { host: '127.0.0.1', port, username: 'admin', password: 'password', cipherSuite: 17, transport }),
      ),
    );
  }
  const started = Date.now();
  while (manager.list().filter((e) => e.state === 'active').length < count && Date.now() - started < 120_000) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const active = manager.list().filter((e) => e.state === 'active').length;
  const cpu0 = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
  const cpu = process.cpuUsage(cpu0);
  const after = rss();
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `${capture ? `captured${logDir ? ' + log files' : ''}` : "activation 'always', no capture"}: ${active}/${count} active; ` +
      `RSS ${mib(before)} -> ${mib(after)}, ${((after - before) / count / 1024).toFixed(1)} KiB per console; ` +
      `CPU idle ${(cpuMs / (IDLE_MS / 1000) / 10).toFixed(2)} % of a core (${((cpuMs * 1000) / count / (IDLE_MS / 1000)).toFixed(1)} us/s per console)`,
  );
  await manager.stopAll();
  await transport.close();
  await farm.stop();
  if (logDir && logDirArg >= 0 && args[logDirArg + 1] === undefined) rmSync(logDir, { recursive: true, force: true });
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

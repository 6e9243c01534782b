/**
 * Child process of secrets.spec.ts (run with DEBUG=ipmi:*): a ConsoleManager with the real IPMI console source,
 * one console to the BMC at 127.0.0.1:$BMC_PORT, a TCP client that types a line and waits for its echo, then
 * everything stopped. The secrets come from the environment (never argv). Prints `bridge ok` at the end.
 */
import net from 'node:net';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';

const port = Number(process.env.BMC_PORT);
const password = process.env.BMC_PASSWORD ?? '';
const kg = Buffer.from(process.env.BMC_KG_HEX ?? '', 'hex');

const manager = new ConsoleManager({ address: '127.0.0.1', portRange: process.env.PORT_RANGE ?? '0:0', lingerMs: 100 });
manager.on('console-event', (e: { event: string }) => {
  if (e.event === 'error') process.stderr.write(`console-event error: ${JSON.stringify(e)}\n`);
});
const info = await manager.startConsole('node-1', { host: '127.0.0.1', port, username: 'admin', password, kg, cipherSuite: 17 });
const url = new URL(info.url);
const socket = net.connect({ host: url.hostname, port: Number(url.port) });
let got = '';
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no echo, got ${JSON.stringify(got)}`)), 10_000);
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    if (got.includes('through the bridge\r')) {
      clearTimeout(timer);
      resolve();
    }
  });
  socket.on('connect', () => socket.write('through the bridge\r'));
  socket.on('error', reject);
});
socket.destroy();
await manager.stopAll();
process.stdout.write('bridge ok\n');

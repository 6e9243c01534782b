#!/usr/bin/env node
/**
 * The Quick start demo: an embedded simulated BMC (the fake BMC, RMCP+ over UDP on loopback, cipher suite 17)
 * whose serial port is a tiny demo console, and the console bridge a conductor would embed, serving it on TCP.
 * Prints the tcp:// URL to connect to; Ctrl-C stops everything.
 *
 *   npm run demo [-- --port 7700]      node dist/examples/demo.js [--port 7700]
 *
 * The console listens on the first free port from --port (DEMO_DEFAULT_PORT) up to DEMO_PORT_SPAN ports above it,
 * and says so when the one asked for is taken.
 */
import { FakeBmc } from '../fixtures/fake-bmc/index.js';
import { createDemoConsole } from '../fixtures/demo-console.js';
import { ConsoleManager } from '../lib/index.js';

const DEMO_PASSWORD = 'demo-password';
/** The port the demo console asks for first. */
export const DEMO_DEFAULT_PORT = 7700;
/** How many ports above --port the demo tries when that one is taken. */
export const DEMO_PORT_SPAN = 100;
const USAGE = `usage: npm run demo [-- --port PORT]   (node dist/examples/demo.js [--port PORT])\n` +
  `  --port PORT   the console's TCP port (${DEMO_DEFAULT_PORT}); if it is taken, the next free one up to PORT+${DEMO_PORT_SPAN}\n`;

class UsageError extends Error {}

function firstPort(argv: string[]): number {
  let port = DEMO_DEFAULT_PORT;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && argv[i + 1] !== undefined) port = /^\d+$/.test(argv[++i]!) ? Number(argv[i]) : NaN;
    else throw new UsageError(`unexpected argument "${argv[i]}"`);
  }
  if (!(port >= 1 && port + DEMO_PORT_SPAN < 65535)) throw new UsageError(`--port takes a TCP port from 1 to ${65534 - DEMO_PORT_SPAN}`);
  return port;
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const first = firstPort(process.argv.slice(2));
  const bmc = new FakeBmc({
    address: '127.0.0.1',
    port: 0,
    users: [{ name: 'admin', password: DEMO_PASSWORD, privilege: 4 }],
    sol: { host: 'custom', connect: createDemoConsole },
  });
  await bmc.listen();
  const manager = new ConsoleManager({ address: '127.0.0.1', portRange: `${first}:${first + DEMO_PORT_SPAN + 1}`, idleTimeoutMs: 600_000 });
  manager.on('console-event', (e: { nodeId: string; event: string; state?: string }) => {
    if (e.event === 'state') process.stderr.write(`[${e.nodeId}: ${e.state}]\n`);
    if (e.event === 'client-connected' || e.event === 'client-disconnected') process.stderr.write(`[${e.nodeId}: ${e.event}]\n`);
  });
  const info = await manager.startConsole('demo-node', {
    host: '127.0.0.1',
    port: bmc.port,
    username: 'admin',
    password: DEMO_PASSWORD,
    cipherSuite: 'auto',
  });
  // Handlers first, then the URL: a supervisor may signal the moment it reads the URL.
  const stop = async () => {
    await manager.stopAll();
    await bmc.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const { hostname, port } = new URL(info.url);
  if (Number(port) !== first) process.stderr.write(`port ${first} is in use: the demo console listens on ${port} instead (--port N picks another)\n`);
  process.stderr.write(
    `simulated BMC on udp://127.0.0.1:${bmc.port} (RMCP+, IPMI 2.0); console info: ${JSON.stringify(info)}\n` +
      `connect with:  telnet ${hostname} ${port}    or    socat -,raw,echo=0 TCP:${hostname}:${port}\n` +
      `then type 'help' and Enter. Ctrl-C here stops the demo.\n`,
  );
  process.stdout.write(`${info.url}\n`);
}

main().catch((err) => {
  if (err instanceof UsageError) {
    process.stderr.write(`IPMI_ERR_BAD_ARGUMENT: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  process.stderr.write(`${(err as { code?: string }).code ?? 'IPMI_ERR_INTERNAL'}: demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});

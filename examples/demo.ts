#!/usr/bin/env node
/**
 * The Quick start demo: an embedded simulated BMC (the fake BMC, RMCP+ over UDP on loopback, cipher suite 17)
 * whose serial port is a tiny demo console, and the console bridge a conductor would embed, serving it on TCP.
 * Prints the tcp:// URL to connect to; Ctrl-C stops everything.
 *
 *   node dist/examples/demo.js [--port 7700]
 */
import { FakeBmc } from '../fixtures/fake-bmc/index.js';
import { createDemoConsole } from '../fixtures/demo-console.js';
import { ConsoleManager } from '../lib/index.js';

const DEMO_PASSWORD = 'demo-password';

async function main(): Promise<void> {
  const portArg = process.argv.indexOf('--port');
  const first = portArg > 0 ? Number(process.argv[portArg + 1]) : 7700;
  if (!Number.isInteger(first) || first < 1 || first > 65000) throw new Error('--port takes a TCP port');
  const bmc = new FakeBmc({
    address: '127.0.0.1',
    port: 0,
    users: [{ name: 'admin', password: DEMO_PASSWORD, privilege: 4 }],
    sol: { host: 'custom', connect: createDemoConsole },
  });
  await bmc.listen();
  const manager = new ConsoleManager({ address: '127.0.0.1', portRange: `${first}:${first + 100}`, idleTimeoutMs: 600_000 });
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
  const { hostname, port } = new URL(info.url);
  process.stderr.write(
    `simulated BMC on udp://127.0.0.1:${bmc.port} (RMCP+, IPMI 2.0); console info: ${JSON.stringify(info)}\n` +
      `connect with:  telnet ${hostname} ${port}    or    socat -,raw,echo=0 TCP:${hostname}:${port}\n` +
      `then type 'help' and Enter. Ctrl-C here stops the demo.\n`,
  );
  process.stdout.write(`${info.url}\n`);
  const stop = async () => {
    await manager.stopAll();
    await bmc.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});

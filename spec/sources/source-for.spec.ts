/** ConsoleManager.startConsole(nodeId, { kind }) end to end: a WebSocket console and an SSH console served on TCP. */
import { expect } from 'chai';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import { LazyConsoleSource, loadConsoleSource, sourceFor } from '../../lib/sources/source-for.js';
import { startBmcwebLike } from '../../fixtures/ws-bmc/bmcweb-like.js';
import { startSshd } from '../../fixtures/sshd/sshd.js';
import { freeTcpPort, requirePeer } from '../helpers/peers.js';
import { Collector, connectTcp } from './helpers.js';

async function typeAndSee(url: string, banner: string): Promise<void> {
  const port = Number(new URL(url).port);
  const client = await connectTcp(port);
  const seen = new Collector(client);
  try {
    await seen.waitForText(banner);
    client.write('typed\r');
    await seen.waitForText('typed\r');
  } finally {
    client.destroy();
  }
}

describe('sourceFor and ConsoleManager kinds', function () {
  this.timeout(90_000);

  it('loads the SSH and WebSocket sources lazily, once', async () => {
    const source = sourceFor({ kind: 'websocket', url: 'ws://127.0.0.1:9/console0' });
    expect(source).to.be.instanceOf(LazyConsoleSource);
    const [a, b] = await Promise.all([loadConsoleSource(source), (source as LazyConsoleSource).load()]);
    expect(a).to.equal(source);
    expect(b.constructor.name).to.equal('WebSocketConsoleSource');
  });

  it("startConsole(node, { kind: 'websocket', redfish }) serves the BMC's WebSocket console on TCP", async () => {
    const bmc = await startBmcwebLike({ username: 'root', password: '0penBmc' });
    const manager = new ConsoleManager({ address: '127.0.0.1' });
    try {
      const info = await manager.startConsole(
        'node-ws',
        { kind: 'websocket', redfish: { url: bmc.origin }, auth: { kind: 'session', username: 'root', password: '0penBmc' } },
        { port: await freeTcpPort() },
      );
      expect(info.type).to.equal('socat');
      await typeAndSee(info.url, 'obmc-console ready');
    } finally {
      await manager.stopAll();
      await bmc.close();
    }
    expect(bmc.sessionCount()).to.equal(0);
  });

  it("startConsole(node, { kind: 'ssh', vendor }) serves the BMC's SSH console on TCP", async function () {
    requirePeer(this, 'sshd');
    const sshd = await startSshd(await freeTcpPort());
    const manager = new ConsoleManager({ address: '127.0.0.1' });
    try {
      const info = await manager.startConsole(
        'node-ssh',
        { kind: 'ssh', host: '127.0.0.1', port: sshd.port, username: sshd.username, password: sshd.password, vendor: 'dell', hostKey: { fingerprint: sshd.fingerprint } },
        { port: await freeTcpPort() },
      );
      await typeAndSee(info.url, 'com2 ready');
    } finally {
      await manager.stopAll();
      await sshd.stop();
    }
  });
});

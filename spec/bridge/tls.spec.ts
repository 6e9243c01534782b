/**
 * The optional TLS listener: a real TLS client (node:tls, verifying our test certificate) through the bridge.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import tls from 'node:tls';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import { IpmiError } from '../../lib/errors.js';
import { FakeConsoleSource, pattern } from './fake-console-source.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url)));
const cert = fixture('localhost.crt');
const key = fixture('localhost.key');

async function until(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('bridge: TLS listener', () => {
  let bridge: ConsoleBridge | undefined;
  afterEach(async () => bridge?.close());

  it('serves a verified TLS client: tls:// URL, bytes both ways, byte-exact', async () => {
    bridge = new ConsoleBridge({ source: new FakeConsoleSource({ mode: 'echo' }), host: '127.0.0.1', tls: { key, cert } });
    const port = await bridge.listen();
    expect(bridge.url).to.equal(`tls://127.0.0.1:${port}`);
    const client = tls.connect({ host: '127.0.0.1', port, ca: cert, servername: 'localhost' });
    await new Promise((resolve, reject) => client.once('secureConnect', resolve).once('error', reject));
    expect(client.authorized).to.equal(true);
    const input = pattern(0, 256 * 1024);
    const chunks: Buffer[] = [];
    client.on('data', (d: Buffer) => chunks.push(d));
    client.write(input);
    await until(() => Buffer.concat(chunks).length >= input.length, 10_000);
    expect(Buffer.concat(chunks).equals(input)).to.equal(true);
    client.end();
  });

  it('a plain TCP client gets no console bytes', async () => {
    const source = new FakeConsoleSource({ mode: 'echo' });
    bridge = new ConsoleBridge({ source, host: '127.0.0.1', tls: { key, cert } });
    const port = await bridge.listen();
    const plain = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    plain.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    plain.on('error', () => undefined);
    plain.write('hello\r\n');
    await new Promise((r) => plain.once('close', r));
    expect(got.includes('hello')).to.equal(false);
    expect(source.opens).to.equal(0);
  });

  it('a bad key or certificate is IPMI_ERR_BAD_ARGUMENT before listening, for a bridge and a manager', () => {
    const bad = (f: () => unknown) => {
      try {
        f();
        expect.fail('accepted');
      } catch (err) {
        expect(err).to.be.instanceOf(IpmiError);
        expect((err as IpmiError).code).to.equal('IPMI_ERR_BAD_ARGUMENT');
        expect((err as Error).message).to.not.contain('PRIVATE KEY');
      }
    };
    bad(() => new ConsoleBridge({ source: new FakeConsoleSource(), host: '127.0.0.1', tls: { key: 'not a key', cert } }));
    bad(() => new ConsoleBridge({ source: new FakeConsoleSource(), host: '127.0.0.1', tls: { key: cert, cert } }));
    bad(() => new ConsoleManager({ address: '127.0.0.1', tls: { key, cert: 'nope' } }));
  });
});

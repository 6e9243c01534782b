import { expect } from 'chai';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import { createConsoleMetrics } from '../../lib/console/metrics.js';
import { isIpmiError } from '../../lib/errors.js';
import { FakeConsoleSource, type FakeConsoleStream } from './fake-console-source.js';
import { findFreePortRange, waitUntil } from './tcp-client.js';

describe('bridge/console-manager (capture)', function () {
  let dir: string;
  let manager: ConsoleManager<object> | undefined;
  const streams = new Map<string, FakeConsoleStream>();

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-manager-'));
  });
  afterEach(async () => {
    await manager?.stopAll();
    manager = undefined;
    streams.clear();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(options: { logDir?: string } = {}): Promise<ConsoleManager<object>> {
    const first = await findFreePortRange(4);
    manager = new ConsoleManager<object>({
      address: '127.0.0.1',
      portRange: `${first}:${first + 4}`,
      capture: true,
      ...options,
      sourceFactory: (nodeId) => {
        const source = new FakeConsoleSource({ mode: 'sink' });
        source.on('open', (stream: FakeConsoleStream) => streams.set(nodeId, stream));
        return source;
      },
    });
    return manager;
  }

  it('getConsoleLog(nodeId, { lines }) returns the last lines a captured node printed, with no client ever connected', async () => {
    const m = await start();
    await m.startConsole('n1', {});
    await m.startConsole('n2', {});
    await waitUntil(() => streams.size === 2, 'both consoles to open');
    const lines = Array.from({ length: 80 }, (_, i) => `[    ${i}.000000] boot line ${i}\r\n`);
    streams.get('n1')!.print(lines.join(''));
    await waitUntil(() => m.getConsoleLog('n1')!.text.length > 0, 'the output to be recorded');
    expect(m.getConsoleLog('n1', { lines: 50 })!.text).to.equal(lines.slice(-50).join(''));
    expect(m.getConsoleLog('n2', { lines: 50 })!.text).to.equal('');
    expect(m.getConsoleLog('unknown')).to.equal(undefined);

    const metrics = await createConsoleMetrics(() => m.metricsSamples());
    const text = await metrics.metrics();
    expect(text).to.include(`ipmi_sol_console_received_bytes_total{node="n1"} ${lines.join('').length}`);
    expect(text).to.include('ipmi_sol_console_state{node="n2",state="active"} 1');
    expect(text).to.include('ipmi_sol_consoles{state="active"} 2');
  });

  it('one log file per node in logDir; a log directory that cannot be written fails startConsole with IPMI_ERR_LOG', async () => {
    const m = await start({ logDir: dir });
    await m.startConsole('node/a', {});
    expect((await readdir(dir)).sort()).to.deep.equal(['node%2Fa.audit.log', 'node%2Fa.log']);
    await m.stopAll();
    const file = path.join(dir, 'file');
    await writeFile(file, '');
    const bad = await start({ logDir: path.join(file, 'sub') });
    const error = await bad.startConsole('x', {}).catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_LOG')).to.equal(true);
    expect(bad.getConsole('x')).to.equal(undefined);
  });

  it('per node: startConsole options override the manager\'s capture settings for that node only', async () => {
    const first = await findFreePortRange(4);
    manager = new ConsoleManager<object>({
      address: '127.0.0.1',
      portRange: `${first}:${first + 4}`,
      sourceFactory: () => new FakeConsoleSource({ mode: 'sink' }),
    });
    await manager.startConsole('captured', {}, { capture: true, historyBytes: 4096, replay: { lines: 10 } });
    await manager.startConsole('plain', {});
    expect(manager.getConsoleLog('captured')).to.deep.include({ text: '' });
    expect(manager.getConsoleLog('plain')).to.equal(undefined);
    const error = await manager.startConsole('bad', {}, { replay: { lines: 1 } }).catch((e: unknown) => e);
    expect(isIpmiError(error, 'IPMI_ERR_BAD_ARGUMENT')).to.equal(true);
    expect(manager.getConsole('bad')).to.equal(undefined);
  });

  it('capture options are checked at construction', () => {
    expect(() => new ConsoleManager({ address: '127.0.0.1', replay: { lines: 5 } }))
      .to.throw()
      .that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));
  });
});

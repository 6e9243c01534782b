import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { captureOptionsFromFlags, parseMetricsAddress, serveConfig } from '../../examples/serve-capture.js';
import { isIpmiError } from '../../lib/index.js';
import { findFreePortRange, waitUntil } from '../bridge/tcp-client.js';

const flags = (entries: Array<[string, string | true]>) => new Map<string, string | true>(entries);
const expectBadArgument = (f: () => unknown, message: RegExp) =>
  expect(f).to.throw(message).that.satisfies((e: unknown) => isIpmiError(e, 'IPMI_ERR_BAD_ARGUMENT'));

describe('examples/serve-capture', () => {
  it('turns --capture, --log-dir, --replay, --extra-clients, --max-clients into capture options', () => {
    expect(captureOptionsFromFlags(flags([]), 'n')).to.deep.equal({});
    expect(
      captureOptionsFromFlags(
        flags([
          ['--capture', true],
          ['--log-dir', '/var/log/c'],
          ['--log-timestamps', true],
          ['--replay', '4KiB'],
          ['--extra-clients', 'spectate'],
        ]),
        'node-1',
      ),
    ).to.deep.equal({
      capture: true,
      logName: 'node-1',
      logDir: '/var/log/c',
      log: { timestamps: true },
      replay: { bytes: 4096 },
      viewers: { onExtra: 'spectate', max: 8 },
    });
    expect(captureOptionsFromFlags(flags([['--capture', true], ['--extra-clients', 'takeover']]), 'n').viewers).to.deep.equal({ onExtra: 'takeover', max: 1 });
    expect(captureOptionsFromFlags(flags([['--capture', true], ['--replay', '50lines']]), 'n').replay).to.deep.equal({ lines: 50 });
    expectBadArgument(() => captureOptionsFromFlags(flags([['--replay', '4KiB']]), 'n'), /^--replay needs --capture$/);
    expectBadArgument(() => captureOptionsFromFlags(flags([['--capture', true], ['--extra-clients', 'kick']]), 'n'), /refuse, spectate or takeover/);
    expectBadArgument(() => captureOptionsFromFlags(flags([['--capture', true], ['--max-clients', '0']]), 'n'), /positive integer/);
    expectBadArgument(() => captureOptionsFromFlags(flags([['--capture', true], ['--log-timestamps', true]]), 'n'), /needs --log-dir/);
    expect(parseMetricsAddress('127.0.0.1:9464')).to.deep.equal({ host: '127.0.0.1', port: 9464 });
    expect(parseMetricsAddress('[::1]:0')).to.deep.equal({ host: '::1', port: 0 });
    expectBadArgument(() => parseMetricsAddress('9464'), /ADDR:PORT/);
  });

  it('serve --config: starts every node, reloads on SIGHUP (a bad file changes nothing), stops on SIGTERM', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ipmi-serve-config-'));
    try {
      const file = path.join(dir, 'nodes.json');
      const first = await findFreePortRange(4);
      const node = (id: string) => ({ id, host: '127.0.0.1', port: 9, username: 'admin', passwordEnv: 'PW' });
      const write = (ids: string[]) => writeFile(file, JSON.stringify({ portRange: `${first}:${first + 4}`, nodes: ids.map(node) }));
      process.env.PW = 'pw-never-logged';
      await write(['a', 'b']);
      const signals = new EventEmitter();
      const out: string[] = [];
      const notes: string[] = [];
      const done = serveConfig(flags([['--config', file]]), (l) => notes.push(l), { signals, out: (l) => out.push(l) });
      await waitUntil(() => out.length === 2, 'both nodes to start');
      expect(out[0]).to.match(/^a: started tcp:\/\/127\.0\.0\.1:\d+\n$/);
      await write(['b', 'c']);
      signals.emit('SIGHUP');
      await waitUntil(() => notes.some((n) => n.startsWith('[config reloaded')), 'the reload');
      expect(out.slice(2)).to.have.length(2);
      expect(out[2]).to.equal('a: stopped\n');
      expect(out[3]).to.match(/^c: started /);
      await writeFile(file, '{ not json');
      signals.emit('SIGHUP');
      await waitUntil(() => notes.some((n) => n.includes('(the running consoles are unchanged)')), 'the failed reload');
      signals.emit('SIGTERM');
      expect(await done).to.equal(0);
      expect([...out, ...notes].join('')).to.not.include('pw-never-logged');
    } finally {
      delete process.env.PW;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

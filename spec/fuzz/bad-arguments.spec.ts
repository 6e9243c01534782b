/**
 * Bad arguments and configuration: each gives one clear IpmiError IPMI_ERR_BAD_ARGUMENT before anything starts
 * (no socket, no lookup, no datagram), in the library and in the CLI (exit 2, one `IPMI_ERR_BAD_ARGUMENT: ...`
 * line on stderr, nothing on stdout). The password never appears in the message.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { IpmiError } from '../../lib/errors.js';
import { IpmiSession, type IpmiSessionOptions } from '../../lib/session/rmcpplus-session.js';
import { parseKgHex, resolveSessionOptions } from '../../lib/session/options.js';
import { parsePortRange, PortAllocator } from '../../lib/bridge/port-range.js';
import { ConsoleManager } from '../../lib/bridge/console-manager.js';
import { ConsoleBridge } from '../../lib/bridge/console-bridge.js';
import { IpmiConsoleSource } from '../../lib/bridge/ipmi-console-source.js';
import { activateSol } from '../../lib/sol/activate.js';
import type { SolHost } from '../../lib/sol/sol-host.js';
import { FakeConsoleSource } from '../bridge/fake-console-source.js';

const PASSWORD = 'do-not-leak-me';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function expectBadArgument(err: unknown, pattern?: RegExp): void {
  expect(err, 'an IpmiError').to.be.instanceOf(IpmiError);
  const e = err as IpmiError;
  expect(e.code).to.equal('IPMI_ERR_BAD_ARGUMENT');
  expect(e.message.length).to.be.greaterThan(10);
  expect(e.message).to.not.contain('\n');
  expect(e.message).to.not.contain(PASSWORD);
  if (pattern) expect(e.message).to.match(pattern);
}

function throwsBad(fn: () => unknown, pattern?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'it threw').to.not.equal(undefined);
  expectBadArgument(thrown, pattern);
}

async function rejectsBad(p: () => Promise<unknown>, pattern?: RegExp): Promise<void> {
  let thrown: unknown;
  try {
    await p();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'it rejected').to.not.equal(undefined);
  expectBadArgument(thrown, pattern);
}

/** Handles of sockets and servers this process holds (to show nothing was opened). */
function netHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => /UDP|TCP|GetAddrInfo/i.test(r)).length;
}

const good: IpmiSessionOptions = { host: '127.0.0.1', port: 6230, username: 'admin', password: PASSWORD };

const badSessionOptions: [string, Partial<Record<keyof IpmiSessionOptions, unknown>>, RegExp][] = [
  ['empty host', { host: '' }, /host/],
  ['blank host', { host: '   ' }, /host/],
  ['host with a port', { host: '10.0.0.1:623' }, /host/],
  ['host in brackets', { host: '[::1]' }, /host/],
  ['broken IPv4', { host: '300.1.2.3' }, /host/],
  ['host with a space', { host: 'bmc 1.example' }, /host/],
  ['non-string host', { host: 42 }, /host/],
  ['port 0', { port: 0 }, /port/],
  ['port 65536', { port: 65536 }, /port/],
  ['fractional port', { port: 623.5 }, /port/],
  ['port as a string', { port: '623' }, /port/],
  ['user name of 17 bytes', { username: 'a'.repeat(17) }, /user name/],
  ['non-string user name', { username: undefined }, /username/],
  ['missing password', { password: undefined }, /password/],
  ['null password', { password: null }, /password/],
  ['password of 21 bytes', { password: 'p'.repeat(21) }, /password/],
  ['K_g of 21 bytes', { kg: Buffer.alloc(21, 1) }, /K_g/],
  ['cipher suite 4', { cipherSuite: 4 }, /cipher suite/],
  ['cipher suite -1', { cipherSuite: -1 }, /cipher suite/],
  ['cipher suite 3.5', { cipherSuite: 3.5 }, /cipher suite/],
  ['cipher suite "fast"', { cipherSuite: 'fast' }, /cipher suite/],
  ['cipher suite NaN', { cipherSuite: NaN }, /cipher suite/],
  ['privilege "root"', { privilege: 'root' }, /privilege/],
  ['privilege 0', { privilege: 0 }, /privilege/],
  ['privilege 5 (OEM)', { privilege: 5 }, /privilege/],
  ['timeout 0', { timeoutMs: 0 }, /timeoutMs/],
  ['timeout -1', { timeoutMs: -1 }, /timeoutMs/],
  ['timeout NaN', { timeoutMs: NaN }, /timeoutMs/],
  ['retries 21', { retries: 21 }, /retries/],
  ['retries 1.5', { retries: 1.5 }, /retries/],
  ['keepalive -1', { keepaliveMs: -1 }, /keepaliveMs/],
];

describe('bad arguments: the library', () => {
  describe('IpmiSession.open / resolveSessionOptions', () => {
    for (const [name, patch, pattern] of badSessionOptions) {
      it(`${name}: IPMI_ERR_BAD_ARGUMENT, nothing opened`, async () => {
        const options = { ...good, ...patch } as IpmiSessionOptions;
        throwsBad(() => resolveSessionOptions(options), pattern);
        const handles = netHandles();
        await rejectsBad(() => IpmiSession.open(options), pattern);
        expect(netHandles(), 'no socket or lookup started').to.be.at.most(handles);
      });
    }

    it('no options at all', async () => {
      await rejectsBad(() => IpmiSession.open(undefined as unknown as IpmiSessionOptions));
    });

    it('good options with host names, IPv6 literals and trailing dots pass', () => {
      for (const host of ['127.0.0.1', '::1', 'fe80::1%lo', 'localhost', 'bmc-01.rack_3.example.com', 'bmc.example.com.']) {
        expect(resolveSessionOptions({ ...good, host }).host).to.equal(host);
      }
    });
  });

  it('K_g as hex (parseKgHex, -y): not hex, odd digits, empty, too long', () => {
    for (const text of ['zz', '0x', '', '123', '0x' + '00'.repeat(21), 'de ad']) throwsBad(() => parseKgHex(text), /K_g/);
    expect(parseKgHex('0x0102').equals(Buffer.from([1, 2]))).to.equal(true);
  });

  it('port ranges (parsePortRange, PortAllocator)', () => {
    for (const spec of ['', ' ', 'abc', '10-20', '10:5', '5:5', '0:10', '1:65537', '100000:100001', '10:20,15:25', '10:20,', ':', '-1:5', '1e3:2e3', '10:20;30:40', '10 : 20']) {
      throwsBad(() => parsePortRange(spec), /console port range/);
      throwsBad(() => new PortAllocator(spec), /console port range/);
    }
    throwsBad(() => parsePortRange(undefined as unknown as string));
    expect(parsePortRange(' 10000:10010 , 11000:11005 ')).to.deep.equal([
      { start: 10000, end: 10010 },
      { start: 11000, end: 11005 },
    ]);
    expect(parsePortRange('65535:65536')).to.deep.equal([{ start: 65535, end: 65536 }]);
  });

  describe('ConsoleManager and ConsoleBridge', () => {
    const factory = () => new FakeConsoleSource();
    for (const [name, options, pattern] of [
      ['empty address', { address: '' }, /address/],
      ['address with a port', { address: '127.0.0.1:10000' }, /address/],
      ['address in brackets', { address: '[::1]' }, /address/],
      ['broken IPv4 address', { address: '256.0.0.1' }, /address/],
      ['bad port range', { address: '127.0.0.1', portRange: '20000:10000' }, /port range/],
      ['overlapping port range', { address: '127.0.0.1', portRange: '10000:10010,10005:10020' }, /overlap/],
      ['negative idle timeout', { address: '127.0.0.1', idleTimeoutMs: -1 }, /idleTimeoutMs/],
      ['holdBytes as text', { address: '127.0.0.1', holdBytes: 'lots' }, /holdBytes/],
      ['activation mode', { address: '127.0.0.1', activation: 'sometimes' }, /activation/],
      ['reconnect factor 0', { address: '127.0.0.1', reconnect: { factor: 0 } }, /factor/],
    ] as [string, Record<string, unknown>, RegExp][]) {
      it(`manager: ${name}`, () => {
        const handles = netHandles();
        throwsBad(() => new ConsoleManager({ sourceFactory: factory, ...options } as never), pattern);
        expect(netHandles()).to.be.at.most(handles);
      });
    }

    it('bridge: bad host, bad settings', () => {
      const source = new FakeConsoleSource();
      for (const host of ['', 'not a host', '1.2.3.4:5', '[::1]']) throwsBad(() => new ConsoleBridge({ source, host }), /host/);
      throwsBad(() => new ConsoleBridge({ source, host: '127.0.0.1', port: -1 }));
      throwsBad(() => new ConsoleBridge({ source, host: '127.0.0.1', lingerMs: 1e9 }), /lingerMs/);
    });

    it('startConsole: bad node ID, bad port, bad BMC options: rejected before listening, no port allocated', async () => {
      const m = new ConsoleManager({ address: '127.0.0.1', portRange: '10000:10010' });
      const bmc = { host: '127.0.0.1', username: 'admin', password: PASSWORD };
      await rejectsBad(() => m.startConsole('', bmc), /node ID/);
      await rejectsBad(() => m.startConsole('n1', bmc, { port: 0 }), /port/);
      await rejectsBad(() => m.startConsole('n1', bmc, { port: 70000 }), /port/);
      await rejectsBad(() => m.startConsole('n1', { ...bmc, password: undefined as unknown as string }), /password/);
      await rejectsBad(() => m.startConsole('n1', { ...bmc, cipherSuite: 5 }), /cipher suite/);
      await rejectsBad(() => m.startConsole('n1', { ...bmc, privilege: 'root' as never }), /privilege/);
      await rejectsBad(() => m.startConsole('n1', { ...bmc, kg: 'k'.repeat(21) }), /K_g/);
      await rejectsBad(() => m.startConsole('n1', { ...bmc, host: 'bmc:623' }), /host/);
      expect(m.list()).to.deep.equal([]);
      await m.stopAll();
    });

    it('IpmiConsoleSource: bad BMC options throw at construction', () => {
      throwsBad(() => new IpmiConsoleSource({ host: '127.0.0.1', username: 'admin', password: 'p'.repeat(21) }), /password/);
    });
  });

  it('activateSol: bad instance / retransmit options, before any request', async () => {
    const requests: unknown[] = [];
    const host = {
      integrity: true,
      confidentiality: true,
      port: 623,
      request: (c: unknown) => {
        requests.push(c);
        return Promise.reject(new Error('no BMC'));
      },
    } as unknown as SolHost;
    for (const options of [{ instance: 0 }, { instance: 16 }, { instance: 1.5 }, { retransmitIntervalMs: 0 }, { maxRetransmits: -1 }, { solPort: 'elsewhere' }]) {
      await rejectsBad(() => activateSol(host, options as never));
    }
    expect(requests).to.deep.equal([]);
  });
});

/** Run the CLI (node + tsx, the same code `npx tsx examples/cli.ts` runs) and collect its output. */
function runCli(args: string[], env: Record<string, string> = {}, viaNpx = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const cmd = viaNpx ? 'npx' : process.execPath;
    const argv = viaNpx ? ['tsx', 'examples/cli.ts', ...args] : ['--import', 'tsx', 'examples/cli.ts', ...args];
    const base: NodeJS.ProcessEnv = { ...process.env, DEBUG: '' };
    delete base.IPMI_PASSWORD;
    delete base.IPMITOOL_PASSWORD;
    const child = spawn(cmd, argv, { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, '') }));
  });
}

describe('bad arguments: the CLI exits 2 with one IPMI_ERR_BAD_ARGUMENT line, and sends nothing', function () {
  this.timeout(120_000);
  let bmc: dgram.Socket;
  let port = 0;
  let datagrams = 0;

  before(async () => {
    // A UDP socket where a BMC would be: the CLI must not send it anything.
    bmc = dgram.createSocket('udp4');
    bmc.on('message', () => datagrams++);
    await new Promise<void>((resolve) => bmc.bind(0, '127.0.0.1', () => resolve()));
    port = bmc.address().port;
  });
  after(() => bmc.close());

  const conn = () => ['-H', '127.0.0.1', '-p', String(port), '-U', 'admin'];
  const cases: [string, () => string[], Record<string, string>?][] = [
    ['no -H', () => ['info', '-U', 'admin', '-P', PASSWORD]],
    ['-H without a value', () => ['info', '-H']],
    ['-H with a port in it', () => ['info', '-H', `127.0.0.1:${port}`, '-U', 'admin', '-P', PASSWORD]],
    ['-H in brackets', () => ['info', '-H', '[::1]', '-U', 'admin', '-P', PASSWORD]],
    ['-H not an address', () => ['info', '-H', 'no such host!', '-U', 'admin', '-P', PASSWORD]],
    ['-p not a number', () => ['info', '-H', '127.0.0.1', '-p', 'ipmi', '-P', PASSWORD]],
    ['-p 0', () => ['info', '-H', '127.0.0.1', '-p', '0', '-P', PASSWORD]],
    ['-p 70000', () => ['info', '-H', '127.0.0.1', '-p', '70000', '-P', PASSWORD]],
    ['no password', () => ['info', ...conn()]],
    ['-E without IPMI_PASSWORD', () => ['info', ...conn(), '-E']],
    ['-P and -E', () => ['info', ...conn(), '-P', PASSWORD, '-E'], { IPMI_PASSWORD: PASSWORD }],
    ['-f missing file', () => ['info', ...conn(), '-f', '/nonexistent/pw']],
    ['password of 21 bytes', () => ['info', ...conn(), '-P', PASSWORD + 'xxxxxxx']],
    ['user name of 17 bytes', () => ['info', '-H', '127.0.0.1', '-p', String(port), '-U', 'u'.repeat(17), '-P', PASSWORD]],
    ['-C 4', () => ['info', ...conn(), '-P', PASSWORD, '-C', '4']],
    ['-C strong', () => ['info', ...conn(), '-P', PASSWORD, '-C', 'strong']],
    ['-L root', () => ['info', ...conn(), '-P', PASSWORD, '-L', 'root']],
    ['-y not hex', () => ['info', ...conn(), '-P', PASSWORD, '-y', 'nothex']],
    ['-y 21 bytes', () => ['info', ...conn(), '-P', PASSWORD, '-y', '00'.repeat(21)]],
    ['-k 21 bytes', () => ['info', ...conn(), '-P', PASSWORD, '-k', 'k'.repeat(21)]],
    ['-y and -k', () => ['info', ...conn(), '-P', PASSWORD, '-y', '0102', '-k', 'x']],
    ['-N 0', () => ['info', ...conn(), '-P', PASSWORD, '-N', '0']],
    ['-N forever', () => ['info', ...conn(), '-P', PASSWORD, '-N', 'forever']],
    ['-R -1', () => ['info', ...conn(), '-P', PASSWORD, '-R', 'x']],
    ['-R 99', () => ['info', ...conn(), '-P', PASSWORD, '-R', '99']],
    ['--keepalive -1', () => ['info', ...conn(), '-P', PASSWORD, '--keepalive', '-1']],
    ['unknown option', () => ['info', ...conn(), '-P', PASSWORD, '--frobnicate']],
    ['unknown command', () => ['reboot', ...conn(), '-P', PASSWORD]],
    ['activate --instance 0', () => ['activate', ...conn(), '-P', PASSWORD, '--instance', '0']],
    ['deactivate --instance 16', () => ['deactivate', ...conn(), '-P', PASSWORD, '--instance', '16']],
    ['serve without --listen', () => ['serve', ...conn(), '-P', PASSWORD]],
    ['serve --listen nonsense', () => ['serve', ...conn(), '-P', PASSWORD, '--listen', 'here']],
    ['serve --listen on a bad address', () => ['serve', ...conn(), '-P', PASSWORD, '--listen', 'not an address:7000']],
    ['serve --activation sometimes', () => ['serve', ...conn(), '-P', PASSWORD, '--listen', '127.0.0.1:0', '--activation', 'sometimes']],
  ];

  it(`${cases.length} bad command lines, run in parallel`, async () => {
    const results = [];
    for (let i = 0; i < cases.length; i += 8) {
      results.push(
        ...(await Promise.all(
          cases.slice(i, i + 8).map(async ([name, args, env]) => {
            return { name, ...(await runCli(args(), env)) };
          }),
        )),
      );
    }
    const failures: string[] = [];
    for (const r of results) {
      const lines = r.stderr.split('\n').filter(Boolean);
      const ok = r.code === 2 && r.stdout === '' && lines.length === 1 && /^IPMI_ERR_BAD_ARGUMENT: \S.*$/.test(lines[0]!) && !r.stderr.includes(PASSWORD);
      if (!ok) failures.push(`${r.name}: exit ${r.code}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
    }
    expect(failures).to.deep.equal([]);
    expect(datagrams, 'datagrams sent to the BMC port').to.equal(0);
  });

  it('through npx tsx as documented: exit 2, one line', async () => {
    const r = await runCli(['info', '-H', '127.0.0.1', '-p', String(port), '-U', 'admin', '-P', PASSWORD, '-C', '99'], {}, true);
    expect(r.code).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^IPMI_ERR_BAD_ARGUMENT: cipher suite 99/);
    expect(r.stderr).to.not.contain(PASSWORD);
    expect(datagrams).to.equal(0);
  });
});

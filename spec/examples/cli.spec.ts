/**
 * examples/cli.ts as a user runs it: --version, COMMAND --help, -v, and what it refuses. Each run is a child
 * process (node + tsx, as `npx tsx examples/cli.ts`); a silent UDP socket stands where a BMC would be.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkCommandLine, COMMAND_USAGE, DEFAULT_LINGER_SECONDS, lingerMsOf, MAX_LINGER_SECONDS, parseArgs, requireConnection } from '../../examples/cli-args.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PASSWORD = 'never-shown-1';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, DEBUG: '' };
    delete env.IPMI_PASSWORD;
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/cli.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (text: string) => text.split('\n').filter(Boolean);

describe('examples/cli: the command line', () => {
  describe('parsing (in process)', () => {
    const parsed = (argv: string[]) => {
      const a = parseArgs(argv, {});
      checkCommandLine(a);
      return a;
    };

    it('a word after the command is an error, except help COMMAND', () => {
      expect(() => parsed(['info', 'extra'])).to.throw(/unexpected argument "extra"/);
      expect(() => parsed(['activate', '-H', 'h', 'now'])).to.throw(/unexpected argument "now"/);
      expect(parsed(['help', 'serve']).positional).to.deep.equal(['serve']);
      expect(() => parsed(['help', 'reboot'])).to.throw(/unknown command "reboot"/);
      expect(() => parsed(['help', 'serve', 'now'])).to.throw(/unexpected argument "now"/);
      expect(() => parsed(['reboot'])).to.throw(/unknown command "reboot"/);
    });

    it("a flag of another command is an error: each command takes its own", () => {
      expect(() => parsed(['info', '--listen', '1'])).to.throw(/--listen does not apply to info/);
      expect(() => parsed(['deactivate', '--steal'])).to.throw(/--steal does not apply to deactivate/);
      expect(() => parsed(['serve', '--linger', '1'])).to.throw(/--linger does not apply to serve/);
      expect(parsed(['activate', '--steal', '--linger', '0', '-e', 'none', '--instance', '2', '-v']).flags.get('--linger')).to.equal('0');
    });

    it("every command line in README.md's sh blocks parses (the README cannot drift from the flags)", () => {
      const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
      const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
      const commands = blocks
        .flatMap((b) => b.split('\n'))
        .map((line) => line.replace(/\s#.*$/, ''))
        .flatMap((line) => line.split(/;|\|/))
        .map((part) => part.trim())
        .filter((part) => part.startsWith('ipmi-sol-bridge '));
      expect(commands.length).to.be.greaterThan(5);
      const pwfile = join(mkdtempSync(join(tmpdir(), 'isb-readme-cli-')), 'pwfile');
      writeFileSync(pwfile, 'secret\n');
      for (const command of commands) {
        const argv = command.split(/\s+/).slice(1).map((w) => (w === 'pwfile' ? pwfile : w));
        expect(() => {
          const a = parseArgs(argv, { IPMI_PASSWORD: 'secret' });
          checkCommandLine(a);
          if (a.command !== undefined && a.command !== 'help' && !a.flags.has('--help') && !a.flags.has('--version')) requireConnection(a);
        }, command).to.not.throw();
      }
    });

    it('--json is not an option (info prints JSON anyway)', () => {
      expect(() => parsed(['info', '--json'])).to.throw(/unknown option --json/);
    });

    it("-U is required; -U '' asks for the BMC's null user", () => {
      expect(() => requireConnection(parsed(['serve', '-H', 'h', '-P', 'p', '--listen', '0']))).to.throw(/-U USER is required/);
      const nullUser = parsed(['info', '-H', 'h', '-U', '', '-P', 'p']);
      expect(() => requireConnection(nullUser)).to.not.throw();
      expect(nullUser.session.username).to.equal('');
    });

    it(`--linger: seconds, ${DEFAULT_LINGER_SECONDS} by default, 0 to ${MAX_LINGER_SECONDS}`, () => {
      expect(lingerMsOf(parsed(['activate']))).to.equal(DEFAULT_LINGER_SECONDS * 1000);
      expect(lingerMsOf(parsed(['activate', '--linger', '0']))).to.equal(0);
      expect(lingerMsOf(parsed(['activate', '--linger=0.25']))).to.equal(250);
      expect(lingerMsOf(parsed(['activate', '--linger', String(MAX_LINGER_SECONDS)]))).to.equal(MAX_LINGER_SECONDS * 1000);
      for (const bad of ['-1', 'soon', String(MAX_LINGER_SECONDS + 1), '']) {
        expect(() => lingerMsOf(parsed(['activate', '--linger', bad])), bad).to.throw(/--linger .*seconds/);
      }
    });
  });

  describe('run as a process', function () {
    this.timeout(120_000);
    let bmc: dgram.Socket;
    let port = 0;
    let datagrams = 0;

    before(async () => {
      bmc = dgram.createSocket('udp4');
      bmc.on('message', () => datagrams++);
      await new Promise<void>((resolve) => bmc.bind(0, '127.0.0.1', () => resolve()));
      port = bmc.address().port;
    });
    after(() => bmc.close());

    it('--version prints the package version; COMMAND --help and help COMMAND print that command\'s usage', async () => {
      const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      const [v, activateHelp, helpServe, general, none] = await Promise.all([
        runCli(['--version']),
        runCli(['activate', '--help']),
        runCli(['help', 'serve']),
        runCli(['--help']),
        runCli([]),
      ]);
      expect(v).to.deep.equal({ code: 0, stdout: `ipmi-sol-bridge ${version}\n`, stderr: '' });
      expect(activateHelp).to.deep.equal({ code: 0, stdout: COMMAND_USAGE.activate, stderr: '' });
      expect(activateHelp.stdout).to.match(/^usage: ipmi-sol-bridge activate /).and.to.contain('--linger');
      expect(helpServe).to.deep.equal({ code: 0, stdout: COMMAND_USAGE.serve, stderr: '' });
      expect(general.code).to.equal(0);
      expect(general.stdout).to.match(/^usage: ipmi-sol-bridge COMMAND/);
      expect(none.code).to.equal(2);
      expect(none.stdout).to.equal('');
      expect(lines(none.stderr)).to.have.length(1);
      expect(none.stderr).to.match(/^IPMI_ERR_BAD_ARGUMENT: a command is required/);
    });

    it('stray words, foreign flags, --json and a missing -U: exit 2, one line, nothing sent', async () => {
      const conn = ['-H', '127.0.0.1', '-p', String(port), '-P', PASSWORD];
      const runs = await Promise.all([
        runCli(['info', ...conn, '-U', 'admin', 'extra']),
        runCli(['info', ...conn, '-U', 'admin', '--listen', '127.0.0.1:0']),
        runCli(['info', ...conn, '-U', 'admin', '--json']),
        runCli(['serve', ...conn, '--listen', '127.0.0.1:0']),
        runCli(['activate', ...conn, '-U', 'admin', '--linger', '-1']),
      ]);
      const patterns = [/unexpected argument "extra"/, /--listen does not apply to info/, /unknown option --json/, /-U USER is required/, /--linger -1/];
      runs.forEach((r, i) => {
        expect(r.code, r.stderr).to.equal(2);
        expect(r.stdout).to.equal('');
        expect(lines(r.stderr)).to.have.length(1);
        expect(r.stderr).to.match(/^IPMI_ERR_BAD_ARGUMENT: /).and.to.match(patterns[i]!);
        expect(r.stderr).to.not.contain(PASSWORD);
      });
      expect(datagrams).to.equal(0);
    });

    it("-v turns on the ipmi:* debug output (no password in it); -U '' is accepted and tried", async () => {
      const r = await runCli(['info', '-v', '-H', '127.0.0.1', '-p', String(port), '-U', '', '-P', PASSWORD, '-C', '3', '-N', '0.2', '-R', '0']);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
      expect(r.stderr).to.match(/ipmi:(session|rmcp)/);
      expect(r.stderr).to.not.contain(PASSWORD);
      const last = lines(r.stderr).at(-1)!;
      expect(last).to.match(/^IPMI_ERR_(UNREACHABLE|TIMEOUT): /);
      expect(datagrams).to.be.greaterThan(0);
    });
  });
});

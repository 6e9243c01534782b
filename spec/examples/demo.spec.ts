/**
 * examples/demo.ts (`npm run demo`): --port, and one clear line when the port asked for is taken.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('examples/demo: the quick start', function () {
  this.timeout(60_000);
  let taken: Server;
  let port = 0;

  before(async () => {
    // Hold a port, as another program would: the demo asked for it must move on and say so.
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    port = (taken.address() as { port: number }).port;
  });
  after(() => taken.close());

  it('--port P with P taken: one line says so, the URL names the port it moved to, SIGTERM exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--port', String(port)], { cwd: ROOT, env: { ...process.env, DEBUG: '' } });
    let stdout = '';
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The URL comes on stdout and the notice on stderr: two pipes, read in no fixed order. Wait for both.
    const url = await new Promise<URL>((resolve, reject) => {
      const check = (): void => {
        const line = stdout.split('\n')[0]!;
        if (stdout.includes('\n') && new RegExp(`port ${port} is in use: [^\n]*\n`).test(stderr)) resolve(new URL(line));
      };
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        check();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        check();
      });
      child.once('close', () => reject(new Error(`the demo exited: ${stderr}`)));
    });
    expect(Number(url.port)).to.be.greaterThan(port);
    expect(stderr).to.contain(`port ${port} is in use: the demo console listens on ${url.port} instead`);
    child.kill('SIGTERM');
    expect(await exit).to.equal(0);
  });

  it('a bad argument: one line, the usage, exit 2', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--prot', '1'], { cwd: ROOT, env: { ...process.env, DEBUG: '' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).to.equal(2);
    expect(stderr.split('\n')[0]).to.equal('IPMI_ERR_BAD_ARGUMENT: unexpected argument "--prot"');
    expect(stderr).to.contain('--port PORT');
  });
});

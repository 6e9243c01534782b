/**
 * Soak test: N consoles (ConsoleManager + the real IPMI console source: RMCP+ session and SOL per console) to a
 * farm of fake BMCs whose serial hosts echo, with a TCP client per console typing a counting pattern for a
 * configurable time and checking that every line comes back exactly once, in order, intact.
 *
 *   tsx bench/soak.ts [--consoles 100] [--minutes 10] [--window 2048] [--reconnect-every 60] [--suite 17]
 *                     [--report-every 10] [--json]
 *
 * Lines are `c<console>:<n>:<padding>\n`; per console the checker knows the next line it must see, so a lost
 * line, a duplicate, a reordering or a corrupted byte is told apart and counted. Each client keeps at most
 * `--window` bytes unechoed. Every `--reconnect-every` seconds (0: never) each client drains, disconnects and
 * reconnects: a new IPMI session and SOL activation (activation on connect), the pattern continuing where it
 * stopped. Exit code 0 when nothing was lost, duplicated or corrupted, 1 otherwise. Loopback only.
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { ConsoleManager, type IpmiConsoleOptions } from '../lib/index.js';
import { startFakeBmcFarm } from '../fixtures/fake-bmc/index.js';

interface Options {
  consoles: number;
  minutes: number;
  window: number;
  reconnectEvery: number;
  suite: number;
  reportEvery: number;
  json: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = { consoles: 100, minutes: 10, window: 2048, reconnectEvery: 60, suite: 17, reportEvery: 10, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${a} needs a non-negative number`);
      return v;
    };
    if (a === '--consoles') o.consoles = Math.max(1, Math.floor(num()));
    else if (a === '--minutes') o.minutes = num();
    else if (a === '--seconds') o.minutes = num() / 60;
    else if (a === '--window') o.window = Math.max(64, Math.floor(num()));
    else if (a === '--reconnect-every') o.reconnectEvery = num();
    else if (a === '--suite') o.suite = num();
    else if (a === '--report-every') o.reportEvery = Math.max(1, num());
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: tsx bench/soak.ts [--consoles N] [--minutes M | --seconds S] [--window BYTES] [--reconnect-every S] [--suite N] [--report-every S] [--json]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fds = () => readdirSync('/proc/self/fd').length;

async function freePortRange(count: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const servers: net.Server[] = [];
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      const s = net.createServer();
      ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (ok) servers.push(s);
    }
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free TCP ports`);
}

/** One console's client: types numbered lines, checks what comes back. */
class Client {
  socket: net.Socket | undefined;
  nextToSend = 0;
  nextExpected = 0;
  bytesSent = 0;
  bytesReceived = 0;
  lost = 0;
  duplicated = 0;
  corrupted = 0;
  reconnects = 0;
  errors: string[] = [];
  private partial = '';
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly port: number,
    readonly window: number,
  ) {}

  line(n: number): string {
    // varying lengths (20..~90 bytes) so packet boundaries move around
    return `c${this.id}:${n}:${'x'.repeat((n * 7 + this.id) % 64)}\n`;
  }

  get inFlight(): number {
    return this.bytesSent - this.bytesReceived;
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.port });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        this.socket = socket;
        resolve();
      });
      socket.on('error', (err) => {
        this.errors.push(`socket: ${err.message}`);
        reject(err);
      });
      socket.on('data', (d: Buffer) => this.onData(d.toString('latin1')));
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        this.wake?.();
      });
    });
  }

  private onData(text: string): void {
    this.bytesReceived += text.length;
    this.partial += text;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const got = this.partial.slice(0, nl + 1);
      this.partial = this.partial.slice(nl + 1);
      const m = /^c(\d+):(\d+):x*\n$/.exec(got);
      const n = m && Number(m[1]) === this.id ? Number(m[2]) : -1;
      if (n < 0 || got !== this.line(n)) {
        this.corrupted++;
        if (this.errors.length < 5) this.errors.push(`corrupted line ${JSON.stringify(got.slice(0, 80))} (expected #${this.nextExpected})`);
        continue;
      }
      if (n === this.nextExpected) this.nextExpected++;
      else if (n < this.nextExpected) {
        this.duplicated++;
        if (this.errors.length < 5) this.errors.push(`duplicate #${n} (expected #${this.nextExpected})`);
      } else {
        this.lost += n - this.nextExpected;
        if (this.errors.length < 5) this.errors.push(`lost #${this.nextExpected}..#${n - 1}`);
        this.nextExpected = n + 1;
      }
    }
    this.wake?.();
  }

  /** Type lines while the window allows, until stop(). */
  async pump(): Promise<void> {
    while (!this.stopped) {
      const socket = this.socket;
      if (!socket) return;
      if (this.inFlight < this.window) {
        let chunk = '';
        while (this.inFlight + chunk.length < this.window) chunk += this.line(this.nextToSend++);
        this.bytesSent += chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      } else {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 1000);
        });
        this.wake = undefined;
      }
    }
  }

  /** Wait until everything typed came back (or `ms` passed). */
  async drain(ms: number): Promise<boolean> {
    const t0 = Date.now();
    while (this.inFlight > 0 && Date.now() - t0 < ms) await sleep(20);
    return this.inFlight === 0;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  resume(): void {
    this.stopped = false;
  }
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const password = 'soak-password';
  const t0 = Date.now();
  const fdSetup = fds();
  const farm = await startFakeBmcFarm({ count: o.consoles, basePort: 0, address: '127.0.0.1', users: [{ name: 'admin', password, privilege: 4 }], sol: { host: 'echo' } });
  const base = await freePortRange(o.consoles);
  const manager = new ConsoleManager<IpmiConsoleOptions>({ address: '127.0.0.1', portRange: `${base}:${base + o.consoles}`, lingerMs: 200 });
  let bridgeErrors = 0;
  manager.on('console-event', (e: { event: string }) => {
    if (e.event === 'error') bridgeErrors++;
  });
  const infos = await Promise.all(
    farm.ports.map((port, i) => manager.startConsole(`node-${i}`, { host: '127.0.0.1', port, username: 'admin', password, cipherSuite: o.suite })),
  );
  const clients = infos.map((info, i) => new Client(i, Number(new URL(info.url).port), o.window));
  await Promise.all(clients.map((c) => c.connect()));
  const fdStart = fds();
  const rssStart = process.memoryUsage().rss;
  process.stderr.write(
    `soak: ${o.consoles} consoles (suite ${o.suite}) for ${o.minutes} min, window ${o.window} B, reconnect every ${o.reconnectEvery || 'never'} s; setup ${Date.now() - t0} ms\n`,
  );

  const durationMs = o.minutes * 60_000;
  const start = Date.now();
  let pumps = clients.map((c) => c.pump());
  let lastReport = start;
  let lastBytes = 0;
  let lastReconnect = start;
  while (Date.now() - start < durationMs) {
    await sleep(Math.min(1000, Math.max(10, durationMs - (Date.now() - start))));
    const now = Date.now();
    if (o.reconnectEvery > 0 && now - lastReconnect >= o.reconnectEvery * 1000 && now - start < durationMs - 5000) {
      // Drain, disconnect, reconnect every client: new session + SOL activation each.
      for (const c of clients) c.stop();
      await Promise.all(pumps);
      await Promise.all(clients.map((c) => c.drain(30_000)));
      for (const c of clients) c.socket?.end();
      await sleep(300);
      await Promise.all(
        clients.map(async (c) => {
          c.resume();
          c.reconnects++;
          await c.connect();
        }),
      );
      pumps = clients.map((c) => c.pump());
      lastReconnect = Date.now();
    }
    if (now - lastReport >= o.reportEvery * 1000) {
      const bytes = clients.reduce((n, c) => n + c.bytesReceived, 0);
      const bad = clients.reduce((n, c) => n + c.lost + c.duplicated + c.corrupted, 0);
      process.stderr.write(
        `  ${((now - start) / 1000).toFixed(0)} s: ${(bytes / 1e6).toFixed(2)} MB echoed, ${(((bytes - lastBytes) / (now - lastReport)) * 1000 / 1024).toFixed(0)} KiB/s, problems ${bad}, rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB\n`,
      );
      lastReport = now;
      lastBytes = bytes;
    }
  }
  for (const c of clients) c.stop();
  await Promise.all(pumps);
  const drained = await Promise.all(clients.map((c) => c.drain(30_000)));
  const elapsed = (Date.now() - start) / 1000;
  const metrics = manager.list().map((e) => e.metrics);
  for (const c of clients) c.socket?.destroy();
  await manager.stopAll();
  await farm.close();

  const sum = (f: (c: Client) => number) => clients.reduce((n, c) => n + f(c), 0);
  const summary = {
    consoles: o.consoles,
    seconds: Math.round(elapsed),
    linesSent: sum((c) => c.nextToSend),
    linesEchoed: sum((c) => c.nextExpected),
    bytesEchoed: sum((c) => c.bytesReceived),
    throughputKiBs: Math.round(sum((c) => c.bytesReceived) / elapsed / 1024),
    lost: sum((c) => c.lost),
    duplicated: sum((c) => c.duplicated),
    corrupted: sum((c) => c.corrupted),
    notDrained: drained.filter((d) => !d).length,
    reconnects: sum((c) => c.reconnects),
    bridgeErrors,
    bridgeReconnects: metrics.reduce((n, m) => n + m.reconnects, 0),
    activations: metrics.reduce((n, m) => n + m.activations, 0),
    slowestConsoleLines: Math.min(...clients.map((c) => c.nextExpected)),
    fds: `${fdSetup} before setup, ${fdStart} with consoles connected, ${fds()} after stop`,
    rssMB: `${(rssStart / 1e6).toFixed(0)} -> ${(process.memoryUsage().rss / 1e6).toFixed(0)}`,
    errors: clients.flatMap((c) => c.errors.map((e) => `console ${c.id}: ${e}`)).slice(0, 20),
  };
  const ok = summary.lost === 0 && summary.duplicated === 0 && summary.corrupted === 0 && summary.notDrained === 0 && summary.linesEchoed === summary.linesSent && summary.slowestConsoleLines > 0;
  if (o.json) process.stdout.write(JSON.stringify({ ok, ...summary }) + '\n');
  else {
    process.stdout.write(
      [
        `soak ${ok ? 'PASSED' : 'FAILED'}: ${summary.consoles} consoles, ${summary.seconds} s`,
        `  lines sent ${summary.linesSent}, echoed exactly once in order ${summary.linesEchoed} (slowest console ${summary.slowestConsoleLines})`,
        `  bytes echoed ${summary.bytesEchoed} (${summary.throughputKiBs} KiB/s total)`,
        `  lost ${summary.lost}, duplicated ${summary.duplicated}, corrupted ${summary.corrupted}, not drained ${summary.notDrained}`,
        `  client reconnects ${summary.reconnects}, bridge console re-opens ${summary.bridgeReconnects}, bridge errors ${summary.bridgeErrors}`,
        `  fds: ${summary.fds}; rss ${summary.rssMB} MB`,
        ...summary.errors.map((e) => `  ! ${e}`),
        '',
      ].join('\n'),
    );
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);

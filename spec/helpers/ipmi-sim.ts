/**
 * ipmi_sim (OpenIPMI 2.0.33) as a real RMCP+/SOL peer for specs, plus the host-side "serial port"
 * TCP server it connects to. Facts about its behaviour: fixtures/ipmi_sim/NOTES.md.
 *
 *   const host = await startSerialHost({ mode: 'echo' });      // first: ipmi_sim dials it at startup
 *   const sim = await startIpmiSim({ solHost: host.server });  // 127.0.0.1:sim.port, admin/password
 *   ...
 *   await sim.stop(); await host.close();
 *
 * If the host server is restarted, restart ipmi_sim too (it only redials every 10 s, and only once it
 * has noticed the connection is gone).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeUdpPort, whichBinary } from './peers.js';

export const IPMI_SIM_FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures/ipmi_sim');

/** Cipher suites that work end to end against ipmi_sim 2.0.33 (measured with ipmitool, see NOTES.md). */
export const IPMI_SIM_WORKING_CIPHER_SUITES: readonly number[] = [0, 1, 2, 3, 6];

export type IpmiPrivilege = 'callback' | 'user' | 'operator' | 'admin';

export interface IpmiSimUser {
  /** User number 1..63 (1 is the anonymous user, whose name is ignored). Default: 2, 3, ... in order. */
  id?: number;
  name: string;
  password: string;
  /** Privilege limit. Default 'admin'. Note: ipmi_sim does not enforce it for name-only RAKP1 lookups. */
  priv?: IpmiPrivilege;
  enabled?: boolean;
  /** Max sessions for the user. Default 10. */
  maxSessions?: number;
}

export interface IpmiSimOptions {
  /** Default: one user, id 2, "admin" / "password", admin. */
  users?: IpmiSimUser[];
  /**
   * Suites the spec intends to use. ipmi_sim's suite list is compiled in (it always advertises 0..14);
   * this only checks the request against IPMI_SIM_WORKING_CIPHER_SUITES and throws for the others.
   */
  cipherSuites?: number[];
  /** The host-side serial TCP server (or its port) that ipmi_sim's SOL dials. Omit for no SOL. */
  solHost?: Server | { port: number };
  /** Default 115200. */
  solBaud?: number;
  /** Extra words on the `sol` line, e.g. ['history=4000']. */
  solOptions?: string[];
  /** UDP port to bind on 127.0.0.1. Default: a free one. */
  port?: number;
  /** 32 hex digits. Default a123456789abcdefa123456789abcdef. */
  guid?: string;
  /** Extra lan.conf lines inside startlan..endlan (e.g. 'bmc_key "..."'). */
  extraLanLines?: string[];
  /** Extra lan.conf lines at MC level (after the sol line). */
  extraConfLines?: string[];
  /** Extra cmds.emu lines after mc_enable. */
  extraEmuLines?: string[];
  /** Pass -d. With -n, ipmi_sim still prints little; kept for completeness. */
  debug?: boolean;
  /** How long to wait for the first ASF pong. Default 5000 ms. */
  startTimeoutMs?: number;
  /** Keep the temp dir (lan.conf, cmds.emu, state) after stop(). Default false. */
  keepDir?: boolean;
}

export interface IpmiSimHandle {
  readonly host: '127.0.0.1';
  /** UDP port ipmi_sim listens on (stable across restart()). */
  readonly port: number;
  readonly guid: string;
  readonly users: readonly Required<IpmiSimUser>[];
  readonly cipherSuites: readonly number[];
  /** Temp dir holding lan.conf, cmds.emu and state/. */
  readonly dir: string;
  /** Current ipmi_sim pid (undefined while stopped). */
  readonly pid: number | undefined;
  /** stdout+stderr lines of every run so far. */
  readonly logs: string[];
  /** SIGTERM, then SIGKILL after 1 s; removes the temp dir unless keepDir. Idempotent. */
  stop(): Promise<void>;
  /** Stop (keeping the state dir) and start again on the same port; waits until it answers. */
  restart(): Promise<void>;
  /** SIGKILL now (a crash); the handle can still restart(). */
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    live.clear();
  };
  // ipmi_sim is spawned in our process group, so a terminal ^C reaches it too; 'exit' covers
  // mocha's own exit (and --exit) after a failed or aborted run.
  process.on('exit', killAll);
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => values[key] ?? whole);
}

function quote(s: string): string {
  if (/["\\\n]/.test(s)) throw new Error(`ipmi_sim config strings cannot hold quotes/backslashes/newlines: ${JSON.stringify(s)}`);
  return `"${s}"`;
}

function normaliseUsers(users: IpmiSimUser[] | undefined): Required<IpmiSimUser>[] {
  const list = users ?? [{ id: 2, name: 'admin', password: 'password', priv: 'admin' }];
  let next = 2;
  return list.map((u) => {
    const id = u.id ?? next;
    next = id + 1;
    if (id < 1 || id > 63) throw new Error(`ipmi_sim user id out of range: ${id}`);
    if (Buffer.byteLength(u.name) > 16) throw new Error(`user name longer than 16 bytes: ${u.name}`);
    if (Buffer.byteLength(u.password) > 20) throw new Error('password longer than 20 bytes');
    return {
      id,
      name: u.name,
      password: u.password,
      priv: u.priv ?? 'admin',
      enabled: u.enabled ?? true,
      maxSessions: u.maxSessions ?? 10,
    };
  });
}

function solPortOf(solHost: Server | { port: number }): number {
  if ('address' in solHost && typeof solHost.address === 'function') {
    const addr = solHost.address();
    if (addr === null || typeof addr === 'string') throw new Error('solHost server is not listening on TCP');
    return addr.port;
  }
  return (solHost as { port: number }).port;
}

/** Render lan.conf from fixtures/ipmi_sim/lan.conf.template. Exported for specs that want to look. */
export function renderLanConf(opts: {
  name: string;
  port: number;
  guid: string;
  users: readonly Required<IpmiSimUser>[];
  solPort?: number;
  solBaud?: number;
  solOptions?: string[];
  extraLanLines?: string[];
  extraConfLines?: string[];
}): string {
  const template = readFileSync(join(IPMI_SIM_FIXTURES, 'lan.conf.template'), 'utf8');
  const solLine =
    opts.solPort === undefined
      ? '  # no SOL'
      : `  sol "tcp:127.0.0.1:${opts.solPort}" ${opts.solBaud ?? 115200}${(opts.solOptions ?? []).map((o) => ' ' + o).join('')}`;
  const users = opts.users
    .map(
      (u) =>
        `  user ${u.id} ${u.enabled ? 'true' : 'false'} ${quote(u.name)} ${quote(u.password)} ${u.priv} ${u.maxSessions} none md2 md5 straight`,
    )
    .join('\n');
  let text = fill(template, {
    NAME: opts.name,
    PORT: String(opts.port),
    GUID: opts.guid,
    SOL_LINE: [solLine, ...(opts.extraConfLines ?? [])].join('\n'),
    USERS: users,
  });
  if (opts.extraLanLines?.length) {
    text = text.replace(/^(\s*)endlan\s*$/m, (line, indent: string) =>
      [...opts.extraLanLines!.map((l) => `${indent}  ${l}`), line].join('\n'),
    );
  }
  return text;
}

/** RMCP/ASF Presence Ping (class 6, IANA 4542, type 0x80). ipmi_sim answers with a Pong (type 0x40). */
export function asfPing(tag = 0x42): Buffer {
  return Buffer.from([0x06, 0x00, 0xff, 0x06, 0x00, 0x00, 0x11, 0xbe, 0x80, tag & 0xff, 0x00, 0x00]);
}

/** Send ASF pings to host:port every 100 ms until a pong arrives or timeoutMs passes. */
export function waitForAsfPong(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolvePong, reject) => {
    const sock = createSocket('udp4');
    let done = false;
    const finish = (err: Error | null, msg?: Buffer): void => {
      if (done) return;
      done = true;
      clearInterval(timer);
      clearTimeout(deadline);
      sock.close();
      if (err) reject(err);
      else resolvePong(msg!);
    };
    const send = (): void => {
      sock.send(asfPing(), port, host, () => undefined);
    };
    sock.on('message', (msg) => {
      if (msg.length >= 9 && msg[3] === 0x06 && msg[8] === 0x40) finish(null, msg);
    });
    sock.on('error', () => undefined); // ICMP port unreachable until ipmi_sim binds
    const timer = setInterval(send, 100);
    const deadline = setTimeout(
      () => finish(new Error(`no ASF pong from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.bind(0, '127.0.0.1', send);
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

/**
 * Start ipmi_sim bound to 127.0.0.1 on a free UDP port and wait until it answers an ASF ping.
 * Start the host-side serial server (startSerialHost) first when you pass solHost.
 */
export async function startIpmiSim(options: IpmiSimOptions = {}): Promise<IpmiSimHandle> {
  const bin = whichBinary('ipmi_sim');
  if (!bin) throw new Error('ipmi_sim is not installed (use requirePeer(this, "ipmi_sim") first)');
  installExitHook();

  const cipherSuites = options.cipherSuites ?? [...IPMI_SIM_WORKING_CIPHER_SUITES];
  const unsupported = cipherSuites.filter((c) => !IPMI_SIM_WORKING_CIPHER_SUITES.includes(c));
  if (unsupported.length) {
    throw new Error(
      `ipmi_sim cannot serve cipher suite(s) ${unsupported.join(', ')} (works: ${IPMI_SIM_WORKING_CIPHER_SUITES.join(', ')}); use the fake BMC`,
    );
  }
  const guid = (options.guid ?? 'a123456789abcdefa123456789abcdef').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(guid)) throw new Error(`guid must be 32 hex digits: ${guid}`);
  const users = normaliseUsers(options.users);
  const solPort = options.solHost ? solPortOf(options.solHost) : undefined;
  const timeoutMs = options.startTimeoutMs ?? 5000;

  const dir = mkdtempSync(join(tmpdir(), 'ipmi-sim-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir);
  const logs: string[] = [];
  let port = options.port ?? 0;
  let child: ChildProcess | undefined;
  let stopped = false;

  const writeConfig = (p: number): void => {
    writeFileSync(
      join(dir, 'lan.conf'),
      renderLanConf({
        name: 'specsim',
        port: p,
        guid,
        users,
        solPort,
        solBaud: options.solBaud,
        solOptions: options.solOptions,
        extraLanLines: options.extraLanLines,
        extraConfLines: options.extraConfLines,
      }),
    );
    const emu = readFileSync(join(IPMI_SIM_FIXTURES, 'cmds.emu'), 'utf8');
    writeFileSync(join(dir, 'cmds.emu'), [emu.trimEnd(), ...(options.extraEmuLines ?? []), ''].join('\n'));
  };

  const launch = async (): Promise<void> => {
    // A port picked by freeUdpPort() can be taken before ipmi_sim binds it: retry with another one
    // unless the caller fixed the port.
    for (let attempt = 0; ; attempt++) {
      if (port === 0 || (attempt > 0 && options.port === undefined)) port = await freeUdpPort();
      writeConfig(port);
      const args = ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'cmds.emu'), '-s', stateDir, '-n'];
      if (options.debug) args.push('-d');
      const proc = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(proc);
      const onLine = (chunk: Buffer): void => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(line);
      };
      proc.stdout?.on('data', onLine);
      proc.stderr?.on('data', onLine);
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        logs.push(`[ipmi_sim pid ${proc.pid} exited code=${code} signal=${signal}]`);
      });
      const exited = new Promise<never>((_, reject) =>
        proc.once('exit', (code, signal) =>
          reject(new Error(`ipmi_sim exited during startup (code=${code} signal=${signal}):\n${logs.join('\n')}`)),
        ),
      );
      exited.catch(() => undefined);
      try {
        await Promise.race([waitForAsfPong(port, timeoutMs), exited]);
        child = proc;
        return;
      } catch (err) {
        proc.kill('SIGKILL');
        await waitExit(proc, 2000);
        const bindFailure = logs.some((l) => /bind/i.test(l));
        if (attempt < 2 && bindFailure && options.port === undefined) continue;
        throw err;
      }
    }
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    proc.kill(signal);
    if (!(await waitExit(proc, 1000))) {
      proc.kill('SIGKILL');
      await waitExit(proc, 2000);
    }
    live.delete(proc);
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const handle: IpmiSimHandle = {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    guid,
    users,
    cipherSuites,
    dir,
    get pid() {
      return child?.pid;
    },
    logs,
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate('SIGTERM');
      if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error('ipmi_sim handle already stopped');
      await terminate('SIGTERM');
      await launch();
    },
    async kill() {
      await terminate('SIGKILL');
    },
  };
  return handle;
}

export type SerialHostMode = 'echo' | 'record' | 'custom';

export interface SerialHostOptions {
  /** echo: record and write every byte back; record: record only; custom: record and call onConnection. */
  mode?: SerialHostMode;
  /** For mode 'custom' (also called in the other modes): set up the socket yourself. */
  onConnection?: (socket: Socket) => void;
  /** Fixed TCP port on 127.0.0.1. Default: any free one. */
  port?: number;
}

export interface SerialHost {
  readonly port: number;
  readonly server: Server;
  /** Every chunk received from ipmi_sim (i.e. what the SOL console typed), in order. */
  readonly received: Buffer[];
  /** Currently connected sockets (ipmi_sim keeps one). */
  readonly sockets: ReadonlySet<Socket>;
  /** All received bytes concatenated. */
  receivedBytes(): Buffer;
  /** Write to every connected socket (the "serial port" output that SOL carries to the console). */
  write(data: Buffer | string): void;
  /** Resolves once ipmi_sim is connected (immediately if it already is). */
  waitForConnection(timeoutMs?: number): Promise<Socket>;
  /** Resolves when the received bytes include `needle`. */
  waitForReceived(needle: Buffer | string, timeoutMs?: number): Promise<Buffer>;
  /** Forget what was received so far. */
  clearReceived(): void;
  /** Destroy sockets and close the server. */
  close(): Promise<void>;
}

/** The host side of ipmi_sim's SOL: a TCP server on 127.0.0.1 standing in for a serial port. */
export function startSerialHost(options: SerialHostOptions = {}): Promise<SerialHost> {
  const mode = options.mode ?? 'record';
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const connWaiters: Array<(s: Socket) => void> = [];
  const dataWaiters = new Set<() => void>();

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (mode === 'echo') socket.write(chunk);
      for (const w of [...dataWaiters]) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (options.onConnection) options.onConnection(socket);
    for (const w of connWaiters.splice(0)) w(socket);
  });

  const receivedBytes = (): Buffer => Buffer.concat(received);

  return new Promise((resolveHost, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      resolveHost({
        port,
        server,
        received,
        sockets,
        receivedBytes,
        write(data) {
          for (const s of sockets) s.write(data);
        },
        waitForConnection(timeoutMs = 5000) {
          const first = sockets.values().next();
          if (!first.done) return Promise.resolve(first.value);
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`ipmi_sim did not connect to the serial host within ${timeoutMs} ms`)), timeoutMs);
            connWaiters.push((s) => {
              clearTimeout(t);
              res(s);
            });
          });
        },
        waitForReceived(needle, timeoutMs = 5000) {
          const want = typeof needle === 'string' ? Buffer.from(needle, 'latin1') : needle;
          return new Promise((res, rej) => {
            const check = (): boolean => {
              const all = receivedBytes();
              if (all.includes(want)) {
                dataWaiters.delete(check);
                clearTimeout(t);
                res(all);
                return true;
              }
              return false;
            };
            const t = setTimeout(() => {
              dataWaiters.delete(check);
              rej(new Error(`serial host did not receive ${JSON.stringify(want.toString('latin1'))} within ${timeoutMs} ms; got ${JSON.stringify(receivedBytes().toString('latin1'))}`));
            }, timeoutMs);
            if (!check()) dataWaiters.add(check);
          });
        },
        clearReceived() {
          received.length = 0;
        },
        close() {
          for (const s of sockets) s.destroy();
          return new Promise((res) => server.close(() => res()));
        },
      });
    });
  });
}

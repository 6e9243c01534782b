/**
 * A console reached over SSH (ssh2): connect, check the host key, authenticate, run the vendor's console
 * command (`console com2`, `vsp`, `console 1`) or none (the login shell, or sshd's ForceCommand as OpenBMC's
 * port 2200 does), and relay the channel's bytes untouched. One SSH connection per open(); releasing the
 * console closes it. The command's stderr is part of the console output (both are what the console prints).
 *
 * Errors, as the bridge understands them: authentication refused, and a host key that is unknown, changed or
 * revoked, are IPMI_ERR_AUTH (stated, not retried: the message says which side failed); no answer in time and a
 * lost keepalive are IPMI_ERR_TIMEOUT (inferred); a refused or unroutable connection is IPMI_ERR_UNREACHABLE;
 * the command ending or the connection closing is IPMI_ERR_SESSION_CLOSED (the bridge reconnects).
 * `ConsoleOpenOptions.steal` is ignored: an SSH console has no notion of taking a console over.
 */
import { readFile, stat } from 'node:fs/promises';
import createDebug from 'debug';
import { Client, type ClientChannel, type ConnectConfig, type PseudoTtyOptions } from 'ssh2';
import { IpmiError } from '../errors.js';
import { systemClock, type Clock } from '../clock.js';
import type { ConsoleOpenOptions, ConsoleSource } from '../bridge/console-source.js';
import { checkKnownHosts, MAX_KNOWN_HOSTS_BYTES, sshFingerprint, type HostKeyVerdict } from './host-keys.js';
import { RelayConsoleStream } from './relay-stream.js';
import { resolveSshOptions, SSH_RELEASE_TIMEOUT_MS, type ResolvedSshOptions, type SshConsoleOptions } from './ssh-options.js';

const debug = createDebug('ipmi:sources:ssh');

/** A pty in raw mode (RFC 4254 section 8 opcodes): no echo, no line editing, no signals, no CR/NL mapping. */
const RAW_PTY: PseudoTtyOptions = {
  term: 'vt100',
  cols: 80,
  rows: 24,
  modes: { ECHO: 0, ICANON: 0, ISIG: 0, IEXTEN: 0, ICRNL: 0, INLCR: 0, IGNCR: 0, IXON: 0, OPOST: 0, ONLCR: 0 },
};

type SshError = Error & { level?: string; code?: string };

export class SshConsoleSource implements ConsoleSource {
  readonly #options: ResolvedSshOptions;
  readonly #clock: Clock;

  /** Throws IPMI_ERR_BAD_ARGUMENT at once for bad options. */
  constructor(options: SshConsoleOptions, clock: Clock = systemClock) {
    this.#options = resolveSshOptions(options);
    this.#clock = clock;
  }

  get label(): string {
    return `ssh ${this.#options.username}@${this.#options.host}:${this.#options.port}`;
  }

  async open(signal: AbortSignal, _options?: ConsoleOpenOptions): Promise<RelayConsoleStream> {
    if (signal.aborted) throw new IpmiError('IPMI_ERR_ABORTED', `${this.label}: opening was aborted.`);
    const knownHosts = await this.#readKnownHosts();
    const client = new Client();
    const stream = new RelayConsoleStream({ label: this.label });
    const hostKey: { verdict?: HostKeyVerdict } = {};
    return new Promise<RelayConsoleStream>((resolve, reject) => {
      let opened = false;
      const fail = (error: IpmiError): void => {
        if (opened) {
          stream.lost(error);
          return;
        }
        opened = true; // settled
        signal.removeEventListener('abort', onAbort);
        client.destroy();
        reject(error);
      };
      const onAbort = (): void => fail(new IpmiError('IPMI_ERR_ABORTED', `${this.label}: opening was aborted.`));
      signal.addEventListener('abort', onAbort, { once: true });
      client.on('error', (error: SshError) => fail(this.#mapError(error, hostKey.verdict)));
      client.on('close', () =>
        fail(new IpmiError('IPMI_ERR_SESSION_CLOSED', `${this.label}: the SSH connection closed.`, { fatal: true })),
      );
      client.on('ready', () => {
        debug('%s: authenticated; starting %s', this.label, this.#options.command ?? 'the login shell');
        this.#startChannel(client, (error, channel) => {
          if (opened) return;
          if (error !== undefined || channel === undefined) {
            fail(new IpmiError('IPMI_ERR_PROTOCOL', `${this.label}: the server refused the console channel: ${error?.message ?? 'no channel'}.`));
            return;
          }
          opened = true;
          signal.removeEventListener('abort', onAbort);
          this.#relay(client, channel, stream);
          resolve(stream);
        });
      });
      client.connect(this.#connectConfig(knownHosts, hostKey));
    });
  }

  async #readKnownHosts(): Promise<string | undefined> {
    const file = this.#options.knownHostsFile;
    if (file === undefined) return undefined;
    try {
      if ((await stat(file)).size > MAX_KNOWN_HOSTS_BYTES) {
        throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `known_hosts file ${file} is larger than ${MAX_KNOWN_HOSTS_BYTES} bytes.`);
      }
      return await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''; // no file: every key is unknown
      if (error instanceof IpmiError) throw error;
      throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `Cannot read known_hosts file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }

  #connectConfig(knownHosts: string | undefined, hostKey: { verdict?: HostKeyVerdict }): ConnectConfig {
    const o = this.#options;
    return {
      host: o.host,
      port: o.port,
      username: o.username,
      password: o.password,
      privateKey: o.privateKey,
      passphrase: o.passphrase,
      readyTimeout: o.readyTimeoutMs,
      keepaliveInterval: o.keepaliveIntervalMs,
      keepaliveCountMax: o.keepaliveCountMax,
      hostVerifier: (key: Buffer): boolean => {
        hostKey.verdict = this.#verifyHostKey(key, knownHosts);
        if (hostKey.verdict.accepted) debug('%s: host key %s accepted', this.label, sshFingerprint(key));
        return hostKey.verdict.accepted;
      },
    };
  }

  #verifyHostKey(key: Buffer, knownHosts: string | undefined): HostKeyVerdict {
    const fingerprint = sshFingerprint(key);
    if (this.#options.fingerprints.includes(fingerprint)) return { accepted: true };
    if (knownHosts !== undefined) {
      const verdict = checkKnownHosts(knownHosts, this.#options.host, this.#options.port, key);
      if (verdict.accepted || verdict.why !== 'unknown' || this.#options.fingerprints.length === 0) return verdict;
    }
    return { accepted: false, why: this.#options.fingerprints.length > 0 ? 'changed' : 'unknown', fingerprint };
  }

  #startChannel(client: Client, done: (error: Error | undefined, channel?: ClientChannel) => void): void {
    const { command, pty } = this.#options;
    const callback = (error: Error | undefined, channel: ClientChannel): void => done(error, channel);
    if (command === undefined) client.shell(pty ? RAW_PTY : false, callback);
    else client.exec(command, pty ? { pty: RAW_PTY } : {}, callback);
  }

  #relay(client: Client, channel: ClientChannel, stream: RelayConsoleStream): void {
    let exit = '';
    channel.on('data', (chunk: Buffer) => stream.receive(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stream.receive(chunk));
    channel.on('exit', (code: number | null, signalName?: string) => {
      exit = code === null ? ` (signal ${signalName ?? '?'})` : ` (status ${code})`;
    });
    channel.on('close', () =>
      stream.lost(new IpmiError('IPMI_ERR_SESSION_CLOSED', `${this.label}: the console ended${exit}.`, { fatal: true })),
    );
    stream.attach({
      write: (chunk, written) => {
        channel.write(chunk, written);
      },
      pause: () => {
        channel.pause();
        channel.stderr.pause();
      },
      resume: () => {
        channel.resume();
        channel.stderr.resume();
      },
      release: () => this.#release(client),
    });
  }

  /** End the connection; resolves when it closed (destroyed after SSH_RELEASE_TIMEOUT_MS). Never rejects. */
  #release(client: Client): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(() => {
        client.destroy();
        resolve();
      }, SSH_RELEASE_TIMEOUT_MS);
      client.once('close', () => {
        timer.cancel();
        resolve();
      });
      client.end();
    });
  }

  #mapError(error: SshError, verdict: HostKeyVerdict | undefined): IpmiError {
    const where = this.label;
    if (verdict !== undefined && !verdict.accepted) {
      const what = { unknown: 'is unknown', changed: 'does not match the pinned or known key', revoked: 'is revoked' }[verdict.why];
      return new IpmiError(
        'IPMI_ERR_AUTH',
        `${where}: the server's host key ${verdict.fingerprint} ${what}; refused (pin its fingerprint or add it to known_hosts).`,
        { cause: error, fatal: true },
      );
    }
    const level = error.level ?? '';
    if (level === 'client-authentication') {
      return new IpmiError('IPMI_ERR_AUTH', `${where}: authentication refused (wrong password or key).`, { cause: error, fatal: true });
    }
    if (level === 'client-timeout') {
      return new IpmiError('IPMI_ERR_TIMEOUT', `${where}: ${error.message}.`, { cause: error, fatal: true, inferred: true });
    }
    if (level === 'client-dns' || ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND'].includes(error.code ?? '')) {
      return new IpmiError('IPMI_ERR_UNREACHABLE', `${where}: cannot connect (${error.code ?? error.message}).`, { cause: error, fatal: true });
    }
    if (level === 'client-socket') {
      return new IpmiError('IPMI_ERR_SESSION_CLOSED', `${where}: connection lost (${error.code ?? error.message}).`, { cause: error, fatal: true });
    }
    return new IpmiError('IPMI_ERR_PROTOCOL', `${where}: ${error.message}.`, { cause: error, fatal: true });
  }
}

/**
 * One console API whatever the BMC speaks: `sourceFor({ kind, ... })` builds the ConsoleSource for IPMI SOL
 * (no kind, or 'ipmi'), SSH ('ssh') or WebSocket ('websocket'). Options are checked at once; the SSH and
 * WebSocket sources are loaded on first use (dynamic import), so that `ssh2` and `ws` are optional peer
 * dependencies: a user who needs only IPMI installs neither, and one who asks for 'ssh' without ssh2 gets
 * IPMI_ERR_BAD_ARGUMENT "install ssh2 to use kind 'ssh'".
 */
import { IpmiError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from '../bridge/console-source.js';
import { IpmiConsoleSource, type IpmiConsoleOptions } from '../bridge/ipmi-console-source.js';
import { resolveSshOptions, type SshConsoleOptions } from './ssh-options.js';
import { resolveWebSocketOptions, type WebSocketConsoleOptions } from './websocket-options.js';

export type ConsoleKind = 'ipmi' | 'ssh' | 'websocket';

/** What a node's console is: IPMI SOL (the default, as before), SSH or WebSocket, with that kind's options. */
export type ConsoleSourceOptions =
  | (IpmiConsoleOptions & { kind?: 'ipmi' })
  | (SshConsoleOptions & { kind: 'ssh' })
  | (WebSocketConsoleOptions & { kind: 'websocket' });

/** The npm package each optional kind needs. */
export const OPTIONAL_KIND_PACKAGES = Object.freeze({ ssh: 'ssh2', websocket: 'ws' } as const);

type OptionalKind = keyof typeof OPTIONAL_KIND_PACKAGES;

function missingPackage(error: unknown, pkg: string): boolean {
  const e = error as NodeJS.ErrnoException | undefined;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && (e.message ?? '').includes(`'${pkg}'`);
}

/**
 * A source whose implementation is imported on first use. `load()` imports it now (the manager calls it so that
 * a missing package fails startConsole, not the first client).
 */
export class LazyConsoleSource implements ConsoleSource {
  readonly kind: OptionalKind;
  readonly #create: () => Promise<ConsoleSource>;
  #loading: Promise<ConsoleSource> | undefined;
  #loaded: ConsoleSource | undefined;

  constructor(kind: OptionalKind, create: () => Promise<ConsoleSource>) {
    this.kind = kind;
    this.#create = create;
  }

  load(): Promise<ConsoleSource> {
    this.#loading ??= this.#create().then(
      (source) => (this.#loaded = source),
      (error: unknown) => {
        this.#loading = undefined; // installing the package later makes the next attempt work
        const pkg = OPTIONAL_KIND_PACKAGES[this.kind];
        if (missingPackage(error, pkg)) {
          throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `install ${pkg} to use kind '${this.kind}' (npm install ${pkg}).`, { cause: error });
        }
        throw error;
      },
    );
    return this.#loading;
  }

  async open(signal: AbortSignal, options?: ConsoleOpenOptions): Promise<ConsoleStream> {
    const source = await this.load();
    return source.open(signal, options);
  }

  async close(): Promise<void> {
    await this.#loaded?.close?.();
  }
}

/** Build the console source for `options.kind` (default 'ipmi'). Throws IPMI_ERR_BAD_ARGUMENT for bad options. */
export function sourceFor(options: ConsoleSourceOptions, clock?: Clock): ConsoleSource {
  if (typeof options !== 'object' || options === null) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'Console options must be an object.');
  }
  switch (options.kind) {
    case undefined:
    case 'ipmi': {
      const { kind: _kind, ...ipmi } = options;
      return new IpmiConsoleSource(ipmi);
    }
    case 'ssh': {
      const { kind: _kind, ...ssh } = options;
      resolveSshOptions(ssh);
      return new LazyConsoleSource('ssh', async () => new (await import('./ssh-console-source.js')).SshConsoleSource(ssh, clock));
    }
    case 'websocket': {
      const { kind: _kind, ...websocket } = options;
      resolveWebSocketOptions(websocket);
      return new LazyConsoleSource(
        'websocket',
        async () => new (await import('./websocket-console-source.js')).WebSocketConsoleSource(websocket, clock),
      );
    }
    default:
      throw new IpmiError(
        'IPMI_ERR_BAD_ARGUMENT',
        `Unknown console kind '${String((options as { kind: unknown }).kind)}' (ipmi, ssh, websocket).`,
      );
  }
}

/** Load a lazily imported source now (no-op for others); rejects IPMI_ERR_BAD_ARGUMENT when its package is missing. */
export async function loadConsoleSource(source: ConsoleSource): Promise<ConsoleSource> {
  if (source instanceof LazyConsoleSource) await source.load();
  return source;
}

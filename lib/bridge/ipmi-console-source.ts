/**
 * The real ConsoleSource: an RMCP+ session per activation, SOL on top of it. Releasing the console
 * deactivates SOL (unless the payload is someone else's by then), then closes the session; a SOL stream that
 * ends on its own (BMC gone, payload deactivated or taken over) closes its session too: the stream's
 * `onRelease`, run once however it ended.
 */
import { IpmiSession } from '../session/rmcpplus-session.js';
import { resolveSessionOptions, type IpmiSessionOptions } from '../session/options.js';
import { activateSol, type ActivateSolOptions } from '../sol/activate.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from './console-source.js';

/**
 * What a console needs to reach its BMC: the session options (the bridge supplies the signal), the SOL
 * payload instance (default 1) and SOL tuning (port policy, vendor workarounds...; `ownSessions`, the
 * registry steal 'own' consults, for specs).
 */
export type IpmiConsoleOptions = Omit<IpmiSessionOptions, 'signal'> & {
  solInstance?: number;
  sol?: Omit<ActivateSolOptions, 'instance' | 'steal' | 'clock' | 'onRelease'>;
};

export class IpmiConsoleSource implements ConsoleSource {
  readonly #options: IpmiConsoleOptions;

  /** Throws IPMI_ERR_BAD_ARGUMENT at once for bad BMC options, so startConsole fails before it listens. */
  constructor(options: IpmiConsoleOptions) {
    const { solInstance: _instance, sol: _sol, ...sessionOptions } = options;
    resolveSessionOptions(sessionOptions);
    this.#options = options;
  }

  /** Check the BMC: open an RMCP+ session (address, user, password, cipher suite, privilege) and close it. */
  async verify(signal: AbortSignal): Promise<void> {
    const { solInstance: _instance, sol: _sol, ...sessionOptions } = this.#options;
    await (await IpmiSession.open({ ...sessionOptions, signal })).close();
  }

  /**
   * Open a session and activate SOL in it. `options.steal` ('never' by default) decides what happens when
   * another session holds the payload (see SolStealPolicy): 'own' takes it over only from a session this
   * process opened, and otherwise rejects with IPMI_ERR_SOL_IN_USE naming the holder.
   */
  async open(signal: AbortSignal, options?: ConsoleOpenOptions): Promise<ConsoleStream> {
    const { solInstance = 1, sol: solOptions, ...sessionOptions } = this.#options;
    const session = await IpmiSession.open({ ...sessionOptions, signal });
    try {
      signal.throwIfAborted();
      return await activateSol(session, {
        ...solOptions,
        instance: solInstance,
        steal: options?.steal ?? 'never',
        ...(options?.onSteal ? { onSteal: options.onSteal } : {}),
        onRelease: () => session.close(), // idempotent
      });
    } catch (error) {
      await session.close();
      throw error;
    }
  }
}

/**
 * The real ConsoleSource: an RMCP+ session per activation, SOL on top of it. Releasing the console
 * deactivates SOL, then closes the session; a SOL stream that ends on its own (BMC gone, payload
 * deactivated) closes its session too.
 */
import { IpmiSession } from '../session/rmcpplus-session.js';
import { resolveSessionOptions, type IpmiSessionOptions } from '../session/options.js';
import { activateSol, type ActivateSolOptions } from '../sol/activate.js';
import type { ConsoleOpenOptions, ConsoleSource, ConsoleStream } from './console-source.js';

/**
 * What a console needs to reach its BMC: the session options (the bridge supplies the signal), the SOL
 * payload instance (default 1) and SOL tuning (port policy, vendor workarounds...).
 */
export type IpmiConsoleOptions = Omit<IpmiSessionOptions, 'signal'> & {
  solInstance?: number;
  sol?: Omit<ActivateSolOptions, 'instance' | 'steal' | 'clock'>;
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

  async open(signal: AbortSignal, options?: ConsoleOpenOptions): Promise<ConsoleStream> {
    const { solInstance = 1, sol: solOptions, ...sessionOptions } = this.#options;
    const session = await IpmiSession.open({ ...sessionOptions, signal });
    let sol: ConsoleStream;
    try {
      signal.throwIfAborted();
      // Interim until activateSol takes the policy (h-sol, C3): 'own' and 'always' both steal.
      const steal = (options?.steal ?? 'never') !== 'never';
      sol = withLedger(await activateSol(session, { ...solOptions, instance: solInstance, steal }));
    } catch (error) {
      await session.close();
      throw error;
    }
    const closeSession = (): Promise<void> => session.close(); // idempotent
    sol.once('close', () => void closeSession());
    const deactivateSol = sol.deactivate.bind(sol);
    sol.deactivate = async () => {
      await deactivateSol(); // never rejects
      await closeSession();
    };
    return sol;
  }
}

/**
 * Interim until SolStream.takeUnacknowledged lands (h-sol, contract C2; h-sol's version of this file replaces
 * it): the ledger rebuilt from the stream's acknowledgedBytes and the chunks written to it.
 */
function withLedger(stream: object): ConsoleStream {
  const sol = stream as ConsoleStream & { acknowledgedBytes?: number };
  if (typeof sol.takeUnacknowledged === 'function') return sol;
  const chunks: Buffer[] = [];
  let base = 0; // bytes written before chunks[0]
  const prune = (): void => {
    const acked = sol.acknowledgedBytes ?? 0;
    while (chunks.length > 0 && base + chunks[0]!.length <= acked) base += chunks.shift()!.length;
  };
  const write = sol.write.bind(sol) as (...args: unknown[]) => boolean;
  sol.write = ((chunk: unknown, ...rest: unknown[]) => {
    prune();
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return write(chunk, ...rest);
  }) as typeof sol.write;
  sol.takeUnacknowledged = () => {
    prune();
    const all = Buffer.concat(chunks.splice(0));
    const tail = Buffer.from(all.subarray(Math.max(0, (sol.acknowledgedBytes ?? 0) - base)));
    base += all.length;
    return tail;
  };
  return sol;
}

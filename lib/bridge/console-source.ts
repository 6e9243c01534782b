/**
 * What the bridge needs from a console: a byte stream that can be opened and released. The IPMI SOL stack
 * implements it (ipmi-console-source.ts); specs use an in-memory fake. Keeping this narrow lets the bridge be
 * built and tested with no BMC.
 */
import type { Duplex } from 'node:stream';

/**
 * An open console: a Duplex of raw console bytes (readable: what the host prints; writable: what is typed).
 * Backpressure is honoured both ways: while the readable side is paused the source stops accepting data from
 * the host (SOL: stops ACKing), and `write()` returning false means "wait for 'drain'".
 *
 * Contract on ending:
 * - `deactivate()` releases everything the stream holds (SOL payload, session). It resolves once released,
 *   never rejects for a console that is already gone, and may be called more than once.
 * - The stream emits 'close' when it ends, optionally with the reason as argument (`'close', reason?`), or
 *   'error' then 'close'. A stream that closed on its own has released (or is releasing) its resources: the
 *   bridge does not call `deactivate()` on it.
 */
export interface ConsoleStream extends Duplex {
  deactivate(): Promise<void>;
  /**
   * The one ledger of keystrokes (the source owns what the far end acknowledged; the bridge keeps no copy).
   * Once the stream has closed or was deactivated: the bytes written to it that the far end never
   * acknowledged (queued in the stream, including its Writable buffer, or in flight), in write order. Calling
   * it empties the ledger; an empty Buffer when none. The bridge writes them to the next console first.
   */
  takeUnacknowledged(): Buffer;
}

/**
 * Whom a console may be taken over from when someone holds it (SOL: Activate Payload answered "already active"):
 * - 'never': nobody; the open rejects with IPMI_ERR_SOL_IN_USE.
 * - 'own': only a holder this process opened (our own stale session after a lost console or a quick reconnect);
 *   anyone else's (an administrator's ipmitool) is left alone: IPMI_ERR_SOL_IN_USE, not inferred.
 * - 'always': anyone.
 */
export type StealPolicy = 'never' | 'own' | 'always';

export interface ConsoleOpenOptions {
  /**
   * Whom to take the console over from, should another session hold it: the bridge's policy ('own' by default),
   * on every attempt. A source applies it only when the console is held, so a free console is opened as with
   * 'never', and a held one is taken over in the same session (no second handshake).
   */
  steal: StealPolicy;
  /** The source calls it when it took the console over from another session (the bridge's metrics.steals). */
  onSteal?: () => void;
  /** 0 for the first attempt (a client connected, or 'always' mode started); n for the n-th retry after a
   *  failed attempt or a lost console. Resets to 0 once a console is open. */
  attempt: number;
}

export interface ConsoleSource {
  /**
   * Open the console. Rejects with an IpmiError (IPMI_ERR_SOL_IN_USE when someone holds it whom `steal`
   * does not cover; IPMI_ERR_ABORTED when `signal` fired). A stream resolved after `signal` fired is deactivated
   * by the bridge.
   */
  open(signal: AbortSignal, options?: ConsoleOpenOptions): Promise<ConsoleStream>;
  /**
   * Optional: check that the console can be reached, without opening it (IPMI: open an RMCP+ session, which
   * proves address, user, password, cipher suite and privilege, then close it). Rejects with the IpmiError
   * found; IPMI_ERR_ABORTED when `signal` fired. Used by startConsole/restore with `verify: true`.
   */
  verify?(signal: AbortSignal): Promise<void>;
  /** Release whatever the source itself holds (called once by the bridge on close). */
  close?(): Promise<void>;
}

/**
 * Who holds a SOL payload, and which holders are ours.
 *
 * Get Payload Instance Info (IPMI 2.0 section 24.5, table 24-6): request payload type | instance; response
 * bytes 1-4 = the ID of the session the instance is active in (LS byte first), 00000000h when it is not active,
 * then 8 bytes of payload-specific data. ipmi_sim answers the BMC-side session ID (fixtures/ipmi_sim/NOTES.md,
 * measured; spec/interop/sol-vs-ipmi-sim.spec.ts relies on it): the ID the BMC gave the session in its Open Session
 * response, which is what `SolHost.bmcSessionId` reports for our own sessions. A BMC that lacks the command answers
 * 0xC1 (invalid command): the holder is then unknown.
 */
import { Cmd, encodeGetPayloadInstanceInfo } from '../codec/commands.js';
import { NetFn } from '../codec/ipmi-message.js';
import type { SolHost } from './sol-host.js';

/** What Get Payload Instance Info says about a payload instance. */
export type PayloadHolder =
  | { known: true; sessionId: number } // sessionId 0: the instance is not active
  | { known: false; completionCode: number }; // the BMC lacks the command (0xC1) or answered oddly

/** Ask the BMC which session holds SOL payload `instance` (section 24.5). Rejects only as `host.request` does. */
export async function payloadHolder(host: SolHost, instance: number): Promise<PayloadHolder> {
  const rsp = await host.request({ netFn: NetFn.APP, cmd: Cmd.GET_PAYLOAD_INSTANCE_INFO, data: encodeGetPayloadInstanceInfo(instance) });
  if (rsp.completionCode !== 0 || rsp.data.length < 4) return { known: false, completionCode: rsp.completionCode };
  return { known: true, sessionId: rsp.data.readUInt32LE(0) };
}

/** Sessions remembered by a SolSessionRegistry; the oldest is forgotten beyond this. */
export const SOL_OWN_SESSIONS_MAX = 1024;

/**
 * The sessions this process activated SOL in, by BMC (address and port) and BMC session ID: what `steal: 'own'`
 * may take a payload back from. A session is remembered from its first Activate Payload (the BMC may have
 * activated it even when the answer was lost) until its stream deactivated the payload cleanly or lost it to
 * another session; one that ended without deactivating (a quick reconnect, a dropped network) stays: it is our
 * own stale holder. Bounded by `max` (SOL_OWN_SESSIONS_MAX): the least recently used entry goes first.
 * In memory only: after a process restart it is empty, so 'own' takes nothing over until the BMC times our old
 * session out.
 */
export class SolSessionRegistry {
  readonly #max: number;
  readonly #entries = new Set<string>(); // insertion order = least recently used first

  constructor(max = SOL_OWN_SESSIONS_MAX) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, not ${String(max)}`);
    this.#max = max;
  }

  /** Remember that session `sessionId` on `bmc` is ours. */
  add(bmc: string, sessionId: number): void {
    const key = keyOf(bmc, sessionId);
    this.#entries.delete(key);
    this.#entries.add(key);
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.values().next().value!);
  }

  has(bmc: string, sessionId: number): boolean {
    return this.#entries.has(keyOf(bmc, sessionId));
  }

  /** Forget a session that no longer holds a payload. */
  delete(bmc: string, sessionId: number): void {
    this.#entries.delete(keyOf(bmc, sessionId));
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** The process-wide registry activateSol uses unless given another (specs inject their own). */
export const ownSolSessions = new SolSessionRegistry();

/** How a registry names the BMC `host` talks to. */
export function bmcOf(host: SolHost): string {
  return `${host.address}:${host.port}`;
}

function keyOf(bmc: string, sessionId: number): string {
  return `${bmc}#${sessionId >>> 0}`;
}

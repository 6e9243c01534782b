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

/**
 * Sessions remembered by a SolSessionRegistry in all; beyond it, the least recently used BMC's oldest session is
 * forgotten. A conductor's fleet (thousands of BMCs, each with a stale session and a new one after a network
 * cut) fits: a bound of 1024 in all made 'own' forget the stale holders of a 1000-console fleet while the new
 * sessions were being remembered (issue 12, reconnect storm).
 */
export const SOL_OWN_SESSIONS_MAX = 65_536;
/**
 * Sessions remembered per BMC: our stale holder, the session taking it back, and the attempts of a flapping
 * network in between (each remembered from its Activate Payload). The BMC's oldest goes first beyond it.
 */
export const SOL_OWN_SESSIONS_PER_BMC = 16;

/**
 * The sessions this process activated SOL in, by BMC (address and port) and BMC session ID: what `steal: 'own'`
 * may take a payload back from. A session is remembered from its first Activate Payload (the BMC may have
 * activated it even when the answer was lost) until its stream deactivated the payload cleanly or lost it to
 * another session; one that ended without deactivating (a quick reconnect, a dropped network) stays: it is our
 * own stale holder. Bounded per BMC (SOL_OWN_SESSIONS_PER_BMC, its oldest first) and in all (`max`,
 * SOL_OWN_SESSIONS_MAX: the least recently used BMC's oldest first).
 * In memory only: after a process restart it is empty, so 'own' takes nothing over until the BMC times our old
 * session out.
 */
export class SolSessionRegistry {
  readonly #max: number;
  readonly #perBmc: number;
  /** BMC -> its session IDs; both in least recently used first order (Map and Set keep insertion order) */
  readonly #byBmc = new Map<string, Set<number>>();
  #size = 0;

  constructor(max = SOL_OWN_SESSIONS_MAX, perBmc = SOL_OWN_SESSIONS_PER_BMC) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, not ${String(max)}`);
    if (!Number.isInteger(perBmc) || perBmc < 1) throw new RangeError(`perBmc must be a positive integer, not ${String(perBmc)}`);
    this.#max = max;
    this.#perBmc = perBmc;
  }

  /** Remember that session `sessionId` on `bmc` is ours. */
  add(bmc: string, sessionId: number): void {
    const id = sessionId >>> 0;
    const sessions = this.#byBmc.get(bmc) ?? new Set<number>();
    this.#byBmc.delete(bmc);
    this.#byBmc.set(bmc, sessions); // the most recently used BMC
    if (sessions.delete(id)) this.#size--;
    sessions.add(id);
    this.#size++;
    if (sessions.size > this.#perBmc) this.#forgetOldest(bmc, sessions);
    while (this.#size > this.#max) {
      const [oldest, itsSessions] = this.#byBmc.entries().next().value!;
      this.#forgetOldest(oldest, itsSessions);
    }
  }

  has(bmc: string, sessionId: number): boolean {
    return this.#byBmc.get(bmc)?.has(sessionId >>> 0) === true;
  }

  /** Forget a session that no longer holds a payload. */
  delete(bmc: string, sessionId: number): void {
    const sessions = this.#byBmc.get(bmc);
    if (!sessions?.delete(sessionId >>> 0)) return;
    this.#size--;
    if (sessions.size === 0) this.#byBmc.delete(bmc);
  }

  get size(): number {
    return this.#size;
  }

  clear(): void {
    this.#byBmc.clear();
    this.#size = 0;
  }

  #forgetOldest(bmc: string, sessions: Set<number>): void {
    sessions.delete(sessions.values().next().value!);
    this.#size--;
    if (sessions.size === 0) this.#byBmc.delete(bmc);
  }
}

/** The process-wide registry activateSol uses unless given another (specs inject their own). */
export const ownSolSessions = new SolSessionRegistry();

/** How a registry names the BMC `host` talks to. */
export function bmcOf(host: SolHost): string {
  return `${host.address}:${host.port}`;
}

/**
 * Which UDP port SOL payloads go to, chosen at activation and probed once: data owned by one SolPortProbe.
 *
 * Activate Payload names a port (IPMI 2.0 section 24.1, table 24-2, bytes 10-11), but ipmitool refuses any port
 * but the session's (or its byte swap), so BMCs in the field accept SOL on the session's port; and behind a port
 * forward or NAT the reported port (the BMC's own) is not reachable at all.
 */
import createDebug from 'debug';

const debug = createDebug('ipmi:sol');

/** The RMCP/RMCP+ port (section 13.1.3). */
export const RMCP_PORT = 623;

/**
 * - 'auto' (default): start on the session's port. Where the BMC reported another, plausible port, the
 *   stream's first packet (the empty priming packet) doubles as a probe: unanswered there, it is tried once on
 *   the reported port, and SOL stays there only if the BMC answers there; otherwise it goes back to the
 *   session's port. 0 and byte-swapped ports (Supermicro X8DTH) are never tried.
 * - 'session': always the session's port (FreeIPMI's "solport" workaround).
 * - 'reported': always the reported port, as FreeIPMI does by default (0 still means the session's port).
 */
export type SolPortPolicy = 'auto' | 'session' | 'reported';

/** Where SOL starts, and the one port it may move to if the priming packet goes unanswered there. */
export interface SolPorts {
  port: number;
  alternate?: number;
}

function swap16(n: number): number {
  return ((n & 0xff) << 8) | ((n >> 8) & 0xff);
}

/** The UDP port for SOL payloads first, and the one to move to if that goes unanswered (see SolPortPolicy). */
export function chooseSolPorts(reported: number, sessionPort: number, policy: SolPortPolicy = 'auto'): SolPorts {
  if (policy === 'session' || reported === 0 || reported === sessionPort) return { port: sessionPort };
  if (policy === 'reported') return { port: reported };
  if (reported === swap16(sessionPort) || reported === swap16(RMCP_PORT)) return { port: sessionPort }; // byte-swapped
  return { port: sessionPort, alternate: reported };
}

/** The port SOL starts on (see chooseSolPorts). */
export function chooseSolPort(reported: number, sessionPort: number, policy: SolPortPolicy = 'auto'): number {
  return chooseSolPorts(reported, sessionPort, policy).port;
}

/**
 * The port SOL payloads go to now, and the one-time probe of the alternate: the priming packet unanswered on
 * the first port moves SOL to the alternate once; unanswered there too (a loss burst, or a port a NAT does not
 * pass), it comes back and stays on the first port. SOL stays on the alternate only if the BMC answered there.
 */
export class SolPortProbe {
  #port: number;
  #alternate: number | undefined;
  #probedFrom: number | undefined;

  constructor(ports: SolPorts) {
    this.#port = ports.port;
    this.#alternate = ports.alternate;
  }

  get port(): number {
    return this.#port;
  }

  /** The priming packet went unanswered on `port`: true when SOL moved to another port to probe there. */
  primeUnanswered(): boolean {
    if (this.#alternate !== undefined) {
      debug('no answer on port %d, probing the reported port %d', this.#port, this.#alternate);
      this.#probedFrom = this.#port;
      [this.#port, this.#alternate] = [this.#alternate, undefined];
      return true;
    }
    if (this.#probedFrom !== undefined) {
      debug('no answer on port %d either, back to port %d', this.#port, this.#probedFrom);
      [this.#port, this.#probedFrom] = [this.#probedFrom, undefined];
    }
    return false;
  }
}

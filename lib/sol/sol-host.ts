/**
 * What the SOL layer needs from an RMCP+ session: the session's payload port (lib/session/payload-port.ts), named
 * here as SOL sees it, plus the BMC's address (with the port it names the BMC in SolSessionRegistry, for steal
 * 'own'). IpmiSession implements it; SOL specs use a fake.
 */
import type { PayloadPort } from '../session/payload-port.js';

export type { IpmiCommand, IpmiCommandResponse } from '../session/payload-port.js';

export interface SolHost extends PayloadPort {
  /** The BMC's IP address the session talks to. */
  readonly address: string;
}

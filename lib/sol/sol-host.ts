/**
 * What the SOL layer needs from an RMCP+ session: the session's payload port (lib/session/payload-port.ts), named
 * here as SOL sees it. IpmiSession implements it; SOL specs use a fake.
 */
export type { PayloadPort as SolHost, IpmiCommand, IpmiCommandResponse } from '../session/payload-port.js';

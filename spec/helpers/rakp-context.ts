/**
 * The RAKP key exchange context of a recorded handshake (IPMI 2.0 sections 13.31-13.33), rebuilt from its
 * decoded Open Session Request/Response, RAKP 1 and RAKP 2 and the password (and K_g), as the BMC computes it.
 */
import type { OpenSessionRequest, OpenSessionResponse, Rakp1, Rakp2 } from '../../lib/codec/rakp.js';
import type { AuthAlgorithm } from '../../lib/crypto/cipher-suites.js';
import type { RakpContext } from '../../lib/crypto/keys.js';

export function rakpContextOf(
  m: { openRequest: OpenSessionRequest; openResponse: OpenSessionResponse; rakp1: Rakp1; rakp2: Rakp2 },
  password: Buffer,
  kg?: Buffer,
): RakpContext {
  return {
    auth: m.openResponse.auth as AuthAlgorithm,
    password,
    kg,
    consoleSessionId: m.openRequest.consoleSessionId,
    bmcSessionId: m.openResponse.bmcSessionId,
    consoleRandom: m.rakp1.consoleRandom,
    bmcRandom: m.rakp2.bmcRandom,
    bmcGuid: m.rakp2.bmcGuid,
    role: m.rakp1.role,
    username: m.rakp1.username,
  };
}

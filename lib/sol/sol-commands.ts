/**
 * Deactivate Payload (IPMI 2.0 section 24.2) for SOL, shared by activateSol (steal) and SolStream.deactivate.
 */
import { IpmiError, completionCodeText } from '../errors.js';
import { Cmd, encodeDeactivatePayload } from '../codec/commands.js';
import { NetFn } from '../codec/ipmi-message.js';
import type { SolHost } from './sol-host.js';

/** Deactivate Payload completion code 0x80: "payload already deactivated" (table 24-3). */
export const CC_PAYLOAD_ALREADY_DEACTIVATED = 0x80;

/**
 * Deactivate SOL payload `instance`. Resolves true if it was active and is now deactivated, false if the BMC
 * said it was not active (completion code 0x80, fine). Rejects with IPMI_ERR_COMPLETION_CODE otherwise.
 */
export async function deactivateSol(host: SolHost, instance = 1): Promise<boolean> {
  if (!Number.isInteger(instance) || instance < 1 || instance > 15) {
    throw new IpmiError('IPMI_ERR_BAD_ARGUMENT', `SOL payload instance must be 1..15, not ${String(instance)}`);
  }
  const rsp = await host.request({ netFn: NetFn.APP, cmd: Cmd.DEACTIVATE_PAYLOAD, data: encodeDeactivatePayload(instance) });
  if (rsp.completionCode === 0) return true;
  if (rsp.completionCode === CC_PAYLOAD_ALREADY_DEACTIVATED) return false;
  throw new IpmiError(
    'IPMI_ERR_COMPLETION_CODE',
    `Deactivate Payload (SOL instance ${instance}) failed: ${completionCodeText(rsp.completionCode)}`,
    { completionCode: rsp.completionCode },
  );
}

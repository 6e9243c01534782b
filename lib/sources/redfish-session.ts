/**
 * The Redfish side of a WebSocket console: a session as bmcweb hands it out (POST { UserName, Password } to
 * /redfish/v1/SessionService/Sessions; the token comes back in X-Auth-Token, the session's URI in Location;
 * DELETE on that URI logs out: Redfish Specification, "Session management"), and the console URI a
 * ComputerSystem names in SerialConsole.WebSocket.ConsoleURI (ComputerSystem v1_26).
 */
import { IpmiError } from '../errors.js';
import { httpFailure, httpRequest, type ConnectContext } from './http-client.js';
import { REDFISH_SESSIONS_PATH } from './websocket-options.js';

export interface RedfishSession {
  token: string;
  /** the session resource, for logging out (absent if the service did not say) */
  location: URL | undefined;
}

/** Log in; rejects IPMI_ERR_AUTH on 401/403. The password goes only into the request body. */
export async function redfishLogin(base: URL, username: string, password: string, ctx: ConnectContext): Promise<RedfishSession> {
  const response = await httpRequest(
    new URL(REDFISH_SESSIONS_PATH, base),
    { method: 'POST', headers: {}, body: JSON.stringify({ UserName: username, Password: password }) },
    ctx,
  );
  if (response.status !== 200 && response.status !== 201) throw httpFailure(response.status, 'Redfish login', ctx.label);
  const token = response.headers['x-auth-token'];
  if (typeof token !== 'string' || token === '') {
    throw new IpmiError('IPMI_ERR_PROTOCOL', `${ctx.label}: the Redfish login answered without an X-Auth-Token.`, { fatal: true });
  }
  const location = response.headers.location;
  return { token, location: typeof location === 'string' ? new URL(location, base) : undefined };
}

/** Log out (DELETE the session); best effort, never rejects. */
export async function redfishLogout(session: RedfishSession, ctx: ConnectContext): Promise<void> {
  if (session.location === undefined) return;
  try {
    await httpRequest(session.location, { method: 'DELETE', headers: { 'X-Auth-Token': session.token } }, ctx);
  } catch {
    // the session times out on the BMC anyway
  }
}

interface ComputerSystem {
  SerialConsole?: { WebSocket?: { ServiceEnabled?: boolean; ConsoleURI?: string } };
}

/** The ws:// or wss:// URL of a system's WebSocket serial console; IPMI_ERR_SOL_DISABLED when it has none. */
export async function redfishConsoleUrl(
  base: URL,
  systemPath: string,
  headers: Record<string, string>,
  ctx: ConnectContext,
): Promise<URL> {
  const response = await httpRequest(new URL(systemPath, base), { method: 'GET', headers }, ctx);
  if (response.status !== 200) throw httpFailure(response.status, `GET ${systemPath}`, ctx.label);
  let system: ComputerSystem;
  try {
    system = JSON.parse(response.body.toString('utf8')) as ComputerSystem;
  } catch (error) {
    throw new IpmiError('IPMI_ERR_PROTOCOL', `${ctx.label}: ${systemPath} is not JSON.`, { cause: error, fatal: true });
  }
  const console = system.SerialConsole?.WebSocket;
  if (console?.ServiceEnabled === false || typeof console?.ConsoleURI !== 'string') {
    throw new IpmiError(
      'IPMI_ERR_SOL_DISABLED',
      `${ctx.label}: ${systemPath} offers no WebSocket serial console (SerialConsole.WebSocket ${console === undefined ? 'absent' : 'disabled or without ConsoleURI'}).`,
      { fatal: true },
    );
  }
  const url = new URL(console.ConsoleURI, base);
  if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    throw new IpmiError('IPMI_ERR_PROTOCOL', `${ctx.label}: ConsoleURI ${url.origin} is not a WebSocket URL.`, { fatal: true });
  }
  if (url.hostname !== base.hostname) {
    // The session token is sent along: never to a host other than the one we logged in to.
    throw new IpmiError('IPMI_ERR_PROTOCOL', `${ctx.label}: ConsoleURI names another host (${url.hostname}); refused.`, { fatal: true });
  }
  return url;
}

/**
 * The HTTP(S) and TLS edge of the WebSocket console: a TLS connection verified before a byte of a request
 * (credentials) is written to it, against a CA or a pinned certificate fingerprint; a small JSON request for
 * the Redfish login and ComputerSystem; and the mapping of network/TLS/HTTP failures onto IpmiError codes.
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { IpmiError } from '../errors.js';
import { MAX_HTTP_BODY_BYTES, type WebSocketTlsOptions } from './websocket-options.js';

export interface ConnectContext {
  tls: WebSocketTlsOptions | undefined;
  /** pinned certificate SHA-256 fingerprint, `AB:CD:...` */
  pin: string | undefined;
  signal: AbortSignal;
  /** label for messages (no secrets) */
  label: string;
}

/** OpenSSL verification codes meaning "this certificate is not trusted for this host". */
const UNTRUSTED_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Map a connection-level failure (socket, TLS, abort) to an IpmiError. */
export function connectFailure(error: unknown, label: string): IpmiError {
  if (error instanceof IpmiError) return error;
  const e = error as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  if (UNTRUSTED_CERT_CODES.has(code)) {
    return new IpmiError('IPMI_ERR_AUTH', `${label}: the server's TLS certificate is not trusted (${code}); refused.`, { cause: error, fatal: true });
  }
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'].includes(code)) {
    return new IpmiError('IPMI_ERR_UNREACHABLE', `${label}: cannot connect (${code}).`, { cause: error, fatal: true });
  }
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') {
    return new IpmiError('IPMI_ERR_ABORTED', `${label}: opening was aborted.`, { cause: error, fatal: true });
  }
  return new IpmiError('IPMI_ERR_SESSION_CLOSED', `${label}: connection failed (${code || e?.message || 'unknown'}).`, { cause: error, fatal: true });
}

/**
 * A TLS connection to url's host, verified: by the CA store (or `tls.ca`), or by the pinned fingerprint (the
 * chain is then not checked). Resolves only once verified; nothing has been written to it yet.
 */
export function connectVerifiedTls(url: URL, ctx: ConnectContext): Promise<tls.TLSSocket> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || 443);
  const servername = ctx.tls?.servername ?? (isIP(host) === 0 ? host : undefined);
  const ca = ctx.tls?.ca === undefined ? undefined : Array.isArray(ctx.tls.ca) ? [...(ctx.tls.ca as Array<string | Buffer>)] : [ctx.tls.ca as string | Buffer];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      servername,
      ca,
      rejectUnauthorized: ctx.pin === undefined,
      // With a pin, the name is not checked either: the pin names the one certificate trusted.
      ...(ctx.pin === undefined ? {} : { checkServerIdentity: () => undefined }),
    });
    const onAbort = (): void => fail(new IpmiError('IPMI_ERR_ABORTED', `${ctx.label}: opening was aborted.`));
    const fail = (error: unknown): void => {
      ctx.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(connectFailure(error, ctx.label));
    };
    if (ctx.signal.aborted) onAbort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      ctx.signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      if (ctx.pin !== undefined) {
        const presented = socket.getPeerCertificate().fingerprint256;
        if (presented !== ctx.pin) {
          socket.destroy();
          reject(new IpmiError('IPMI_ERR_AUTH', `${ctx.label}: the server's certificate ${presented} is not the pinned one; refused.`, { fatal: true }));
          return;
        }
      }
      resolve(socket);
    });
  });
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request (JSON body if any); the response body is read up to MAX_HTTP_BODY_BYTES. */
export async function httpRequest(
  url: URL,
  init: { method: string; headers: Record<string, string>; body?: string },
  ctx: ConnectContext,
): Promise<HttpResponse> {
  const secure = url.protocol === 'https:';
  const socket: Duplex | undefined = secure ? await connectVerifiedTls(url, ctx) : undefined;
  const request = secure ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: init.method,
      headers: { Accept: 'application/json', ...init.headers, ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      signal: ctx.signal,
      ...(socket === undefined ? { agent: false } : { createConnection: () => socket }),
    });
    req.once('error', (error) => reject(connectFailure(error, ctx.label)));
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_HTTP_BODY_BYTES) {
          req.destroy(new IpmiError('IPMI_ERR_PROTOCOL', `${ctx.label}: HTTP response larger than ${MAX_HTTP_BODY_BYTES} bytes.`));
          return;
        }
        chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', (error) => reject(connectFailure(error, ctx.label)));
    });
    req.end(init.body);
  });
}

/** An HTTP status that refused us, as an IpmiError: 401/403 are stated authentication failures. */
export function httpFailure(status: number, what: string, label: string): IpmiError {
  if (status === 401 || status === 403) {
    return new IpmiError('IPMI_ERR_AUTH', `${label}: ${what} refused with HTTP ${status} (wrong user name, password or token).`, { fatal: true });
  }
  return new IpmiError('IPMI_ERR_PROTOCOL', `${label}: ${what} answered HTTP ${status}.`, { fatal: true });
}

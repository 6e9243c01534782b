/**
 * A man in the middle for the fuzz and security specs, on loopback: the client is pointed at the relay's port
 * as if it were the BMC, the relay forwards both ways to a real (fake) BMC, records every datagram, may rewrite
 * or drop any of them, and can inject datagrams to the client from the very address and port the client
 * talks to (nothing spoofed: the relay IS the client's BMC as far as the client can tell).
 *
 * From the recorded handshake and the password (and K_g) it derives the session keys the way the BMC does
 * (IPMI 2.0 section 13.32): SIK, K1, K2. That lets specs forge correctly authenticated packets (to test the
 * sequence window in isolation) and look for the keys in logs.
 */
import dgram from 'node:dgram';
import { decodeV20, peekEnvelope, PayloadType, type RmcpEnvelope, type SessionCrypto } from '../../lib/codec/rmcp.js';
import { decodeOpenSessionRequest, decodeOpenSessionResponse, decodeRakp1, decodeRakp2 } from '../../lib/codec/rakp.js';
import { cipherSuiteByAlgorithms } from '../../lib/crypto/cipher-suites.js';
import { deriveSessionKeys, type SessionKeys } from '../../lib/crypto/keys.js';
import { rakpContextOf } from '../helpers/rakp-context.js';

export type Direction = 'to-bmc' | 'to-client';

export interface Recorded {
  direction: Direction;
  bytes: Buffer;
  envelope: RmcpEnvelope | undefined;
  at: number;
}

/** Return a Buffer to send instead, null to drop, undefined to pass the datagram unchanged. */
export type Rewrite = (bytes: Buffer, envelope: RmcpEnvelope | undefined) => Buffer | null | undefined;

function bind(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function envelopeOf(bytes: Buffer): RmcpEnvelope | undefined {
  try {
    return peekEnvelope(bytes);
  } catch {
    return undefined;
  }
}

export class UdpRelay {
  readonly recorded: Recorded[] = [];
  toBmc: Rewrite | undefined;
  toClient: Rewrite | undefined;
  /** the client's UDP port, once it sent something */
  clientPort = 0;
  record = true;

  private constructor(
    private readonly front: dgram.Socket,
    private readonly back: dgram.Socket,
    readonly bmcPort: number,
  ) {
    front.on('message', (msg, rinfo) => {
      this.clientPort = rinfo.port;
      const env = envelopeOf(msg);
      if (this.record) this.recorded.push({ direction: 'to-bmc', bytes: Buffer.from(msg), envelope: env, at: Date.now() });
      const out = this.toBmc ? this.toBmc(msg, env) : undefined;
      if (out === null) return;
      back.send(out ?? msg, bmcPort, '127.0.0.1');
    });
    back.on('message', (msg) => {
      const env = envelopeOf(msg);
      if (this.record) this.recorded.push({ direction: 'to-client', bytes: Buffer.from(msg), envelope: env, at: Date.now() });
      const out = this.toClient ? this.toClient(msg, env) : undefined;
      if (out === null || this.clientPort === 0) return;
      front.send(out ?? msg, this.clientPort, '127.0.0.1');
    });
  }

  static async start(bmcPort: number): Promise<UdpRelay> {
    return new UdpRelay(await bind(), await bind(), bmcPort);
  }

  /** The port to give the client as the BMC's. */
  get port(): number {
    return this.front.address().port;
  }

  /** Send a datagram to the client from the relay's (the client's BMC's) address and port. */
  inject(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.front.send(bytes, this.clientPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  }

  /** Datagrams to the client with this payload type in the session (session ID != 0), oldest first. */
  inSession(payloadType: number): Recorded[] {
    return this.recorded.filter((r) => r.direction === 'to-client' && r.envelope?.format === 'v2.0' && r.envelope.sessionId !== 0 && r.envelope.payloadType === payloadType);
  }

  async close(): Promise<void> {
    await Promise.all([this.front, this.back].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /**
   * The keys of the last handshake seen, derived from its recorded messages (Open Session, RAKP1, RAKP2) and
   * the password/K_g, as the BMC computes them; plus the session crypto to decode or forge in-session packets.
   */
  deriveKeys(password: Buffer, kg?: Buffer, consoleSessionId?: number): SessionKeys & { crypto: SessionCrypto; consoleSessionId: number; bmcSessionId: number } {
    const all = (dir: Direction, type: number) =>
      this.recorded
        .filter((r) => r.direction === dir && r.envelope?.format === 'v2.0' && r.envelope.sessionId === 0 && r.envelope.payloadType === type)
        .map((r) => decodeV20(r.bytes).payload)
        .reverse();
    const openRsp = all('to-client', PayloadType.OPEN_SESSION_RESPONSE)
      .map(decodeOpenSessionResponse)
      .find((m) => m.status === 0 && (consoleSessionId === undefined || m.consoleSessionId === consoleSessionId));
    if (!openRsp) throw new Error('handshake not recorded');
    const openReq = all('to-bmc', PayloadType.OPEN_SESSION_REQUEST).map(decodeOpenSessionRequest).find((m) => m.consoleSessionId === openRsp.consoleSessionId);
    const rakp1 = all('to-bmc', PayloadType.RAKP1).map(decodeRakp1).find((m) => m.bmcSessionId === openRsp.bmcSessionId);
    const rakp2 = all('to-client', PayloadType.RAKP2).map(decodeRakp2).find((m) => m.status === 0 && m.consoleSessionId === openRsp.consoleSessionId);
    if (!openReq || !rakp1 || !rakp2) throw new Error('handshake not recorded');
    const suite = cipherSuiteByAlgorithms(openRsp.auth, openRsp.integrity, openRsp.confidentiality);
    if (!suite) throw new Error('unknown suite');
    const keys = deriveSessionKeys(rakpContextOf({ openRequest: openReq, openResponse: openRsp, rakp1, rakp2 }, password, kg));
    return {
      ...keys,
      consoleSessionId: openReq.consoleSessionId,
      bmcSessionId: openRsp.bmcSessionId,
      crypto: { integrity: suite.integrity, confidentiality: suite.confidentiality, k1: keys.k1, k2: keys.k2, password },
    };
  }
}

export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

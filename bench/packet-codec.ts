/**
 * The codec share of one SOL packet's loop, in process and without sockets: decode one 255-character SOL packet
 * of a cipher suite 3 session (HMAC-SHA1-96 check, AES-CBC-128 decrypt) and encode its 4-byte ACK (AES, HMAC),
 * as the bridge does for every packet of a bulk transfer. `npx tsx bench/packet-codec.ts`; prints the median
 * of 7 rounds in microseconds per loop. BENCHMARKS.md ("Bridge CPU per SOL packet") uses it to say what the
 * crypto and encode mechanisms of issue 12 bought, apart from the socket costs the bulk bench includes.
 */
import { randomBytes } from 'node:crypto';
import { decodeV20, encodeV20, PayloadType, type SessionCrypto } from '../lib/codec/rmcp.js';
import { ConfidentialityAlgorithm, IntegrityAlgorithm } from '../lib/crypto/cipher-suites.js';

const crypto: SessionCrypto = {
  integrity: IntegrityAlgorithm.HMAC_SHA1_96,
  confidentiality: ConfidentialityAlgorithm.AES_CBC_128,
  k1: randomBytes(20),
  k2: randomBytes(20),
  password: Buffer.alloc(0),
};
const solData = Buffer.concat([Buffer.from([1, 0, 0, 0]), randomBytes(255)]);
const inbound = encodeV20({ payloadType: PayloadType.SOL, sessionId: 0x1234, sequence: 7, payload: solData, encrypt: true, authenticate: true, crypto, iv: randomBytes(16) });
const ack = Buffer.from([0, 1, 255, 0]);
const iv = randomBytes(16);
const LOOPS = 20_000;

function round(): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < LOOPS; i++) {
    decodeV20(inbound, crypto, true);
    encodeV20({ payloadType: PayloadType.SOL, sessionId: 0x5678, sequence: i, payload: ack, encrypt: true, authenticate: true, crypto, iv });
  }
  return Number(process.hrtime.bigint() - t0) / 1000 / LOOPS;
}

round();
const rounds = Array.from({ length: 7 }, round).sort((a, b) => a - b);
console.log(`codec per SOL packet loop (decode 255 B + encode ACK, suite 3): median ${rounds[3]!.toFixed(2)} us, min ${rounds[0]!.toFixed(2)}, max ${rounds[6]!.toFixed(2)}`);

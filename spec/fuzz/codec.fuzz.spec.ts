/**
 * Property-based fuzzing of every pure decoder in lib/codec (and the AES/hex helpers they rely on): random bytes
 * and mutated valid packets (bit flips, truncation, extension, insertion, deletion, lying length fields).
 * A decoder returns or throws CodecError/PacketRejected, never anything else, and never allocates more than
 * the input's size (plus a small constant): a length field of 65535 costs nothing beyond the datagram.
 * On a session with integrity, a mutated packet is never accepted unless its authenticated bytes are intact.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  decodeV15,
  decodeV20,
  encodeAsfPing,
  encodeV15,
  encodeV20,
  peekEnvelope,
  PacketRejected,
  PayloadType,
  type SessionCrypto,
} from '../../lib/codec/rmcp.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../lib/codec/ipmi-message.js';
import {
  decodeOpenSessionRequest,
  decodeOpenSessionResponse,
  decodeRakp1,
  decodeRakp2,
  decodeRakp3,
  decodeRakp4,
  encodeOpenSessionRequest,
  encodeOpenSessionResponse,
  encodeRakp1,
  encodeRakp2,
  encodeRakp3,
  encodeRakp4,
} from '../../lib/codec/rakp.js';
import { decodeSolPacket, encodeSolPacket } from '../../lib/codec/sol-payload.js';
import {
  decodeActivatePayloadResponse,
  decodeChannelAuthCapabilities,
  decodeDeviceId,
  decodeGetChannelAuthCapabilitiesRequest,
  decodePayloadActivationStatus,
  encodeActivatePayloadResponse,
  encodeChannelAuthCapabilities,
  encodeCipherSuiteRecords,
  encodeDeviceId,
  parseCipherSuiteRecords,
} from '../../lib/codec/commands.js';
import { CodecError, fromHex } from '../../lib/codec/buffer.js';
import { decryptPayload, encryptPayload } from '../../lib/crypto/aes-cbc.js';
import { ConfidentialityAlgorithm, IntegrityAlgorithm } from '../../lib/crypto/cipher-suites.js';
import { readGolden } from '../codec/golden.js';
import { caseCounter, checkDecoder, mutatedFrom, prefixedRandom, randomBytes, reportCases, runs } from './fuzz-helpers.js';

const k1 = Buffer.from('k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1', 'latin1');
const k2 = Buffer.from('k2k2k2k2k2k2k2k2k2k2', 'latin1');
const password = Buffer.from('password', 'latin1');
const cryptoOf = (integrity: number, confidentiality: number): SessionCrypto => ({ integrity, confidentiality, k1, k2, password }) as SessionCrypto;

/** Session crypto of every integrity algorithm, with and without AES. */
const CRYPTOS: { name: string; crypto: SessionCrypto }[] = [
  { name: 'HMAC-SHA1-96', crypto: cryptoOf(IntegrityAlgorithm.HMAC_SHA1_96, ConfidentialityAlgorithm.NONE) },
  { name: 'HMAC-SHA1-96+AES', crypto: cryptoOf(IntegrityAlgorithm.HMAC_SHA1_96, ConfidentialityAlgorithm.AES_CBC_128) },
  { name: 'HMAC-MD5-128+AES', crypto: cryptoOf(IntegrityAlgorithm.HMAC_MD5_128, ConfidentialityAlgorithm.AES_CBC_128) },
  { name: 'MD5-128', crypto: cryptoOf(IntegrityAlgorithm.MD5_128, ConfidentialityAlgorithm.NONE) },
  { name: 'HMAC-SHA256-128+AES', crypto: cryptoOf(IntegrityAlgorithm.HMAC_SHA256_128, ConfidentialityAlgorithm.AES_CBC_128) },
];

const iv = Buffer.alloc(16, 0x5a);
const ipmiRequest = encodeRequest({ netFn: 0x06, cmd: 0x01, rqSeq: 5, data: Buffer.alloc(0) });
const ipmiResponse = encodeResponse({ netFn: 0x07, cmd: 0x01, rqSeq: 5, completionCode: 0, data: Buffer.from('2001012302'.padEnd(30, '0'), 'hex'), rqAddr: 0x81, rsAddr: 0x20 });
const solData = encodeSolPacket({ sequence: 3, ackSequence: 2, acceptedCount: 10, flags: 0x04, data: Buffer.from('hello, console\r\n') });
const solAck = encodeSolPacket({ sequence: 0, ackSequence: 7, acceptedCount: 255, flags: 0, data: Buffer.alloc(0) });

/** Authenticated (and, with AES, encrypted) in-session packets: the seeds whose mutations must be rejected. */
const sessionPackets = CRYPTOS.flatMap(({ crypto }) =>
  [ipmiResponse, solData, solAck].map((payload, i) => ({
    crypto,
    bytes: encodeV20({
      payloadType: i === 0 ? PayloadType.IPMI : PayloadType.SOL,
      sessionId: 0x11223344,
      sequence: 1000 + i,
      payload,
      authenticate: true,
      encrypt: crypto.confidentiality === ConfidentialityAlgorithm.AES_CBC_128,
      crypto,
      iv,
    }),
  })),
);

const openSessionResponse = encodeOpenSessionResponse({ tag: 9, status: 0, maxPrivilege: 4, consoleSessionId: 0xa0a2a3a4, bmcSessionId: 0x04000000, auth: 3, integrity: 4, confidentiality: 1 });
const rakp2 = encodeRakp2({ tag: 9, status: 0, consoleSessionId: 0xa0a2a3a4, bmcRandom: Buffer.alloc(16, 1), bmcGuid: Buffer.alloc(16, 2), authCode: Buffer.alloc(32, 3) });
const rakp4 = encodeRakp4({ tag: 9, status: 0, consoleSessionId: 0xa0a2a3a4, integrityCheckValue: Buffer.alloc(16, 4) });
const preSession = [
  encodeV20({ payloadType: PayloadType.OPEN_SESSION_RESPONSE, sessionId: 0, sequence: 0, payload: openSessionResponse }),
  encodeV20({ payloadType: PayloadType.RAKP2, sessionId: 0, sequence: 0, payload: rakp2 }),
  encodeV20({ payloadType: PayloadType.RAKP4, sessionId: 0, sequence: 0, payload: rakp4 }),
  encodeV20({ payloadType: PayloadType.IPMI, sessionId: 0, sequence: 0, payload: ipmiResponse }),
  encodeV20({ payloadType: PayloadType.OEM, sessionId: 0, sequence: 0, payload: Buffer.from([1, 2, 3]) }),
  encodeV15({ payload: ipmiResponse }),
  encodeAsfPing(7),
];

/** Golden packets captured between ipmitool, ipmi_sim and our fake BMC. */
const golden = [
  'suite17-ipmitool-fake_bmc.hex',
  'suite3-ipmitool-ipmi_sim.hex',
  'ipmi_sim-sol-data.hex',
  'ipmi_sim-sol-ack.hex',
  'ipmi_sim-activate-payload.hex',
  'ipmi_sim-sol-suite2-session.hex',
].flatMap((name) => readGolden(name).map((p) => p.bytes));

const datagramSeeds = [...sessionPackets.map((p) => p.bytes), ...preSession, ...golden];

/** Run one property and count its cases. */
function fuzz<T>(arb: fc.Arbitrary<T>, numRuns: number, check: (value: T) => void): void {
  fc.assert(
    fc.property(arb, (v) => {
      caseCounter.cases++;
      check(v);
    }),
    { numRuns: runs(numRuns) },
  );
}

describe('fuzz: codecs (only CodecError, bounded allocation)', function () {
  this.timeout(120_000);

  after(() => {
    // Printed so that the run's case count is visible in the spec output.
    reportCases('codec fuzz done');
  });

  describe('RMCP / RMCP+ datagrams', () => {
    const decoders: [string, (b: Buffer) => unknown][] = [
      ['peekEnvelope', peekEnvelope],
      ['decodeV15', decodeV15],
      ['decodeV20 (no crypto)', (b) => decodeV20(b)],
      ['decodeV20 (no crypto, require auth)', (b) => decodeV20(b, undefined, true)],
      ...CRYPTOS.map(({ name, crypto }) => [`decodeV20 (${name})`, (b: Buffer) => decodeV20(b, crypto, true)] as [string, (b: Buffer) => unknown]),
    ];

    it('random bytes', () => {
      fuzz(randomBytes(400), 6000, (b) => {
        for (const [name, decode] of decoders) checkDecoder(name, decode, b);
      });
    });

    it('a valid RMCP+ header followed by random bytes and a lying payload length', () => {
      fuzz(prefixedRandom(datagramSeeds), 6000, (b) => {
        for (const [name, decode] of decoders) checkDecoder(name, decode, b);
      });
    });

    it('mutated valid datagrams (pre-session, golden captures, authenticated and encrypted)', () => {
      fuzz(mutatedFrom(datagramSeeds), 6000, (b) => {
        for (const [name, decode] of decoders) checkDecoder(name, decode, b);
      });
    });

    it('a payload length of 65535 (or any lie) never allocates beyond the datagram', () => {
      fuzz(fc.record({ seed: fc.constantFrom(...datagramSeeds), len: fc.integer({ min: 0, max: 0xffff }) }), 3000, ({ seed, len }) => {
        if (seed.length < 16) return;
        const b = Buffer.from(seed);
        b.writeUInt16LE(len, 14);
        for (const [name, decode] of decoders) checkDecoder(name, decode, b);
      });
    });

    it('on a session with integrity, a mutated packet is accepted only if every authenticated byte is intact', () => {
      let accepted = 0;
      fuzz(
        fc.nat({ max: sessionPackets.length - 1 }).chain((i) => mutatedFrom([sessionPackets[i]!.bytes]).map((bytes) => ({ i, bytes }))),
        8000,
        ({ i, bytes }) => {
          const { crypto, bytes: original } = sessionPackets[i]!;
          const r = checkDecoder('decodeV20 (integrity)', (b) => decodeV20(b, crypto, true), bytes);
          if (r.ok) {
            accepted++;
            // Only the RMCP header (bytes 0..3, outside the AuthCode) may differ.
            expect(bytes.subarray(4).equals(original.subarray(4)), `accepted a tampered packet ${bytes.toString('hex')}`).to.equal(true);
          } else {
            expect(r.error).to.be.instanceOf(PacketRejected);
          }
        },
      );
      expect(accepted).to.be.greaterThan(0); // RMCP header flips in ignored bits do get through
    });

    it('the golden captures decode (sanity: the seeds are valid packets)', () => {
      for (const b of golden) expect(() => peekEnvelope(b)).not.to.throw();
    });
  });

  describe('IPMI messages and session setup payloads', () => {
    const cases: { name: string; decode: (b: Buffer) => unknown; seeds: Buffer[] }[] = [
      { name: 'decodeRequest', decode: decodeRequest, seeds: [ipmiRequest, encodeRequest({ netFn: 0x06, cmd: 0x48, rqSeq: 63, data: Buffer.from([1, 1, 0xc6, 0, 0, 0]) })] },
      { name: 'decodeResponse', decode: decodeResponse, seeds: [ipmiResponse, encodeResponse({ netFn: 0x07, cmd: 0x48, rqSeq: 1, completionCode: 0x80, data: Buffer.alloc(0), rqAddr: 0x81, rsAddr: 0x20 })] },
      {
        name: 'decodeOpenSessionRequest',
        decode: decodeOpenSessionRequest,
        seeds: [encodeOpenSessionRequest({ tag: 1, maxPrivilege: 4, consoleSessionId: 0xa0a2a3a4, auth: 1, integrity: 1, confidentiality: 1 })],
      },
      {
        name: 'decodeOpenSessionResponse',
        decode: decodeOpenSessionResponse,
        seeds: [openSessionResponse, encodeOpenSessionResponse({ tag: 1, status: 0x11, maxPrivilege: 0, consoleSessionId: 5, bmcSessionId: 0, auth: 0, integrity: 0, confidentiality: 0 })],
      },
      { name: 'decodeRakp1', decode: decodeRakp1, seeds: [encodeRakp1({ tag: 1, bmcSessionId: 7, consoleRandom: Buffer.alloc(16, 9), role: 0x14, username: Buffer.from('admin') })] },
      { name: 'decodeRakp2', decode: decodeRakp2, seeds: [rakp2, encodeRakp2({ tag: 1, status: 0x0d, consoleSessionId: 5, bmcRandom: Buffer.alloc(0), bmcGuid: Buffer.alloc(0), authCode: Buffer.alloc(0) })] },
      { name: 'decodeRakp3', decode: decodeRakp3, seeds: [encodeRakp3({ tag: 1, status: 0, bmcSessionId: 7, authCode: Buffer.alloc(20, 7) })] },
      { name: 'decodeRakp4', decode: decodeRakp4, seeds: [rakp4] },
      { name: 'decodeSolPacket', decode: decodeSolPacket, seeds: [solData, solAck] },
    ];
    for (const c of cases) {
      it(`${c.name}: random bytes and mutated valid payloads`, () => {
        fuzz(fc.oneof(randomBytes(200), mutatedFrom(c.seeds)), 4000, (b) => {
          checkDecoder(c.name, c.decode, b);
        });
      });
    }
  });

  describe('command data', () => {
    const caps = encodeChannelAuthCapabilities({
      channel: 1,
      ipmi20ExtendedData: true,
      authTypes: 0x17,
      kgSet: false,
      perMessageAuthDisabled: false,
      userLevelAuthDisabled: false,
      nonNullUsernames: true,
      nullUsernames: false,
      anonymousLogin: false,
      supportsIpmi20: true,
      supportsIpmi15: true,
      oemId: 0,
      oemAux: 0,
    });
    const cases: { name: string; decode: (b: Buffer) => unknown; seeds: Buffer[] }[] = [
      {
        name: 'decodeDeviceId',
        decode: decodeDeviceId,
        seeds: [encodeDeviceId({ deviceId: 0x20, deviceRevision: 1, firmwareMajor: 1, firmwareMinorBcd: 0x23, ipmiVersionBcd: 0x02, additionalDeviceSupport: 0x9f, manufacturerId: 0x1291, productId: 0x5342, auxFirmwareRevision: Buffer.from([0, 0, 0, 1]) })],
      },
      { name: 'decodeGetChannelAuthCapabilitiesRequest', decode: decodeGetChannelAuthCapabilitiesRequest, seeds: [Buffer.from([0x8e, 0x04])] },
      { name: 'decodeChannelAuthCapabilities', decode: decodeChannelAuthCapabilities, seeds: [caps] },
      { name: 'decodeActivatePayloadResponse', decode: decodeActivatePayloadResponse, seeds: [encodeActivatePayloadResponse({ inboundPayloadSize: 259, outboundPayloadSize: 259, port: 623, vlan: undefined })] },
      { name: 'decodePayloadActivationStatus', decode: decodePayloadActivationStatus, seeds: [Buffer.from([0x01, 0x01, 0x00]), Buffer.from([0x01, 0x01])] },
      {
        name: 'parseCipherSuiteRecords',
        decode: parseCipherSuiteRecords,
        seeds: [
          encodeCipherSuiteRecords([
            { id: 3, auth: 1, integrity: 1, confidentiality: 1 },
            { id: 17, auth: 3, integrity: 4, confidentiality: 1 },
            { id: 0, auth: 0, integrity: 0, confidentiality: 0 },
          ]),
          Buffer.from('c1ff5701000102414281', 'hex'),
        ],
      },
    ];
    for (const c of cases) {
      it(`${c.name}: random bytes and mutated valid data`, () => {
        fuzz(fc.oneof(randomBytes(200), mutatedFrom(c.seeds)), 4000, (b) => {
          checkDecoder(c.name, c.decode, b);
        });
      });
    }

    it('parseCipherSuiteRecords: every record it returns has algorithm numbers in 0..63', () => {
      fuzz(fc.oneof(randomBytes(300), mutatedFrom(cases.at(-1)!.seeds)), 3000, (b) => {
        const r = checkDecoder('parseCipherSuiteRecords', parseCipherSuiteRecords, b);
        for (const rec of (r.value ?? []) as ReturnType<typeof parseCipherSuiteRecords>) {
          expect(rec.auth).to.be.within(-1, 63);
          for (const a of [...rec.integrity, ...rec.confidentiality]) expect(a).to.be.within(0, 63);
        }
      });
    });
  });

  describe('AES-CBC-128 and hex helpers', () => {
    const sealed = [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(15, 1), Buffer.alloc(16, 2), Buffer.alloc(200, 3)].map((p) => encryptPayload(k2, iv, p));

    it('decryptPayload: random and mutated ciphertexts give a plaintext or undefined, never a throw', () => {
      fuzz(fc.oneof(randomBytes(200), mutatedFrom(sealed)), 4000, (b) => {
        const r = checkDecoder('decryptPayload', (x) => decryptPayload(k2, x), b);
        expect(r.ok, 'decryptPayload threw').to.equal(true);
        if (r.value) expect((r.value as Buffer).length).to.be.below(b.length);
      });
    });

    it('fromHex: any string gives bytes or CodecError', () => {
      fuzz(fc.string({ maxLength: 80 }), 3000, (s) => {
        caseCounter.decoderCalls++;
        try {
          fromHex(s);
        } catch (err) {
          expect(err).to.be.instanceOf(CodecError);
        }
      });
    });
  });
});

/**
 * Real sessions byte for byte: ipmitool <-> ipmi_sim (suite 3) and ipmitool <-> our fake BMC (suite 17): our decoders must accept every packet, verify
 * the RAKP 2 HMAC, the RAKP 4 ICV and every HMAC-SHA1-96 trailer, decrypt every AES-CBC-128 payload, and our
 * encoders must rebuild every packet exactly from the decoded fields.
 */
import { expect } from 'chai';
import { readGolden } from './golden.js';
import {
  decodeV15,
  decodeV20,
  encodeV15,
  encodeV20,
  peekEnvelope,
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
import { decodeChannelAuthCapabilities, decodeDeviceId } from '../../lib/codec/commands.js';
import { cipherSuiteById } from '../../lib/crypto/cipher-suites.js';
import { deriveSessionKeys, rakp2AuthCode, rakp3AuthCode, rakp4Icv } from '../../lib/crypto/keys.js';
import { rakpContextOf } from '../helpers/rakp-context.js';

const CAPTURES = [
  { file: 'suite3-ipmitool-ipmi_sim.hex', suite: 3, peers: 'ipmitool <-> ipmi_sim', guid: 'a123456789abcdefa123456789abcdef', manufacturer: 0x1291 },
  { file: 'suite17-ipmitool-fake_bmc.hex', suite: 17, peers: 'ipmitool <-> fake BMC', guid: undefined, manufacturer: undefined },
];

for (const capture of CAPTURES)
describe(`golden: ${capture.peers}, cipher suite ${capture.suite}`, () => {
  const packets = readGolden(capture.file);
  const suite = cipherSuiteById(capture.suite)!;
  const password = Buffer.from('password');
  const byType = (type: number) => packets.filter((p) => peekEnvelope(p.bytes).format === 'v2.0' && peekEnvelope(p.bytes).payloadType === type);

  it('holds the whole exchange', () => {
    expect(packets.length).to.be.greaterThan(12);
  });

  it('decodes and re-encodes Get Channel Authentication Capabilities (IPMI v1.5 format)', () => {
    const [req, rsp] = packets;
    const reqPacket = decodeV15(req!.bytes);
    const request = decodeRequest(reqPacket.payload);
    expect(request.netFn).to.equal(0x06);
    expect(request.cmd).to.equal(0x38);
    expect(request.data[0]! & 0x80).to.equal(0x80); // asks for the IPMI v2.0 extended data
    expect(encodeV15({ payload: encodeRequest(request) })).to.deep.equal(req!.bytes);
    const response = decodeResponse(decodeV15(rsp!.bytes).payload);
    const caps = decodeChannelAuthCapabilities(response.data);
    expect(caps.supportsIpmi20).to.equal(true);
    expect(encodeV15({ payload: encodeResponse(response) })).to.deep.equal(rsp!.bytes);
  });

  // Decode the handshake once; the keys feed the in-session checks below.
  const open = decodeOpenSessionRequest(decodeV20(byType(PayloadType.OPEN_SESSION_REQUEST)[0]!.bytes).payload);
  const openRsp = decodeOpenSessionResponse(decodeV20(byType(PayloadType.OPEN_SESSION_RESPONSE)[0]!.bytes).payload);
  const rakp1 = decodeRakp1(decodeV20(byType(PayloadType.RAKP1)[0]!.bytes).payload);
  const rakp2 = decodeRakp2(decodeV20(byType(PayloadType.RAKP2)[0]!.bytes).payload);
  const rakp3 = decodeRakp3(decodeV20(byType(PayloadType.RAKP3)[0]!.bytes).payload);
  const rakp4 = decodeRakp4(decodeV20(byType(PayloadType.RAKP4)[0]!.bytes).payload);
  const ctx = rakpContextOf({ openRequest: open, openResponse: openRsp, rakp1, rakp2 }, password);

  it('decodes Open Session and RAKP 1-4 and rebuilds each byte for byte', () => {
    expect([open.auth, open.integrity, open.confidentiality]).to.deep.equal([suite.auth, suite.integrity, suite.confidentiality]);
    expect(openRsp.status).to.equal(0);
    expect(rakp1.username.toString()).to.equal('admin');
    if (capture.guid) expect(rakp2.bmcGuid.toString('hex')).to.equal(capture.guid);
    const rebuild = (type: number, payload: Buffer) => encodeV20({ payloadType: type, sessionId: 0, sequence: 0, payload });
    expect(rebuild(PayloadType.OPEN_SESSION_REQUEST, encodeOpenSessionRequest(open))).to.deep.equal(byType(0x10)[0]!.bytes);
    expect(rebuild(PayloadType.OPEN_SESSION_RESPONSE, encodeOpenSessionResponse(openRsp))).to.deep.equal(byType(0x11)[0]!.bytes);
    expect(rebuild(PayloadType.RAKP1, encodeRakp1(rakp1))).to.deep.equal(byType(0x12)[0]!.bytes);
    expect(rebuild(PayloadType.RAKP2, encodeRakp2(rakp2))).to.deep.equal(byType(0x13)[0]!.bytes);
    expect(rebuild(PayloadType.RAKP3, encodeRakp3(rakp3))).to.deep.equal(byType(0x14)[0]!.bytes);
    expect(rebuild(PayloadType.RAKP4, encodeRakp4(rakp4))).to.deep.equal(byType(0x15)[0]!.bytes);
  });

  it(`computes the same RAKP 2 HMAC, RAKP 3 HMAC and RAKP 4 ICV as ${capture.peers}`, () => {
    expect(rakp2AuthCode(ctx).toString('hex')).to.equal(rakp2.authCode.toString('hex'));
    expect(rakp3AuthCode(ctx).toString('hex')).to.equal(rakp3.authCode.toString('hex'));
    const keys = deriveSessionKeys(ctx);
    expect(rakp4Icv(ctx, keys.sik).toString('hex')).to.equal(rakp4.integrityCheckValue.toString('hex'));
  });

  it('a wrong password gives another RAKP 2 HMAC', () => {
    expect(rakp2AuthCode({ ...ctx, password: Buffer.from('passwore') })).to.not.deep.equal(rakp2.authCode);
  });

  it('verifies, decrypts and rebuilds every in-session packet', () => {
    const keys = deriveSessionKeys(ctx);
    const crypto: SessionCrypto = { integrity: suite.integrity, confidentiality: suite.confidentiality, k1: keys.k1, k2: keys.k2, password };
    const inSession = packets.filter((p) => {
      const env = peekEnvelope(p.bytes);
      return env.format === 'v2.0' && env.sessionId !== 0;
    });
    expect(inSession.length).to.be.greaterThan(6);
    let sawDeviceId = false;
    for (const p of inSession) {
      const packet = decodeV20(p.bytes, crypto, true);
      expect(packet.encrypted && packet.authenticated, `line ${p.line}`).to.equal(true);
      if (p.direction === 'to-bmc') {
        const req = decodeRequest(packet.payload);
        expect(encodeRequest(req)).to.deep.equal(packet.payload);
      } else {
        const rsp = decodeResponse(packet.payload);
        expect(encodeResponse(rsp)).to.deep.equal(packet.payload);
        if (rsp.cmd === 0x01 && rsp.netFn === 0x07) {
          if (capture.manufacturer !== undefined) expect(decodeDeviceId(rsp.data).manufacturerId).to.equal(capture.manufacturer);
          sawDeviceId = true;
        }
      }
      const iv = p.bytes.subarray(16, 32); // RMCP(4) + session header(12) then the IV
      const rebuilt = encodeV20({
        payloadType: packet.payloadType,
        sessionId: packet.sessionId,
        sequence: packet.sequence,
        payload: packet.payload,
        encrypt: true,
        authenticate: true,
        crypto,
        iv,
      });
      expect(rebuilt.toString('hex'), `line ${p.line}`).to.equal(p.bytes.toString('hex'));
    }
    expect(sawDeviceId).to.equal(true);
  });

  it('rejects each in-session packet with one bit flipped', () => {
    const keys = deriveSessionKeys(ctx);
    const crypto: SessionCrypto = { integrity: suite.integrity, confidentiality: suite.confidentiality, k1: keys.k1, k2: keys.k2, password };
    const p = packets.find((x) => peekEnvelope(x.bytes).sessionId !== 0 && x.direction === 'to-console')!;
    for (let i = 4; i < p.bytes.length; i++) {
      const forged = Buffer.from(p.bytes);
      forged[i]! ^= 0x01;
      expect(() => decodeV20(forged, crypto, true), `byte ${i}`).to.throw();
    }
  });
});

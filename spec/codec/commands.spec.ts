import { expect } from 'chai';
import {
  decodeActivatePayloadResponse,
  decodeChannelAuthCapabilities,
  decodeDeviceId,
  decodePayloadActivationStatus,
  encodeActivatePayloadResponse,
  encodeChannelAuthCapabilities,
  encodeCipherSuiteRecords,
  encodeDeviceId,
  parseCipherSuiteRecords,
} from '../../lib/codec/commands.js';

describe('codec/commands', () => {
  it('parses cipher suite records split over 16-byte chunks, standard and OEM (section 22.15.2)', () => {
    const data = Buffer.concat([
      encodeCipherSuiteRecords([
        { id: 3, auth: 1, integrity: 1, confidentiality: 1 },
        { id: 17, auth: 3, integrity: 4, confidentiality: 1 },
      ]),
      Buffer.from([0xc1, 0x80, 0x57, 0x01, 0x00, 0x01, 0x41, 0x81]),
    ]);
    const records = parseCipherSuiteRecords(data);
    expect(records.map((r) => r.id)).to.deep.equal([3, 17, 0x80]);
    expect(records[1]).to.deep.include({ auth: 3, integrity: [4], confidentiality: [1] });
    expect(records[2]!.oemIana).to.equal(0x157);
  });

  it('decodes ipmi_sim\'s Get Channel Auth Capabilities answer', () => {
    const caps = decodeChannelAuthCapabilities(Buffer.from('0197060300000000', 'hex'));
    expect(caps).to.include({ channel: 1, supportsIpmi20: true, supportsIpmi15: true, nonNullUsernames: true, nullUsernames: true, kgSet: false });
    expect(decodeChannelAuthCapabilities(encodeChannelAuthCapabilities(caps))).to.deep.equal(caps);
  });

  it('decodes Get Device ID (firmware BCD, manufacturer 20 bits)', () => {
    const data = encodeDeviceId({ deviceId: 0x20, deviceRevision: 3, firmwareMajor: 9, firmwareMinorBcd: 0x08, ipmiVersionBcd: 0x02, additionalDeviceSupport: 0x9f, manufacturerId: 0x1291, productId: 0x0f02 });
    expect(decodeDeviceId(data)).to.include({ firmwareRevision: '9.08', ipmiVersion: '2.0', manufacturerId: 0x1291, productId: 0x0f02 });
  });

  it('decodes Activate Payload responses, VLAN FFFF as none', () => {
    const r = decodeActivatePayloadResponse(encodeActivatePayloadResponse({ inboundPayloadSize: 0x24, outboundPayloadSize: 0x104, port: 623, vlan: undefined }));
    expect(r).to.include({ inboundPayloadSize: 0x24, outboundPayloadSize: 0x104, port: 623, vlan: undefined });
    expect(() => decodeActivatePayloadResponse(Buffer.alloc(5))).to.throw();
  });

  it('decodes payload activation status bitmaps', () => {
    expect(decodePayloadActivationStatus(Buffer.from([0x01, 0x01, 0x00]))).to.deep.equal({ capacity: 1, activeInstances: [1] });
    expect(decodePayloadActivationStatus(Buffer.from([0x02, 0x00, 0x00])).activeInstances).to.deep.equal([]);
  });
});

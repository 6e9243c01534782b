/**
 * Request/response data of the IPMI commands we use (NetFn App unless noted), IPMI 2.0 sections 20, 22, 24, 26.
 * Each pair is pure: the session layer wraps them in IPMI messages.
 */
import { BufferReader, BufferWriter, CodecError } from './buffer.js';

export const Cmd = {
  GET_DEVICE_ID: 0x01,
  GET_CHANNEL_AUTH_CAPABILITIES: 0x38,
  SET_SESSION_PRIVILEGE_LEVEL: 0x3b,
  CLOSE_SESSION: 0x3c,
  ACTIVATE_PAYLOAD: 0x48,
  DEACTIVATE_PAYLOAD: 0x49,
  GET_PAYLOAD_ACTIVATION_STATUS: 0x4a,
  GET_PAYLOAD_INSTANCE_INFO: 0x4b,
  GET_CHANNEL_CIPHER_SUITES: 0x54,
  /** NetFn Transport */
  GET_SOL_CONFIGURATION_PARAMETERS: 0x22,
} as const;

/** Channel number 0x0E: "this channel" (the one the request arrives on), section 6.3. */
export const CURRENT_CHANNEL = 0x0e;
export const SOL_PAYLOAD_TYPE = 0x01;

// ---- Get Device ID (section 20.1) ----------------------------------------------------------------------------
export interface DeviceId {
  deviceId: number;
  deviceRevision: number;
  deviceProvidesSdrs: boolean;
  firmwareMajor: number;
  firmwareMinor: number; // decoded from BCD
  firmwareRevision: string; // "major.minor" as ipmitool prints it
  deviceAvailable: boolean;
  ipmiVersion: string; // "2.0"
  additionalDeviceSupport: number;
  manufacturerId: number;
  productId: number;
  auxFirmwareRevision?: Buffer;
}

function bcd(byte: number): number {
  return (byte >> 4) * 10 + (byte & 0x0f);
}

export function decodeDeviceId(data: Buffer): DeviceId {
  const r = new BufferReader(data);
  const deviceId = r.u8();
  const rev = r.u8();
  const fw1 = r.u8();
  const fw2 = r.u8();
  const ver = r.u8();
  const additionalDeviceSupport = r.u8();
  const manufacturerId = r.u24le() & 0x0fffff;
  const productId = r.u16le();
  const firmwareMajor = fw1 & 0x7f;
  const firmwareMinor = bcd(fw2);
  const out: DeviceId = {
    deviceId,
    deviceRevision: rev & 0x0f,
    deviceProvidesSdrs: (rev & 0x80) !== 0,
    firmwareMajor,
    firmwareMinor,
    firmwareRevision: `${firmwareMajor}.${fw2.toString(16).padStart(2, '0')}`,
    deviceAvailable: (fw1 & 0x80) === 0,
    ipmiVersion: `${ver & 0x0f}.${ver >> 4}`,
    additionalDeviceSupport,
    manufacturerId,
    productId,
  };
  if (r.remaining >= 4) out.auxFirmwareRevision = Buffer.from(r.bytes(4));
  return out;
}

export function encodeDeviceId(d: {
  deviceId: number;
  deviceRevision: number;
  firmwareMajor: number;
  firmwareMinorBcd: number;
  ipmiVersionBcd: number;
  additionalDeviceSupport: number;
  manufacturerId: number;
  productId: number;
  auxFirmwareRevision?: Buffer;
}): Buffer {
  const w = new BufferWriter(15);
  w.u8(d.deviceId).u8(d.deviceRevision & 0x0f).u8(d.firmwareMajor & 0x7f).u8(d.firmwareMinorBcd);
  w.u8(d.ipmiVersionBcd).u8(d.additionalDeviceSupport).u24le(d.manufacturerId).u16le(d.productId);
  if (d.auxFirmwareRevision) w.bytes(d.auxFirmwareRevision);
  return w.toBuffer();
}

// ---- Get Channel Authentication Capabilities (section 22.13) ---------------------------------------------------
export interface ChannelAuthCapabilities {
  channel: number;
  ipmi20ExtendedData: boolean;
  authTypes: number; // bit mask of v1.5 auth types
  kgSet: boolean; // K_G set to a non-default (non-zero) value
  perMessageAuthDisabled: boolean;
  userLevelAuthDisabled: boolean;
  nonNullUsernames: boolean;
  nullUsernames: boolean;
  anonymousLogin: boolean;
  supportsIpmi20: boolean;
  supportsIpmi15: boolean;
  oemId: number;
  oemAux: number;
}

/** Request: channel | 0x80 (ask for IPMI v2.0 extended data), requested maximum privilege level. */
export function encodeGetChannelAuthCapabilities(privilege: number, channel = CURRENT_CHANNEL): Buffer {
  return Buffer.from([0x80 | (channel & 0x0f), privilege & 0x0f]);
}

export function decodeGetChannelAuthCapabilitiesRequest(data: Buffer): { channel: number; v20: boolean; privilege: number } {
  if (data.length < 2) throw new CodecError('Get Channel Auth Capabilities request too short');
  return { channel: data[0]! & 0x0f, v20: (data[0]! & 0x80) !== 0, privilege: data[1]! & 0x0f };
}

export function decodeChannelAuthCapabilities(data: Buffer): ChannelAuthCapabilities {
  const r = new BufferReader(data);
  const channel = r.u8();
  const b2 = r.u8();
  const b3 = r.u8();
  const b4 = r.u8();
  const oemId = r.remaining >= 3 ? r.u24le() : 0;
  const oemAux = r.remaining >= 1 ? r.u8() : 0;
  return {
    channel,
    ipmi20ExtendedData: (b2 & 0x80) !== 0,
    authTypes: b2 & 0x3f,
    kgSet: (b3 & 0x20) !== 0,
    perMessageAuthDisabled: (b3 & 0x10) !== 0,
    userLevelAuthDisabled: (b3 & 0x08) !== 0,
    nonNullUsernames: (b3 & 0x04) !== 0,
    nullUsernames: (b3 & 0x02) !== 0,
    anonymousLogin: (b3 & 0x01) !== 0,
    supportsIpmi20: (b2 & 0x80) !== 0 && (b4 & 0x02) !== 0,
    supportsIpmi15: (b2 & 0x80) === 0 || (b4 & 0x01) !== 0,
    oemId,
    oemAux,
  };
}

export function encodeChannelAuthCapabilities(c: ChannelAuthCapabilities): Buffer {
  const b3 =
    (c.kgSet ? 0x20 : 0) |
    (c.perMessageAuthDisabled ? 0x10 : 0) |
    (c.userLevelAuthDisabled ? 0x08 : 0) |
    (c.nonNullUsernames ? 0x04 : 0) |
    (c.nullUsernames ? 0x02 : 0) |
    (c.anonymousLogin ? 0x01 : 0);
  const b4 = (c.supportsIpmi20 ? 0x02 : 0) | (c.supportsIpmi15 ? 0x01 : 0);
  return new BufferWriter(8)
    .u8(c.channel)
    .u8((c.ipmi20ExtendedData ? 0x80 : 0) | (c.authTypes & 0x3f))
    .u8(b3)
    .u8(b4)
    .u24le(c.oemId)
    .u8(c.oemAux)
    .toBuffer();
}

// ---- Get Channel Cipher Suites (section 22.15) ---------------------------------------------------------------
/** Request: channel, payload type (IPMI), list index | 0x80 (list algorithms by cipher suite). */
export function encodeGetChannelCipherSuites(index: number, channel = CURRENT_CHANNEL): Buffer {
  return Buffer.from([channel & 0x0f, 0x00, 0x80 | (index & 0x3f)]);
}

export interface CipherSuiteRecord {
  id: number;
  oemIana?: number;
  auth: number;
  integrity: number[];
  confidentiality: number[];
}

/**
 * Parse the concatenated record data (section 22.15.2): records start with C0 (standard: C0 id algs...) or
 * C1 (OEM: C1 id iana(3) algs...); algorithm bytes are 00..3F auth, 40..7F integrity, 80..BF confidentiality.
 */
export function parseCipherSuiteRecords(data: Buffer): CipherSuiteRecord[] {
  const out: CipherSuiteRecord[] = [];
  let i = 0;
  while (i < data.length) {
    const start = data[i]!;
    if (start !== 0xc0 && start !== 0xc1) {
      i++;
      continue;
    }
    if (i + 1 >= data.length) break;
    const rec: CipherSuiteRecord = { id: data[i + 1]!, auth: -1, integrity: [], confidentiality: [] };
    i += 2;
    if (start === 0xc1) {
      if (i + 3 > data.length) break;
      rec.oemIana = data.readUIntLE(i, 3);
      i += 3;
    }
    while (i < data.length && data[i] !== 0xc0 && data[i] !== 0xc1) {
      const b = data[i]!;
      if (b < 0x40) rec.auth = b;
      else if (b < 0x80) rec.integrity.push(b & 0x3f);
      else if (b < 0xc0) rec.confidentiality.push(b & 0x3f);
      i++;
    }
    out.push(rec);
  }
  return out;
}

export function encodeCipherSuiteRecords(suites: { id: number; auth: number; integrity: number; confidentiality: number }[]): Buffer {
  const w = new BufferWriter(suites.length * 5);
  for (const s of suites) w.u8(0xc0).u8(s.id).u8(s.auth).u8(0x40 | s.integrity).u8(0x80 | s.confidentiality);
  return w.toBuffer();
}

// ---- Set Session Privilege Level (section 22.18), Close Session (section 22.19) -----------------------------
export function encodeSetSessionPrivilege(privilege: number): Buffer {
  return Buffer.from([privilege & 0x0f]);
}

export function encodeCloseSession(bmcSessionId: number): Buffer {
  return new BufferWriter(4).u32le(bmcSessionId).toBuffer();
}

// ---- Activate / Deactivate Payload (sections 24.1, 24.2), activation status and instance info (24.4, 24.5) --
/** Activate Payload aux byte 1 for SOL (table 24-2). */
export const SolActivateAux = {
  ENCRYPT: 0x80,
  AUTHENTICATE: 0x40,
  /** [3:2] serial/modem alerts deferred while SOL is active (what ipmitool sends) */
  ALERTS_DEFERRED: 0x04,
  /** [1] CTS and DCD/DSR stay deasserted after activation */
  NO_STARTUP_HANDSHAKE: 0x02,
} as const;

export function encodeActivatePayload(instance: number, aux: number, payloadType = SOL_PAYLOAD_TYPE): Buffer {
  return Buffer.from([payloadType, instance & 0x0f, aux, 0, 0, 0]);
}

export interface ActivatePayloadResponse {
  aux: Buffer;
  inboundPayloadSize: number; // what the BMC accepts from us (we send at most this minus the 4-byte SOL header)
  outboundPayloadSize: number; // what the BMC sends us
  port: number;
  vlan: number | undefined; // undefined: VLAN not used (FFFFh)
}

export function decodeActivatePayloadResponse(data: Buffer): ActivatePayloadResponse {
  const r = new BufferReader(data);
  const aux = Buffer.from(r.bytes(4));
  const inboundPayloadSize = r.u16le();
  const outboundPayloadSize = r.u16le();
  const port = r.u16le();
  const vlan = r.remaining >= 2 ? r.u16le() : 0xffff;
  return { aux, inboundPayloadSize, outboundPayloadSize, port, vlan: vlan === 0xffff ? undefined : vlan };
}

export function encodeActivatePayloadResponse(r: Omit<ActivatePayloadResponse, 'aux'> & { aux?: Buffer }): Buffer {
  return new BufferWriter(12)
    .bytes(r.aux ?? Buffer.alloc(4))
    .u16le(r.inboundPayloadSize)
    .u16le(r.outboundPayloadSize)
    .u16le(r.port)
    .u16le(r.vlan ?? 0xffff)
    .toBuffer();
}

export function encodeDeactivatePayload(instance: number, payloadType = SOL_PAYLOAD_TYPE): Buffer {
  return Buffer.from([payloadType, instance & 0x0f, 0, 0, 0, 0]);
}

export interface PayloadActivationStatus {
  capacity: number;
  activeInstances: number[];
}

export function decodePayloadActivationStatus(data: Buffer): PayloadActivationStatus {
  const r = new BufferReader(data);
  const capacity = r.u8() & 0x0f;
  const bits = r.remaining >= 2 ? r.u16le() : r.u8();
  const activeInstances: number[] = [];
  for (let i = 0; i < 16; i++) if (bits & (1 << i)) activeInstances.push(i + 1);
  return { capacity, activeInstances };
}

export function encodeGetPayloadInstanceInfo(instance: number, payloadType = SOL_PAYLOAD_TYPE): Buffer {
  return Buffer.from([payloadType, instance & 0x0f]);
}

// ---- Get SOL Configuration Parameters (section 26.3), NetFn Transport ---------------------------------------
export const SolParameter = {
  SET_IN_PROGRESS: 0,
  ENABLE: 1,
  AUTHENTICATION: 2,
  CHARACTER_INTERVAL: 3,
  RETRY: 4,
  NON_VOLATILE_BIT_RATE: 5,
  VOLATILE_BIT_RATE: 6,
  PAYLOAD_CHANNEL: 7,
  PAYLOAD_PORT: 8,
} as const;

/**
 * Cipher suites and algorithm numbers, IPMI 2.0 section 13.28 and table 22-20.
 */
export const AuthAlgorithm = { NONE: 0, HMAC_SHA1: 1, HMAC_MD5: 2, HMAC_SHA256: 3 } as const;
export type AuthAlgorithm = (typeof AuthAlgorithm)[keyof typeof AuthAlgorithm];

export const IntegrityAlgorithm = { NONE: 0, HMAC_SHA1_96: 1, HMAC_MD5_128: 2, MD5_128: 3, HMAC_SHA256_128: 4 } as const;
export type IntegrityAlgorithm = (typeof IntegrityAlgorithm)[keyof typeof IntegrityAlgorithm];

export const ConfidentialityAlgorithm = { NONE: 0, AES_CBC_128: 1, XRC4_128: 2, XRC4_40: 3 } as const;
export type ConfidentialityAlgorithm = (typeof ConfidentialityAlgorithm)[keyof typeof ConfidentialityAlgorithm];

export interface CipherSuite {
  id: number;
  auth: AuthAlgorithm;
  integrity: IntegrityAlgorithm;
  confidentiality: ConfidentialityAlgorithm;
}

const A = AuthAlgorithm;
const I = IntegrityAlgorithm;
const C = ConfidentialityAlgorithm;

/** The twelve suites ipmitool and FreeIPMI speak (IPMI 2.0 table 22-20, plus 15-17 from errata). */
export const CIPHER_SUITES: ReadonlyMap<number, CipherSuite> = new Map(
  (
    [
      [0, A.NONE, I.NONE, C.NONE],
      [1, A.HMAC_SHA1, I.NONE, C.NONE],
      [2, A.HMAC_SHA1, I.HMAC_SHA1_96, C.NONE],
      [3, A.HMAC_SHA1, I.HMAC_SHA1_96, C.AES_CBC_128],
      [6, A.HMAC_MD5, I.NONE, C.NONE],
      [7, A.HMAC_MD5, I.HMAC_MD5_128, C.NONE],
      [8, A.HMAC_MD5, I.HMAC_MD5_128, C.AES_CBC_128],
      [11, A.HMAC_MD5, I.MD5_128, C.NONE],
      [12, A.HMAC_MD5, I.MD5_128, C.AES_CBC_128],
      [15, A.HMAC_SHA256, I.NONE, C.NONE],
      [16, A.HMAC_SHA256, I.HMAC_SHA256_128, C.NONE],
      [17, A.HMAC_SHA256, I.HMAC_SHA256_128, C.AES_CBC_128],
    ] as const
  ).map(([id, auth, integrity, confidentiality]) => [id, { id, auth, integrity, confidentiality }]),
);

export const SUPPORTED_CIPHER_SUITE_IDS: readonly number[] = [...CIPHER_SUITES.keys()];

/**
 * Our preference when a BMC offers several suites (strongest first). AES with SHA-256 first; suites without
 * integrity or confidentiality last, suite 0 never chosen automatically.
 */
export const CIPHER_SUITE_PREFERENCE: readonly number[] = [17, 3, 8, 12, 16, 2, 7, 11, 15, 1, 6];

export function cipherSuiteById(id: number): CipherSuite | undefined {
  return CIPHER_SUITES.get(id);
}

/** Find the suite with exactly these three algorithms (a BMC may number OEM suites differently). */
export function cipherSuiteByAlgorithms(auth: number, integrity: number, confidentiality: number): CipherSuite | undefined {
  for (const suite of CIPHER_SUITES.values()) {
    if (suite.auth === auth && suite.integrity === integrity && suite.confidentiality === confidentiality) return suite;
  }
  return undefined;
}

/**
 * Per RAKP authentication algorithm: the hash behind it, the length of the RAKP 2 / RAKP 3 key exchange auth code
 * (the full HMAC, IPMI 2.0 sections 13.31, 13.32) and of the RAKP 4 integrity check value (HMAC-SHA1-96,
 * HMAC-MD5-128, HMAC-SHA256-128). RAKP-none has none of them.
 */
const AUTH_ALGORITHM_FACTS: Readonly<Record<number, { hash: 'sha1' | 'md5' | 'sha256'; hmacLength: number; icvLength: number }>> = {
  [A.HMAC_SHA1]: { hash: 'sha1', hmacLength: 20, icvLength: 12 },
  [A.HMAC_MD5]: { hash: 'md5', hmacLength: 16, icvLength: 16 },
  [A.HMAC_SHA256]: { hash: 'sha256', hmacLength: 32, icvLength: 16 },
};

/** Hash behind each RAKP authentication algorithm. */
export function authHash(auth: AuthAlgorithm): 'sha1' | 'md5' | 'sha256' | undefined {
  return AUTH_ALGORITHM_FACTS[auth]?.hash;
}

/** Length of the RAKP2 and RAKP3 key exchange auth code (the full HMAC), IPMI 2.0 section 13.31/13.32. */
export function rakpHmacLength(auth: AuthAlgorithm): number {
  return AUTH_ALGORITHM_FACTS[auth]?.hmacLength ?? 0;
}

/** Length of the RAKP4 integrity check value: HMAC-SHA1-96 (12), HMAC-MD5-128 (16), HMAC-SHA256-128 (16). */
export function rakp4IcvLength(auth: AuthAlgorithm): number {
  return AUTH_ALGORITHM_FACTS[auth]?.icvLength ?? 0;
}

/** Length of the AuthCode field in the session trailer, IPMI 2.0 section 13.28.4. */
export function integrityCodeLength(integrity: IntegrityAlgorithm): number {
  switch (integrity) {
    case I.HMAC_SHA1_96:
      return 12;
    case I.HMAC_MD5_128:
    case I.MD5_128:
    case I.HMAC_SHA256_128:
      return 16;
    default:
      return 0;
  }
}

export const PRIVILEGE_LEVELS = { callback: 1, user: 2, operator: 3, administrator: 4, oem: 5 } as const;
export type PrivilegeName = 'callback' | 'user' | 'operator' | 'administrator';

export function privilegeName(level: number): string {
  return ['highest', 'callback', 'user', 'operator', 'administrator', 'oem'][level] ?? `level ${level}`;
}

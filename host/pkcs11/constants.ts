// PKCS#11 numbers this server speaks (return values, attributes, mechanisms, flags) and p11-kit's RPC call table as of 0.24.1 (docs/pkcs11.md §3).

/** CK_RV values (PKCS#11 v2.40 §11.1 / pkcs11t.h). */
export const CKR = {
  OK: 0x0,
  HOST_MEMORY: 0x2,
  SLOT_ID_INVALID: 0x3,
  GENERAL_ERROR: 0x5,
  FUNCTION_FAILED: 0x6,
  ARGUMENTS_BAD: 0x7,
  ATTRIBUTE_READ_ONLY: 0x10,
  ATTRIBUTE_SENSITIVE: 0x11,
  ATTRIBUTE_TYPE_INVALID: 0x12,
  ATTRIBUTE_VALUE_INVALID: 0x13,
  ACTION_PROHIBITED: 0x1b,
  DATA_INVALID: 0x20,
  DATA_LEN_RANGE: 0x21,
  DEVICE_ERROR: 0x30,
  DEVICE_MEMORY: 0x31,
  DEVICE_REMOVED: 0x32,
  FUNCTION_CANCELED: 0x50,
  FUNCTION_NOT_SUPPORTED: 0x54,
  KEY_HANDLE_INVALID: 0x60,
  KEY_TYPE_INCONSISTENT: 0x63,
  KEY_FUNCTION_NOT_PERMITTED: 0x68,
  MECHANISM_INVALID: 0x70,
  MECHANISM_PARAM_INVALID: 0x71,
  OBJECT_HANDLE_INVALID: 0x82,
  OPERATION_ACTIVE: 0x90,
  OPERATION_NOT_INITIALIZED: 0x91,
  PIN_INCORRECT: 0xa0,
  PIN_LOCKED: 0xa4,
  SESSION_COUNT: 0xb1,
  SESSION_HANDLE_INVALID: 0xb3,
  SESSION_PARALLEL_NOT_SUPPORTED: 0xb4,
  SESSION_READ_ONLY: 0xb5,
  TEMPLATE_INCOMPLETE: 0xd0,
  TEMPLATE_INCONSISTENT: 0xd1,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  USER_PIN_NOT_INITIALIZED: 0x102,
  USER_TYPE_INVALID: 0x103,
  CURVE_NOT_SUPPORTED: 0x140,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
} as const;

/** CKR value → name, for log lines. */
export function ckrName(rv: number): string {
  for (const [k, v] of Object.entries(CKR)) if (v === rv) return `CKR_${k}`;
  return `0x${rv.toString(16)}`;
}

/** CK_ATTRIBUTE_TYPE values this server reads or answers. */
export const CKA = {
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  VALUE: 0x11,
  KEY_TYPE: 0x100,
  SUBJECT: 0x101,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  WRAP: 0x106,
  UNWRAP: 0x107,
  SIGN: 0x108,
  SIGN_RECOVER: 0x109,
  VERIFY: 0x10a,
  VERIFY_RECOVER: 0x10b,
  DERIVE: 0x10c,
  START_DATE: 0x110,
  END_DATE: 0x111,
  PUBLIC_KEY_INFO: 0x129,
  EXTRACTABLE: 0x162,
  LOCAL: 0x163,
  NEVER_EXTRACTABLE: 0x164,
  ALWAYS_SENSITIVE: 0x165,
  KEY_GEN_MECHANISM: 0x166,
  MODIFIABLE: 0x170,
  COPYABLE: 0x171,
  DESTROYABLE: 0x172,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181,
  ALWAYS_AUTHENTICATE: 0x202,
  WRAP_WITH_TRUSTED: 0x210,
  WRAP_TEMPLATE: 0x40000211,
  UNWRAP_TEMPLATE: 0x40000212,
  ALLOWED_MECHANISMS: 0x40000600,
} as const;

export const CKO = { PUBLIC_KEY: 2, PRIVATE_KEY: 3 } as const;
export const CKK = { EC: 3, EC_EDWARDS: 0x40 } as const;

/** CK_MECHANISM_TYPE values this server offers. */
export const CKM = {
  EC_KEY_PAIR_GEN: 0x1040,
  ECDSA: 0x1041,
  ECDSA_SHA256: 0x1044,
  EC_EDWARDS_KEY_PAIR_GEN: 0x1055,
  EDDSA: 0x1057,
} as const;

export const CKU = { SO: 0, USER: 1, CONTEXT_SPECIFIC: 2 } as const;

/** CK_SESSION_INFO states. */
export const CKS = { RO_PUBLIC: 0, RO_USER: 1, RW_PUBLIC: 2, RW_USER: 3 } as const;

export const CKF = {
  // slot
  TOKEN_PRESENT: 0x1,
  REMOVABLE_DEVICE: 0x2,
  HW_SLOT: 0x4,
  // token
  LOGIN_REQUIRED: 0x4,
  USER_PIN_INITIALIZED: 0x8,
  TOKEN_INITIALIZED: 0x400,
  USER_PIN_COUNT_LOW: 0x10000,
  USER_PIN_FINAL_TRY: 0x20000,
  USER_PIN_LOCKED: 0x40000,
  SO_PIN_COUNT_LOW: 0x100000,
  SO_PIN_FINAL_TRY: 0x200000,
  SO_PIN_LOCKED: 0x400000,
  // session
  RW_SESSION: 0x2,
  SERIAL_SESSION: 0x4,
  // mechanism
  HW: 0x1,
  SIGN: 0x800,
  GENERATE_KEY_PAIR: 0x10000,
  EC_F_P: 0x100000,
  EC_NAMEDCURVE: 0x800000,
  EC_UNCOMPRESS: 0x1000000,
} as const;

/** CK_UNAVAILABLE_INFORMATION: ~0 as a 64-bit CK_ULONG. */
export const UNAVAILABLE = 0xffffffffffffffffn;

/**
 * p11-kit's RPC calls, in call-id order, with their request and response signatures (rpc-message.h of p11-kit 0.24.1,
 * protocol version 0). Id 0 is the error reply. A call id past the end is refused by closing the connection, as
 * p11-kit's own server does.
 */
export const RPC_CALLS: readonly { name: string; request: string; response: string }[] = [
  { name: 'ERROR', request: '', response: 'u' },
  { name: 'C_Initialize', request: 'ayyay', response: '' },
  { name: 'C_Finalize', request: '', response: '' },
  { name: 'C_GetInfo', request: '', response: 'vsusv' },
  { name: 'C_GetSlotList', request: 'yfu', response: 'au' },
  { name: 'C_GetSlotInfo', request: 'u', response: 'ssuvv' },
  { name: 'C_GetTokenInfo', request: 'u', response: 'ssssuuuuuuuuuuuvvs' },
  { name: 'C_GetMechanismList', request: 'ufu', response: 'au' },
  { name: 'C_GetMechanismInfo', request: 'uu', response: 'uuu' },
  { name: 'C_InitToken', request: 'uayz', response: '' },
  { name: 'C_OpenSession', request: 'uu', response: 'u' },
  { name: 'C_CloseSession', request: 'u', response: '' },
  { name: 'C_CloseAllSessions', request: 'u', response: '' },
  { name: 'C_GetSessionInfo', request: 'u', response: 'uuuu' },
  { name: 'C_InitPIN', request: 'uay', response: '' },
  { name: 'C_SetPIN', request: 'uayay', response: '' },
  { name: 'C_GetOperationState', request: 'ufy', response: 'ay' },
  { name: 'C_SetOperationState', request: 'uayuu', response: '' },
  { name: 'C_Login', request: 'uuay', response: '' },
  { name: 'C_Logout', request: 'u', response: '' },
  { name: 'C_CreateObject', request: 'uaA', response: 'u' },
  { name: 'C_CopyObject', request: 'uuaA', response: 'u' },
  { name: 'C_DestroyObject', request: 'uu', response: '' },
  { name: 'C_GetObjectSize', request: 'uu', response: 'u' },
  { name: 'C_GetAttributeValue', request: 'uufA', response: 'aAu' },
  { name: 'C_SetAttributeValue', request: 'uuaA', response: '' },
  { name: 'C_FindObjectsInit', request: 'uaA', response: '' },
  { name: 'C_FindObjects', request: 'ufu', response: 'au' },
  { name: 'C_FindObjectsFinal', request: 'u', response: '' },
  { name: 'C_EncryptInit', request: 'uMu', response: '' },
  { name: 'C_Encrypt', request: 'uayfy', response: 'ay' },
  { name: 'C_EncryptUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_EncryptFinal', request: 'ufy', response: 'ay' },
  { name: 'C_DecryptInit', request: 'uMu', response: '' },
  { name: 'C_Decrypt', request: 'uayfy', response: 'ay' },
  { name: 'C_DecryptUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_DecryptFinal', request: 'ufy', response: 'ay' },
  { name: 'C_DigestInit', request: 'uM', response: '' },
  { name: 'C_Digest', request: 'uayfy', response: 'ay' },
  { name: 'C_DigestUpdate', request: 'uay', response: '' },
  { name: 'C_DigestKey', request: 'uu', response: '' },
  { name: 'C_DigestFinal', request: 'ufy', response: 'ay' },
  { name: 'C_SignInit', request: 'uMu', response: '' },
  { name: 'C_Sign', request: 'uayfy', response: 'ay' },
  { name: 'C_SignUpdate', request: 'uay', response: '' },
  { name: 'C_SignFinal', request: 'ufy', response: 'ay' },
  { name: 'C_SignRecoverInit', request: 'uMu', response: '' },
  { name: 'C_SignRecover', request: 'uayfy', response: 'ay' },
  { name: 'C_VerifyInit', request: 'uMu', response: '' },
  { name: 'C_Verify', request: 'uayay', response: '' },
  { name: 'C_VerifyUpdate', request: 'uay', response: '' },
  { name: 'C_VerifyFinal', request: 'uay', response: '' },
  { name: 'C_VerifyRecoverInit', request: 'uMu', response: '' },
  { name: 'C_VerifyRecover', request: 'uayfy', response: 'ay' },
  { name: 'C_DigestEncryptUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_DecryptDigestUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_SignEncryptUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_DecryptVerifyUpdate', request: 'uayfy', response: 'ay' },
  { name: 'C_GenerateKey', request: 'uMaA', response: 'u' },
  { name: 'C_GenerateKeyPair', request: 'uMaAaA', response: 'uu' },
  { name: 'C_WrapKey', request: 'uMuufy', response: 'ay' },
  { name: 'C_UnwrapKey', request: 'uMuayaA', response: 'u' },
  { name: 'C_DeriveKey', request: 'uMuaA', response: 'u' },
  { name: 'C_SeedRandom', request: 'uay', response: '' },
  { name: 'C_GenerateRandom', request: 'ufy', response: 'ay' },
  { name: 'C_WaitForSlotEvent', request: 'u', response: 'u' },
];

/** Call id of a call by name (throws on a name not in the table: a programming error, never input). */
export function callId(name: string): number {
  const i = RPC_CALLS.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`no RPC call ${name}`);
  return i;
}

/** The handshake string C_Initialize carries (rpc-message.h P11_RPC_HANDSHAKE). */
export const RPC_HANDSHAKE = 'PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1';

/** The RPC protocol version this server speaks: p11-kit 0.24 speaks 0 only. */
export const RPC_PROTOCOL_VERSION = 0;

/** How p11-kit serializes an attribute's value (rpc-message.c map_attribute_to_value_type); anything else is a byte array. */
export type ValueKind = 'byte' | 'ulong' | 'attributes' | 'mechanisms' | 'date' | 'bytes';

const BYTE_ATTRS = new Set([
  0x1, 0x2, 0x86, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10a, 0x10b, 0x10c, 0x162, 0x163, 0x164, 0x165, 0x170, 0x171, 0x200, 0x202, 0x210, 0x301,
  0x302, 0x405,
]);
const ULONG_ATTRS = new Set([
  0x0, 0x80, 0x87, 0x88, 0x100, 0x121, 0x133, 0x134, 0x160, 0x161, 0x166, 0x201, 0x300, 0x400, 0x401, 0x402, 0x403, 0x404, 0x406, 0x500,
]);

export function valueKind(type: number): ValueKind {
  if (BYTE_ATTRS.has(type)) return 'byte';
  if (ULONG_ATTRS.has(type)) return 'ulong';
  if (type === CKA.WRAP_TEMPLATE || type === CKA.UNWRAP_TEMPLATE) return 'attributes';
  if (type === CKA.ALLOWED_MECHANISMS) return 'mechanisms';
  if (type === CKA.START_DATE || type === CKA.END_DATE) return 'date';
  return 'bytes';
}

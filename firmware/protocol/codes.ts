// The wire's code tables: frame types, command codes, status codes, algorithm ids. Add at the end; never renumber or reuse.

/** Protocol version carried in every frame header (docs/protocol.md §1). */
export const PROTOCOL_VERSION = 1;

/** Frame types (header byte 1). */
export const FrameType = {
  REQUEST: 0x01,
  RESPONSE: 0x02,
  KEEPALIVE: 0x03,
  CANCEL: 0x04,
  ERROR: 0x05,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Command codes (first byte of a request body). Add at the end. */
export const Command = {
  INFO: 0x01,
  ECHO: 0x02,
  RANDOM: 0x03,
  KEY_GENERATE: 0x04,
  KEY_IMPORT: 0x05,
  KEY_LIST: 0x06,
  KEY_PUBLIC: 0x07,
  KEY_DELETE: 0x08,
  SIGN: 0x09,
  ECDH: 0x0a,
  SESSION_OPEN: 0x0b,
  SESSION_MESSAGE: 0x0c,
  SESSION_CLOSE: 0x0d,
  INIT: 0x0e,
  LOGIN: 0x0f,
  LOGOUT: 0x10,
  CHANGE_PIN: 0x11,
  UNBLOCK: 0x12,
  KEY_SET_POLICY: 0x13,
  KEY_ATTEST: 0x14,
  APPROVAL_CHALLENGE: 0x15,
  OFFICERS_SET: 0x16,
  RESET: 0x17,
  DOMAIN_CREATE: 0x18,
  DOMAIN_JOIN: 0x19,
  BACKUP_EXPORT: 0x1a,
  BACKUP_IMPORT: 0x1b,
  SHARE_RESEAL: 0x1c,
  AUDIT_READ: 0x1d,
  AUDIT_CHECKPOINT: 0x1e,
  AUDIT_ACK: 0x1f,
  AUDIT_SET: 0x20,
  SIGN_BEGIN: 0x21,
  SIGN_UPDATE: 0x22,
} as const;
export type Command = (typeof Command)[keyof typeof Command];
export type CommandName = keyof typeof Command;

/** Status codes (first byte of a response body, or of an ERROR frame's body). Add at the end. */
export const Status = {
  OK: 0x00,
  INVALID_COMMAND: 0x01,
  INVALID_CBOR: 0x02,
  INVALID_PARAMETER: 0x03,
  MISSING_PARAMETER: 0x04,
  UNKNOWN_PARAMETER: 0x05,
  UNSUPPORTED_ALGORITHM: 0x06,
  KEY_NOT_FOUND: 0x07,
  STORAGE_FULL: 0x08,
  INVALID_KEY: 0x09,
  OPERATION_NOT_PERMITTED: 0x0a,
  PACKET_TOO_LARGE: 0x0b,
  UNSUPPORTED_VERSION: 0x0c,
  INVALID_FRAME: 0x0d,
  INTERNAL_ERROR: 0x0e,
  SESSION_REQUIRED: 0x0f,
  SESSION_INVALID: 0x10,
  SESSION_AUTH_FAILED: 0x11,
  SESSION_LIMIT: 0x12,
  NOT_INITIALIZED: 0x13,
  ALREADY_INITIALIZED: 0x14,
  LOGIN_REQUIRED: 0x15,
  WRONG_ROLE: 0x16,
  ALREADY_LOGGED_IN: 0x17,
  PIN_INCORRECT: 0x18,
  PIN_BLOCKED: 0x19,
  PIN_LOCKED_UNTIL_POWER_CYCLE: 0x1a,
  POLICY_DENIED: 0x1b,
  POLICY_LOOSENING: 0x1c,
  PRESENCE_TIMEOUT: 0x1d,
  CANCELLED: 0x1e,
  BUSY: 0x1f,
  ROLLBACK_DETECTED: 0x20,
  APPROVAL_REQUIRED: 0x21,
  APPROVAL_INVALID: 0x22,
  AUDIT_FULL: 0x23,
  DEVICE_UNAVAILABLE: 0x24,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];
export type StatusName = keyof typeof Status;

/** What a person can do about each status: the host shows this after the device's own message. */
export const STATUS_HINTS: { readonly [K in StatusName]: string } = {
  OK: 'success',
  INVALID_COMMAND: 'the device does not know this command; update the firmware or the host so their protocol versions match',
  INVALID_CBOR: 'the request body is not deterministic CBOR (RFC 8949 §4.2.1); this is a host bug, report it',
  INVALID_PARAMETER: 'a parameter has the wrong type, length or range; check the value named in the message',
  MISSING_PARAMETER: 'a required parameter is missing; supply the parameter named in the message',
  UNKNOWN_PARAMETER: 'the request carries a parameter this command does not take; remove it or update the firmware',
  UNSUPPORTED_ALGORITHM: 'the algorithm is unknown or failed its power-on self-test on this device; run `tinyhsm info` to see what is offered',
  KEY_NOT_FOUND: 'no key has this id; run `tinyhsm list` to see the keys on the device',
  STORAGE_FULL: 'every key slot or the flash store is full; delete a key you no longer need (`tinyhsm delete --key ID`)',
  INVALID_KEY: 'the key material is not a valid key for this algorithm (wrong length, zero, out of range or not on the curve)',
  OPERATION_NOT_PERMITTED: 'this key cannot do that operation; use a key of a suitable algorithm',
  PACKET_TOO_LARGE: 'the request is larger than the device accepts; `tinyhsm info` gives the maximum packet size',
  UNSUPPORTED_VERSION: 'the host and device speak different protocol versions; update one of them',
  INVALID_FRAME: 'the device received a frame it cannot act on (wrong frame type); this is a host bug, report it',
  INTERNAL_ERROR: 'the device hit an unexpected error and changed nothing; retry, and report it if it persists',
  SESSION_REQUIRED: 'this command only runs inside a secure session; HsmClient opens one by itself, a raw host must send SESSION_OPEN first (docs/session.md)',
  SESSION_INVALID: 'the session is unknown, closed, idle for too long or at its message cap; open a new session',
  SESSION_AUTH_FAILED:
    'the envelope was tampered with, replayed or reordered, and was not executed; if nobody is interfering with the link, this is a host bug',
  SESSION_LIMIT: 'the device has as many sessions open as it allows; close one (or wait for its idle timeout) and retry',
  NOT_INITIALIZED: 'the device is factory-new: set its PINs first with `tinyhsm init --pin USER --so-pin SO`',
  ALREADY_INITIALIZED: 'the device already has PINs; log in with them, or erase it with `tinyhsm reset` (officer approval where officers are enrolled)',
  LOGIN_REQUIRED: 'log in first: give the user PIN (--pin or HSM_PIN) or, for administration, the SO PIN (--so-pin or HSM_SO_PIN)',
  WRONG_ROLE: 'this command needs the other role: key use needs the user PIN (--pin), administration (import, unblock) the SO PIN (--so-pin)',
  ALREADY_LOGGED_IN: 'this session is already logged in; LOGOUT first to change role',
  PIN_INCORRECT: 'the PIN is wrong; the message says how many tries are left before it blocks',
  PIN_BLOCKED:
    'this PIN is blocked after too many wrong tries: the SO unblocks a user PIN (`tinyhsm unblock`); a blocked SO PIN leaves only a reset that erases every key (docs/security.md)',
  PIN_LOCKED_UNTIL_POWER_CYCLE: 'three wrong PINs in a row: the device takes no more PIN tries until it is unplugged and plugged in again (power-cycled)',
  POLICY_DENIED: "this key's policy does not allow that use; `tinyhsm list` shows each key's capabilities",
  POLICY_LOOSENING:
    'a key policy can only be tightened (remove capabilities, set sensitive or touch); loosening needs the approval of a quorum of officers (docs/quorum.md)',
  PRESENCE_TIMEOUT: "this key needs a button press for every use and nobody pressed the device's button in time; retry and press it",
  CANCELLED: 'the host cancelled the request while the device waited for the button; nothing was done',
  BUSY: 'the device is waiting for a button press for another request; press the button or cancel that request, then retry',
  ROLLBACK_DETECTED:
    'the flash holds an older state than the device has had (an old image was written back); the device uses nothing of it. Write back the newest image, or reset the device',
  APPROVAL_REQUIRED:
    'this command needs the signed approval of a quorum of officers (`tinyhsm info` shows how many of whom); run it again with their approvals (docs/quorum.md)',
  APPROVAL_INVALID:
    'an officer approval was refused (the message says which and why) and nothing was done; ask for a new challenge and have the officers sign again (docs/quorum.md)',
  AUDIT_FULL:
    'forced audit is on and the audit log is full of entries nobody has collected: the auditor runs `tinyhsm audit pull --ack` (docs/audit.md), then retry',
  DEVICE_UNAVAILABLE:
    'the connector (`tinyhsm connector`) has no device right now: plug the board back in or restart its simulator; the connector reopens it by itself, then retry (docs/connector.md)',
};

/** Key algorithms (wire ids). Add at the end. */
export const Alg = {
  ED25519: 1,
  ECDSA_P256: 2,
  ECDSA_SECP256K1: 3,
  X25519: 4,
} as const;
export type AlgId = (typeof Alg)[keyof typeof Alg];

/** Host-facing algorithm names, in wire-id order. */
export const ALG_NAMES: { readonly [id: number]: string } = {
  1: 'ed25519',
  2: 'ecdsa-p256',
  3: 'ecdsa-secp256k1',
  4: 'x25519',
};

/**
 * Where a key came from (KEY_LIST, KEY_PUBLIC, attestation). A key restored from a backup (BACKUP_IMPORT,
 * docs/quorum.md §9) keeps whether it was first generated or imported, as 3 or 4. Add at the end.
 */
export const Origin = {
  GENERATED: 1,
  IMPORTED: 2,
  RESTORED_GENERATED: 3,
  RESTORED_IMPORTED: 4,
} as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

/** Login roles (LOGIN, CHANGE_PIN). Add at the end. The auditor reads and acknowledges the audit log only (docs/audit.md §5). */
export const Role = {
  USER: 1,
  SO: 2,
  AUDITOR: 3,
} as const;
export type RoleId = (typeof Role)[keyof typeof Role];

/** Host-facing role names. */
export const ROLE_NAMES: { readonly [id: number]: string } = {
  1: 'user',
  2: 'so',
  3: 'auditor',
};

/**
 * Key capabilities (docs/security.md §6): a bit set per key. A policy change may only clear bits (KEY_SET_POLICY).
 * EXPORT_WRAPPED is the PKCS#11 `extractable` attribute: the key may leave the device wrapped under a domain key
 * (backup, planned: docs/architecture.md §5); once cleared it never comes back. Add at the end.
 */
export const Capability = {
  SIGN: 0x01,
  DERIVE: 0x02,
  ENCRYPT: 0x04,
  DECRYPT: 0x08,
  EXPORT_WRAPPED: 0x10,
} as const;
export const CAPABILITY_NAMES: { readonly [bit: number]: string } = {
  0x01: 'sign',
  0x02: 'derive',
  0x04: 'encrypt',
  0x08: 'decrypt',
  0x10: 'export-under-wrap',
};
/** Every defined capability bit. */
export const ALL_CAPABILITIES = 0x1f;

/** KEEPALIVE frame body (one byte): why the device is still busy with the request of that sequence number. */
export const KeepaliveReason = {
  PROCESSING: 0x01,
  PRESENCE_NEEDED: 0x02,
} as const;

/** Reverse lookup: a code's name, or undefined. Works for any of the tables above. */
export function nameOf<T extends { [k: string]: number }>(table: T, code: number): keyof T | undefined {
  for (const k in table) if (table[k] === code) return k;
  return undefined;
}

export function algId(name: string): AlgId | undefined {
  for (const k in ALG_NAMES) if (ALG_NAMES[k] === name) return Number(k) as AlgId;
  return undefined;
}

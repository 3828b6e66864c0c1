// PIN rules, PIN verifiers and the master key wrapped under a PIN (DESIGN.md "At rest", docs/session.md §8): pure functions over the Crypto HAL.
//
// Derivation (docs/session.md §8.2). One PBKDF2-SHA256 run of 32 bytes, then two HKDF-SHA256 outputs:
//   base     = PBKDF2-SHA256(pin, salt, iterations, 32)
//   verifier = HKDF-SHA256(ikm = base, salt = salt, info = "tinyhsm/pin/v1 verifier", 32)   stored, compared in constant time
//   kek      = HKDF-SHA256(ikm = base, salt = salt, info = "tinyhsm/pin/v1 wrap", 32)       never stored; wraps the master key
// Why not PBKDF2 with 64 output bytes split in two halves: PBKDF2 computes every 32-byte block with the full
// iteration count, so the device would pay twice while an attacker testing guesses against the stored verifier
// computes only the first block. One block plus HKDF costs the device one PBKDF2 and the attacker the same.
// The verifier and the kek are independent HKDF outputs, so the stored verifier reveals nothing about the kek
// beyond what a PIN guess does: offline guessing against a flash dump is bounded by PBKDF2's cost, no better.
import type { Crypto, Rng } from '../../hal/index.ts';
import { concatBytes, equalBytes, utf8Encode, wipe } from '../../protocol/bytes.ts';

export const PIN_MIN_LENGTH = 6;
export const PIN_MAX_LENGTH = 64;
export const PIN_SALT_LENGTH = 16;
export const MASTER_KEY_LENGTH = 32;
export const WRAP_NONCE_LENGTH = 12;
/** Wrapped master key: 32-byte ciphertext ‖ 16-byte tag. */
export const WRAPPED_MASTER_LENGTH = MASTER_KEY_LENGTH + 16;

export const INFO_PIN_VERIFIER = 'tinyhsm/pin/v1 verifier';
export const INFO_PIN_WRAP = 'tinyhsm/pin/v1 wrap';
/** AAD of the master-key wrap: label ‖ role name ‖ 0x00 ‖ device id (docs/session.md §8.3). */
export const MASTER_WRAP_LABEL = 'tinyhsm/master/v1 ';

export type Role = 'user' | 'so';

export type AuthRefusal =
  /** Fewer than 6 bytes. */
  | 'pin-too-short'
  /** More than 64 bytes. */
  | 'pin-too-long'
  /** An iteration count that is not an integer in 1..2^32 − 1. */
  | 'bad-iterations'
  /** The PIN does not match the verifier. */
  | 'wrong-pin'
  /** The PIN matches, but the wrapped master key does not open: the record was altered, or belongs to another role or device. */
  | 'corrupt-record';

export type AuthRefused = { ok: false; reason: AuthRefusal };
export type AuthResult<T> = { ok: true; value: T } | AuthRefused;

function refuse(reason: AuthRefusal): AuthRefused {
  return { ok: false, reason };
}

/** What a role stores about its PIN: no PIN, only a salted verifier and the master key wrapped under the PIN's kek. */
export interface PinRecord {
  readonly role: Role;
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly verifier: Uint8Array;
  readonly wrapNonce: Uint8Array;
  readonly wrappedMaster: Uint8Array;
}

/** PIN length rule (issue 4 §3): 6–64 bytes. */
export function checkPin(pin: Uint8Array): AuthResult<true> {
  if (pin.length < PIN_MIN_LENGTH) return refuse('pin-too-short');
  if (pin.length > PIN_MAX_LENGTH) return refuse('pin-too-long');
  return { ok: true, value: true };
}

export function checkIterations(iterations: number): AuthResult<true> {
  if (typeof iterations === 'number' && iterations >= 1 && iterations <= 0xffffffff && Math.floor(iterations) === iterations) return { ok: true, value: true };
  return refuse('bad-iterations');
}

/** verifier and kek of a PIN (see the header). The caller wipes both. */
export function derivePinSecrets(crypto: Crypto, pin: Uint8Array, salt: Uint8Array, iterations: number): { verifier: Uint8Array; kek: Uint8Array } {
  const base = crypto.pbkdf2Sha256(pin, salt, iterations, 32);
  try {
    return {
      verifier: crypto.hkdfSha256(base, salt, utf8Encode(INFO_PIN_VERIFIER), 32),
      kek: crypto.hkdfSha256(base, salt, utf8Encode(INFO_PIN_WRAP), 32),
    };
  } finally {
    wipe(base);
  }
}

/** AAD of a master-key wrap: "tinyhsm/master/v1 " ‖ role ‖ 0x00 ‖ deviceId. */
export function masterWrapAad(role: Role, deviceId: Uint8Array): Uint8Array {
  return concatBytes(utf8Encode(MASTER_WRAP_LABEL + role), new Uint8Array([0]), deviceId);
}

/** A fresh random master key (DESIGN.md "At rest"). */
export function generateMasterKey(rng: Rng): Uint8Array {
  const k = new Uint8Array(MASTER_KEY_LENGTH);
  rng.fill(k);
  return k;
}

/**
 * A role's PIN record: random salt, the verifier, and `masterKey` wrapped under the PIN's kek with a random nonce.
 * Used by INIT, CHANGE_PIN (the same master key under the new PIN) and UNBLOCK (the SO sets a new user PIN).
 * `masterKey` stays the caller's (not wiped here).
 */
export function createPinRecord(
  crypto: Crypto,
  rng: Rng,
  role: Role,
  pin: Uint8Array,
  masterKey: Uint8Array,
  deviceId: Uint8Array,
  iterations: number,
): AuthResult<PinRecord> {
  const p = checkPin(pin);
  if (!p.ok) return p;
  const it = checkIterations(iterations);
  if (!it.ok) return it;
  if (masterKey.length !== MASTER_KEY_LENGTH) throw new Error('createPinRecord: the master key must be 32 bytes');
  const salt = new Uint8Array(PIN_SALT_LENGTH);
  rng.fill(salt);
  const wrapNonce = new Uint8Array(WRAP_NONCE_LENGTH);
  rng.fill(wrapNonce);
  const s = derivePinSecrets(crypto, pin, salt, iterations);
  try {
    const wrappedMaster = crypto.aeadSeal(s.kek, wrapNonce, masterKey, masterWrapAad(role, deviceId));
    return { ok: true, value: { role, iterations, salt, verifier: s.verifier.slice(), wrapNonce, wrappedMaster } };
  } finally {
    wipe(s.kek, s.verifier);
  }
}

/** Constant-time check of a PIN against its record (equalBytes: time depends only on the lengths). */
export function verifyPin(crypto: Crypto, record: PinRecord, pin: Uint8Array): boolean {
  if (!checkPin(pin).ok) return false;
  const s = derivePinSecrets(crypto, pin, record.salt, record.iterations);
  try {
    return equalBytes(s.verifier, record.verifier);
  } finally {
    wipe(s.kek, s.verifier);
  }
}

/**
 * The master key under this PIN, or undefined: a wrong PIN, or a wrap that does not open for this role and device
 * (altered bytes, another role's record, another device's record). The caller wipes the result when done.
 */
export function unwrapMasterKey(crypto: Crypto, record: PinRecord, pin: Uint8Array, deviceId: Uint8Array): Uint8Array | undefined {
  if (!checkPin(pin).ok) return undefined;
  const s = derivePinSecrets(crypto, pin, record.salt, record.iterations);
  try {
    return crypto.aeadOpen(s.kek, record.wrapNonce, record.wrappedMaster, masterWrapAad(record.role, deviceId));
  } finally {
    wipe(s.kek, s.verifier);
  }
}

/**
 * LOGIN's check after the retry counter was committed: the verifier first (constant time), then the unwrap.
 * 'wrong-pin' or 'corrupt-record' (PIN right, wrap broken); on success the master key, which the caller wipes.
 * One PBKDF2 run serves both steps.
 */
export function unlockWithPin(crypto: Crypto, record: PinRecord, pin: Uint8Array, deviceId: Uint8Array): AuthResult<Uint8Array> {
  if (!checkPin(pin).ok) return refuse('wrong-pin');
  const s = derivePinSecrets(crypto, pin, record.salt, record.iterations);
  try {
    if (!equalBytes(s.verifier, record.verifier)) return refuse('wrong-pin');
    const master = crypto.aeadOpen(s.kek, record.wrapNonce, record.wrappedMaster, masterWrapAad(record.role, deviceId));
    if (!master)
      return refuse('corrupt-record'); // altered, or another role's or device's record
    return { ok: true, value: master };
  } finally {
    wipe(s.kek, s.verifier);
  }
}

/** CHANGE_PIN: the same master key under a new PIN (new salt and nonce). The old record stays valid until the caller commits the new one. */
export function changePin(
  crypto: Crypto,
  rng: Rng,
  record: PinRecord,
  oldPin: Uint8Array,
  newPin: Uint8Array,
  deviceId: Uint8Array,
  iterations?: number,
): AuthResult<PinRecord> {
  const p = checkPin(newPin);
  if (!p.ok) return p;
  const u = unlockWithPin(crypto, record, oldPin, deviceId);
  if (!u.ok) return u;
  try {
    return createPinRecord(crypto, rng, record.role, newPin, u.value, deviceId, iterations !== undefined ? iterations : record.iterations);
  } finally {
    wipe(u.value);
  }
}

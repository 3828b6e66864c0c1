// PIN rules, role records and the master key sealed to each role (docs/session.md §8): pure functions over the Crypto HAL.
//
// Derivation (docs/session.md §8.2). One PBKDF2-SHA256 run of 32 bytes, then two HKDF-SHA256 outputs:
//   base     = PBKDF2-SHA256(pin, salt, iterations, 32)
//   verifier = HKDF-SHA256(ikm = base, salt = salt, info = "tinyhsm/pin/v1 verifier", 32)   stored, compared in constant time
//   kek      = HKDF-SHA256(ikm = base, salt = salt, info = "tinyhsm/pin/v1 wrap", 32)       never stored
// Why not PBKDF2 with 64 output bytes split in two halves: PBKDF2 computes every 32-byte block with the full
// iteration count, so the device would pay twice while an attacker testing guesses against the stored verifier
// computes only the first block. One block plus HKDF costs the device one PBKDF2 and the attacker the same.
//
// Role keys (docs/session.md §8.3). The kek does not wrap the master key itself: it wraps the role's X25519 secret
// and the device's link key, and the master key is sealed to each role's X25519 public key. So the device can give
// BOTH roles a new master key while it knows only ONE role's PIN (CHANGE_PIN, UNBLOCK), and an old flash image with
// an old PIN opens only the master key of its day (docs/security.md §4). The link key, in both roles' wraps and
// never stored in the clear, authenticates each role's public key and each sealed master key: someone who can
// write the flash but knows no PIN cannot plant a master key of their own choosing, nor a public key to seal to.
import type { Crypto, Rng } from '../../hal/index.ts';
import { concatBytes, equalBytes, utf8Encode, wipe } from '../../protocol/bytes.ts';
import { MAX_PIN, MIN_PIN } from '../../protocol/commands/limits.ts';

export const PIN_SALT_LENGTH = 16;
export const MASTER_KEY_LENGTH = 32;
export const WRAP_NONCE_LENGTH = 12;
/** The role's X25519 secret ‖ the link key, under the kek: 64 bytes ‖ 16-byte tag. */
export const WRAPPED_SECRETS_LENGTH = 64 + 16;
/** Ephemeral X25519 public key ‖ the master key under the envelope key ‖ 16-byte tag. */
export const ENVELOPE_LENGTH = 32 + MASTER_KEY_LENGTH + 16;

export const INFO_PIN_VERIFIER = 'tinyhsm/pin/v1 verifier';
export const INFO_PIN_WRAP = 'tinyhsm/pin/v1 wrap';
/** Label of the role-secrets wrap's AAD and of the public-key tag (docs/session.md §8.3). */
export const ROLE_LABEL = 'tinyhsm/role/v2 ';
/** Label of a master-key envelope's AAD and HKDF info (docs/session.md §8.3). */
export const MASTER_LABEL = 'tinyhsm/master/v2 ';

/** A role's name in role-bound contexts (AAD, tags); the wire's codes.ts Role is its number. */
export type RoleName = 'user' | 'so';

export type AuthRefusal =
  /** Fewer than 6 bytes. */
  | 'pin-too-short'
  /** More than 64 bytes. */
  | 'pin-too-long'
  /** An iteration count that is not an integer in 1..2^32 − 1. */
  | 'bad-iterations'
  /** The PIN does not match the verifier. */
  | 'wrong-pin'
  /** The PIN matches, but the wrap or the master-key envelope does not open: the record was altered, or belongs to another role or device. */
  | 'corrupt-record';

export type AuthRefused = { ok: false; reason: AuthRefusal };
export type AuthResult<T> = { ok: true; value: T } | AuthRefused;

function refuse(reason: AuthRefusal): AuthRefused {
  return { ok: false, reason };
}

/** A role's public part: its X25519 public key and the link key's tag over it. */
export interface RolePublic {
  readonly role: RoleName;
  readonly rolePublic: Uint8Array;
  readonly publicTag: Uint8Array;
}

/** What a role stores: no PIN, only a salted verifier, its secrets under the PIN's kek, its public key and the master key sealed to it. */
export interface PinRecord extends RolePublic {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly verifier: Uint8Array;
  readonly wrapNonce: Uint8Array;
  readonly wrappedSecrets: Uint8Array;
  readonly envelope: Uint8Array;
}

/** What a right PIN opens: the master key and the link key. Both secret; the caller wipes them. */
export interface Unlocked {
  readonly master: Uint8Array;
  readonly link: Uint8Array;
}

/** PIN length rule: 6–64 bytes. */
export function checkPin(pin: Uint8Array): AuthResult<true> {
  if (pin.length < MIN_PIN) return refuse('pin-too-short');
  if (pin.length > MAX_PIN) return refuse('pin-too-long');
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

/** label ‖ role ‖ 0x00 ‖ deviceId: the context of every role-bound value (docs/session.md §8.3). */
export function roleContext(label: string, role: RoleName, deviceId: Uint8Array): Uint8Array {
  return concatBytes(utf8Encode(label + role), new Uint8Array([0]), deviceId);
}

function random(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  rng.fill(b);
  return b;
}

/** 32 random bytes: a master key or a link key. */
export function generateMasterKey(rng: Rng): Uint8Array {
  return random(rng, MASTER_KEY_LENGTH);
}

/** HMAC-SHA256(link, "tinyhsm/role/v2 " ‖ role ‖ 0x00 ‖ deviceId ‖ rolePublic): the tag that vouches for a role's public key. */
export function publicTagOf(crypto: Crypto, link: Uint8Array, role: RoleName, deviceId: Uint8Array, rolePublic: Uint8Array): Uint8Array {
  return crypto.hmacSha256(link, concatBytes(roleContext(ROLE_LABEL, role, deviceId), rolePublic));
}

/** True when the role's public key carries the link key's tag (constant-time compare). */
export function publicKeyVouched(crypto: Crypto, link: Uint8Array, deviceId: Uint8Array, r: RolePublic): boolean {
  const t = publicTagOf(crypto, link, r.role, deviceId, r.rolePublic);
  try {
    return equalBytes(t, r.publicTag);
  } finally {
    wipe(t);
  }
}

/** The envelope key: HKDF-SHA256(ikm = X25519 shared secret, salt = link, info = context ‖ E ‖ recipient). */
function envelopeKey(crypto: Crypto, shared: Uint8Array, link: Uint8Array, context: Uint8Array, E: Uint8Array, recipient: Uint8Array): Uint8Array {
  return crypto.hkdfSha256(shared, link, concatBytes(context, E, recipient), 32);
}

const ZERO_NONCE = new Uint8Array(WRAP_NONCE_LENGTH);

/** E ‖ ChaCha20-Poly1305(envelope key, 0^12, master, context) for `to`, from the X25519 secret `shared` that its holder computes from E. */
function envelope(crypto: Crypto, shared: Uint8Array, master: Uint8Array, link: Uint8Array, deviceId: Uint8Array, E: Uint8Array, to: RolePublic): Uint8Array {
  const context = roleContext(MASTER_LABEL, to.role, deviceId);
  const k = envelopeKey(crypto, shared, link, context, E, to.rolePublic);
  try {
    return concatBytes(E, crypto.aeadSeal(k, ZERO_NONCE, master, context));
  } finally {
    wipe(k);
  }
}

/** A role whose secret the device holds right now: just made for a new PIN (createRole). */
export interface FreshRole {
  readonly parts: Omit<PinRecord, 'envelope'>;
  /** Its X25519 secret; the caller wipes it. */
  readonly secret: Uint8Array;
}

/**
 * The master key sealed to the role just made, and to the other role if given (docs/session.md §8.3): with the other
 * role, one static-static X25519 (fresh secret × other's public key) serves both envelopes, each naming the OTHER
 * role's public key as its E; without it (INIT makes both roles, so only a PIN change whose other record was not
 * vouched for), a fresh ephemeral key. Each envelope key depends on a secret made for this sealing and on the
 * recipient, so the zero nonce never repeats under a key. Returns [the fresh role's envelope, the other's].
 */
export function sealMaster(
  crypto: Crypto,
  rng: Rng,
  master: Uint8Array,
  link: Uint8Array,
  deviceId: Uint8Array,
  fresh: FreshRole,
  other?: RolePublic,
): Uint8Array[] {
  let e: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  try {
    if (other !== undefined) {
      shared = crypto.x25519(fresh.secret, other.rolePublic);
      return [
        envelope(crypto, shared, master, link, deviceId, other.rolePublic, fresh.parts),
        envelope(crypto, shared, master, link, deviceId, fresh.parts.rolePublic, other),
      ];
    }
    e = random(rng, 32);
    shared = crypto.x25519(e, fresh.parts.rolePublic);
    return [envelope(crypto, shared, master, link, deviceId, crypto.x25519PublicKey(e), fresh.parts)];
  } finally {
    wipe(e, shared);
  }
}

/**
 * A role for a new PIN (INIT, CHANGE_PIN, UNBLOCK): a random salt, the verifier, a NEW role X25519 key pair whose
 * secret is wrapped with the link key under the PIN's kek, and the public key's tag; everything of the record but
 * the envelope, which sealMaster makes. The secret is returned for sealMaster; the caller wipes it. `link` stays the
 * caller's.
 */
export function createRole(
  crypto: Crypto,
  rng: Rng,
  role: RoleName,
  pin: Uint8Array,
  link: Uint8Array,
  deviceId: Uint8Array,
  iterations: number,
): AuthResult<FreshRole> {
  const p = checkPin(pin);
  if (!p.ok) return p;
  const it = checkIterations(iterations);
  if (!it.ok) return it;
  if (link.length !== 32) throw new Error('createRole: the link key must be 32 bytes');
  const salt = random(rng, PIN_SALT_LENGTH);
  const wrapNonce = random(rng, WRAP_NONCE_LENGTH);
  const secret = random(rng, 32);
  const s = derivePinSecrets(crypto, pin, salt, iterations);
  const both = concatBytes(secret, link);
  try {
    const rolePublic = crypto.x25519PublicKey(secret);
    const wrappedSecrets = crypto.aeadSeal(s.kek, wrapNonce, both, roleContext(ROLE_LABEL, role, deviceId));
    const publicTag = publicTagOf(crypto, link, role, deviceId, rolePublic);
    return { ok: true, value: { parts: { role, iterations, salt, verifier: s.verifier.slice(), wrapNonce, wrappedSecrets, rolePublic, publicTag }, secret } };
  } finally {
    wipe(s.kek, s.verifier, both);
  }
}

/**
 * LOGIN's check after the retry counter was committed: the verifier first (constant time), then the wrap, then the
 * envelope. 'wrong-pin', or 'corrupt-record' (PIN right, but the wrap or envelope does not open); on success the
 * master and link keys, which the caller wipes. One PBKDF2 run serves every step.
 */
export function unlockWithPin(crypto: Crypto, record: PinRecord, pin: Uint8Array, deviceId: Uint8Array): AuthResult<Unlocked> {
  if (!checkPin(pin).ok) return refuse('wrong-pin');
  const s = derivePinSecrets(crypto, pin, record.salt, record.iterations);
  let both: Uint8Array | undefined;
  let shared: Uint8Array | undefined;
  let k: Uint8Array | undefined;
  let link: Uint8Array | undefined;
  try {
    if (!equalBytes(s.verifier, record.verifier)) return refuse('wrong-pin');
    both = crypto.aeadOpen(s.kek, record.wrapNonce, record.wrappedSecrets, roleContext(ROLE_LABEL, record.role, deviceId));
    if (!both) return refuse('corrupt-record'); // altered, or another role's or device's record
    link = both.slice(32);
    const E = record.envelope.subarray(0, 32);
    const context = roleContext(MASTER_LABEL, record.role, deviceId);
    shared = crypto.x25519(both.subarray(0, 32), E);
    k = envelopeKey(crypto, shared, link, context, E, record.rolePublic);
    const master = crypto.aeadOpen(k, ZERO_NONCE, record.envelope.subarray(32), context);
    if (!master) return refuse('corrupt-record'); // the envelope or the public key was altered, or sealed without the link key
    const value = { master, link };
    link = undefined; // the caller's now
    return { ok: true, value };
  } catch (_e) {
    // x25519 throws on a low-order ephemeral key: only an edited record has one
    return refuse('corrupt-record');
  } finally {
    wipe(link);
    wipe(s.kek, s.verifier, both, shared, k);
  }
}

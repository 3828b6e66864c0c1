// The one table of persistent record keys (docs/storage.md §10; as OpenSK storage/key.rs): add at the end, never reuse a number.

/**
 * A record key is a 32-bit number: kind (high 16 bits) | index (low 16 bits). A kind, once shipped, keeps its
 * meaning forever: a retired kind stays listed (commented as retired) so that its number is never given to
 * something else, because an old device may still hold records of it.
 */
export const RecordKind = {
  /** index 0: 16 random bytes, made at first boot. */
  DEVICE_ID: 0x0001,
  /** index 0: Ed25519 identity seed (secret). */
  IDENTITY: 0x0002,
  /** index 0: CBOR settings map. */
  SETTINGS: 0x0003,
  /** index n: counters (e.g. next key id = index 0). */
  COUNTERS: 0x0004,
  /** index = key id: a key record (secret). */
  KEY: 0x0010,
  /** Retired: PIN records of the first format (the master key wrapped under the PIN itself); read by no firmware now. */
  PIN: 0x0011,
  /**
   * index = codes.ts Role (1 user, 2 SO): that role's record (salt, verifier, its X25519 secret and the link key
   * under the PIN, its public key, the master key sealed to it; docs/session.md §8.3).
   */
  ROLE: 0x0012,
  /** index 0: the officers and the threshold, CBOR {1: threshold, 2: [{1: Ed25519 public key, 2: label}, …]} (docs/quorum.md §1). */
  OFFICERS: 0x0013,
  /** index 0: the domain, CBOR {1: domain id, 2: its wrap key sealed under the master key} (docs/quorum.md §8). */
  DOMAIN: 0x0014,
  /** index = ring slot (entry index mod capacity): one audit entry, 80 bytes (docs/audit.md §2). Not secret: the log holds no key bytes. */
  AUDIT: 0x0015,
  /** index 0: the audit log's state, CBOR {1: capacity, 2: acknowledged, 3: forced, 4: locked} (docs/audit.md §3). */
  AUDIT_STATE: 0x0016,
} as const;

/**
 * Kinds from here up belong to the store itself (0xfffe: transaction commit markers, docs/storage.md §5); 0xffff
 * would make the erased word 0xffffffff a key. Store.commit refuses them with INVALID_PARAMETER.
 */
export const FIRST_RESERVED_KIND = 0xfffe;
/** The store's own commit-marker record key (kind 0xfffe, index 0). */
export const COMMIT_MARKER_KEY = 0xfffe0000;

/** kind * 0x10000 + index (both 16-bit unsigned). */
export function recordKey(kind: number, index: number): number {
  return kind * 0x10000 + index;
}

export function kindOf(key: number): number {
  return Math.floor(key / 0x10000);
}

export function indexOf(key: number): number {
  return key % 0x10000;
}

/** A key callers may store under: an integer 0..0xfffdffff (kinds 0xfffe and 0xffff are the store's). */
export function isUserKey(key: number): boolean {
  return typeof key === 'number' && key === Math.floor(key) && key >= 0 && key < FIRST_RESERVED_KIND * 0x10000;
}

/**
 * Kinds whose values are secret (IDENTITY, KEY, PIN, ROLE, DOMAIN): when such a record is superseded or deleted, or was
 * written by a transaction that never committed, its value bytes are overwritten with zeros in flash
 * (docs/storage.md §6). ROLE: a superseded role record still opens the master key of its day under the OLD PIN;
 * a superseded KEY or DOMAIN record opens under that master key.
 */
export function isSecretKind(kind: number): boolean {
  return kind === RecordKind.IDENTITY || kind === RecordKind.KEY || kind === RecordKind.PIN || kind === RecordKind.ROLE || kind === RecordKind.DOMAIN;
}

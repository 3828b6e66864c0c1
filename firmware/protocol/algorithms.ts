// What the wire contract says about each algorithm, read by the device's mechanisms and by the host: public key length, default and allowed capabilities, public key encodings (docs/protocol.md §3 "Algorithms", docs/security.md §6).
//
// Keyed by wire id (codes.ts Alg; the names are codes.ts ALG_NAMES), one table per property rather than one record
// per algorithm: esbuild drops a table nobody reads from a bundle but never a property, so the device bundles carry
// only the first three tables. Capability bits are written as numbers because esbuild does not inline the `as const`
// Capability table (codes.ts: 0x01 sign, 0x02 derive, 0x10 export-under-wrap); test/unit/core-policy.test.ts checks
// each entry against Capability. Adding an algorithm adds one line to each table (docs/architecture.md "Adding an
// algorithm").

/** The public key as the wire carries it, in bytes: 32 for Ed25519 / X25519 (RFC 8032 §5.1.5, RFC 7748 §5), 65 for an uncompressed SEC1 point. */
export const PUBLIC_KEY_LENGTH: { readonly [alg: number]: number } = {
  1: 32, // ed25519
  2: 65, // ecdsa-p256
  3: 65, // ecdsa-secp256k1
  4: 32, // x25519
};

/** A new key's capabilities when its creator names none: the algorithm's main use, never export (docs/security.md §6). */
export const DEFAULT_CAPABILITIES: { readonly [alg: number]: number } = {
  1: 0x01, // ed25519: sign
  2: 0x01, // ecdsa-p256: sign
  3: 0x01, // ecdsa-secp256k1: sign
  4: 0x02, // x25519: derive
};

/** Every capability a key of the algorithm can have (docs/security.md §6). No algorithm offers encrypt or decrypt yet. */
export const ALLOWED_CAPABILITIES: { readonly [alg: number]: number } = {
  1: 0x11, // ed25519: sign, export-under-wrap
  2: 0x13, // ecdsa-p256: sign, derive, export-under-wrap
  3: 0x11, // ecdsa-secp256k1: sign, export-under-wrap
  4: 0x12, // x25519: derive, export-under-wrap
};

/** DER SubjectPublicKeyInfo up to the key bytes, in hex (RFC 8410 §4 for Ed25519 / X25519, RFC 5480 §2 for EC points). Host only. */
export const SPKI_PREFIX: { readonly [alg: number]: string } = {
  1: '302a300506032b6570032100',
  2: '3059301306072a8648ce3d020106082a8648ce3d030107034200',
  3: '3056301006072a8648ce3d020106052b8104000a034200',
  4: '302a300506032b656e032100',
};

/**
 * The strings of an OpenSSH public key blob before the key itself: its key type name and, for ECDSA, the curve
 * identifier (RFC 8709 §4, RFC 5656 §3.1). Absent: OpenSSH has no format for the algorithm. Host only.
 */
export const SSH_KEY_TYPE: { readonly [alg: number]: readonly string[] } = {
  1: ['ssh-ed25519'],
  2: ['ecdsa-sha2-nistp256', 'nistp256'],
};

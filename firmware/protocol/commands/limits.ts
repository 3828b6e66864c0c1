// Size limits shared by the message schemas; they keep every request and response inside the smallest packet (2 KiB).

/** Largest data a request may carry (ECHO data, SIGN message): fits a 2048-byte packet with headers and CBOR. */
export const MAX_DATA = 1984;
/** Longest message a streamed SIGN takes (SIGN_BEGIN): 2^32 - 1 bytes, so every offset is an exact uint on every engine. */
export const MAX_STREAM = 0xffffffff;
/** Labels are short names for people, measured in UTF-8 bytes. */
export const MAX_LABEL = 32;
/** RANDOM returns at most this many bytes per request. */
export const MAX_RANDOM = 1024;
/** Key ids are 16-bit (docs/protocol.md §4); 0 is never a key. */
export const MAX_KEY_ID = 0xffff;
/** Public keys: 32 bytes (Ed25519, X25519) up to 65 (uncompressed SEC1 P-256/secp256k1). */
export const MIN_PUBLIC_KEY = 32;
export const MAX_PUBLIC_KEY = 65;
/** Upper bound on list lengths (more than any device has slots). */
export const MAX_LIST = 64;
/** Most flash pages INFO reports erase counts for. */
export const MAX_PAGES = 256;
/**
 * Largest SESSION_MESSAGE ciphertext: a 2048-byte packet holds header and CRC (8), the command byte and the
 * envelope map's heads (19 at most), leaving 2021 bytes; an inner request of up to 2005 bytes plus the 16-byte tag.
 */
export const MAX_ENVELOPE = 2021;
/** PIN length in bytes (docs/session.md §8.1): 6–64 bytes of UTF-8 or raw bytes; the PIN itself is never stored. */
export const MIN_PIN = 6;
export const MAX_PIN = 64;
/** KEY_ATTEST host nonce: 16–64 bytes, so a statement cannot be replayed to a host that picked a fresh one. */
export const MIN_NONCE = 16;
export const MAX_NONCE = 64;
/** Largest encoded attestation statement (its fields are bounded: ids, a 65-byte key, a 64-byte nonce). */
export const MAX_STATEMENT = 512;
/** An audit entry (docs/audit.md §2): fixed 80 bytes, the unit its chain hashes. */
export const AUDIT_ENTRY_LENGTH = 80;
/** Most entries one AUDIT_READ answer carries: 16 × 80 = 1280 bytes, well inside a 2048-byte packet with its envelope. */
export const MAX_AUDIT_READ = 16;

// The domain's wire formats, shared by device and host (docs/quorum.md §8–§9): the domain id, a share sealed to one Ed25519 key, and the backup blob's header and key.
//
// A sealed share (81 bytes) = E (32) ‖ ChaCha20-Poly1305(k, nonce 0^12, index (1) ‖ share (32), aad = domain id), where
//   R = the recipient's Ed25519 public key mapped to X25519 (RFC 7748 §4.1), e a fresh X25519 key, E = X25519(e, 9),
//   k = HKDF-SHA-256(ikm = X25519(e, R), salt = E ‖ R, info = "tinyhsm share v1", 32 bytes).
// k is used once (e is fresh), so the fixed nonce never repeats under one key. The recipient computes X25519(r, E)
// with r = the first 32 bytes of SHA-512 of its Ed25519 seed. The domain id in the AAD keeps a share to one domain.
import { concatBytes, utf8Encode } from '../bytes.ts';
import type { Schema } from '../schema.ts';

/** Bytes of a domain id: the first 16 bytes of SHA-256("tinyhsm domain v1" ‖ 0x00 ‖ wrap key). */
export const DOMAIN_ID_BYTES = 16;
/** Bytes of the domain wrap key (and of each share). */
export const WRAP_KEY_BYTES = 32;
/** Bytes of a sealed share: E, the index and the share encrypted, the tag. */
export const SEALED_SHARE_BYTES = 32 + 1 + WRAP_KEY_BYTES + 16;
/** One sealed share in DOMAIN_CREATE's answer and DOMAIN_JOIN's request: a map, as every list entry on the wire is. */
export const SealedShareSchema = [{ key: 1, name: 'sealed', type: { t: 'bytes', min: SEALED_SHARE_BYTES, max: SEALED_SHARE_BYTES } }] as const satisfies Schema;

/** Keys in one backup blob: six keys with 32-byte labels and 16 approvals still fit one BACKUP_IMPORT packet. */
export const MAX_BACKUP_KEYS = 6;
/** The backup blob's version byte. */
export const BACKUP_VERSION = 1;
/** version (1) ‖ domain id (16) ‖ nonce (12): the blob's header, also its AEAD's associated data. */
export const BACKUP_HEADER_BYTES = 1 + DOMAIN_ID_BYTES + 12;
/** Largest blob: the header, six keys of at most 86 bytes of CBOR each, the list and map heads, the source id and the tag. */
export const MAX_BACKUP_BLOB = BACKUP_HEADER_BYTES + 20 + MAX_BACKUP_KEYS * 86 + 16;

const SHARE_INFO = 'tinyhsm share v1';
const DOMAIN_LABEL = 'tinyhsm domain v1';
const BACKUP_INFO = 'tinyhsm backup v1';

/** What the share and backup formats need of a crypto HAL (firmware/hal Crypto has these; protocol/ imports nothing outside itself). */
export interface DomainCrypto {
  sha256(data: Uint8Array): Uint8Array;
  x25519(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array;
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined;
  ed25519PublicToX25519(publicKey: Uint8Array): Uint8Array;
  ed25519SeedToX25519(seed: Uint8Array): Uint8Array;
}

/** The domain id of a wrap key. */
export function domainIdOf(c: DomainCrypto, wrapKey: Uint8Array): Uint8Array {
  return c.sha256(concatBytes(utf8Encode(DOMAIN_LABEL), new Uint8Array([0]), wrapKey)).slice(0, DOMAIN_ID_BYTES);
}

function shareKey(c: DomainCrypto, shared: Uint8Array, e: Uint8Array, r: Uint8Array): Uint8Array {
  const k = c.hkdfSha256(shared, concatBytes(e, r), utf8Encode(SHARE_INFO), 32);
  shared.fill(0);
  return k;
}

/**
 * Seal share `index` (1..255) of domain `domainId` to the holder of the Ed25519 key `recipient`, with the fresh
 * 32-byte X25519 secret `ephemeral` (the caller draws it and this wipes it). Throws if `recipient` is not a point.
 */
export function sealShare(c: DomainCrypto, ephemeral: Uint8Array, recipient: Uint8Array, domainId: Uint8Array, index: number, share: Uint8Array): Uint8Array {
  const r = c.ed25519PublicToX25519(recipient);
  const e = c.x25519PublicKey(ephemeral);
  const k = shareKey(c, c.x25519(ephemeral, r), e, r);
  ephemeral.fill(0);
  const plain = concatBytes(new Uint8Array([index]), share);
  const sealed = concatBytes(e, c.aeadSeal(k, new Uint8Array(12), plain, domainId));
  plain.fill(0);
  k.fill(0);
  return sealed;
}

/**
 * Open a sealed share with the recipient's Ed25519 seed: its index and bytes, or undefined when it is not a share
 * of `domainId` sealed to this key (or is malformed). The caller wipes the share when done.
 */
export function openShare(c: DomainCrypto, seed: Uint8Array, domainId: Uint8Array, sealed: Uint8Array): { index: number; share: Uint8Array } | undefined {
  if (sealed.length !== SEALED_SHARE_BYTES) return undefined;
  const secret = c.ed25519SeedToX25519(seed);
  const e = sealed.subarray(0, 32);
  let shared: Uint8Array;
  try {
    shared = c.x25519(secret, e);
  } catch (err) {
    secret.fill(0);
    return undefined;
  }
  const r = c.x25519PublicKey(secret);
  secret.fill(0);
  const k = shareKey(c, shared, e, r);
  const plain = c.aeadOpen(k, new Uint8Array(12), sealed.subarray(32), domainId);
  k.fill(0);
  if (plain === undefined) return undefined;
  const out = { index: plain[0], share: plain.slice(1) };
  plain.fill(0);
  if (out.index === 0) return undefined;
  return out;
}

/** The backup blob's AEAD key: HKDF-SHA-256(ikm = wrap key, salt = domain id, info = "tinyhsm backup v1", 32 bytes). */
export function backupKey(c: DomainCrypto, wrapKey: Uint8Array, domainId: Uint8Array): Uint8Array {
  return c.hkdfSha256(wrapKey, domainId, utf8Encode(BACKUP_INFO), 32);
}

// What the device keeps in the flash store and how each record's value is encoded: the one place that defines it (docs/storage.md §10, docs/security.md §5–§6).
//
// Record keys come from the store's table (store/index.ts RecordKind, never reused):
//   recordKey(DEVICE_ID, 0)   16 raw bytes: the random device id made at first boot.
//   recordKey(IDENTITY, 0)    CBOR {1: alg (1 = ed25519), 2: 32-byte seed}: the identity key (docs/architecture.md
//                             §5). The public key is recomputed at boot; it is the device's name.
//   recordKey(COUNTERS, 0)    CBOR uint: the next key id to hand out (persists so ids are not reused).
//   recordKey(KEY, id)        CBOR {1: id, 2: alg, 3: label, 4: origin, 5: public key, 6: capabilities,
//                             7: sensitive, 8: touch, 9: neverExtractable, 10: sealed private key,
//                             11: protected (true; absent on a key that is not)}.
// A key record (docs/security.md §5, docs/session.md §8.4): fields 1–9 and 11 are the clear part, readable at boot
// without the master key (KEY_LIST works before any private key is opened); field 10 is
//   nonce(12) ‖ ChaCha20-Poly1305(master key, nonce, private key (32), aad)      60 bytes
// with aad = "tinyhsm/key/v1" ‖ device id ‖ key id ‖ alg ‖ bound (auth/key_seal.ts), where `bound` is the
// deterministic CBOR of the clear part, the map {1..9, 11} (encodeKeyClear). A flash edit of the label, origin,
// public key or policy therefore makes the private key unopenable instead of loose. The plaintext private key
// is never in a record. `local` is not stored: it is origin === generated. The values are deterministic CBOR
// (RFC 8949 §4.2.1), decoded with the protocol's codec and checked with a schema at boot: a record that does
// not decode is skipped, never trusted and never a crash.
import { Alg, ALL_CAPABILITIES, Origin, type AlgId } from '../protocol/codes.ts';
import { PUBLIC_KEY_LENGTH } from '../protocol/algorithms.ts';
import { type CborMap, type CborValue, cborDecode, cborEncode } from '../protocol/cbor.ts';
import { type Schema, decodeMessage } from '../protocol/schema.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from '../protocol/commands/limits.ts';
import { RecordKind, recordKey } from './store/index.ts';
import type { StoredPolicy } from './policy.ts';

export const DEVICE_ID_RECORD = recordKey(RecordKind.DEVICE_ID, 0);
export const IDENTITY_RECORD = recordKey(RecordKind.IDENTITY, 0);
/** Counter index 0: the next key id. Later counters (PIN retries, audit index) take further indexes. */
export const NEXT_KEY_ID_RECORD = recordKey(RecordKind.COUNTERS, 0);
/** Counter index 3: the value of the monotonic counter the last transaction bound the store to (rollback.ts); indexes 1, 2 are the PIN tries. */
export const FRESHNESS_RECORD = recordKey(RecordKind.COUNTERS, 3);

export const DEVICE_ID_LENGTH = 16;
export const PRIVATE_KEY_LENGTH = 32;

export function keyRecordKey(id: number): number {
  return recordKey(RecordKind.KEY, id);
}

// ------------------------------------------------------------------ device id

export function decodeDeviceId(v: Uint8Array): Uint8Array | undefined {
  return v.length === DEVICE_ID_LENGTH ? v.slice() : undefined;
}

// ------------------------------------------------------------------ identity

const IdentitySchema: Schema = [
  { key: 1, name: 'alg', type: { t: 'uint', min: Alg.ED25519, max: Alg.ED25519 } },
  { key: 2, name: 'seed', type: { t: 'bytes', min: PRIVATE_KEY_LENGTH, max: PRIVATE_KEY_LENGTH } },
];

/** The identity record holds a secret: the caller wipes the returned buffer once the store has it. */
export function encodeIdentity(seed: Uint8Array): Uint8Array {
  return withSecretField(cborEncode(mapOf([[1, Alg.ED25519]])), 2, seed);
}

/** The identity seed (a fresh buffer the caller owns), or undefined if the record does not decode. */
export function decodeIdentity(v: Uint8Array): Uint8Array | undefined {
  const d = decodeRecord<{ alg: number; seed: Uint8Array }>(v, IdentitySchema);
  return d === undefined ? undefined : d.seed;
}

// ------------------------------------------------------------------ counters

export function encodeCounter(n: number): Uint8Array {
  return cborEncode(n);
}

export function decodeCounter(v: Uint8Array, max: number): number | undefined {
  const d = cborDecode(v);
  if (!d.ok || typeof d.value !== 'number' || d.value < 0 || d.value > max) return undefined;
  return d.value;
}

// ------------------------------------------------------------------ keys

/** Sealed private key: 12-byte nonce ‖ 32-byte ciphertext ‖ 16-byte tag (auth/key_seal.ts sealKeyRecord). */
export const SEALED_KEY_LENGTH = 12 + PRIVATE_KEY_LENGTH + 16;

/** The clear part of a key record: what boot loads, and what the sealed private key is bound to. */
export interface KeyMeta {
  id: number;
  alg: AlgId;
  label: string;
  origin: Origin;
  publicKey: Uint8Array;
  policy: StoredPolicy;
}

export interface StoredKey extends KeyMeta {
  /** nonce ‖ ciphertext ‖ tag of the private key under the master key (never the private key itself). */
  sealed: Uint8Array;
}

interface FlatKey {
  id: number;
  alg: AlgId;
  label: string;
  origin: Origin;
  publicKey: Uint8Array;
  capabilities: number;
  sensitive: boolean;
  touch: boolean;
  neverExtractable: boolean;
  sealed: Uint8Array;
  protected?: boolean;
}

const KeySchema: Schema = [
  { key: 1, name: 'id', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', min: Origin.GENERATED, max: Origin.RESTORED_IMPORTED } },
  { key: 5, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  { key: 6, name: 'capabilities', type: { t: 'uint', max: ALL_CAPABILITIES } },
  { key: 7, name: 'sensitive', type: { t: 'bool' } },
  { key: 8, name: 'touch', type: { t: 'bool' } },
  { key: 9, name: 'neverExtractable', type: { t: 'bool' } },
  { key: 10, name: 'sealed', type: { t: 'bytes', min: SEALED_KEY_LENGTH, max: SEALED_KEY_LENGTH } },
  // present (true) only on a protected key, and then part of the clear part the sealed key is bound to
  { key: 11, name: 'protected', type: { t: 'bool' }, optional: true },
];

function clearMap(k: KeyMeta): CborMap {
  const m = mapOf([
    [1, k.id],
    [2, k.alg],
    [3, k.label],
    [4, k.origin],
    [5, k.publicKey],
    [6, k.policy.capabilities],
    [7, k.policy.sensitive],
    [8, k.policy.touch],
    [9, k.policy.neverExtractable],
  ]);
  if (k.policy.protected === true) m.set(11, true);
  return m;
}

/** The clear part {1..9, and 11 on a protected key} as deterministic CBOR: the `bound` the sealed private key is authenticated with. */
export function encodeKeyClear(k: KeyMeta): Uint8Array {
  return cborEncode(clearMap(k));
}

/** Encode a key record: the clear part and the sealed private key (field 10). Holds no plaintext secret. */
export function encodeKey(k: StoredKey): Uint8Array {
  if (k.sealed.length !== SEALED_KEY_LENGTH) throw new Error('records: a sealed private key is ' + SEALED_KEY_LENGTH + ' bytes');
  const m = clearMap(k);
  m.set(10, k.sealed);
  return cborEncode(m);
}

/**
 * Decode a key record read back from the store: undefined if it is not a well-formed record of a known
 * algorithm with a public key of that algorithm's size, or if its id is not `id` (the record key it was stored
 * under). It does not open the private key: whether the clear part was altered shows when it is opened.
 */
export function decodeKey(v: Uint8Array, id: number): StoredKey | undefined {
  const d = decodeRecord<FlatKey>(v, KeySchema);
  if (d === undefined) return undefined;
  // an unknown algorithm has no public key length, so no length matches
  if (d.id !== id || d.publicKey.length !== PUBLIC_KEY_LENGTH[d.alg]) return undefined;
  return {
    id: d.id,
    alg: d.alg,
    label: d.label,
    origin: d.origin,
    publicKey: d.publicKey,
    policy: {
      capabilities: d.capabilities,
      sensitive: d.sensitive,
      touch: d.touch,
      neverExtractable: d.neverExtractable,
      protected: d.protected === true ? true : undefined,
    },
    sealed: d.sealed,
  };
}

// ------------------------------------------------------------------ helpers

function mapOf(entries: [number, CborValue][]): CborMap {
  const m: CborMap = new Map();
  for (let i = 0; i < entries.length; i++) m.set(entries[i][0], entries[i][1]);
  return m;
}

/**
 * Append one byte-string field to an encoded CBOR map whose keys are all smaller than `key` (so the
 * result is still deterministic): bump the map's entry count and add `key` and the secret's bytes.
 * Why not cborEncode the whole map: its writer copies every byte into a JS array that cannot be wiped;
 * here the secret is copied once, into the buffer the caller wipes. Maps of up to 23 entries have a
 * one-byte head (0xa0 + n) and a 24..255-byte string has the head 0x58 len, which is all the records use.
 */
function withSecretField(encodedMap: Uint8Array, key: number, secret: Uint8Array): Uint8Array {
  const n = encodedMap[0] - 0xa0;
  if (!(n >= 0 && n < 23 && key < 24 && secret.length >= 24 && secret.length < 256)) throw new Error('records: field layout outside the compact form');
  const out = new Uint8Array(encodedMap.length + 3 + secret.length);
  out.set(encodedMap, 0);
  out[0] = 0xa0 + n + 1;
  let o = encodedMap.length;
  out[o++] = key; // unsigned integer key < 24: one byte
  out[o++] = 0x58; // byte string, one-byte length
  out[o++] = secret.length;
  out.set(secret, o);
  return out;
}

function decodeRecord<T>(v: Uint8Array, schema: Schema): T | undefined {
  const d = cborDecode(v);
  if (!d.ok || !(d.value instanceof Map)) return undefined;
  const m = decodeMessage<T>(schema, d.value);
  if (!m.ok) {
    // cborDecode gave fresh buffers: wipe any that may hold a secret before dropping them
    d.value.forEach((x) => {
      if (x instanceof Uint8Array) x.fill(0);
    });
    return undefined;
  }
  return m.value;
}

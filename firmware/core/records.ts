// What the device keeps in the flash store and how each record's value is encoded: the one place that defines it (issue 3 §4).
//
// Record keys come from the store's table (store/index.ts RecordKind, never reused):
//   recordKey(DEVICE_ID, 0)   16 raw bytes: the random device id made at first boot.
//   recordKey(IDENTITY, 0)    CBOR {1: alg (1 = ed25519), 2: 32-byte seed}: the identity key (DESIGN.md
//                             "Identity"). The public key is recomputed at boot; it is the device's name.
//   recordKey(COUNTERS, 0)    CBOR uint: the next key id to hand out (persists so ids are not reused).
//   recordKey(KEY, id)        CBOR {1: id, 2: alg, 3: label, 4: origin, 5: public key, 6: private key}.
// Key 6 is the only secret field, kept apart from the public metadata so that a later issue can replace it
// with the private key sealed under the master key (DESIGN.md "At rest") without touching the rest. The
// values are deterministic CBOR (RFC 8949 §4.2.1), decoded with the protocol's codec and checked with a
// schema at boot: a record that does not decode is skipped, never trusted and never a crash.
import { Alg, ALG_NAMES, Origin, type AlgId } from '../protocol/codes.ts';
import { type CborMap, type CborValue, cborDecode, cborEncode } from '../protocol/cbor.ts';
import { type Schema, decodeMessage } from '../protocol/schema.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from '../protocol/messages/limits.ts';
import { RecordKind, recordKey } from './store/index.ts';

export const DEVICE_ID_RECORD = recordKey(RecordKind.DEVICE_ID, 0);
export const IDENTITY_RECORD = recordKey(RecordKind.IDENTITY, 0);
/** Counter index 0: the next key id. Later counters (PIN retries, audit index) take further indexes. */
export const NEXT_KEY_ID_RECORD = recordKey(RecordKind.COUNTERS, 0);

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

export interface StoredKey {
  id: number;
  alg: AlgId;
  label: string;
  origin: Origin;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

const KeySchema: Schema = [
  { key: 1, name: 'id', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', min: Origin.GENERATED, max: Origin.IMPORTED } },
  { key: 5, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  { key: 6, name: 'privateKey', type: { t: 'bytes', min: PRIVATE_KEY_LENGTH, max: PRIVATE_KEY_LENGTH } },
];

/** Encode a key record. It holds the private key: the caller wipes the returned buffer once the store has it. */
export function encodeKey(k: StoredKey): Uint8Array {
  const pub = mapOf([
    [1, k.id],
    [2, k.alg],
    [3, k.label],
    [4, k.origin],
    [5, k.publicKey],
  ]);
  return withSecretField(cborEncode(pub), 6, k.privateKey);
}

/**
 * Decode a key record read back from the store: undefined if it is not a well-formed record of a known
 * algorithm, or if its id is not `id` (the record key it was stored under). The private key is a fresh
 * buffer the caller owns.
 */
export function decodeKey(v: Uint8Array, id: number): StoredKey | undefined {
  const d = decodeRecord<StoredKey>(v, KeySchema);
  if (d === undefined) return undefined;
  if (d.id !== id || ALG_NAMES[d.alg] === undefined) {
    d.privateKey.fill(0);
    return undefined;
  }
  const pubLen = d.alg === Alg.ED25519 || d.alg === Alg.X25519 ? 32 : 65;
  if (d.publicKey.length !== pubLen) {
    d.privateKey.fill(0);
    return undefined;
  }
  return d;
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

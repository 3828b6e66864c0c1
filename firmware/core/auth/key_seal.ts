// Key records encrypted at rest under the master key (docs/security.md §5, docs/session.md §8.4): ChaCha20-Poly1305, random nonce, AAD binds device, key id and algorithm.
//
// blob = nonce(12) ‖ ciphertext ‖ tag(16)
// AAD  = "tinyhsm/key/v1" ‖ deviceId(16) ‖ keyId (2 bytes big-endian) ‖ alg(1) ‖ bound
// The label keeps key records apart from anything else the master key may protect later. `bound` is optional
// extra context the caller wants authenticated with the key (for example the encoded policy, so that a flash
// edit that loosens a policy makes the key unusable instead of loose). Moving a blob to another key id,
// algorithm or device, or editing one byte, makes openKeyRecord return undefined.
// Random 96-bit nonces: a device holds at most a few thousand records under one master key, far below the
// ~2^32 messages at which random-nonce collisions become a concern (NIST SP 800-38D §8.3 reasoning).
import type { Crypto, Rng } from '../../hal/index.ts';
import { concatBytes, utf8Encode } from '../../protocol/bytes.ts';

export const KEY_RECORD_LABEL = 'tinyhsm/key/v1';
export const KEY_RECORD_NONCE_LENGTH = 12;
export const KEY_RECORD_OVERHEAD = KEY_RECORD_NONCE_LENGTH + 16;

export interface KeyRecordContext {
  readonly deviceId: Uint8Array;
  /** 16-bit key id. */
  readonly keyId: number;
  /** Wire algorithm id (protocol/codes.ts Alg). */
  readonly alg: number;
  /** Optional extra bytes bound into the AAD (e.g. the encoded policy). */
  readonly bound?: Uint8Array;
}

export function keyRecordAad(ctx: KeyRecordContext): Uint8Array {
  if (ctx.deviceId.length !== 16) throw new Error('keyRecordAad: the device id must be 16 bytes');
  if (!(ctx.keyId >= 0 && ctx.keyId <= 0xffff && Math.floor(ctx.keyId) === ctx.keyId)) throw new Error('keyRecordAad: key id must be 0..65535');
  if (!(ctx.alg >= 0 && ctx.alg <= 0xff && Math.floor(ctx.alg) === ctx.alg)) throw new Error('keyRecordAad: algorithm id must be 0..255');
  return concatBytes(utf8Encode(KEY_RECORD_LABEL), ctx.deviceId, new Uint8Array([ctx.keyId >> 8, ctx.keyId & 0xff, ctx.alg]), ctx.bound || new Uint8Array(0));
}

/** Encrypt a key's secret bytes for flash. The caller still owns (and wipes) `secret`. */
export function sealKeyRecord(crypto: Crypto, rng: Rng, masterKey: Uint8Array, ctx: KeyRecordContext, secret: Uint8Array): Uint8Array {
  if (masterKey.length !== 32) throw new Error('sealKeyRecord: the master key must be 32 bytes');
  const nonce = new Uint8Array(KEY_RECORD_NONCE_LENGTH);
  rng.fill(nonce);
  return concatBytes(nonce, crypto.aeadSeal(masterKey, nonce, secret, keyRecordAad(ctx)));
}

/** The secret bytes, or undefined if the blob is short, altered, or belongs to another key id, algorithm, device or master key. */
export function openKeyRecord(crypto: Crypto, masterKey: Uint8Array, ctx: KeyRecordContext, blob: Uint8Array): Uint8Array | undefined {
  if (masterKey.length !== 32 || blob.length < KEY_RECORD_OVERHEAD) return undefined;
  return crypto.aeadOpen(masterKey, blob.subarray(0, KEY_RECORD_NONCE_LENGTH), blob.subarray(KEY_RECORD_NONCE_LENGTH), keyRecordAad(ctx));
}

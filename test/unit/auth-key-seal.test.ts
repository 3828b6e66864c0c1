// Key records encrypted under the master key (firmware/core/auth/key_seal.ts): round trips, AAD binding, tampering, and an OpenSSL decryption from the documented layout.
import { describe, it, expect } from 'vitest';
import { createDecipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import type { Rng } from '../../firmware/hal/index.ts';
import { generateMasterKey, keyRecordAad, openKeyRecord, sealKeyRecord, type KeyRecordContext } from '../../firmware/core/auth/index.ts';

const crypto = createNobleCrypto();
const rng: Rng = { fill: (b) => void randomFillSync(b) };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const deviceId = new Uint8Array(randomBytes(16));
const ctx: KeyRecordContext = { deviceId, keyId: 0x1234, alg: 1 };

describe('key records at rest', () => {
  it('round trip for secrets of 0..100 bytes; the blob is nonce ‖ ciphertext ‖ tag and contains no 8-byte run of the secret', () => {
    const m = generateMasterKey(rng);
    for (let n = 0; n <= 100; n += 7) {
      const secret = new Uint8Array(randomBytes(n));
      const blob = sealKeyRecord(crypto, rng, m, ctx, secret);
      expect(blob.length).toBe(12 + n + 16);
      expect(hex(openKeyRecord(crypto, m, ctx, blob)!)).toBe(hex(secret));
      for (let i = 0; i + 8 <= n; i++) expect(hex(blob)).not.toContain(hex(secret.subarray(i, i + 8)));
    }
  });

  it('OpenSSL decrypts it from the documented layout: AAD = "tinyhsm/key/v1" ‖ device id ‖ key id (BE16) ‖ alg ‖ bound', () => {
    const m = generateMasterKey(rng);
    const secret = new Uint8Array(randomBytes(32));
    const bound = new Uint8Array([0xa2, 0x01, 0x03, 0x02, 0xf5]);
    const c2 = { ...ctx, alg: 3, bound };
    const blob = sealKeyRecord(crypto, rng, m, c2, secret);
    const aad = Buffer.concat([Buffer.from('tinyhsm/key/v1'), deviceId, Buffer.from([0x12, 0x34, 3]), bound]);
    expect(hex(keyRecordAad(c2))).toBe(aad.toString('hex'));
    const d = createDecipheriv('chacha20-poly1305', m, blob.subarray(0, 12), { authTagLength: 16 });
    d.setAAD(aad, { plaintextLength: 32 });
    d.setAuthTag(blob.subarray(blob.length - 16));
    expect(Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]).toString('hex')).toBe(hex(secret));
  });

  it('a record does not open for another key id, algorithm, device, bound context or master key', () => {
    const m = generateMasterKey(rng);
    const secret = new Uint8Array(randomBytes(32));
    const blob = sealKeyRecord(crypto, rng, m, ctx, secret);
    expect(openKeyRecord(crypto, m, { ...ctx, keyId: 0x1235 }, blob)).toBeUndefined();
    expect(openKeyRecord(crypto, m, { ...ctx, keyId: 0x3412 }, blob)).toBeUndefined();
    expect(openKeyRecord(crypto, m, { ...ctx, alg: 2 }, blob)).toBeUndefined();
    expect(openKeyRecord(crypto, m, { ...ctx, deviceId: new Uint8Array(randomBytes(16)) }, blob)).toBeUndefined();
    expect(openKeyRecord(crypto, m, { ...ctx, bound: new Uint8Array([0]) }, blob)).toBeUndefined();
    expect(openKeyRecord(crypto, generateMasterKey(rng), ctx, blob)).toBeUndefined();
    expect(hex(openKeyRecord(crypto, m, ctx, blob)!)).toBe(hex(secret));
  });

  it('every single-bit change of the blob, and every truncation below the overhead, is refused', () => {
    const m = generateMasterKey(rng);
    const blob = sealKeyRecord(crypto, rng, m, ctx, new Uint8Array(randomBytes(32)));
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const t = blob.slice();
      t[bit >> 3] ^= 1 << (bit & 7);
      expect(openKeyRecord(crypto, m, ctx, t), 'bit ' + bit).toBeUndefined();
    }
    for (let n = 0; n < blob.length; n++) expect(openKeyRecord(crypto, m, ctx, blob.subarray(0, n)), 'length ' + n).toBeUndefined();
  });

  it('fresh random nonces: sealing the same secret twice gives different blobs', () => {
    const m = generateMasterKey(rng);
    const s = new Uint8Array(32).fill(7);
    const a = sealKeyRecord(crypto, rng, m, ctx, s);
    const b = sealKeyRecord(crypto, rng, m, ctx, s);
    expect(hex(a.subarray(0, 12))).not.toBe(hex(b.subarray(0, 12)));
    expect(hex(a)).not.toBe(hex(b));
  });

  it('rejects malformed contexts loudly (a programming error, not data)', () => {
    expect(() => keyRecordAad({ ...ctx, keyId: 65536 })).toThrow(/key id/);
    expect(() => keyRecordAad({ ...ctx, alg: 256 })).toThrow(/algorithm/);
    expect(() => keyRecordAad({ ...ctx, deviceId: new Uint8Array(15) })).toThrow(/device id/);
  });
});

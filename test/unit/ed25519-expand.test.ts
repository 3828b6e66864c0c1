// The expanded Ed25519 signer (hal/crypto_noble.ts) gives exactly noble's sign() and RFC 8032's answers, and stops when wiped.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';

const crypto = createNobleCrypto();
const expand = crypto.ed25519Expand!;
const rfc = JSON.parse(readFileSync('test/vectors/rfc8032.json', 'utf8'));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

describe('ed25519Expand', () => {
  it('signs every RFC 8032 §7.1 vector byte for byte', () => {
    const tests = rfc.vectors as { secretKey: string; publicKey: string; message: string; signature: string }[];
    expect(tests.length).toBe(5);
    for (const t of tests) {
      const signer = expand(hex(t.secretKey));
      expect(Buffer.from(signer.publicKey).toString('hex')).toBe(t.publicKey);
      expect(Buffer.from(signer.sign(hex(t.message))).toString('hex')).toBe(t.signature);
    }
  });

  it('equals noble sign() for random seeds and messages, and node:crypto verifies it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 }), (seed, msg) => {
        const signer = expand(seed);
        const sig = signer.sign(msg);
        expect(sig).toEqual(ed25519.sign(msg, seed));
        const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(signer.publicKey).toString('base64url') }, format: 'jwk' });
        expect(verify(null, msg, key, sig)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('wipe() ends it: sign throws, and the seed given is not kept or changed', () => {
    const seed = new Uint8Array(32).fill(7);
    const signer = expand(seed);
    expect(seed).toEqual(new Uint8Array(32).fill(7));
    signer.sign(new Uint8Array(1));
    signer.wipe();
    expect(() => signer.sign(new Uint8Array(1))).toThrow(/wiped/);
  });
});

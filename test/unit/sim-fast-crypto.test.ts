// The simulator's fast Crypto HAL (sim/fast-crypto.ts) against the device's noble HAL, node:crypto, the RFC vectors and Wycheproof; its realm, its errors, and the self-tests on it.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import vm from 'node:vm';
import { createHash, randomFillSync, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { runSelftests } from '../../firmware/core/selftest.ts';
import { Alg } from '../../firmware/protocol/codes.ts';
import type { Crypto, EcCurve } from '../../firmware/hal/index.ts';
import { createFastCrypto } from '../../sim/fast-crypto.ts';
import { ED25519_L, P256, SECP256K1, modInv } from '../../sim/fast-curves.ts';
import { nodePublicKey } from '../helpers/sim.ts';
import * as hostLayout from '../../host/session.ts';
import * as deviceLayout from '../../firmware/core/session/layout.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const vectors = (name: string) => JSON.parse(readFileSync(new URL('../vectors/' + name, import.meta.url), 'utf8'));
const rng = (b: Uint8Array) => randomFillSync(b);

// deterministic on both sides (RFC 6979 without §3.6's extra entropy), so signatures compare byte for byte
const fast = createFastCrypto();
const noble = createNobleCrypto({ hedged: false });
const fastHedged = createFastCrypto({ random: rng });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const msg = fc.uint8Array({ maxLength: 300 });
const RUNS = { numRuns: 40 };

/** Run fn on both HALs: the same bytes out, or both throw. */
function same<T>(fn: (c: Crypto) => T): void {
  let a: unknown;
  let b: unknown;
  try {
    a = fn(fast);
  } catch (e) {
    a = 'throws';
  }
  try {
    b = fn(noble);
  } catch (e) {
    b = 'throws';
  }
  const norm = (x: unknown) => (x instanceof Uint8Array ? hex(x) : x);
  expect(norm(a)).toEqual(norm(b));
}

const DOM_PH = Buffer.concat([Buffer.from('SigEd25519 no Ed25519 collisions'), Buffer.from([1, 0])]);

describe('fast HAL: the power-on self-tests', () => {
  it('passes every algorithm the device offers', () => {
    for (const c of [fast, fastHedged]) {
      const r = runSelftests(c);
      expect(r.failures).toEqual({});
      expect(r.passed).toEqual([Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]);
    }
  });
});

describe('fast HAL: Ed25519 against noble and OpenSSL', () => {
  it('public keys, signatures and the expanded signer match noble; each verifies the other; OpenSSL verifies', () => {
    fc.assert(
      fc.property(bytes(32), msg, (seed, m) => {
        const pk = fast.ed25519PublicKey(seed);
        expect(hex(pk)).toBe(hex(noble.ed25519PublicKey(seed)));
        const sig = fast.ed25519Sign(m, seed);
        expect(hex(sig)).toBe(hex(noble.ed25519Sign(m, seed)));
        const signer = fast.ed25519Expand!(seed);
        expect(hex(signer.publicKey)).toBe(hex(pk));
        expect(hex(signer.sign(m))).toBe(hex(sig));
        expect(noble.ed25519Verify(sig, m, pk)).toBe(true);
        expect(fast.ed25519Verify(sig, m, pk)).toBe(true);
        expect(nodeVerify(null, m, nodePublicKey('ed25519', pk), sig)).toBe(true);
        const bad = Uint8Array.from(sig);
        bad[m.length % 64] ^= 1;
        expect(fast.ed25519Verify(bad, m, pk)).toBe(false);
        signer.wipe();
        expect(() => signer.sign(m)).toThrow(/wiped/);
      }),
      RUNS,
    );
  });

  it('Ed25519ph (dom2) and the two-pass signature match noble', () => {
    fc.assert(
      fc.property(bytes(32), msg, fc.array(msg, { maxLength: 4 }), (seed, m, chunks) => {
        const digest = createHash('sha512').update(m).digest();
        const f = fast.ed25519Expand!(seed);
        const n = noble.ed25519Expand!(seed);
        expect(hex(f.sign(digest, DOM_PH))).toBe(hex(n.sign(digest, DOM_PH)));
        const whole = Buffer.concat(chunks);
        const tp = f.twoPass();
        for (const c of chunks) tp.nonce(c);
        tp.commit();
        for (const c of chunks) tp.challenge(c);
        const sig = tp.finish();
        expect(hex(sig)).toBe(hex(n.sign(whole)));
        expect(nodeVerify(null, whole, nodePublicKey('ed25519', f.publicKey), sig)).toBe(true);
        expect(() => tp.finish()).toThrow(/out of order/);
      }),
      { numRuns: 15 },
    );
  });

  it('RFC 8032 §7.1 and §7.3 (Ed25519ph "abc")', () => {
    for (const v of vectors('rfc8032.json').vectors as { secretKey: string; publicKey: string; message: string; signature: string }[]) {
      expect(hex(fast.ed25519PublicKey(unhex(v.secretKey)))).toBe(v.publicKey);
      expect(hex(fast.ed25519Sign(unhex(v.message), unhex(v.secretKey)))).toBe(v.signature);
    }
    const ph = fast.ed25519Expand!(unhex('833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42'));
    expect(hex(ph.publicKey)).toBe('ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf');
    expect(hex(ph.sign(createHash('sha512').update('abc').digest(), DOM_PH))).toBe(
      '98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406',
    );
  });

  it('Wycheproof Ed25519 verification: every valid signature accepted, every invalid one refused, as noble does', () => {
    const w = vectors('wycheproof/ed25519_test.json');
    let n = 0;
    for (const g of w.testGroups)
      for (const t of g.tests) {
        const args = [unhex(t.sig), unhex(t.msg), unhex(g.publicKey.pk)] as const;
        expect(fast.ed25519Verify(...args), `tcId ${t.tcId}`).toBe(t.result === 'valid');
        expect(noble.ed25519Verify(...args), `tcId ${t.tcId}`).toBe(t.result === 'valid');
        n++;
      }
    expect(n).toBe(w.numberOfTests);
  });

  it('the Ed25519 → X25519 maps match noble for any 32 bytes (invalid points throw on both)', () => {
    fc.assert(
      fc.property(bytes(32), (b) => {
        same((c) => c.ed25519PublicToX25519(b));
        same((c) => c.ed25519SeedToX25519(b));
        same((c) => c.ed25519PublicToX25519(c.ed25519PublicKey(b)));
      }),
      { numRuns: 60 },
    );
    // the identity (y = 1) and a y ≥ p
    same((c) => c.ed25519PublicToX25519(unhex('01' + '00'.repeat(31))));
    same((c) => c.ed25519PublicToX25519(unhex('ed' + 'ff'.repeat(30) + '7f')));
  });
});

describe('fast HAL: X25519 against noble, RFC 7748 and Wycheproof', () => {
  it('public keys and shared secrets match noble', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (a, b) => {
        same((c) => c.x25519PublicKey(a));
        same((c) => c.x25519(a, noble.x25519PublicKey(b)));
        same((c) => c.x25519(a, b));
      }),
      RUNS,
    );
  });

  it('RFC 7748 §5.2 and §6.1', () => {
    const v = vectors('rfc7748.json');
    for (const s of v.scalarMult) expect(hex(fast.x25519(unhex(s.scalar), unhex(s.u)))).toBe(s.output);
    const dh = v.diffieHellman;
    expect(hex(fast.x25519PublicKey(unhex(dh.alicePrivate)))).toBe(dh.alicePublic);
    expect(hex(fast.x25519(unhex(dh.alicePrivate), unhex(dh.bobPublic)))).toBe(dh.shared);
    expect(hex(fast.x25519(unhex(dh.bobPrivate), unhex(dh.alicePublic)))).toBe(dh.shared);
    expect(() => fast.x25519(unhex(dh.alicePrivate), new Uint8Array(32))).toThrow(/all-zero/);
    expect(() => fast.x25519(unhex(dh.alicePrivate), new Uint8Array(31))).toThrow(/32-byte/);
  });

  it('Wycheproof X25519: every shared secret, and the all-zero ones refused', () => {
    const w = vectors('wycheproof/x25519_test.json');
    for (const g of w.testGroups)
      for (const t of g.tests) {
        const call = () => hex(fast.x25519(unhex(t.private), unhex(t.public)));
        // an all-zero result is RFC 7748 §6.1's refusal, as noble's
        if (/^(00)+$/.test(t.shared)) expect(call, `tcId ${t.tcId}`).toThrow(/all-zero/);
        else expect(call(), `tcId ${t.tcId}`).toBe(t.shared);
      }
  });
});

describe('fast HAL: ECDSA and P-256 ECDH against noble and OpenSSL', () => {
  const curves: [EcCurve, 'ecdsa-p256' | 'ecdsa-secp256k1'][] = [
    ['p256', 'ecdsa-p256'],
    ['secp256k1', 'ecdsa-secp256k1'],
  ];
  for (const [curve, alg] of curves) {
    it(`${curve}: public keys and RFC 6979 signatures match noble; hedged ones verify under noble and OpenSSL`, () => {
      fc.assert(
        fc.property(bytes(32), msg, (sk, m) => {
          let pk: Uint8Array;
          try {
            pk = noble.ecdsaPublicKey(curve, sk);
          } catch {
            expect(() => fast.ecdsaPublicKey(curve, sk)).toThrow();
            return;
          }
          expect(hex(fast.ecdsaPublicKey(curve, sk))).toBe(hex(pk));
          const digest = createHash('sha256').update(m).digest();
          const sig = fast.ecdsaSign(curve, digest, sk);
          expect(hex(sig)).toBe(hex(noble.ecdsaSign(curve, digest, sk)));
          const hedged = fastHedged.ecdsaSign(curve, digest, sk);
          for (const s of [sig, hedged]) {
            expect(noble.ecdsaVerify(curve, s, digest, pk)).toBe(true);
            expect(fast.ecdsaVerify(curve, s, digest, pk)).toBe(true);
            expect(nodeVerify('sha256', m, { key: nodePublicKey(alg, pk), dsaEncoding: 'ieee-p1363' }, s)).toBe(true);
          }
          const other = Uint8Array.from(digest);
          other[0] ^= 1;
          expect(fast.ecdsaVerify(curve, sig, other, pk)).toBe(false);
        }),
        { numRuns: 25 },
      );
    });

    it(`${curve}: Wycheproof verification vectors give noble's answers`, () => {
      const w = vectors(`wycheproof/ecdsa_${curve === 'p256' ? 'secp256r1' : 'secp256k1'}_sha256_p1363_test.json`);
      let valid = 0;
      for (const g of w.testGroups)
        for (const t of g.tests) {
          const digest = createHash('sha256').update(unhex(t.msg)).digest();
          const args = [curve, unhex(t.sig), digest, unhex(g.publicKey.uncompressed)] as const;
          const got = fast.ecdsaVerify(...args);
          expect(got, `tcId ${t.tcId}`).toBe(noble.ecdsaVerify(...args));
          if (t.result === 'valid') expect(got, `tcId ${t.tcId}`).toBe(true);
          if (t.result === 'invalid') expect(got, `tcId ${t.tcId}`).toBe(false);
          if (got) valid++;
        }
      expect(valid).toBeGreaterThan(50);
    });
  }

  it('the scalar 0 and n are refused, with no key bytes in the message', () => {
    const n = unhex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    for (const sk of [new Uint8Array(32), n]) {
      let message = '';
      try {
        fast.ecdsaSign('p256', new Uint8Array(32), sk);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toMatch(/not a scalar/);
      expect(() => fast.ecdsaPublicKey('p256', sk)).toThrow(/not a scalar/);
    }
    const secret = unhex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');
    for (const call of [() => fast.ecdhP256(secret, new Uint8Array(65)), () => fast.ecdsaSign('p256', new Uint8Array(31), secret)])
      expect(call).toThrow(expect.objectContaining({ message: expect.not.stringContaining(hex(secret).slice(0, 8)) }));
  });

  it('P-256 ECDH matches noble, and Wycheproof: every shared secret, every invalid point refused', () => {
    fc.assert(
      fc.property(bytes(32), bytes(32), (a, b) => {
        let pb: Uint8Array;
        try {
          pb = noble.ecdsaPublicKey('p256', b);
        } catch {
          return;
        }
        same((c) => c.ecdhP256(a, pb));
        same((c) => c.ecdhP256(a, Uint8Array.from([2 + (pb[64] & 1), ...pb.subarray(1, 33)])));
      }),
      RUNS,
    );
    const w = vectors('wycheproof/ecdh_secp256r1_ecpoint_test.json');
    for (const g of w.testGroups)
      for (const t of g.tests) {
        const priv = unhex(t.private.length > 64 ? t.private.slice(-64) : t.private.padStart(64, '0'));
        const call = () => hex(fast.ecdhP256(priv, unhex(t.public)));
        if (t.result === 'invalid') expect(call, `tcId ${t.tcId}`).toThrow();
        else expect(call(), `tcId ${t.tcId}`).toBe(t.shared);
      }
  });
});

describe('fast HAL: hashes, MAC, KDFs and the AEAD against noble', () => {
  it('SHA-256 (whole and streamed), HMAC, HKDF, PBKDF2', () => {
    fc.assert(
      fc.property(msg, msg, msg, fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 40 }), (a, b, c, len, iters) => {
        same((h) => h.sha256(a));
        same((h) => h.sha256Stream().update(a) && undefined);
        const s = fast.sha256Stream();
        s.update(a);
        s.update(b);
        expect(hex(s.digest())).toBe(hex(noble.sha256(Buffer.concat([a, b]))));
        same((h) => h.hmacSha256(a, b));
        same((h) => h.hkdfSha256(a, b, c, len));
        same((h) => h.pbkdf2Sha256(a, b, iters, len));
      }),
      RUNS,
    );
    for (const bad of [0, 1.5, -1, NaN]) {
      expect(() => fast.pbkdf2Sha256(new Uint8Array(1), new Uint8Array(1), bad, 32)).toThrow(/iterations/);
      expect(() => fast.pbkdf2Sha256(new Uint8Array(1), new Uint8Array(1), 1, bad)).toThrow(/length/);
    }
    expect(() => fast.hkdfSha256(new Uint8Array(1), new Uint8Array(1), new Uint8Array(0), 8161)).toThrow(/1\.\.8160/);
  });

  it('ChaCha20-Poly1305 seals as noble does; a flipped bit, a wrong AAD or a short input opens to undefined', () => {
    fc.assert(
      fc.property(bytes(32), bytes(12), msg, msg, (key, nonce, pt, aad) => {
        const sealed = fast.aeadSeal(key, nonce, pt, aad);
        expect(hex(sealed)).toBe(hex(noble.aeadSeal(key, nonce, pt, aad)));
        expect(hex(fast.aeadOpen(key, nonce, sealed, aad)!)).toBe(hex(pt));
        const bad = Uint8Array.from(sealed);
        bad[pt.length % bad.length] ^= 0x80;
        expect(fast.aeadOpen(key, nonce, bad, aad)).toBeUndefined();
        expect(fast.aeadOpen(key, nonce, sealed, Uint8Array.from([...aad, 0]))).toBeUndefined();
        expect(fast.aeadOpen(key, nonce, sealed.subarray(0, 15), aad)).toBeUndefined();
      }),
      RUNS,
    );
    expect(() => fast.aeadSeal(new Uint8Array(31), new Uint8Array(12), new Uint8Array(0), new Uint8Array(0))).toThrow(/32 bytes/);
    expect(() => fast.aeadOpen(new Uint8Array(32), new Uint8Array(8), new Uint8Array(16), new Uint8Array(0))).toThrow(/12 bytes/);
  });
});

describe('fast HAL: its BigInt arithmetic', () => {
  it('modInv gives a·a⁻¹ ≡ 1 for the orders and fields it is used with, small moduli included, and refuses 0', () => {
    const big = fc.oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: (1n << 256n) - 1n }));
    for (const m of [P256.n, SECP256K1.n, P256.p, ED25519_L, 2n ** 255n - 19n, 97n, 2n ** 61n - 1n])
      fc.assert(
        fc.property(big, (a) => {
          if (a % m === 0n) return;
          expect(((((a % m) * modInv(a, m)) % m) + m) % m).toBe(1n);
        }),
        { numRuns: 30 },
      );
    for (const m of [P256.n, ED25519_L]) expect(modInv(m - 1n, m)).toBe(m - 1n);
    expect(() => modInv(P256.n, P256.n)).toThrow(/zero/);
    expect(() => modInv(6n, 9n)).toThrow(/not invertible/);
  });
});

describe("the host's session nonces and AAD (rewritten without BigInt for the bench's hot path)", () => {
  it("match the device's layout (firmware/core/session/layout.ts) for any counter up to 2^53 − 1", () => {
    const counter = fc.oneof(
      fc.integer({ min: 1, max: 1000 }),
      fc.maxSafeNat().filter((n) => n >= 1),
    );
    fc.assert(
      fc.property(counter, fc.integer({ min: 1, max: 255 }), fc.integer({ min: 1, max: 3 }), (c, id, dir) => {
        expect(hex(hostLayout.envelopeNonce(c))).toBe(hex(deviceLayout.envelopeNonce(c)));
        expect(hex(hostLayout.cancelNonce(c))).toBe(hex(deviceLayout.cancelNonce(c)));
        expect(hex(hostLayout.envelopeAad(id, c, dir))).toBe(hex(deviceLayout.envelopeAad(id, c, dir)));
      }),
      { numRuns: 200 },
    );
    expect(hex(hostLayout.envelopeNonce(2 ** 53 - 1))).toBe('00000000001fffffffffffff');
  });
});

describe('fast HAL: the vm realm', () => {
  it("hands back the context's Uint8Array and throws the context's Error", () => {
    const ctx = vm.createContext({});
    const U8 = vm.runInContext('Uint8Array', ctx) as Uint8ArrayConstructor;
    const Err = vm.runInContext('Error', ctx) as ErrorConstructor;
    const c = createFastCrypto({ bytes: U8, error: Err, random: rng });
    const seed = new U8(32).fill(3);
    const outs = [
      c.sha256(seed),
      c.ed25519PublicKey(seed),
      c.ed25519Expand!(seed).sign(seed),
      c.ecdsaSign('p256', seed, seed),
      c.x25519(seed, c.x25519PublicKey(new U8(32).fill(4))),
      c.aeadSeal(seed, new U8(12), seed, new U8(0)),
      c.aeadOpen(seed, new U8(12), c.aeadSeal(seed, new U8(12), seed, new U8(0)), new U8(0))!,
      c.hkdfSha256(seed, seed, seed, 40),
    ];
    for (const o of outs) {
      expect(o instanceof U8).toBe(true);
      expect(o instanceof Uint8Array).toBe(false);
    }
    let thrown: unknown;
    try {
      c.x25519(seed, new U8(32));
    } catch (e) {
      thrown = e;
    }
    expect(thrown instanceof Err).toBe(true);
  });

  it('the hedged signer needs a random source', () => {
    expect(() => createFastCrypto({ hedged: true })).toThrow(/random source/);
  });
});

// The simulator's accelerated Crypto HAL on node:crypto (OpenSSL), handed to the firmware as board.crypto by `tinyhsm sim --fast` (docs/architecture.md §7).
//
// The default simulator runs the device's own noble code so that tests exercise what a board runs; this one replaces
// only the primitives, for CI users who want speed. The firmware runs its power-on self-tests on it like on any HAL
// (core/selftest.ts) and reports 'node-sim-fast' in INFO. Where node:crypto has no API (R = r·B for the streamed SIGN
// and Ed25519ph, ECDSA over a given digest, the Ed25519→X25519 map) sim/fast-curves.ts does the BigInt part and
// OpenSSL the rest: ECDSA's k·G comes from OpenSSL's ECDH. Realm: the firmware lives in a vm context, so every array
// handed back is made with that context's Uint8Array (its `instanceof` checks), and errors with its Error. Secrets
// are wiped where noble's HAL wipes them (the expanded Ed25519 prefix, the RFC 6979 state, DER copies of keys);
// OpenSSL clears its own key objects when they are freed. No message here carries key bytes.
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hash as oneShotHash,
  pbkdf2Sync,
  sign as nodeSign,
  verify as nodeVerify,
  type ECDH,
  type KeyObject,
} from 'node:crypto';
import type { Crypto, EcCurve, Ed25519Signer, Ed25519TwoPass, StreamHash } from '../firmware/hal/index.ts';
import {
  ED25519_L,
  P256,
  SECP256K1,
  bigToBytesBE,
  bigToBytesLE,
  bits2int,
  bytesToBigBE,
  bytesToBigLE,
  ecdsaVerifyDigest,
  ed25519BaseMultiply,
  ed25519Canonical,
  ed25519ToMontgomery,
  mod,
  modInv,
  type WeierstrassParams,
} from './fast-curves.ts';

export interface FastCryptoOptions {
  /** The Uint8Array of the realm that receives the results (the device's vm context); default this realm's. */
  bytes?: Uint8ArrayConstructor;
  /** The Error of that realm; default this realm's. */
  error?: ErrorConstructor;
  /** Fresh randomness for hedged ECDSA (the board's RNG, seeded in tests); default none, which means plain RFC 6979. */
  random?: (buf: Uint8Array) => void;
  /** RFC 6979 §3.6 hedged ECDSA nonces (default true when `random` is given), as noble's HAL does on the device. */
  hedged?: boolean;
}

// RFC 8410 DER wrappers around raw keys
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

const CURVES: Record<EcCurve, { ossl: string; params: WeierstrassParams }> = {
  p256: { ossl: 'prime256v1', params: P256 },
  secp256k1: { ossl: 'secp256k1', params: SECP256K1 },
};

/** The Crypto HAL on node:crypto. Every function throws on invalid key material, as the interface says. */
export function createFastCrypto(opts: FastCryptoOptions = {}): Crypto {
  const U8 = opts.bytes || Uint8Array;
  const Err = opts.error || Error;
  const random = opts.random;
  const hedged = opts.hedged !== undefined ? opts.hedged : random !== undefined;
  if (hedged && !random) throw new Error('createFastCrypto: hedged ECDSA needs a random source');
  const fail = (message: string): never => {
    throw new Err(message);
  };
  /** A copy in the receiving realm. */
  const out = (b: Uint8Array): Uint8Array => {
    const r = new U8(b.length);
    r.set(b);
    return r;
  };
  const need = (b: Uint8Array, len: number, what: string) => {
    if (!b || b.length !== len) fail(`${what} must be ${len} bytes`);
  };

  /** One-shot SHA-256 (crypto.hash, Node ≥ 20.12): a fraction of createHash's cost on the short inputs the device hashes. */
  const sha256 = (data: Uint8Array): Buffer => (oneShotHash as unknown as (a: string, d: Uint8Array, e: string) => Buffer)('sha256', data, 'buffer');
  /** One ECDH object per curve, reused: setPrivateKey replaces the scalar each time (creating one costs more than a k·G). */
  const ecdhObjects: Partial<Record<EcCurve, ECDH>> = {};
  const ecdhOf = (curve: EcCurve): ECDH => ecdhObjects[curve] || (ecdhObjects[curve] = createECDH(curveOf(curve).ossl));

  /** An OpenSSL key object from raw key bytes inside a DER prefix; the DER copy is wiped at once. */
  const privateKeyObject = (prefix: Buffer, raw: Uint8Array, what: string): KeyObject => {
    need(raw, 32, what);
    const der = Buffer.concat([prefix, raw]);
    try {
      return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } catch {
      return fail(`${what} is not a usable key`);
    } finally {
      der.fill(0);
    }
  };
  const publicKeyObject = (prefix: Buffer, raw: Uint8Array): KeyObject => createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
  const rawPublic = (k: KeyObject, prefixLength: number): Uint8Array => createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(prefixLength);

  const sha512 = (...parts: Uint8Array[]): Buffer => {
    const h = createHash('sha512');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const modL = (h: Uint8Array) => mod(bytesToBigLE(h), ED25519_L);

  /** RFC 8032 §5.1.5: the scalar s and the prefix of a seed; the hash is wiped. */
  const expandSeed = (seed: Uint8Array): { scalar: bigint; prefix: Buffer } => {
    const h = sha512(seed);
    h[0] &= 248;
    h[31] &= 127;
    h[31] |= 64;
    const scalar = bytesToBigLE(h.subarray(0, 32));
    const prefix = Buffer.from(h.subarray(32));
    h.fill(0);
    return { scalar, prefix };
  };
  /** S = r + k·s mod L, R ‖ S (RFC 8032 §5.1.6 step 5–6). */
  const finishSignature = (R: Uint8Array, r: bigint, k: bigint, s: bigint): Uint8Array => {
    const sig = new U8(64);
    sig.set(R, 0);
    sig.set(bigToBytesLE(mod(r + k * s, ED25519_L), 32), 32);
    return sig;
  };

  function ed25519Expand(seed: Uint8Array): Ed25519Signer {
    let key: KeyObject | undefined = privateKeyObject(ED25519_PKCS8, seed, 'an Ed25519 seed');
    const publicKey = out(rawPublic(key, ED25519_SPKI.length));
    const ex = expandSeed(seed);
    let scalar: bigint | undefined = ex.scalar;
    const prefix = ex.prefix;
    return {
      publicKey,
      sign(message, dom) {
        if (key === undefined || scalar === undefined) return fail('ed25519 signer was wiped');
        // PureEdDSA is OpenSSL's own; with dom2 (Ed25519ph, RFC 8032 §5.1) the steps of §5.1.6 with that prefix
        if (!dom || dom.length === 0) return out(nodeSign(null, message, key));
        const m = Buffer.from(message); // the nonce and the challenge must hash the same bytes
        const r = modL(sha512(dom, prefix, m));
        const R = ed25519BaseMultiply(r);
        const k = modL(sha512(dom, R, publicKey, m));
        return finishSignature(R, r, k, scalar);
      },
      twoPass() {
        if (scalar === undefined) return fail('ed25519 signer was wiped');
        return twoPass(Buffer.from(prefix), scalar, publicKey);
      },
      wipe() {
        prefix.fill(0);
        scalar = undefined;
        key = undefined;
      },
    };
  }

  /** Ed25519TwoPass over OpenSSL's incremental SHA-512 (hal/index.ts says what the caller must check). */
  function twoPass(prefix: Buffer, s: bigint, publicKey: Uint8Array): Ed25519TwoPass {
    let scalar: bigint | undefined = s;
    let h = createHash('sha512').update(prefix);
    let r: bigint | undefined;
    let R: Uint8Array | undefined;
    const wipe = () => {
      prefix.fill(0);
      scalar = undefined;
      r = undefined;
    };
    return {
      nonce(chunk) {
        if (R !== undefined) fail('ed25519 two-pass: nonce after commit');
        h.update(chunk);
      },
      commit() {
        if (scalar === undefined || R !== undefined) return fail('ed25519 two-pass: commit out of order');
        const digest = h.digest();
        r = modL(digest);
        digest.fill(0);
        prefix.fill(0);
        R = ed25519BaseMultiply(r);
        h = createHash('sha512').update(R).update(publicKey);
      },
      challenge(chunk) {
        if (R === undefined) fail('ed25519 two-pass: challenge before commit');
        h.update(chunk);
      },
      finish() {
        if (scalar === undefined || r === undefined || R === undefined) return fail('ed25519 two-pass: finish out of order');
        const sig = finishSignature(R, r, modL(h.digest()), scalar);
        wipe();
        return sig;
      },
      wipe,
    };
  }

  const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
    const m = createHmac('sha256', key);
    for (const p of parts) m.update(p);
    return m.digest();
  };

  /**
   * RFC 6979 §3.2 nonces (with §3.6's extra entropy when hedged), as noble's ECDSA draws them, and k·G from OpenSSL's
   * ECDH (which also refuses k outside 1..n−1). s is made low-S. The HMAC-DRBG state is wiped before returning.
   */
  function ecdsaSign(curve: EcCurve, digest: Uint8Array, privateKey: Uint8Array): Uint8Array {
    const c = curveOf(curve);
    need(digest, 32, 'ecdsaSign: the digest');
    need(privateKey, 32, 'ecdsaSign: the private key');
    const n = c.params.n;
    const d = bytesToBigBE(privateKey);
    if (d < 1n || d >= n) fail('ecdsaSign: the private key is not a scalar in 1..n-1');
    const e = mod(bits2int(digest), n);
    const extra = hedged ? new Uint8Array(32) : new Uint8Array(0);
    if (hedged) (random as (b: Uint8Array) => void)(extra);
    const seed = Buffer.concat([privateKey, bigToBytesBE(e, 32), extra]);
    let K: Buffer = Buffer.alloc(32, 0);
    let V: Buffer = Buffer.alloc(32, 1);
    K = hmac(K, V, Buffer.from([0]), seed);
    V = hmac(K, V);
    K = hmac(K, V, Buffer.from([1]), seed);
    V = hmac(K, V);
    seed.fill(0);
    extra.fill(0);
    const ecdh = ecdhOf(curve);
    try {
      for (let i = 0; i < 1000; i++) {
        V = hmac(K, V);
        const k = bytesToBigBE(V);
        if (k >= 1n && k < n) {
          ecdh.setPrivateKey(V);
          const r = mod(bytesToBigBE(ecdh.getPublicKey().subarray(1, 33)), n);
          if (r !== 0n) {
            let s = mod(modInv(k, n) * mod(e + r * d, n), n);
            if (s !== 0n) {
              if (s > n >> 1n) s = n - s;
              const sig = new U8(64);
              sig.set(bigToBytesBE(r, 32), 0);
              sig.set(bigToBytesBE(s, 32), 32);
              return sig;
            }
          }
        }
        K = hmac(K, V, Buffer.from([0]));
        V = hmac(K, V);
      }
      return fail('ecdsaSign: no usable nonce');
    } finally {
      K.fill(0);
      V.fill(0);
    }
  }

  function curveOf(curve: EcCurve) {
    const c = curve === 'p256' || curve === 'secp256k1' ? CURVES[curve] : undefined;
    return c !== undefined ? c : fail('unknown curve');
  }

  function ecdhFor(curve: EcCurve, privateKey: Uint8Array, what: string) {
    need(privateKey, 32, what);
    const ecdh = ecdhOf(curve);
    try {
      ecdh.setPrivateKey(privateKey); // OpenSSL refuses 0 and ≥ n
    } catch {
      fail(`${what} is not a scalar in 1..n-1`);
    }
    return ecdh;
  }

  const isPositiveInt = (n: number) => typeof n === 'number' && n >= 1 && Math.floor(n) === n && n <= 0xffffffff;

  return {
    name: 'node:crypto',
    sha256: (data) => out(sha256(data)),
    sha256Stream(): StreamHash {
      const h = createHash('sha256');
      return {
        update(data: Uint8Array) {
          h.update(data);
          return this;
        },
        digest: () => out(h.digest()),
      };
    },
    ed25519PublicKey: (seed) => out(rawPublic(privateKeyObject(ED25519_PKCS8, seed, 'an Ed25519 seed'), ED25519_SPKI.length)),
    ed25519Sign: (message, seed) => out(nodeSign(null, message, privateKeyObject(ED25519_PKCS8, seed, 'an Ed25519 seed'))),
    ed25519Expand,
    ed25519Verify(signature, message, publicKey) {
      // OpenSSL checks S < L and compares R's encoding; the canonical-encoding checks make it at least as strict as
      // noble's zip215: false on the device (RFC 8032 §5.1.7)
      if (!signature || signature.length !== 64 || !publicKey || publicKey.length !== 32) return false;
      if (!ed25519Canonical(publicKey) || !ed25519Canonical(signature.subarray(0, 32))) return false;
      try {
        return nodeVerify(null, message, publicKeyObject(ED25519_SPKI, publicKey), signature);
      } catch {
        return false;
      }
    },
    ed25519PublicToX25519(publicKey) {
      try {
        return out(ed25519ToMontgomery(publicKey));
      } catch (e) {
        return fail(e instanceof Error ? e.message : 'ed25519PublicToX25519: not a valid point');
      }
    },
    ed25519SeedToX25519(seed) {
      need(seed, 32, 'an Ed25519 seed');
      const h = sha512(seed);
      // clamped (RFC 7748 §5) as noble's toMontgomerySecret gives it; X25519 clamps again, to the same scalar
      h[0] &= 248;
      h[31] &= 127;
      h[31] |= 64;
      const r = out(h.subarray(0, 32));
      h.fill(0);
      return r;
    },
    ecdsaPublicKey: (curve, privateKey) => out(ecdhFor(curve, privateKey, 'the private key').getPublicKey()),
    ecdsaSign,
    ecdsaVerify(curve, signature, digest, publicKey) {
      try {
        return ecdsaVerifyDigest(curveOf(curve).params, signature, digest, publicKey);
      } catch {
        return false;
      }
    },
    x25519PublicKey: (privateKey) => out(rawPublic(privateKeyObject(X25519_PKCS8, privateKey, 'an X25519 private key'), X25519_SPKI.length)),
    x25519(privateKey, peerPublicKey) {
      if (!peerPublicKey || peerPublicKey.length !== 32) fail('x25519: expected a 32-byte public key');
      const priv = privateKeyObject(X25519_PKCS8, privateKey, 'an X25519 private key');
      let shared: Buffer | undefined;
      try {
        shared = diffieHellman({ privateKey: priv, publicKey: publicKeyObject(X25519_SPKI, peerPublicKey) });
      } catch {
        // OpenSSL refuses an all-zero result (RFC 7748 §6.1), the only way a 32-byte u can fail
      }
      if (shared === undefined || shared.every((b) => b === 0)) return fail('x25519: all-zero shared secret (low-order public key)');
      const r = out(shared);
      shared.fill(0);
      return r;
    },
    ecdhP256(privateKey, peerPublicKey) {
      if (!peerPublicKey || (peerPublicKey.length !== 33 && peerPublicKey.length !== 65)) fail('ecdhP256: expected a SEC1 point of 33 or 65 bytes');
      const ecdh = ecdhFor('p256', privateKey, 'the private key');
      let shared: Buffer;
      try {
        shared = ecdh.computeSecret(peerPublicKey);
      } catch {
        return fail('ecdhP256: the peer public key is not a point on P-256');
      }
      const r = out(shared);
      shared.fill(0);
      return r;
    },
    hmacSha256: (key, data) => out(hmac(key, data)),
    hkdfSha256(ikm, salt, info, length) {
      // RFC 5869 §2.2–2.3 over HMAC (node's hkdfSync refuses an empty ikm, which the interface allows)
      if (!Number.isInteger(length) || length < 1 || length > 255 * 32) fail('hkdfSha256: length must be 1..8160');
      const prk = hmac(salt.length > 0 ? salt : new Uint8Array(32), ikm);
      const okm = Buffer.alloc(Math.ceil(length / 32) * 32);
      let t: Buffer = Buffer.alloc(0);
      for (let i = 0; i * 32 < length; i++) {
        t = hmac(prk, t, info, Buffer.from([i + 1]));
        t.copy(okm, i * 32);
      }
      prk.fill(0);
      t.fill(0);
      const r = out(okm.subarray(0, length));
      okm.fill(0);
      return r;
    },
    pbkdf2Sha256(password, salt, iterations, length) {
      // the same argument checks as every Crypto (hal/symmetric.ts checkedPbkdf2)
      if (!isPositiveInt(iterations)) fail('pbkdf2Sha256: iterations must be a positive integer');
      if (!isPositiveInt(length)) fail('pbkdf2Sha256: length must be a positive integer');
      const k = pbkdf2Sync(password, salt, iterations, length, 'sha256');
      const r = out(k);
      k.fill(0);
      return r;
    },
    aeadSeal(key, nonce, plaintext, aad) {
      checkKeyNonce(key, nonce);
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      c.setAAD(aad, { plaintextLength: plaintext.length });
      const ct = c.update(plaintext);
      c.final();
      const sealed = new U8(ct.length + 16);
      sealed.set(ct, 0);
      sealed.set(c.getAuthTag(), ct.length);
      return sealed;
    },
    aeadOpen(key, nonce, sealed, aad) {
      checkKeyNonce(key, nonce);
      if (sealed.length < 16) return undefined;
      const ct = sealed.subarray(0, sealed.length - 16);
      const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      d.setAAD(aad, { plaintextLength: ct.length });
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      const plain = d.update(ct);
      try {
        d.final(); // OpenSSL compares the tag in constant time; nothing leaves before it matches
      } catch {
        plain.fill(0);
        return undefined;
      }
      const r = out(plain);
      plain.fill(0);
      return r;
    },
  };

  function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
    if (!key || key.length !== 32) fail('ChaCha20-Poly1305: the key must be 32 bytes');
    if (!nonce || nonce.length !== 12) fail('ChaCha20-Poly1305: the nonce must be 12 bytes (RFC 8439)');
  }
}

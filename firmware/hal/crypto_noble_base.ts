// The noble Crypto HAL without the Weierstrass curves: Ed25519, X25519 and the symmetric primitives, with ECDSA/P-256 ECDH supplied by a backend or absent (docs/architecture.md §3).
//
// Why a separate module: a bundle that imports only this file carries none of noble's Weierstrass code (about
// 18 KB minified). The Kaluma target uses it that way, because JerryScript 2.4 as built for Kaluma computes P-256
// and secp256k1 wrong (its BigInt division is buggy), so those algorithms would fail their self-test there anyway.
// crypto_noble.ts adds the Weierstrass backend for every other target. Platform entry points must import
// ./global_crypto.ts and set its random source BEFORE this module is evaluated (see global_crypto.ts).
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { symmetricCrypto } from './symmetric.ts';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE, concatBytes } from '@noble/curves/utils.js';
import type { Crypto, EcCurve, Ed25519Signer, Ed25519TwoPass } from './index.ts';

/** ECDSA and P-256 ECDH, as crypto_noble.ts implements them over noble's Weierstrass curves. */
export interface WeierstrassBackend {
  publicKey(curve: EcCurve, privateKey: Uint8Array): Uint8Array;
  sign(curve: EcCurve, digest: Uint8Array, privateKey: Uint8Array): Uint8Array;
  verify(curve: EcCurve, signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean;
  ecdhP256(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array;
}

function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i];
  return d === 0;
}

/**
 * The Crypto HAL over noble with `ec` for the Weierstrass operations and `pbkdf2` for PBKDF2-SHA256 (symmetric.ts
 * noblePbkdf2Sha256, or a platform's own behind checkedPbkdf2). Without `ec`, every ECDSA / P-256 function throws
 * `absent` (the self-test reports it and the device does not offer those algorithms). Every function throws on
 * invalid key material (the core maps that to INVALID_KEY).
 */
export function nobleCryptoWith(ec: WeierstrassBackend | undefined, absent: string, pbkdf2: Crypto['pbkdf2Sha256']): Crypto {
  const missing = (): never => {
    throw new Error(absent);
  };
  return {
    name: 'noble',
    sha256: symmetricCrypto.sha256,
    sha256Stream: symmetricCrypto.sha256Stream,
    ed25519PublicKey: (seed) => ed25519.getPublicKey(seed),
    ed25519Sign: (message, seed) => ed25519.sign(message, seed),
    ed25519Expand,
    ed25519Verify(signature, message, publicKey) {
      try {
        return ed25519.verify(signature, message, publicKey, { zip215: false });
      } catch (e) {
        return false;
      }
    },
    ed25519PublicToX25519: (publicKey) => ed25519.utils.toMontgomery(publicKey),
    ed25519SeedToX25519: (seed) => ed25519.utils.toMontgomerySecret(seed),
    ecdsaPublicKey: ec ? ec.publicKey : missing,
    ecdsaSign: ec ? ec.sign : missing,
    ecdsaVerify: ec ? ec.verify : missing,
    x25519PublicKey: (privateKey) => x25519.getPublicKey(privateKey),
    x25519(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 32) throw new Error('x25519: expected a 32-byte public key');
      // noble rejects low-order points before the ladder; the all-zero check is RFC 7748 §6.1's own rule.
      const s = x25519.getSharedSecret(privateKey, peerPublicKey);
      if (isAllZero(s)) throw new Error('x25519: all-zero shared secret (low-order public key)');
      return s;
    },
    ecdhP256: ec ? ec.ecdhP256 : missing,
    hmacSha256: symmetricCrypto.hmacSha256,
    hkdfSha256: symmetricCrypto.hkdfSha256,
    pbkdf2Sha256: pbkdf2,
    aeadSeal: symmetricCrypto.aeadSeal,
    aeadOpen: symmetricCrypto.aeadOpen,
  };
}

/** Device profile for Ed25519 (docs/architecture.md §3): no big window table for the base point. */
export function useEdwardsDeviceProfile(): void {
  ed25519.Point.BASE.precompute(1);
}

/**
 * RFC 8032 §5.1.5 expansion done once, §5.1.6 signing per call: r = H(dom ‖ prefix ‖ M) mod L, R = r·B,
 * k = H(dom ‖ R ‖ A ‖ M) mod L, S = r + k·s mod L — the steps of noble's own sign(), minus recomputing A each time,
 * with RFC 8032 §5.1's dom2 prefix for Ed25519ph. The self-test and the RFC 8032 / Wycheproof tests check it against
 * published signatures.
 */
function ed25519Expand(seed: Uint8Array): Ed25519Signer {
  const ext = ed25519.utils.getExtendedPublicKey(seed);
  const Fn = ed25519.Point.Fn;
  const prefix = ext.prefix.slice();
  const publicKey = ext.pointBytes.slice();
  let scalar: bigint | undefined = ext.scalar;
  ext.head.fill(0);
  ext.prefix.fill(0);
  const modL = (h: Uint8Array) => Fn.create(bytesToNumberLE(h));
  const none = new Uint8Array(0);
  return {
    publicKey,
    sign(message, dom) {
      if (scalar === undefined) throw new Error('ed25519 signer was wiped');
      const d = dom || none;
      const m = message.slice(); // the nonce and the challenge must hash the same bytes
      const r = modL(sha512(concatBytes(d, prefix, m)));
      const R = ed25519.Point.BASE.multiply(r).toBytes();
      const k = modL(sha512(concatBytes(d, R, publicKey, m)));
      return concatBytes(R, Fn.toBytes(Fn.create(r + k * scalar)));
    },
    twoPass() {
      if (scalar === undefined) throw new Error('ed25519 signer was wiped');
      return twoPass(prefix.slice(), scalar, publicKey);
    },
    wipe() {
      prefix.fill(0);
      scalar = undefined;
    },
  };
}

/** Ed25519TwoPass over noble's incremental SHA-512 (hal/index.ts says what the caller must check). */
function twoPass(prefix: Uint8Array, s: bigint, publicKey: Uint8Array): Ed25519TwoPass {
  const Fn = ed25519.Point.Fn;
  let scalar: bigint | undefined = s;
  let h = sha512.create().update(prefix);
  let r: bigint | undefined;
  let R: Uint8Array | undefined;
  const wipe = () => {
    prefix.fill(0);
    scalar = undefined;
    r = undefined;
  };
  return {
    nonce(chunk) {
      if (R !== undefined) throw new Error('ed25519 two-pass: nonce after commit');
      h.update(chunk);
    },
    commit() {
      if (scalar === undefined || R !== undefined) throw new Error('ed25519 two-pass: commit out of order');
      const digest = h.digest();
      r = Fn.create(bytesToNumberLE(digest));
      digest.fill(0);
      prefix.fill(0);
      R = ed25519.Point.BASE.multiply(r).toBytes();
      h = sha512.create().update(R).update(publicKey);
    },
    challenge(chunk) {
      if (R === undefined) throw new Error('ed25519 two-pass: challenge before commit');
      h.update(chunk);
    },
    finish() {
      if (scalar === undefined || r === undefined || R === undefined) throw new Error('ed25519 two-pass: finish out of order');
      const k = Fn.create(bytesToNumberLE(h.digest()));
      const sig = concatBytes(R, Fn.toBytes(Fn.create(r + k * scalar)));
      wipe();
      return sig;
    },
    wipe,
  };
}

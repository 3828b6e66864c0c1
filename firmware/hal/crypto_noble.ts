// The default Crypto HAL: @noble/curves v2 and @noble/hashes, the same code on every target (DESIGN.md "Runtime constraints").
//
// Platform entry points must import ./global_crypto.ts and set its random source BEFORE this module
// is evaluated, or noble drops scalar blinding (see global_crypto.ts).
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { symmetricCrypto } from './symmetric.ts';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE, concatBytes } from '@noble/curves/utils.js';
import type { Crypto, EcCurve, Ed25519Signer } from './index.ts';

type Ecdsa = typeof p256;

function curveOf(curve: EcCurve): Ecdsa {
  if (curve === 'p256') return p256;
  if (curve === 'secp256k1') return secp256k1 as unknown as Ecdsa;
  throw new Error('unknown curve');
}

function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i];
  return d === 0;
}

export interface NobleCryptoOptions {
  /**
   * Hedged ECDSA (RFC 6979 §3.6: deterministic k mixed with fresh randomness from
   * crypto.getRandomValues). Default true: resists fault attacks on deterministic nonces and is
   * never weaker than plain RFC 6979 if the RNG is bad. false gives plain RFC 6979 (reproducible).
   */
  hedged?: boolean;
}

/** The Crypto HAL over noble. Every function throws on invalid key material (the core maps that to INVALID_KEY). */
export function createNobleCrypto(opts?: NobleCryptoOptions): Crypto {
  const hedged = !opts || opts.hedged !== false;
  // Built once, not per call: signing is the hot path (the bench compares it with raw noble).
  const signOpts = { prehash: false, lowS: true, format: 'compact' as const, extraEntropy: hedged };
  // Verification follows FIPS 186-5 (either s is a valid signature); our own signatures are always low-S.
  const verifyOpts = { prehash: false, lowS: false, format: 'compact' as const };
  return {
    name: 'noble',
    sha256: symmetricCrypto.sha256,
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
    ecdsaPublicKey: (curve, privateKey) => curveOf(curve).getPublicKey(privateKey, false),
    ecdsaSign(curve, digest, privateKey) {
      if (digest.length !== 32) throw new Error('ecdsaSign: expected a 32-byte digest');
      return curveOf(curve).sign(digest, privateKey, signOpts);
    },
    ecdsaVerify(curve, signature, digest, publicKey) {
      try {
        return curveOf(curve).verify(signature, digest, publicKey, verifyOpts);
      } catch (e) {
        return false;
      }
    },
    x25519PublicKey: (privateKey) => x25519.getPublicKey(privateKey),
    x25519(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 32) throw new Error('x25519: expected a 32-byte public key');
      // noble rejects low-order points before the ladder; the all-zero check is RFC 7748 §6.1's own rule.
      const s = x25519.getSharedSecret(privateKey, peerPublicKey);
      if (isAllZero(s)) throw new Error('x25519: all-zero shared secret (low-order public key)');
      return s;
    },
    ecdhP256(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 33 && peerPublicKey.length !== 65) throw new Error('ecdhP256: expected a SEC1 point of 33 or 65 bytes');
      // compressed form: 0x02/0x03 ‖ x; the shared secret is x (SEC 1 §3.3.1)
      return p256.getSharedSecret(privateKey, peerPublicKey, true).slice(1);
    },
    hmacSha256: symmetricCrypto.hmacSha256,
    hkdfSha256: symmetricCrypto.hkdfSha256,
    pbkdf2Sha256: symmetricCrypto.pbkdf2Sha256,
    aeadSeal: symmetricCrypto.aeadSeal,
    aeadOpen: symmetricCrypto.aeadOpen,
  };
}

/**
 * Device profile (DESIGN.md "Runtime constraints"): no big window tables for the base points.
 * Signing is ~3x slower but saves 0.5–1.8 MB of heap. The simulator keeps noble's default window.
 */
export function useDeviceProfile(): void {
  ed25519.Point.BASE.precompute(1);
  p256.Point.BASE.precompute(1);
  secp256k1.Point.BASE.precompute(1);
}

/**
 * RFC 8032 §5.1.5 expansion done once, §5.1.6 signing per call: r = H(prefix ‖ M) mod L, R = r·B,
 * k = H(R ‖ A ‖ M) mod L, S = r + k·s mod L — the steps of noble's own sign(), minus recomputing A each time.
 * The self-test and the RFC 8032 / Wycheproof tests check it against published signatures.
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
  return {
    publicKey,
    sign(message) {
      if (scalar === undefined) throw new Error('ed25519 signer was wiped');
      const m = message.slice(); // the nonce and the challenge must hash the same bytes
      const r = modL(sha512(concatBytes(prefix, m)));
      const R = ed25519.Point.BASE.multiply(r).toBytes();
      const k = modL(sha512(concatBytes(R, publicKey, m)));
      return concatBytes(R, Fn.toBytes(Fn.create(r + k * scalar)));
    },
    wipe() {
      prefix.fill(0);
      scalar = undefined;
    },
  };
}

// The default Crypto HAL: @noble/curves v2 and @noble/hashes, the same code on every target but Kaluma (DESIGN.md "Runtime constraints").
//
// Platform entry points must import ./global_crypto.ts and set its random source BEFORE this module
// is evaluated, or noble drops scalar blinding (see global_crypto.ts). Ed25519, X25519 and the symmetric
// primitives are in crypto_noble_base.ts; this file adds ECDSA (P-256, secp256k1) and P-256 ECDH.
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Crypto, EcCurve } from './index.ts';
import { nobleCryptoWith, useEdwardsDeviceProfile, type WeierstrassBackend } from './crypto_noble_base.ts';

type Ecdsa = typeof p256;

function curveOf(curve: EcCurve): Ecdsa {
  if (curve === 'p256') return p256;
  if (curve === 'secp256k1') return secp256k1 as unknown as Ecdsa;
  throw new Error('unknown curve');
}

export interface NobleCryptoOptions {
  /**
   * Hedged ECDSA (RFC 6979 §3.6: deterministic k mixed with fresh randomness from
   * crypto.getRandomValues). Default true: resists fault attacks on deterministic nonces and is
   * never weaker than plain RFC 6979 if the RNG is bad. false gives plain RFC 6979 (reproducible).
   */
  hedged?: boolean;
}

function weierstrass(hedged: boolean): WeierstrassBackend {
  // Built once, not per call: signing is the hot path (the bench compares it with raw noble).
  const signOpts = { prehash: false, lowS: true, format: 'compact' as const, extraEntropy: hedged };
  // Verification follows FIPS 186-5 (either s is a valid signature); our own signatures are always low-S.
  const verifyOpts = { prehash: false, lowS: false, format: 'compact' as const };
  return {
    publicKey: (curve, privateKey) => curveOf(curve).getPublicKey(privateKey, false),
    sign(curve, digest, privateKey) {
      if (digest.length !== 32) throw new Error('ecdsaSign: expected a 32-byte digest');
      return curveOf(curve).sign(digest, privateKey, signOpts);
    },
    verify(curve, signature, digest, publicKey) {
      try {
        return curveOf(curve).verify(signature, digest, publicKey, verifyOpts);
      } catch (e) {
        return false;
      }
    },
    ecdhP256(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 33 && peerPublicKey.length !== 65) throw new Error('ecdhP256: expected a SEC1 point of 33 or 65 bytes');
      // compressed form: 0x02/0x03 ‖ x; the shared secret is x (SEC 1 §3.3.1)
      return p256.getSharedSecret(privateKey, peerPublicKey, true).slice(1);
    },
  };
}

/** The Crypto HAL over noble. Every function throws on invalid key material (the core maps that to INVALID_KEY). */
export function createNobleCrypto(opts?: NobleCryptoOptions): Crypto {
  return nobleCryptoWith(weierstrass(!opts || opts.hedged !== false), 'unreachable: the Weierstrass backend is present');
}

/**
 * Device profile (DESIGN.md "Runtime constraints"): no big window tables for the base points.
 * Signing is ~3x slower but saves 0.5–1.8 MB of heap. The simulator keeps noble's default window.
 */
export function useDeviceProfile(): void {
  useEdwardsDeviceProfile();
  p256.Point.BASE.precompute(1);
  secp256k1.Point.BASE.precompute(1);
}

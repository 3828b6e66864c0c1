// The default Crypto HAL: @noble/curves v2 and @noble/hashes, the same code on every target but Kaluma (docs/architecture.md §3).
//
// Platform entry points must import ./global_crypto.ts and set its random source BEFORE this module
// is evaluated, or noble drops scalar blinding (see global_crypto.ts). Ed25519, X25519 and the symmetric
// primitives are in crypto_noble_base.ts, ECDSA and P-256 ECDH in crypto_weierstrass.ts; this file carries both
// Weierstrass curves (P-256, secp256k1).
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Crypto } from './index.ts';
import { nobleCryptoWith, useEdwardsDeviceProfile } from './crypto_noble_base.ts';
import { noblePbkdf2Sha256 } from './symmetric.ts';
import { useWeierstrassDeviceProfile, weierstrassBackend, type WeierstrassCurves } from './crypto_weierstrass.ts';

const CURVES: WeierstrassCurves = { p256, secp256k1 };

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
  const absent = 'unreachable: the Weierstrass backend is present';
  return nobleCryptoWith(weierstrassBackend(CURVES, !opts || opts.hedged !== false, absent), absent, noblePbkdf2Sha256);
}

/**
 * Device profile (docs/architecture.md §3): no big window tables for the base points.
 * Signing is ~3x slower but saves 0.5–1.8 MB of heap. The simulator keeps noble's default window.
 */
export function useDeviceProfile(): void {
  useEdwardsDeviceProfile();
  useWeierstrassDeviceProfile(CURVES);
}

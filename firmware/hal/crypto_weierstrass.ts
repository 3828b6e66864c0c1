// ECDSA (P-256, secp256k1) and P-256 ECDH over whichever of noble's Weierstrass curves a bundle carries (docs/architecture.md §3).
//
// Why a separate module: a bundle pays heap and flash for each curve it imports (noble builds its field, its point
// class and its tables at load). crypto_noble.ts passes both curves; the Pico 2's Kaluma bundle passes secp256k1 only,
// because JerryScript 2.4 computes P-256 wrong (docs/boards.md "Kaluma"). A curve that is not passed throws `absent`,
// which the self-test reports, so the device does not offer it (docs/protocol.md INFO `selftestFailures`).
import type { ECDSA } from '@noble/curves/abstract/weierstrass.js';
import type { EcCurve } from './index.ts';
import type { WeierstrassBackend } from './crypto_noble_base.ts';

/** The curves a bundle carries. */
export interface WeierstrassCurves {
  p256?: ECDSA;
  secp256k1?: ECDSA;
}

/**
 * The backend over `curves`. `hedged`: RFC 6979 §3.6 k mixed with fresh randomness from crypto.getRandomValues (see
 * crypto_noble.ts NobleCryptoOptions). `absent` is the error text for a curve the bundle does not carry.
 */
export function weierstrassBackend(curves: WeierstrassCurves, hedged: boolean, absent: string): WeierstrassBackend {
  const curveOf = (curve: EcCurve): ECDSA => {
    const c = curve === 'p256' ? curves.p256 : curve === 'secp256k1' ? curves.secp256k1 : undefined;
    if (c === undefined) throw new Error(curve === 'p256' || curve === 'secp256k1' ? absent : 'unknown curve');
    return c;
  };
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
      return curveOf('p256').getSharedSecret(privateKey, peerPublicKey, true).slice(1);
    },
  };
}

/** Device profile (docs/architecture.md §3): no big window tables for the curves' base points. */
export function useWeierstrassDeviceProfile(curves: WeierstrassCurves): void {
  if (curves.p256) curves.p256.Point.BASE.precompute(1);
  if (curves.secp256k1) curves.secp256k1.Point.BASE.precompute(1);
}

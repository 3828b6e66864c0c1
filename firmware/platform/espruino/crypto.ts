// The Crypto HAL for engines without BigInt (Espruino): hashes, KDFs and ChaCha20-Poly1305 from noble (32-bit arithmetic only); every curve operation throws.
//
// @noble/curves needs BigInt, and a BigInt literal would not even parse on Espruino, so no curve code may reach
// this bundle (tools/build.mjs fails the build if one does). The power-on self-tests call these functions,
// fail with the message below, and INFO lists the reason per algorithm (docs/architecture.md §3).
//
// HMAC, HKDF, PBKDF2 (@noble/hashes) and ChaCha20-Poly1305 (noble's ChaCha20 and Poly1305 composed without BigInt in
// hal/chacha20poly1305.ts) need no BigInt, so they work here. Note that a session still cannot open on this engine:
// its handshake needs X25519 and Ed25519 (docs/session.md).
import { noblePbkdf2Sha256, symmetricCrypto } from '../../hal/symmetric.ts';
import type { Crypto } from '../../hal/index.ts';

// INFO carries it as each curve's self-test failure, after 'threw during the known-answer test: ', cut at 80
// characters (core/selftest.ts): short enough to arrive whole.
export const NO_BIGINT = 'no BigInt on Espruino, so no curves: this board holds no asymmetric keys';

function unavailable(): never {
  throw new Error(NO_BIGINT);
}

export function createNoBigIntCrypto(): Crypto {
  return {
    name: 'noble-hashes (no BigInt)',
    sha256: symmetricCrypto.sha256,
    sha256Stream: symmetricCrypto.sha256Stream,
    ed25519PublicKey: unavailable,
    ed25519Sign: unavailable,
    ed25519Verify: unavailable,
    ed25519PublicToX25519: unavailable,
    ed25519SeedToX25519: unavailable,
    ecdsaPublicKey: unavailable,
    ecdsaSign: unavailable,
    ecdsaVerify: unavailable,
    x25519PublicKey: unavailable,
    x25519: unavailable,
    ecdhP256: unavailable,
    hmacSha256: symmetricCrypto.hmacSha256,
    hkdfSha256: symmetricCrypto.hkdfSha256,
    pbkdf2Sha256: noblePbkdf2Sha256,
    aeadSeal: symmetricCrypto.aeadSeal,
    aeadOpen: symmetricCrypto.aeadOpen,
  };
}

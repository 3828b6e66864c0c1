// The Crypto HAL for engines without BigInt (Espruino): SHA-256 from @noble/hashes (32-bit arithmetic only); every curve operation throws.
//
// @noble/curves needs BigInt, and a BigInt literal would not even parse on Espruino, so no curve code may reach
// this bundle (tools/build.mjs fails the build if one does). The power-on self-tests call these functions,
// fail with the message below, and INFO lists the reason per algorithm (DESIGN.md "Runtime constraints").
import { sha256 } from '@noble/hashes/sha2.js';
import type { Crypto } from '../../hal/index.ts';

export const NO_BIGINT = 'this engine has no BigInt, so elliptic-curve code cannot run here (Espruino); use a Kaluma, XS or QuickJS board for keys';

function unavailable(): never {
  throw new Error(NO_BIGINT);
}

export function createNoBigIntCrypto(): Crypto {
  return {
    name: 'noble-hashes (no BigInt)',
    sha256: (data) => sha256(data),
    ed25519PublicKey: unavailable,
    ed25519Sign: unavailable,
    ed25519Verify: unavailable,
    ecdsaPublicKey: unavailable,
    ecdsaSign: unavailable,
    ecdsaVerify: unavailable,
    x25519PublicKey: unavailable,
    x25519: unavailable,
    ecdhP256: unavailable,
  };
}

// The BigInt-free half of the Crypto HAL (SHA-256, HMAC, HKDF, PBKDF2, ChaCha20-Poly1305), shared by every Crypto implementation.
//
// These need only 32-bit arithmetic, so the same code serves the noble HAL and the Espruino HAL (no BigInt there).
import { sha256 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { pbkdf2 } from '@noble/hashes/pbkdf2.js';
import { chachaPolyOpen, chachaPolySeal } from './chacha20poly1305.ts';
import type { Crypto } from './index.ts';

export type SymmetricCrypto = Pick<Crypto, 'sha256' | 'sha256Stream' | 'hmacSha256' | 'hkdfSha256' | 'aeadSeal' | 'aeadOpen'>;

function isPositiveInt(n: number): boolean {
  return typeof n === 'number' && n >= 1 && Math.floor(n) === n && n <= 0xffffffff;
}

type Pbkdf2 = Crypto['pbkdf2Sha256'];

/** A PBKDF2 implementation behind the argument checks every Crypto shares. */
export function checkedPbkdf2(impl: Pbkdf2): Pbkdf2 {
  return (password, salt, iterations, length) => {
    // noble accepts any c ≥ 1 and dkLen ≥ 1; a fractional count would silently run ceil(c) rounds, so refuse it here
    if (!isPositiveInt(iterations)) throw new Error('pbkdf2Sha256: iterations must be a positive integer');
    if (!isPositiveInt(length)) throw new Error('pbkdf2Sha256: length must be a positive integer');
    return impl(password, salt, iterations, length);
  };
}

/**
 * noble's PBKDF2, apart from the rest so that a bundle with a PBKDF2 of its own (Kaluma: pbkdf2_sha256_halves.ts)
 * does not carry it.
 */
export const noblePbkdf2Sha256: Crypto['pbkdf2Sha256'] = /* @__PURE__ */ checkedPbkdf2((password, salt, c, dkLen) =>
  pbkdf2(sha256, password, salt, { c, dkLen }),
);

export const symmetricCrypto: SymmetricCrypto = {
  sha256: (data) => sha256(data),
  sha256Stream: () => sha256.create(),
  hmacSha256: (key, data) => hmac(sha256, key, data),
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  // BigInt-free RFC 8439 composition over noble's ChaCha20 and Poly1305 (see chacha20poly1305.ts for why)
  aeadSeal: chachaPolySeal,
  aeadOpen: chachaPolyOpen,
};

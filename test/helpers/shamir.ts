// Shamir interpolation at 0 over GF(2^8) (x^8 + x^4 + x^3 + x + 1) and the domain id, written apart from firmware/core/shamir.ts so that tests check the device's shares against a second implementation (docs/quorum.md §8).
import { createHash } from 'node:crypto';

function mul(a: number, b: number): number {
  let p = 0;
  while (b) {
    if (b & 1) p ^= a;
    a = a & 0x80 ? ((a << 1) ^ 0x11b) & 0xff : a << 1;
    b >>= 1;
  }
  return p;
}

function inv(a: number): number {
  for (let x = 1; x < 256; x++) if (mul(a, x) === 1) return x;
  throw new Error('0 has no inverse');
}

/** The secret through the points (index, share): Σ share_i · Π_{j≠i} x_j / (x_j ⊕ x_i). */
export function combineShares(points: { index: number; share: Uint8Array }[]): Uint8Array {
  const out = new Uint8Array(points[0].share.length);
  for (const p of points) {
    let basis = 1;
    for (const q of points) if (q !== p) basis = mul(basis, mul(q.index, inv(q.index ^ p.index)));
    for (let j = 0; j < out.length; j++) out[j] ^= mul(p.share[j], basis);
  }
  return out;
}

/** SHA-256("tinyhsm domain v1" ‖ 0x00 ‖ wrap key)[0..16]. */
export function domainIdOf(wrap: Uint8Array): Uint8Array {
  const h = createHash('sha256')
    .update(Buffer.concat([Buffer.from('tinyhsm domain v1'), Buffer.from([0]), wrap]))
    .digest();
  return new Uint8Array(h.subarray(0, 16));
}

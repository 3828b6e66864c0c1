// Shamir secret sharing over GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1 (docs/quorum.md §8): split a secret into shares, rebuild it from enough of them.
//
// Byte j of share x is f_j(x), where f_j is a polynomial of degree threshold − 1 with f_j(0) = secret[j] and the
// other coefficients random. Any `threshold` shares give the secret back by Lagrange interpolation at 0; fewer
// give no information about it. Share indexes are 1..255 (0 would be the secret itself). The field arithmetic
// runs the same steps for every value (no tables indexed by secret bytes), so its timing does not depend on them.
import type { Rng } from '../hal/index.ts';

/** a·b in GF(2^8): eight shift-and-reduce rounds whatever the operands. */
export function gfMul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    p ^= -(b & 1) & a;
    a = ((a << 1) ^ (-(a >> 7) & 0x11b)) & 0xff;
    b >>= 1;
  }
  return p;
}

/** 1/a in GF(2^8) as a^254 (a ≠ 0). */
function gfInv(a: number): number {
  let r = 1;
  let s = a;
  for (let e = 254; e > 0; e >>= 1) {
    if (e & 1) r = gfMul(r, s);
    s = gfMul(s, s);
  }
  return r;
}

/**
 * Split `secret` into one share per index in `xs` (distinct, 1..255), any `threshold` of which rebuild it.
 * Share i is the bytes f(xs[i]); the caller keeps which index each share belongs to. The random coefficients are
 * wiped before this returns.
 */
export function shamirSplit(rng: Rng, secret: Uint8Array, threshold: number, xs: readonly number[]): Uint8Array[] {
  const coeffs = new Uint8Array((threshold - 1) * secret.length);
  rng.fill(coeffs);
  const shares: Uint8Array[] = [];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = new Uint8Array(secret.length);
    for (let j = 0; j < secret.length; j++) {
      // Horner: f(x) = ((c_{t-1}·x + c_{t-2})·x + … + c_1)·x + secret
      let acc = 0;
      for (let k = threshold - 2; k >= 0; k--) acc = gfMul(acc, x) ^ coeffs[k * secret.length + j];
      y[j] = gfMul(acc, x) ^ secret[j];
    }
    shares.push(y);
  }
  coeffs.fill(0);
  return shares;
}

/**
 * The secret at x = 0 of the polynomial through the points (xs[i], ys[i]): the indexes must be distinct and
 * nonzero (the caller checks), all ys of one length. Wrong or too few shares give a wrong secret, not an error:
 * the caller checks the result against something it already knows (the domain id).
 */
export function shamirCombine(xs: readonly number[], ys: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ys[0].length);
  for (let i = 0; i < xs.length; i++) {
    // Lagrange basis at 0: Π_{m≠i} x_m / (x_m − x_i); subtraction is XOR in GF(2^8)
    let num = 1;
    let den = 1;
    for (let m = 0; m < xs.length; m++) {
      if (m === i) continue;
      num = gfMul(num, xs[m]);
      den = gfMul(den, xs[m] ^ xs[i]);
    }
    const basis = gfMul(num, gfInv(den));
    for (let j = 0; j < out.length; j++) out[j] ^= gfMul(ys[i][j], basis);
  }
  return out;
}

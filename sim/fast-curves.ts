// The curve arithmetic the simulator's fast Crypto HAL needs where node:crypto has no API for it (docs/architecture.md §7): Ed25519 r·B for a given r, strict point decoding, ECDSA over a given digest.
//
// Why here and in BigInt: node:crypto signs Ed25519 and ECDSA only over whole messages it hashes itself, and has no
// point arithmetic. The streamed SIGN and Ed25519ph need R = r·B for an r we compute (RFC 8032 §5.1.6), ECDSA signs a
// digest the host computed, and the Ed25519→X25519 map must decode a point. sim/ may import only itself and Node
// (test/unit/host-imports.test.ts), so this is a small independent implementation, checked against noble, node:crypto
// and the RFC vectors in test/unit/sim-fast-crypto.test.ts. It is not constant-time: the simulator is a test and CI
// device, not a place for secrets an attacker can time (the fast HAL is opt-in, `tinyhsm sim --fast`).

export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

export function modPow(base: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  let b = mod(base, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

/**
 * a⁻¹ mod m by the extended Euclidean algorithm in Lehmer's form (Knuth, TAOCP vol. 2 §4.5.2, Algorithm L): the
 * quotients come from the leading 48 bits in Numbers, exact there, and one 2×2 matrix applies a run of them to the
 * BigInts; once the remainders fit in 53 bits the rest runs in Numbers. ECDSA signing takes one inverse per signature,
 * and this is about three times faster than BigInt division at every step. Throws for a ≡ 0 (never with secret text).
 */
export function modInv(a: bigint, m: bigint): bigint {
  let u = m;
  let v = mod(a, m);
  if (v === 0n) throw new Error('modular inverse of zero');
  let tu = 0n;
  let tv = 1n;
  while (v !== 0n) {
    if (u <= 0x1fffffffffffffn) {
      let x = Number(u);
      let y = Number(v);
      while (y !== 0) {
        const q = Math.floor(x / y);
        const z = x - q * y;
        x = y;
        y = z;
        const t = tu - BigInt(q) * tv;
        tu = tv;
        tv = t;
      }
      if (x !== 1) throw new Error('modular inverse: not invertible');
      return mod(tu, m);
    }
    const shift = BigInt(u.toString(16).length * 4 - 48);
    let x = Number(u >> shift);
    let y = Number(v >> shift);
    let A = 1;
    let B = 0;
    let C = 0;
    let D = 1;
    for (;;) {
      const d1 = y + C;
      const d2 = y + D;
      if (d1 <= 0 || d2 <= 0) break;
      // floor in doubles, corrected: every operand is an integer below 2^50, so the products are exact
      let q = Math.floor((x + A) / d1);
      if (q * d1 > x + A) q--;
      let q2 = Math.floor((x + B) / d2);
      if (q2 * d2 > x + B) q2--;
      if (q !== q2) break;
      let t = A - q * C;
      A = C;
      C = t;
      t = B - q * D;
      B = D;
      D = t;
      t = x - q * y;
      x = y;
      y = t;
    }
    if (B === 0) {
      const q = u / v;
      const w = u - q * v;
      u = v;
      v = w;
      const t = tu - q * tv;
      tu = tv;
      tv = t;
    } else {
      const bA = BigInt(A);
      const bB = BigInt(B);
      const bC = BigInt(C);
      const bD = BigInt(D);
      const nu = bA * u + bB * v;
      v = bC * u + bD * v;
      u = nu;
      const ntu = bA * tu + bB * tv;
      tv = bC * tu + bD * tv;
      tu = ntu;
    }
  }
  // v reached 0 in a BigInt step: u is the gcd
  if (u !== 1n) throw new Error('modular inverse: not invertible');
  return mod(tu, m);
}

export function bytesToBigBE(b: Uint8Array): bigint {
  // through hex: one BigInt parse instead of a shift and an OR per byte
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex'));
}

// Eight bytes per BigInt step (DataView's 64-bit access) rather than one: a quarter of the BigInt work, and no
// hex string or Buffer pool in between, which showed in the profile of an ECDSA SIGN.
export function bytesToBigLE(b: Uint8Array): bigint {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let n = 0n;
  let i = b.length;
  for (; i % 8 !== 0; i--) n = (n << 8n) | BigInt(b[i - 1]);
  for (; i > 0; i -= 8) n = (n << 64n) | dv.getBigUint64(i - 8, true);
  return n;
}

/** n (0 ≤ n < 2^(8·len)) as `len` bytes big-endian. */
export function bigToBytesBE(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let i = len;
  for (; i >= 8; i -= 8, n >>= 64n) dv.setBigUint64(i - 8, BigInt.asUintN(64, n));
  for (; i > 0; i--, n >>= 8n) out[i - 1] = Number(n & 0xffn);
  if (n !== 0n) throw new RangeError(`${len} bytes cannot hold the number`);
  return out;
}

/** n (0 ≤ n < 2^(8·len)) as `len` bytes little-endian. */
export function bigToBytesLE(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let i = 0;
  for (; i + 8 <= len; i += 8, n >>= 64n) dv.setBigUint64(i, BigInt.asUintN(64, n), true);
  for (; i < len; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  if (n !== 0n) throw new RangeError(`${len} bytes cannot hold the number`);
  return out;
}

// ---------------------------------------------------------------- edwards25519 (RFC 8032 §5.1)

const P25519 = 2n ** 255n - 19n;
/** The order of the base point (RFC 8032 §5.1: L). */
export const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;
const ED_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
const ED_D2 = (2n * ED_D) % P25519;
const SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;
const ED_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202n;
const ED_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960n;

/** Extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z (RFC 8032 §5.1.4). */
type Ext = [bigint, bigint, bigint, bigint];

const fp = (a: bigint) => mod(a, P25519);

function edAdd(p: Ext, q: Ext): Ext {
  const A = fp((p[1] - p[0]) * (q[1] - q[0]));
  const B = fp((p[1] + p[0]) * (q[1] + q[0]));
  const C = fp(p[3] * ED_D2 * q[3]);
  const D = fp(2n * p[2] * q[2]);
  const E = B - A;
  const F = D - C;
  const G = D + C;
  const H = B + A;
  return [fp(E * F), fp(G * H), fp(F * G), fp(E * H)];
}

function edDouble(p: Ext): Ext {
  const A = fp(p[0] * p[0]);
  const B = fp(p[1] * p[1]);
  const C = fp(2n * p[2] * p[2]);
  const H = A + B;
  const xy = p[0] + p[1];
  const E = H - fp(xy * xy);
  const G = A - B;
  const F = C + G;
  return [fp(E * F), fp(G * H), fp(F * G), fp(E * H)];
}

const ED_BASE: Ext = [ED_BX, ED_BY, 1n, fp(ED_BX * ED_BY)];

/**
 * j·16^i·B for i = 0..63 and j = 1..15, made at the first use (about 1,200 point operations, once): a multiple of B is
 * then at most 64 additions, one per 4-bit digit of the scalar, instead of 253 doublings and the additions.
 */
let baseTable: Ext[][] | undefined;

function table(): Ext[][] {
  if (baseTable !== undefined) return baseTable;
  const rows: Ext[][] = [];
  let p: Ext = ED_BASE;
  for (let i = 0; i < 64; i++) {
    const row: Ext[] = [p];
    for (let j = 1; j < 15; j++) row.push(edAdd(row[j - 1], p));
    rows.push(row);
    for (let k = 0; k < 4; k++) p = edDouble(p);
  }
  baseTable = rows;
  return rows;
}

/** The 32-byte encoding of r·B (RFC 8032 §5.1.2), for 0 ≤ r < 2^256. The addition formula is complete on edwards25519. */
export function ed25519BaseMultiply(r: bigint): Uint8Array {
  const t = table();
  let acc: Ext = [0n, 1n, 1n, 0n];
  for (let i = 0; i < 64; i++) {
    const digit = Number((r >> BigInt(4 * i)) & 15n);
    if (digit !== 0) acc = edAdd(acc, t[i][digit - 1]);
  }
  const zi = modInv(acc[2], P25519);
  const x = fp(acc[0] * zi);
  const y = fp(acc[1] * zi);
  const out = bigToBytesLE(y, 32);
  out[31] |= Number(x & 1n) << 7;
  return out;
}

/**
 * RFC 8032 §5.1.3 decoding, strict as noble's with zip215 false: y must be below p, x must exist, and x = 0 with the
 * sign bit set is refused. Returns undefined for an invalid encoding.
 */
export function ed25519Decode(bytes: Uint8Array): { x: bigint; y: bigint } | undefined {
  if (bytes.length !== 32) return undefined;
  const sign = bytes[31] >> 7;
  const c = Uint8Array.from(bytes);
  c[31] &= 0x7f;
  const y = bytesToBigLE(c);
  if (y >= P25519) return undefined;
  const y2 = fp(y * y);
  const u = fp(y2 - 1n);
  const v = fp(ED_D * y2 + 1n);
  const v3 = fp(v * v * v);
  let x = fp(u * v3 * modPow(u * v3 * v3 * v, (P25519 - 5n) / 8n, P25519));
  const vx2 = fp(v * x * x);
  if (vx2 !== u) {
    if (vx2 !== fp(-u)) return undefined;
    x = fp(x * SQRT_M1);
  }
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = P25519 - x;
  return { x, y };
}

/** True when a 32-byte encoding's y (sign bit aside) is below p: RFC 8032 §5.1.7's canonical encodings. */
export function ed25519Canonical(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  const c = Uint8Array.from(bytes);
  c[31] &= 0x7f;
  return bytesToBigLE(c) < P25519;
}

/** RFC 7748 §4.1: u = (1 + y) / (1 − y) of a valid Ed25519 public key; throws for an invalid point or the identity. */
export function ed25519ToMontgomery(publicKey: Uint8Array): Uint8Array {
  const p = ed25519Decode(publicKey);
  if (p === undefined) throw new Error('ed25519PublicToX25519: not a valid Ed25519 public key (RFC 8032 §5.1.3)');
  const den = fp(1n - p.y);
  if (den === 0n) throw new Error('ed25519PublicToX25519: the identity point has no X25519 counterpart');
  return bigToBytesLE(fp((1n + p.y) * modInv(den, P25519)), 32);
}

// ---------------------------------------------------------------- short Weierstrass curves (SEC 1, FIPS 186-5)

export interface WeierstrassParams {
  p: bigint;
  n: bigint;
  a: bigint;
  b: bigint;
  gx: bigint;
  gy: bigint;
}

export const P256: WeierstrassParams = {
  p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
  n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  a: 0xffffffff00000001000000000000000000000000fffffffffffffffffffffffcn,
  b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};

export const SECP256K1: WeierstrassParams = {
  p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn,
  n: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  a: 0n,
  b: 7n,
  gx: 0x79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798n,
  gy: 0x483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8n,
};

/** Jacobian (X:Y:Z), x = X/Z², y = Y/Z³; Z = 0 is the point at infinity. */
type Jac = [bigint, bigint, bigint];

function jDouble(c: WeierstrassParams, q: Jac): Jac {
  const [X, Y, Z] = q;
  if (Z === 0n || Y === 0n) return [0n, 1n, 0n];
  const p = c.p;
  const YY = (Y * Y) % p;
  const S = (4n * X * YY) % p;
  const ZZ = (Z * Z) % p;
  const M = mod(3n * X * X + c.a * ZZ * ZZ, p);
  const X3 = mod(M * M - 2n * S, p);
  const Y3 = mod(M * (S - X3) - 8n * YY * YY, p);
  return [X3, Y3, (2n * Y * Z) % p];
}

function jAdd(c: WeierstrassParams, q1: Jac, q2: Jac): Jac {
  if (q1[2] === 0n) return q2;
  if (q2[2] === 0n) return q1;
  const p = c.p;
  const Z1Z1 = (q1[2] * q1[2]) % p;
  const Z2Z2 = (q2[2] * q2[2]) % p;
  const U1 = (q1[0] * Z2Z2) % p;
  const U2 = (q2[0] * Z1Z1) % p;
  const S1 = (q1[1] * Z2Z2 * q2[2]) % p;
  const S2 = (q2[1] * Z1Z1 * q1[2]) % p;
  if (U1 === U2) return S1 === S2 ? jDouble(c, q1) : [0n, 1n, 0n];
  const H = mod(U2 - U1, p);
  const R = mod(S2 - S1, p);
  const HH = (H * H) % p;
  const HHH = (HH * H) % p;
  const X3 = mod(R * R - HHH - 2n * U1 * HH, p);
  const Y3 = mod(R * (U1 * HH - X3) - S1 * HHH, p);
  return [X3, Y3, (H * q1[2] * q2[2]) % p];
}

/**
 * A SEC1 point (65 bytes uncompressed or 33 compressed, SEC 1 §2.3.4) on the curve, or undefined. Both curves have
 * p ≡ 3 (mod 4), so a square root is a single power.
 */
export function decodeSec1(c: WeierstrassParams, bytes: Uint8Array): { x: bigint; y: bigint } | undefined {
  const p = c.p;
  const rhs = (x: bigint) => mod(x * x * x + c.a * x + c.b, p);
  if (bytes.length === 65 && bytes[0] === 4) {
    const x = bytesToBigBE(bytes.subarray(1, 33));
    const y = bytesToBigBE(bytes.subarray(33));
    if (x >= p || y >= p || (y * y) % p !== rhs(x)) return undefined;
    return { x, y };
  }
  if (bytes.length === 33 && (bytes[0] === 2 || bytes[0] === 3)) {
    const x = bytesToBigBE(bytes.subarray(1));
    if (x >= p) return undefined;
    const r = rhs(x);
    let y = modPow(r, (p + 1n) / 4n, p);
    if ((y * y) % p !== r) return undefined;
    if (Number(y & 1n) !== (bytes[0] & 1)) y = mod(-y, p);
    return { x, y };
  }
  return undefined;
}

/** bits2int (RFC 6979 §2.3.2) for a 256-bit order: the leftmost 256 bits of the digest as an integer. */
export function bits2int(digest: Uint8Array): bigint {
  const n = bytesToBigBE(digest);
  const extra = digest.length * 8 - 256;
  return extra > 0 ? n >> BigInt(extra) : n;
}

/**
 * ECDSA verification (FIPS 186-5 §6.4.2) of raw r‖s over a given digest, either s accepted (our own signatures are
 * low-S; verification follows the standard). False for anything malformed.
 */
export function ecdsaVerifyDigest(c: WeierstrassParams, signature: Uint8Array, digest: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const Q = decodeSec1(c, publicKey);
  if (Q === undefined) return false;
  const n = c.n;
  const r = bytesToBigBE(signature.subarray(0, 32));
  const s = bytesToBigBE(signature.subarray(32));
  if (r < 1n || r >= n || s < 1n || s >= n) return false;
  const e = mod(bits2int(digest), n);
  const w = modInv(s, n);
  const u1 = (e * w) % n;
  const u2 = (r * w) % n;
  const G: Jac = [c.gx, c.gy, 1n];
  const Qj: Jac = [Q.x, Q.y, 1n];
  const GQ = jAdd(c, G, Qj);
  let acc: Jac = [0n, 1n, 0n];
  for (let i = 255; i >= 0; i--) {
    acc = jDouble(c, acc);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) acc = jAdd(c, acc, GQ);
    else if (b1) acc = jAdd(c, acc, G);
    else if (b2) acc = jAdd(c, acc, Qj);
  }
  if (acc[2] === 0n) return false;
  const zi = modInv(acc[2], c.p);
  const x = (acc[0] * zi * zi) % c.p;
  return x % n === r;
}

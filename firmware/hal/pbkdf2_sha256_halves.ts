// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2 over FIPS 180-4 SHA-256) computed on 16-bit halves of each 32-bit word, so no intermediate value leaves a small engine's direct integers.
//
// Why (docs/boards.md "Kaluma"): JerryScript keeps an integer in the value itself only within ±2^27; every larger
// intermediate of a 32-bit hash (noble's `(a + b) | 0`) is a heap-allocated number. PBKDF2 computes two SHA-256
// blocks per iteration, so a LOGIN allocated hundreds of thousands of numbers and spent its time in the garbage
// collector of a nearly full heap. Here each word is a pair (hi, lo) of 16-bit values, every sum stays below
// 2^20 and every shift is masked first, so the loop allocates nothing. The same results as any SHA-256: the
// tests check this file against node:crypto and RFC 7914 §11's PBKDF2-HMAC-SHA256 vectors.

/** FIPS 180-4 §4.2.2 round constants, 8 hex digits each. */
const K_HEX =
  '428a2f9871374491b5c0fbcfe9b5dba53956c25b59f111f1923f82a4ab1c5ed5d807aa9812835b01243185be550c7dc3' +
  '72be5d7480deb1fe9bdc06a7c19bf174e49b69c1efbe47860fc19dc6240ca1cc2de92c6f4a7484aa5cb0a9dc76f988da' +
  '983e5152a831c66db00327c8bf597fc7c6e00bf3d5a7914706ca63511429296727b70a852e1b21384d2c6dfc53380d13' +
  '650a7354766a0abb81c2c92e92722c85a2bfe8a1a81a664bc24b8b70c76c51a3d192e819d6990624f40e3585106aa070' +
  '19a4c1161e376c082748774c34b0bcb5391c0cb34ed8aa4a5b9cca4f682e6ff3748f82ee78a5636f84c878148cc70208' +
  '90befffaa4506cebbef9a3f7c67178f2';
/** FIPS 180-4 §5.3.3 initial hash value. */
const IV_HEX = '6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19';

let KH: Uint16Array | undefined;
let KL: Uint16Array | undefined;

function halvesOf(hex: string, hi: Uint16Array, lo: Uint16Array): void {
  for (let i = 0; i < hi.length; i++) {
    hi[i] = parseInt(hex.substr(i * 8, 4), 16);
    lo[i] = parseInt(hex.substr(i * 8 + 4, 4), 16);
  }
}

/** Working buffers of one computation: a state and a 64-word schedule, as halves. */
interface Work {
  sh: Uint16Array;
  sl: Uint16Array;
  wh: Uint16Array;
  wl: Uint16Array;
}

function newWork(): Work {
  return { sh: new Uint16Array(8), sl: new Uint16Array(8), wh: new Uint16Array(64), wl: new Uint16Array(64) };
}

function setIv(sh: Uint16Array, sl: Uint16Array): void {
  halvesOf(IV_HEX, sh, sl);
}

/** One SHA-256 compression (FIPS 180-4 §6.2.2) of the block in wh/wl[0..15] into the state sh/sl. */
function compress(sh: Uint16Array, sl: Uint16Array, wh: Uint16Array, wl: Uint16Array): void {
  const kh = KH as Uint16Array;
  const kl = KL as Uint16Array;
  for (let i = 16; i < 64; i++) {
    // W[i] = σ1(W[i-2]) + W[i-7] + σ0(W[i-15]) + W[i-16]
    const xh = wh[i - 2];
    const xl = wl[i - 2];
    const yh = wh[i - 15];
    const yl = wl[i - 15];
    // σ1 = rotr17 ^ rotr19 ^ shr10; σ0 = rotr7 ^ rotr18 ^ shr3 (a rotation by 16 + n swaps the halves)
    const s1h = ((xl >>> 1) | ((xh & 1) << 15)) ^ ((xl >>> 3) | ((xh & 7) << 13)) ^ (xh >>> 10);
    const s1l = ((xh >>> 1) | ((xl & 1) << 15)) ^ ((xh >>> 3) | ((xl & 7) << 13)) ^ ((xl >>> 10) | ((xh & 0x3ff) << 6));
    const s0h = ((yh >>> 7) | ((yl & 0x7f) << 9)) ^ ((yl >>> 2) | ((yh & 3) << 14)) ^ (yh >>> 3);
    const s0l = ((yl >>> 7) | ((yh & 0x7f) << 9)) ^ ((yh >>> 2) | ((yl & 3) << 14)) ^ ((yl >>> 3) | ((yh & 7) << 13));
    const lo = s1l + wl[i - 7] + s0l + wl[i - 16];
    wl[i] = lo & 0xffff;
    wh[i] = (s1h + wh[i - 7] + s0h + wh[i - 16] + (lo >>> 16)) & 0xffff;
  }
  let ah = sh[0],
    al = sl[0],
    bh = sh[1],
    bl = sl[1],
    ch = sh[2],
    cl = sl[2],
    dh = sh[3],
    dl = sl[3];
  let eh = sh[4],
    el = sl[4],
    fh = sh[5],
    fl = sl[5],
    gh = sh[6],
    gl = sl[6],
    hh = sh[7],
    hl = sl[7];
  for (let i = 0; i < 64; i++) {
    // Σ1(e) = rotr6 ^ rotr11 ^ rotr25; Ch(e, f, g) = (e & f) ^ (~e & g)
    const S1h = ((eh >>> 6) | ((el & 0x3f) << 10)) ^ ((eh >>> 11) | ((el & 0x7ff) << 5)) ^ ((el >>> 9) | ((eh & 0x1ff) << 7));
    const S1l = ((el >>> 6) | ((eh & 0x3f) << 10)) ^ ((el >>> 11) | ((eh & 0x7ff) << 5)) ^ ((eh >>> 9) | ((el & 0x1ff) << 7));
    const t1l = hl + S1l + ((el & fl) ^ (~el & gl & 0xffff)) + kl[i] + wl[i];
    const t1h = hh + S1h + ((eh & fh) ^ (~eh & gh & 0xffff)) + kh[i] + wh[i] + (t1l >>> 16);
    // Σ0(a) = rotr2 ^ rotr13 ^ rotr22; Maj(a, b, c) = (a & b) ^ (a & c) ^ (b & c)
    const S0h = ((ah >>> 2) | ((al & 3) << 14)) ^ ((ah >>> 13) | ((al & 0x1fff) << 3)) ^ ((al >>> 6) | ((ah & 0x3f) << 10));
    const S0l = ((al >>> 2) | ((ah & 3) << 14)) ^ ((al >>> 13) | ((ah & 0x1fff) << 3)) ^ ((ah >>> 6) | ((al & 0x3f) << 10));
    const t2l = S0l + ((al & bl) ^ (al & cl) ^ (bl & cl));
    const t2h = S0h + ((ah & bh) ^ (ah & ch) ^ (bh & ch));
    hh = gh;
    hl = gl;
    gh = fh;
    gl = fl;
    fh = eh;
    fl = el;
    el = dl + (t1l & 0xffff);
    eh = (dh + t1h + (el >>> 16)) & 0xffff;
    el &= 0xffff;
    dh = ch;
    dl = cl;
    ch = bh;
    cl = bl;
    bh = ah;
    bl = al;
    al = (t1l & 0xffff) + t2l;
    ah = (t1h + t2h + (al >>> 16)) & 0xffff;
    al &= 0xffff;
  }
  add(sh, sl, 0, ah, al);
  add(sh, sl, 1, bh, bl);
  add(sh, sl, 2, ch, cl);
  add(sh, sl, 3, dh, dl);
  add(sh, sl, 4, eh, el);
  add(sh, sl, 5, fh, fl);
  add(sh, sl, 6, gh, gl);
  add(sh, sl, 7, hh, hl);
}

function add(sh: Uint16Array, sl: Uint16Array, i: number, h: number, l: number): void {
  const lo = sl[i] + l;
  sl[i] = lo & 0xffff;
  sh[i] = (sh[i] + h + (lo >>> 16)) & 0xffff;
}

/**
 * SHA-256 of `data` continued from the state in w (which has already absorbed `done` bytes, a multiple of 64):
 * the state ends as the digest's words.
 */
function absorb(w: Work, data: Uint8Array, done: number): void {
  const total = done + data.length;
  // the message, a 0x80 byte, zeros, and the 64-bit length in bits: a whole number of 64-byte blocks
  const padded = (data.length + 9 + 63) & ~63;
  for (let off = 0; off < padded; off += 64) {
    for (let j = 0; j < 16; j++) {
      let hi = 0;
      let lo = 0;
      for (let b = 0; b < 4; b++) {
        const p = off + j * 4 + b;
        const v = p < data.length ? data[p] : p === data.length ? 0x80 : 0;
        if (b < 2) hi = (hi << 8) | v;
        else lo = (lo << 8) | v;
      }
      w.wh[j] = hi;
      w.wl[j] = lo;
    }
    if (off + 64 === padded) {
      // the length in bits, big-endian in the last 8 bytes (a PIN and a salt are far below 2^29 bytes)
      const bits = total * 8;
      w.wh[14] = 0;
      w.wl[14] = 0;
      w.wh[15] = Math.floor(bits / 0x10000) & 0xffff;
      w.wl[15] = bits & 0xffff;
    }
    compress(w.sh, w.sl, w.wh, w.wl);
  }
}

/** The state's words as 32 big-endian bytes into out at off (at most `max` of them). */
function digestInto(w: Work, out: Uint8Array, off: number, max: number): void {
  for (let i = 0; i < 8; i++) {
    const bytes = [w.sh[i] >>> 8, w.sh[i] & 0xff, w.sl[i] >>> 8, w.sl[i] & 0xff];
    for (let b = 0; b < 4; b++) if (i * 4 + b < max) out[off + i * 4 + b] = bytes[b];
  }
}

/** HMAC's padded key state (RFC 2104): SHA-256's state after absorbing the key XOR `pad` as one 64-byte block. */
function keyState(key: Uint8Array, pad: number, w: Work): void {
  setIv(w.sh, w.sl);
  for (let j = 0; j < 16; j++) {
    let hi = 0;
    let lo = 0;
    for (let b = 0; b < 4; b++) {
      const p = j * 4 + b;
      const v = (p < key.length ? key[p] : 0) ^ pad;
      if (b < 2) hi = (hi << 8) | v;
      else lo = (lo << 8) | v;
    }
    w.wh[j] = hi;
    w.wl[j] = lo;
  }
  compress(w.sh, w.sl, w.wh, w.wl);
}

/**
 * Sets w's schedule to the one block that follows a 64-byte key block when the message is a 32-byte digest
 * (held in w's state): the digest, 0x80, zeros, and the length 96 bytes = 768 bits.
 */
function digestBlock(w: Work): void {
  for (let j = 0; j < 8; j++) {
    w.wh[j] = w.sh[j];
    w.wl[j] = w.sl[j];
  }
  w.wh[8] = 0x8000;
  w.wl[8] = 0;
  for (let j = 9; j < 15; j++) {
    w.wh[j] = 0;
    w.wl[j] = 0;
  }
  w.wh[15] = 0;
  w.wl[15] = 768;
}

function copyState(from: Work, to: Work): void {
  for (let j = 0; j < 8; j++) {
    to.sh[j] = from.sh[j];
    to.sl[j] = from.sl[j];
  }
}

function wipe(...ws: Work[]): void {
  for (const w of ws) {
    w.sh.fill(0);
    w.sl.fill(0);
    w.wh.fill(0);
    w.wl.fill(0);
  }
}

/** SHA-256 of data (FIPS 180-4), on halves; for the tests and for HMAC keys longer than a block. */
export function sha256Halves(data: Uint8Array): Uint8Array {
  if (KH === undefined) {
    KH = new Uint16Array(64);
    KL = new Uint16Array(64);
    halvesOf(K_HEX, KH, KL as Uint16Array);
  }
  const w = newWork();
  setIv(w.sh, w.sl);
  absorb(w, data, 0);
  const out = new Uint8Array(32);
  digestInto(w, out, 0, 32);
  wipe(w);
  return out;
}

/**
 * PBKDF2-HMAC-SHA256 (RFC 8018 §5.2): `iterations` rounds, `length` bytes. The caller checks the arguments
 * (symmetric.ts checks them for every Crypto implementation).
 */
export function pbkdf2Sha256Halves(password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Uint8Array {
  if (KH === undefined) sha256Halves(new Uint8Array(0)); // fills the round constants
  // RFC 2104: a key longer than the block is hashed first
  const key = password.length > 64 ? sha256Halves(password) : password;
  const inner = newWork();
  const outer = newWork();
  const u = newWork();
  const t = newWork();
  keyState(key, 0x36, inner);
  keyState(key, 0x5c, outer);
  if (key !== password) key.fill(0);
  const out = new Uint8Array(length);
  const saltBlock = new Uint8Array(salt.length + 4);
  saltBlock.set(salt, 0);
  for (let block = 1, off = 0; off < length; block++, off += 32) {
    // U1 = HMAC(P, S || INT(block))
    saltBlock[salt.length] = (block >>> 24) & 0xff;
    saltBlock[salt.length + 1] = (block >>> 16) & 0xff;
    saltBlock[salt.length + 2] = (block >>> 8) & 0xff;
    saltBlock[salt.length + 3] = block & 0xff;
    copyState(inner, u);
    absorb(u, saltBlock, 64);
    digestBlock(u);
    copyState(outer, u);
    compress(u.sh, u.sl, u.wh, u.wl);
    copyState(u, t);
    // U_j = HMAC(P, U_{j-1}); T = U1 ^ U2 ^ … (each U is one inner and one outer block, no allocation)
    for (let j = 1; j < iterations; j++) {
      digestBlock(u);
      copyState(inner, u);
      compress(u.sh, u.sl, u.wh, u.wl);
      digestBlock(u);
      copyState(outer, u);
      compress(u.sh, u.sl, u.wh, u.wl);
      for (let k = 0; k < 8; k++) {
        t.sh[k] ^= u.sh[k];
        t.sl[k] ^= u.sl[k];
      }
    }
    digestInto(t, out, off, Math.min(32, length - off));
  }
  wipe(inner, outer, u, t);
  saltBlock.fill(0);
  return out;
}

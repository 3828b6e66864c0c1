// The 16-bit-halves SHA-256 and PBKDF2-HMAC-SHA256 (firmware/hal/pbkdf2_sha256_halves.ts) against RFC 7914 §11's published vectors and node:crypto, at every length boundary of SHA-256 padding and HMAC keys.
import { describe, it, expect } from 'vitest';
import { createHash, pbkdf2Sync } from 'node:crypto';
import { pbkdf2Sha256Halves, sha256Halves } from '../../firmware/hal/pbkdf2_sha256_halves.ts';
import { seededRng } from '../helpers/loopback.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

describe('pbkdf2_sha256_halves', () => {
  // RFC 7914 §11 "Test Vectors for PBKDF2 with HMAC-SHA-256"
  it('RFC 7914 §11: P="passwd", S="salt", c=1, dkLen=64', () => {
    expect(hex(pbkdf2Sha256Halves(bytes('passwd'), bytes('salt'), 1, 64))).toBe(
      '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783',
    );
  });

  it('RFC 7914 §11: P="Password", S="NaCl", c=80000, dkLen=64', () => {
    expect(hex(pbkdf2Sha256Halves(bytes('Password'), bytes('NaCl'), 80000, 64))).toBe(
      '4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d',
    );
  });

  it('SHA-256 equals node:crypto for every length 0..200 (one, two and three padded blocks)', () => {
    const rng = seededRng('sha256-halves');
    for (let n = 0; n <= 200; n++) {
      const m = new Uint8Array(n);
      rng.fill(m);
      expect(hex(sha256Halves(m)), `length ${n}`).toBe(createHash('sha256').update(m).digest('hex'));
    }
  });

  it('PBKDF2 equals node:crypto: passwords around the 64-byte HMAC block, salts around a SHA-256 block, any dkLen', () => {
    const rng = seededRng('pbkdf2-halves');
    const cases: [number, number, number, number][] = [];
    for (const p of [0, 1, 8, 55, 63, 64, 65, 100, 200])
      for (const s of [0, 16, 51, 52, 55, 56, 60, 120]) cases.push([p, s, 1 + ((p + s) % 5), [1, 20, 32, 33, 64, 65][(p + s) % 6]]);
    for (const [pl, sl, c, dk] of cases) {
      const p = new Uint8Array(pl);
      const s = new Uint8Array(sl);
      rng.fill(p);
      rng.fill(s);
      expect(hex(pbkdf2Sha256Halves(p, s, c, dk)), `password ${pl} B, salt ${sl} B, c ${c}, dkLen ${dk}`).toBe(hex(pbkdf2Sync(p, s, c, dk, 'sha256')));
    }
  });

  it('the device iteration count (1,000) equals node:crypto, and a one-bit change of the password changes the key', () => {
    const p = bytes('123456');
    const s = new Uint8Array(16).fill(7);
    const k = pbkdf2Sha256Halves(p, s, 1000, 32);
    expect(hex(k)).toBe(hex(pbkdf2Sync(p, s, 1000, 32, 'sha256')));
    p[0] ^= 1;
    expect(hex(pbkdf2Sha256Halves(p, s, 1000, 32))).not.toBe(hex(k));
  });

  it("leaves the caller's password and salt as they were", () => {
    const p = bytes('x'.repeat(70));
    const s = bytes('salt');
    pbkdf2Sha256Halves(p, s, 3, 32);
    expect(p).toEqual(bytes('x'.repeat(70)));
    expect(s).toEqual(bytes('salt'));
  });
});

// The Crypto HAL's HMAC, HKDF, PBKDF2 and ChaCha20-Poly1305 (docs/session.md §3–§4, §8.2) against Wycheproof, OpenSSL and noble, on the noble HAL and inside an ES5 Espruino bundle.
import { describe, it, expect } from 'vitest';
import { createCipheriv, createHmac, hkdfSync, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import vm from 'node:vm';
import { chacha20poly1305 as nobleAead } from '@noble/ciphers/chacha.js';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { createNoBigIntCrypto } from '../../firmware/platform/espruino/crypto.ts';
import type { Crypto } from '../../firmware/hal/index.ts';
import { EspruinoBoard } from '../helpers/board-emulation/espruino.ts';
// @ts-expect-error tools/build.mjs is plain JS without type declarations
import { buildFirmware, FIRMWARE_TARGETS, ROOT } from '../../tools/build.mjs';

const H = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vec = (name: string) => JSON.parse(readFileSync(new URL('../vectors/wycheproof/' + name, import.meta.url), 'utf8'));

interface Group {
  [k: string]: unknown;
  tests: { [k: string]: any }[];
}
function cases(file: string): { g: Group; t: { [k: string]: any } }[] {
  const w = vec(file);
  const out: { g: Group; t: { [k: string]: any } }[] = [];
  for (const g of w.testGroups as Group[]) for (const t of g.tests) out.push({ g, t });
  expect(out.length).toBe(w.numberOfTests);
  return out;
}

/** Every Wycheproof check over one Crypto (the noble HAL and Espruino's HAL both run it). */
function wycheproofSuite(name: string, c: Crypto) {
  describe(`${name}: Wycheproof`, () => {
    it('hmac_sha256_test.json: every valid tag is computed and every modified tag differs', () => {
      let valid = 0;
      for (const { g, t } of cases('hmac_sha256_test.json')) {
        const full = c.hmacSha256(H(t.key), H(t.msg));
        expect(full.length).toBe(32);
        const tag = hex(full.subarray(0, (g.tagSize as number) / 8));
        if (t.result === 'valid') {
          expect(tag, 'tcId ' + t.tcId).toBe(t.tag);
          valid++;
        } else expect(tag, 'tcId ' + t.tcId).not.toBe(t.tag);
      }
      expect(valid).toBe(66);
    });

    it('hkdf_sha256_test.json: valid sizes give the OKM, sizes over 255·32 are refused', () => {
      let refused = 0;
      for (const { t } of cases('hkdf_sha256_test.json')) {
        if (t.result === 'valid') expect(hex(c.hkdfSha256(H(t.ikm), H(t.salt), H(t.info), t.size)), 'tcId ' + t.tcId).toBe(t.okm);
        else {
          expect(() => c.hkdfSha256(H(t.ikm), H(t.salt), H(t.info), t.size), 'tcId ' + t.tcId).toThrow();
          refused++;
        }
      }
      expect(refused).toBe(3);
    });

    it('pbkdf2_hmacsha256_test.json: every case (iteration counts up to 4096; the 80,000-round case is checked once below)', () => {
      let n = 0;
      for (const { t } of cases('pbkdf2_hmacsha256_test.json')) {
        if (t.iterationCount > 4096) continue; // keeps the suite fast on 2 cores; run on the noble HAL below
        expect(hex(c.pbkdf2Sha256(H(t.password), H(t.salt), t.iterationCount, t.dkLen)), 'tcId ' + t.tcId).toBe(t.dk);
        n++;
      }
      expect(n).toBe(59);
    });

    it('chacha20_poly1305_test.json: seal gives ct‖tag, open returns the message, modified tags and bad nonce sizes are refused', () => {
      let sealed = 0;
      let refusedTag = 0;
      let refusedNonce = 0;
      for (const { t } of cases('chacha20_poly1305_test.json')) {
        const key = H(t.key);
        const iv = H(t.iv);
        const ctTag = H(t.ct + t.tag);
        if (iv.length !== 12) {
          expect(() => c.aeadSeal(key, iv, H(t.msg), H(t.aad)), 'tcId ' + t.tcId).toThrow(/nonce/);
          expect(() => c.aeadOpen(key, iv, ctTag, H(t.aad)), 'tcId ' + t.tcId).toThrow(/nonce/);
          refusedNonce++;
          continue;
        }
        const opened = c.aeadOpen(key, iv, ctTag, H(t.aad));
        if (t.result === 'valid') {
          expect(hex(c.aeadSeal(key, iv, H(t.msg), H(t.aad))), 'tcId ' + t.tcId).toBe(t.ct + t.tag);
          expect(opened && hex(opened), 'tcId ' + t.tcId).toBe(t.msg);
          sealed++;
        } else {
          expect(opened, 'tcId ' + t.tcId).toBeUndefined();
          refusedTag++;
        }
      }
      expect([sealed, refusedTag, refusedNonce]).toEqual([256, 60, 9]);
    });
  });
}

wycheproofSuite('noble HAL', createNobleCrypto());
wycheproofSuite('Espruino HAL (in Node)', createNoBigIntCrypto());

const c = createNobleCrypto();

describe('noble HAL against OpenSSL (node:crypto) and noble', () => {
  it('the 80,000-iteration PBKDF2 Wycheproof case', () => {
    const t = cases('pbkdf2_hmacsha256_test.json').find((x) => x.t.iterationCount > 4096)!.t;
    expect(t.iterationCount).toBe(80000);
    expect(hex(c.pbkdf2Sha256(H(t.password), H(t.salt), t.iterationCount, t.dkLen))).toBe(t.dk);
  });

  it('ChaCha20-Poly1305 equals OpenSSL and noble for random keys, nonces, AAD and lengths 0..300 (block and pad16 edges)', () => {
    for (let n = 0; n <= 300; n += n < 70 ? 1 : 23) {
      const key = new Uint8Array(randomBytes(32));
      const nonce = new Uint8Array(randomBytes(12));
      const msg = new Uint8Array(randomBytes(n));
      const aad = new Uint8Array(randomBytes(n % 37));
      const ours = c.aeadSeal(key, nonce, msg, aad);
      const ossl = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      ossl.setAAD(aad, { plaintextLength: n });
      const ref = Buffer.concat([ossl.update(msg), ossl.final(), ossl.getAuthTag()]);
      expect(hex(ours), 'length ' + n).toBe(ref.toString('hex'));
      expect(hex(ours)).toBe(hex(nobleAead(key, nonce, aad).encrypt(msg)));
      expect(hex(c.aeadOpen(key, nonce, ours, aad)!)).toBe(hex(msg));
      // any single flipped bit anywhere (ciphertext, tag), a different AAD or nonce: refused
      const flipped = ours.slice();
      flipped[(n * 7) % ours.length] ^= 1 << (n % 8);
      expect(c.aeadOpen(key, nonce, flipped, aad)).toBeUndefined();
      const aad2 = new Uint8Array([...aad, 0]);
      expect(c.aeadOpen(key, nonce, ours, aad2)).toBeUndefined();
      const nonce2 = nonce.slice();
      nonce2[11] ^= 0x80;
      expect(c.aeadOpen(key, nonce2, ours, aad)).toBeUndefined();
    }
  });

  it('aeadOpen refuses inputs shorter than a tag and wrong key sizes', () => {
    const key = new Uint8Array(32);
    const nonce = new Uint8Array(12);
    for (let n = 0; n < 16; n++) expect(c.aeadOpen(key, nonce, new Uint8Array(n), new Uint8Array(0))).toBeUndefined();
    expect(() => c.aeadSeal(new Uint8Array(31), nonce, new Uint8Array(1), new Uint8Array(0))).toThrow(/key/);
    expect(() => c.aeadOpen(new Uint8Array(33), nonce, new Uint8Array(16), new Uint8Array(0))).toThrow(/key/);
  });

  it('HMAC, HKDF and PBKDF2 equal OpenSSL for random inputs; bad PBKDF2 parameters throw', () => {
    for (let i = 0; i < 20; i++) {
      const k = new Uint8Array(randomBytes(i * 5));
      const m = new Uint8Array(randomBytes(i * 13));
      expect(hex(c.hmacSha256(k, m))).toBe(createHmac('sha256', k).update(m).digest('hex'));
      const len = 1 + i * 17;
      expect(hex(c.hkdfSha256(k, m, k, len))).toBe(Buffer.from(hkdfSync('sha256', k, m, k, len)).toString('hex'));
      expect(hex(c.pbkdf2Sha256(k, m, 1 + i, len))).toBe(pbkdf2Sync(k, m, 1 + i, len, 'sha256').toString('hex'));
    }
    for (const bad of [0, -1, 1.5, NaN]) {
      expect(() => c.pbkdf2Sha256(new Uint8Array(8), new Uint8Array(8), bad, 32)).toThrow(/iterations/);
      expect(() => c.pbkdf2Sha256(new Uint8Array(8), new Uint8Array(8), 1, bad)).toThrow(/length/);
    }
  });
});

describe('the Espruino build of these primitives', () => {
  it('bundles with the espruino target (ES5, no BigInt, no AES) and gives the Wycheproof answers in an emulated Espruino context', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-h8-'));
    try {
      // A probe entry: Espruino's polyfills and HAL, exposed as hex-in/hex-out functions (the vm context has its own Uint8Array)
      const entry = join(dir, 'probe.ts');
      writeFileSync(
        entry,
        [
          `import ${JSON.stringify(join(ROOT, 'firmware/platform/espruino/polyfills.ts'))};`,
          `import { createNoBigIntCrypto } from ${JSON.stringify(join(ROOT, 'firmware/platform/espruino/crypto.ts'))};`,
          `import { fromHex, toHex } from ${JSON.stringify(join(ROOT, 'firmware/protocol/bytes.ts'))};`,
          'const c = createNoBigIntCrypto();',
          'const b = (h: string) => fromHex(h) as Uint8Array;',
          '(globalThis as any).probe = {',
          '  hmac: (k: string, m: string) => toHex(c.hmacSha256(b(k), b(m))),',
          '  hkdf: (i: string, s: string, f: string, n: number) => toHex(c.hkdfSha256(b(i), b(s), b(f), n)),',
          '  pbkdf2: (p: string, s: string, n: number, l: number) => toHex(c.pbkdf2Sha256(b(p), b(s), n, l)),',
          '  seal: (k: string, n: string, m: string, a: string) => toHex(c.aeadSeal(b(k), b(n), b(m), b(a))),',
          '  open: (k: string, n: string, m: string, a: string) => { const r = c.aeadOpen(b(k), b(n), b(m), b(a)); return r ? toHex(r) : null; },',
          '};',
        ].join('\n'),
      );
      const spec = { ...FIRMWARE_TARGETS.find((t: { name: string }) => t.name === 'espruino'), name: 'espruino-probe', entry };
      const r = await buildFirmware(spec, { root: ROOT });
      expect(r.problems).toEqual([]);
      expect(r.ok).toBe(true);
      expect(/\bBigInt\(|\b\d+n\b/.test(r.code), 'a BigInt call or literal in the ES5 bundle').toBe(false);

      const board = new EspruinoBoard({ bundle: '' });
      vm.runInContext(r.code, board.context);
      const p = vm.runInContext('probe', board.context);
      for (const { g, t } of cases('hmac_sha256_test.json'))
        if (t.result === 'valid') expect(p.hmac(t.key, t.msg).slice(0, (g.tagSize as number) / 4), 'hmac ' + t.tcId).toBe(t.tag);
      for (const { t } of cases('hkdf_sha256_test.json')) if (t.result === 'valid') expect(p.hkdf(t.ikm, t.salt, t.info, t.size), 'hkdf ' + t.tcId).toBe(t.okm);
      for (const { t } of cases('pbkdf2_hmacsha256_test.json').slice(0, 8))
        expect(p.pbkdf2(t.password, t.salt, t.iterationCount, t.dkLen), 'pbkdf2 ' + t.tcId).toBe(t.dk);
      for (const { t } of cases('chacha20_poly1305_test.json')) {
        if (t.iv.length !== 24) continue;
        if (t.result === 'valid') {
          expect(p.seal(t.key, t.iv, t.msg, t.aad), 'aead ' + t.tcId).toBe(t.ct + t.tag);
          expect(p.open(t.key, t.iv, t.ct + t.tag, t.aad), 'aead ' + t.tcId).toBe(t.msg);
        } else expect(p.open(t.key, t.iv, t.ct + t.tag, t.aad), 'aead ' + t.tcId).toBeNull();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000); // bundling and an emulated Espruino context: a minute on a loaded 2-core machine
});

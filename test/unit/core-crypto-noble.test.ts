// The noble Crypto HAL and the getRandomValues shim, checked against node:crypto (OpenSSL) and Wycheproof.
import { describe, it, expect } from 'vitest';
import { createECDH, createHash, createPrivateKey, createPublicKey, diffieHellman, randomBytes, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createNobleCrypto, useDeviceProfile } from '../../firmware/hal/crypto_noble.ts';
import { getRandomValues, installRandomShim, setGlobalRandomSource, hasGlobalRandomSource } from '../../firmware/hal/global_crypto.ts';
import type { EcCurve } from '../../firmware/hal/index.ts';

const H = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const vec = (name: string) => JSON.parse(readFileSync(new URL('../vectors/' + name, import.meta.url), 'utf8'));

const c = createNobleCrypto();

const N: Record<EcCurve, bigint> = {
  p256: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  secp256k1: BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'),
};
const JWK_CRV: Record<EcCurve, string> = { p256: 'P-256', secp256k1: 'secp256k1' };
const OPENSSL_CURVE: Record<EcCurve, string> = { p256: 'prime256v1', secp256k1: 'secp256k1' };

function ecPublicKeyObject(curve: EcCurve, point: Uint8Array) {
  const b = Buffer.from(point);
  return createPublicKey({
    key: { kty: 'EC', crv: JWK_CRV[curve], x: b.subarray(1, 33).toString('base64url'), y: b.subarray(33).toString('base64url') },
    format: 'jwk',
  });
}

function edPrivate(seed: Uint8Array) {
  return createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
}

describe('Ed25519', () => {
  it('public keys and signatures equal OpenSSL for random seeds', () => {
    for (let i = 0; i < 20; i++) {
      const seed = new Uint8Array(randomBytes(32));
      const msg = new Uint8Array(randomBytes(i * 7));
      const k = edPrivate(seed);
      expect(hex(c.ed25519PublicKey(seed))).toBe(createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(12).toString('hex'));
      expect(hex(c.ed25519Sign(msg, seed))).toBe(nodeSign(null, msg, k).toString('hex'));
    }
  });

  it('verifies every Wycheproof ed25519_test.json case as the vector says', () => {
    const w = vec('wycheproof/ed25519_test.json');
    let n = 0;
    for (const g of w.testGroups)
      for (const t of g.tests) {
        expect(c.ed25519Verify(H(t.sig), H(t.msg), H(g.publicKey.pk)), 'tcId ' + t.tcId).toBe(t.result === 'valid');
        n++;
      }
    expect(n).toBe(w.numberOfTests);
  });
});

describe('ECDSA', () => {
  for (const curve of ['p256', 'secp256k1'] as const) {
    it(curve + ': public key equals OpenSSL; signatures are 64-byte low-S r‖s that OpenSSL verifies', () => {
      for (let i = 0; i < 10; i++) {
        const e = createECDH(OPENSSL_CURVE[curve]);
        e.generateKeys();
        const sk = new Uint8Array(
          e.getPrivateKey().length === 32 ? e.getPrivateKey() : Buffer.concat([Buffer.alloc(32 - e.getPrivateKey().length), e.getPrivateKey()]),
        );
        const pub = c.ecdsaPublicKey(curve, sk);
        expect(hex(pub)).toBe(e.getPublicKey('hex'));
        const digest = new Uint8Array(randomBytes(32));
        const sig = c.ecdsaSign(curve, digest, sk);
        expect(sig.length).toBe(64);
        const s = BigInt('0x' + hex(sig.subarray(32)));
        expect(s <= N[curve] / 2n).toBe(true);
        // OpenSSL checks over SHA-256(message) in the next test; here the raw-digest round trip
        expect(c.ecdsaVerify(curve, sig, digest, pub)).toBe(true);
      }
    });

    it(curve + ': signing SHA-256(message) verifies with node:crypto (ieee-p1363)', () => {
      for (let i = 0; i < 10; i++) {
        const e = createECDH(OPENSSL_CURVE[curve]);
        e.generateKeys();
        const raw = e.getPrivateKey();
        const sk = new Uint8Array(Buffer.concat([Buffer.alloc(32 - raw.length), raw]));
        const msg = randomBytes(10 + i);
        const sig = c.ecdsaSign(curve, new Uint8Array(createHash('sha256').update(msg).digest()), sk);
        expect(nodeVerify('sha256', msg, { key: ecPublicKeyObject(curve, c.ecdsaPublicKey(curve, sk)), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      }
    });

    it(curve + ': the scalar must be in 1..n-1', () => {
      const n = H(N[curve].toString(16));
      const nMinus1 = H((N[curve] - 1n).toString(16));
      expect(() => c.ecdsaPublicKey(curve, new Uint8Array(32))).toThrow();
      expect(() => c.ecdsaPublicKey(curve, n)).toThrow();
      expect(() => c.ecdsaPublicKey(curve, new Uint8Array(32).fill(0xff))).toThrow();
      expect(c.ecdsaPublicKey(curve, nMinus1).length).toBe(65);
      const one = new Uint8Array(32);
      one[31] = 1;
      expect(c.ecdsaPublicKey(curve, one).length).toBe(65);
    });
  }

  it('hedged signing is randomized; unhedged is RFC 6979 (A.2.5, SHA-256, "sample", low-S form)', () => {
    const sk = H('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');
    const d = H('af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf');
    expect(hex(c.ecdsaSign('p256', d, sk))).not.toBe(hex(c.ecdsaSign('p256', d, sk)));
    const det = createNobleCrypto({ hedged: false }).ecdsaSign('p256', d, sk);
    const rfcS = BigInt('0xf7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8');
    expect(hex(det)).toBe('efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716' + (N.p256 - rfcS).toString(16).padStart(64, '0'));
  });

  it('verifies the Wycheproof P-256 P1363 vectors as they say', () => {
    const w = vec('wycheproof/ecdsa_secp256r1_sha256_p1363_test.json');
    let n = 0;
    for (const g of w.testGroups)
      for (const t of g.tests) {
        const d = new Uint8Array(createHash('sha256').update(Buffer.from(t.msg, 'hex')).digest());
        expect(c.ecdsaVerify('p256', H(t.sig), d, H(g.publicKey.uncompressed)), 'tcId ' + t.tcId).toBe(t.result === 'valid');
        n++;
      }
    expect(n).toBe(w.numberOfTests);
  });
});

describe('X25519 and P-256 ECDH', () => {
  it('x25519 equals OpenSSL for random keys', () => {
    for (let i = 0; i < 10; i++) {
      const a = new Uint8Array(randomBytes(32));
      const b = new Uint8Array(randomBytes(32));
      const pkcs8 = (s: Uint8Array) =>
        createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), s]), format: 'der', type: 'pkcs8' });
      const bPub = c.x25519PublicKey(b);
      expect(hex(bPub)).toBe(createPublicKey(pkcs8(b)).export({ format: 'der', type: 'spki' }).subarray(12).toString('hex'));
      expect(hex(c.x25519(a, bPub))).toBe(diffieHellman({ privateKey: pkcs8(a), publicKey: createPublicKey(pkcs8(b)) }).toString('hex'));
    }
  });

  it('x25519 throws on every Wycheproof case whose shared secret is all zeros', () => {
    const w = vec('wycheproof/x25519_test.json');
    let zero = 0;
    for (const t of w.testGroups[0].tests) {
      if (/^0+$/.test(t.shared)) {
        zero++;
        expect(() => c.x25519(H(t.private), H(t.public)), 'tcId ' + t.tcId).toThrow();
      } else expect(hex(c.x25519(H(t.private), H(t.public))), 'tcId ' + t.tcId).toBe(t.shared);
    }
    expect(zero).toBeGreaterThan(10);
  });

  it('ecdhP256 returns the 32-byte x coordinate (OpenSSL agrees) and throws on invalid points', () => {
    const a = createECDH('prime256v1');
    a.generateKeys();
    const b = createECDH('prime256v1');
    b.generateKeys();
    const raw = a.getPrivateKey();
    const sk = new Uint8Array(Buffer.concat([Buffer.alloc(32 - raw.length), raw]));
    const want = a.computeSecret(b.getPublicKey()).toString('hex');
    expect(hex(c.ecdhP256(sk, new Uint8Array(b.getPublicKey())))).toBe(want);
    expect(hex(c.ecdhP256(sk, new Uint8Array(b.getPublicKey(null, 'compressed'))))).toBe(want);
    const bad = new Uint8Array(b.getPublicKey());
    bad[64] ^= 1;
    expect(() => c.ecdhP256(sk, bad)).toThrow();
    expect(() => c.ecdhP256(sk, new Uint8Array(65))).toThrow();
    expect(() => c.ecdhP256(sk, new Uint8Array(32))).toThrow();
  });
});

describe('global_crypto shim', () => {
  it('installs getRandomValues only where there is none, and delegates to the source', () => {
    const bare: { crypto?: unknown } = {};
    expect(installRandomShim(bare)).toBe(true);
    const gv = (bare.crypto as { getRandomValues: typeof getRandomValues }).getRandomValues;
    expect(gv).toBe(getRandomValues);
    const partial: { crypto?: unknown } = { crypto: { subtle: 1 } };
    expect(installRandomShim(partial)).toBe(true);
    expect(typeof (partial.crypto as { getRandomValues: unknown }).getRandomValues).toBe('function');
    const real = { crypto: { getRandomValues: () => 0 } };
    expect(installRandomShim(real)).toBe(false);
    // Node has WebCrypto: importing the module did not replace it
    expect(globalThis.crypto.getRandomValues).not.toBe(getRandomValues);
  });

  it('throws a clear error before a source is set, then fills from it', () => {
    if (!hasGlobalRandomSource()) expect(() => getRandomValues(new Uint8Array(4))).toThrow(/setGlobalRandomSource/);
    let calls = 0;
    setGlobalRandomSource((b) => {
      calls++;
      b.fill(7);
    });
    const u32 = new Uint32Array(2);
    expect(getRandomValues(u32)).toBe(u32);
    expect(u32[0]).toBe(0x07070707);
    expect(calls).toBe(1);
    expect(() => getRandomValues(new Uint8Array(65537))).toThrow(RangeError);
  });

  // The ordering contract (docs/architecture.md §3): noble probes getRandomValues while it loads; without a working
  // source at that moment it signs without blinding. Bundle two entry points with esbuild and run them
  // in a Node without WebCrypto to show that setting the source first keeps blinding on.
  it('a source set before noble loads is used by signing (blinding on); one set after is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-shim-'));
    const root = fileURLToPath(new URL('../../', import.meta.url));
    try {
      writeFileSync(join(dir, 'nocrypto.mjs'), 'delete globalThis.crypto;\n');
      writeFileSync(
        join(dir, 'rng.mjs'),
        `import { setGlobalRandomSource } from ${JSON.stringify(root + 'firmware/hal/global_crypto.ts')};\n` +
          `import { randomFillSync } from 'node:crypto';\n` +
          `globalThis.__calls = 0;\n` +
          `export function arm() { setGlobalRandomSource((b) => { globalThis.__calls++; randomFillSync(b); }); }\n`,
      );
      const body = (armFirst: boolean) =>
        `import './nocrypto.mjs';\nimport { arm } from './rng.mjs';\n` +
        (armFirst ? `import './arm.mjs';\n` : '') +
        `import { createNobleCrypto } from ${JSON.stringify(root + 'firmware/hal/crypto_noble.ts')};\n` +
        (armFirst ? '' : 'arm();\n') +
        `const c = createNobleCrypto({ hedged: false });\nconst sk = new Uint8Array(32); sk[31] = 5;\n` +
        `const before = globalThis.__calls; c.ecdsaSign('p256', new Uint8Array(32).fill(1), sk);\n` +
        `console.log(JSON.stringify({ atLoad: before, perSign: globalThis.__calls - before }));\n`;
      writeFileSync(join(dir, 'arm.mjs'), `import { arm } from './rng.mjs';\narm();\n`);
      writeFileSync(join(dir, 'first.mjs'), body(true));
      writeFileSync(join(dir, 'late.mjs'), body(false));
      const out: Record<string, { atLoad: number; perSign: number }> = {};
      for (const name of ['first', 'late']) {
        await build({
          entryPoints: [join(dir, name + '.mjs')],
          bundle: true,
          format: 'esm',
          platform: 'node',
          outfile: join(dir, name + '.out.mjs'),
          logLevel: 'silent',
          absWorkingDir: root,
        });
        out[name] = JSON.parse(execFileSync(process.execPath, [join(dir, name + '.out.mjs')], { encoding: 'utf8' }));
      }
      expect(out.first.atLoad).toBeGreaterThan(0); // noble's load-time probes reached our source
      expect(out.first.perSign).toBeGreaterThan(0); // blinding draws randomness on every signature
      expect(out.late.perSign).toBe(0); // the hazard: armed too late, noble signs unblinded
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('device profile', () => {
  // last in this file: it changes noble's base-point tables for the rest of the process
  it('precompute(1) keeps every result right', () => {
    useDeviceProfile();
    const seed = H('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(hex(c.ed25519Sign(new Uint8Array(0), seed))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const sk = H('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721');
    const pub = c.ecdsaPublicKey('p256', sk);
    expect(hex(pub)).toBe('0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299');
    const msg = Buffer.from('device profile');
    const sig = c.ecdsaSign('p256', new Uint8Array(createHash('sha256').update(msg).digest()), sk);
    expect(nodeVerify('sha256', msg, { key: ecPublicKeyObject('p256', pub), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    const one = new Uint8Array(32);
    one[31] = 1;
    expect(hex(c.ecdsaPublicKey('secp256k1', one))).toBe(
      '0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8',
    );
  });
});

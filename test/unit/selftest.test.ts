// Power-on self-tests: the embedded known answers are right (checked with node:crypto), and a faulty engine loses exactly its algorithms.
import { describe, it, expect } from 'vitest';
import { createECDH, createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Crypto } from '../../firmware/hal/index.ts';
import { runSelftests } from '../../firmware/core/selftest.ts';
import { Alg, Command, Status } from '../../firmware/protocol/codes.ts';
import { field, nobleCrypto, startTestDevice, unhex } from '../helpers/loopback.ts';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');

/** The noble Crypto with some functions replaced by faulty ones. */
function faulty(patch: Partial<Crypto>): Crypto {
  return { ...nobleCrypto(), ...patch, name: 'faulty' };
}

function ecJwk(crv: string, pub: string) {
  const b = Buffer.from(pub, 'hex');
  return createPublicKey({ key: { kty: 'EC', crv, x: b.subarray(1, 33).toString('base64url'), y: b.subarray(33).toString('base64url') }, format: 'jwk' });
}

describe('known answers embedded in the ECDSA mechanism', () => {
  const src = read('../../firmware/core/mechanisms/ecdsa.ts');
  it('the secp256k1 key pair (computed with OpenSSL) is right', () => {
    // re-derive with OpenSSL: sk = SHA-256("tinyhsm secp256k1 known-answer test")
    const sk = createHash('sha256').update('tinyhsm secp256k1 known-answer test').digest('hex');
    expect(src).toContain(sk);
    const e = createECDH('secp256k1');
    e.setPrivateKey(Buffer.from(sk, 'hex'));
    const pub = e.getPublicKey('hex');
    expect(src.replace(/'\s*\+\s*'/g, '')).toContain(pub);
  });

  it('the secp256k1 known-good signature is Wycheproof tcId 1 and OpenSSL verifies it', () => {
    const w = JSON.parse(read('../vectors/wycheproof/ecdsa_secp256k1_sha256_p1363_test.json'));
    const g = w.testGroups[0];
    const t = g.tests[0];
    expect(t.tcId).toBe(1);
    expect(t.result).toBe('valid');
    const flat = src.replace(/'\s*\+\s*'/g, '');
    expect(flat).toContain(g.publicKey.uncompressed);
    expect(flat).toContain(t.sig);
    expect(flat).toContain(createHash('sha256').update(Buffer.from(t.msg, 'hex')).digest('hex'));
    expect(
      nodeVerify(
        'sha256',
        Buffer.from(t.msg, 'hex'),
        { key: ecJwk('secp256k1', g.publicKey.uncompressed), dsaEncoding: 'ieee-p1363' },
        Buffer.from(t.sig, 'hex'),
      ),
    ).toBe(true);
  });

  it('the P-256 RFC 6979 A.2.5 signature verifies with OpenSSL', () => {
    const pub = '0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299';
    const sig = 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8';
    const flat = src.replace(/'\s*\+\s*'/g, '');
    expect(flat).toContain(pub);
    expect(flat).toContain(sig);
    expect(nodeVerify('sha256', Buffer.from('sample'), { key: ecJwk('P-256', pub), dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'hex'))).toBe(true);
  });
});

describe('runSelftests', () => {
  it('noble passes every algorithm', () => {
    const r = runSelftests(nobleCrypto());
    expect(r.passed).toEqual([Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]);
    expect(r.failures).toEqual({});
    expect(r.sha256).toBe(true);
  });

  it('a P-256 that derives the wrong public key fails only P-256 (the JerryScript case)', () => {
    const good = nobleCrypto();
    const c = faulty({
      ecdsaPublicKey(curve, sk) {
        const p = good.ecdsaPublicKey(curve, sk);
        if (curve === 'p256') p[10] ^= 1;
        return p;
      },
    });
    const r = runSelftests(c);
    expect(r.passed).toEqual([Alg.ED25519, Alg.ECDSA_SECP256K1, Alg.X25519]);
    expect(r.failures[Alg.ECDSA_P256]).toMatch(/public key derivation/);
  });

  it('a wrong SHA-256 takes both ECDSA algorithms down', () => {
    const r = runSelftests(faulty({ sha256: () => new Uint8Array(32) }));
    expect(r.sha256).toBe(false);
    expect(r.passed).toEqual([Alg.ED25519, Alg.X25519]);
    expect(r.failures[Alg.ECDSA_P256]).toMatch(/SHA-256/);
    expect(r.failures[Alg.ECDSA_SECP256K1]).toMatch(/SHA-256/);
  });

  it('a verifier that accepts everything fails', () => {
    const r = runSelftests(faulty({ ecdsaVerify: () => true, ed25519Verify: () => true }));
    expect(r.passed).toEqual([Alg.X25519]);
    expect(r.failures[Alg.ED25519]).toMatch(/corrupted/);
    expect(r.failures[Alg.ECDSA_P256]).toMatch(/another digest/);
  });

  it('a high-S signer fails', () => {
    const good = nobleCrypto();
    const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
    const r = runSelftests(
      faulty({
        ecdsaSign(curve, d, sk) {
          const sig = good.ecdsaSign(curve, d, sk);
          if (curve !== 'p256') return sig;
          const s = n - BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
          sig.set(Buffer.from(s.toString(16).padStart(64, '0'), 'hex'), 32);
          return sig;
        },
      }),
    );
    expect(r.failures[Alg.ECDSA_P256]).toMatch(/low-S/);
    expect(r.passed).toContain(Alg.ECDSA_SECP256K1);
  });

  it('an x25519 that does not refuse a low-order point fails; exceptions are caught per algorithm', () => {
    const good = nobleCrypto();
    const r = runSelftests(
      faulty({
        x25519: (sk, pk) => (pk.every((b) => b === 0) ? new Uint8Array(32) : good.x25519(sk, pk)),
        ed25519Sign: () => {
          throw new Error('engine fault');
        },
      }),
    );
    expect(r.failures[Alg.X25519]).toMatch(/low-order/);
    expect(r.failures[Alg.ED25519]).toMatch(/engine fault/);
    expect(r.passed).toEqual([Alg.ECDSA_P256, Alg.ECDSA_SECP256K1]);
  });
});

describe('a device whose P-256 is wrong', () => {
  const good = nobleCrypto();
  const t = startTestDevice({
    crypto: faulty({
      ecdsaSign(curve, d, sk) {
        const s = good.ecdsaSign(curve, d, sk);
        if (curve === 'p256') s[5] ^= 0x40;
        return s;
      },
    }),
  });

  it('INFO does not offer ecdsa-p256 and says why', () => {
    const r = t.call(Command.INFO, {});
    expect(r.status).toBe(Status.OK);
    expect(field<number[]>(r, 5)).toEqual([Alg.ED25519, Alg.ECDSA_SECP256K1, Alg.X25519]);
    const failures = field<Map<number, string>>(r, 6);
    expect(failures instanceof Map).toBe(true);
    expect([...failures.keys()]).toEqual([Alg.ECDSA_P256]);
    expect(failures.get(Alg.ECDSA_P256)).toMatch(/round trip/);
  });

  it('KEY_GENERATE and KEY_IMPORT with it answer UNSUPPORTED_ALGORITHM with the reason, and store nothing', () => {
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256 });
    expect(g.status).toBe(Status.UNSUPPORTED_ALGORITHM);
    expect(g.message).toMatch(/ecdsa-p256.*self-test failed/);
    const i = t.call(Command.KEY_IMPORT, { 1: Alg.ECDSA_P256, 3: unhex('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721') });
    expect(i.status).toBe(Status.UNSUPPORTED_ALGORITHM);
    expect(field<unknown[]>(t.call(Command.KEY_LIST, {}), 1)).toEqual([]);
    // the other algorithms still work
    expect(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_SECP256K1 }).status).toBe(Status.OK);
  });

  it('INFO omits selftestFailures when everything passed', () => {
    const ok = startTestDevice();
    const r = ok.call(Command.INFO);
    expect(r.map.has(6)).toBe(false);
    expect(field<number[]>(r, 5)).toEqual([1, 2, 3, 4]);
  });
});

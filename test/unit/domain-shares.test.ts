// The share format and Shamir sharing of docs/quorum.md §8: the device's code (firmware/protocol/commands/domain.ts, core/shamir.ts) against the host's node:crypto one (host/domain.ts) and the tests' own interpolation, both ways.
import { describe, it, expect } from 'vitest';
import { createDecipheriv, createPrivateKey, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { SEALED_SHARE_BYTES, domainIdOf as deviceDomainId, openShare as deviceOpen, sealShare as deviceSeal } from '../../firmware/protocol/commands/domain.ts';
import { shamirCombine, shamirSplit, gfMul } from '../../firmware/core/shamir.ts';
import { edwardsToMontgomery, openShare as hostOpen, sealShare as hostSeal } from '../../host/domain.ts';
import { ed25519Seed } from '../../host/officer-keys.ts';
import { officerPublicKey } from '../../host/approvals.ts';
import { combineShares, domainIdOf } from '../helpers/shamir.ts';
import { seededRng } from '../helpers/loopback.ts';

const crypto = createNobleCrypto();

describe('domain shares (docs/quorum.md §8)', () => {
  it("the host's Edwards-to-Montgomery map equals noble's, and refuses what is not a point", () => {
    for (let i = 0; i < 20; i++) {
      const pub = ed25519.getPublicKey(randomBytes(32));
      expect(edwardsToMontgomery(pub)).toEqual(ed25519.utils.toMontgomery(pub));
    }
    const notOnCurve = new Uint8Array(32).fill(0xff);
    notOnCurve[31] = 0x7f;
    expect(() => edwardsToMontgomery(notOnCurve)).toThrow(/not an Ed25519 public key/);
    expect(() => crypto.ed25519PublicToX25519(notOnCurve)).toThrow();
    // a y whose x² is not a square: 2 is such a y for Ed25519
    const y2 = new Uint8Array(32);
    y2[0] = 2;
    expect(() => edwardsToMontgomery(y2)).toThrow(/not on the curve/);
    expect(() => crypto.ed25519PublicToX25519(y2)).toThrow();
  });

  it('a share the device seals opens with the officer key on the host, and the reverse; the wrong key, domain or a flipped bit opens nothing', () => {
    const officer = generateKeyPairSync('ed25519').privateKey;
    const pub = officerPublicKey(officer);
    const domainId = new Uint8Array(randomBytes(16));
    const share = new Uint8Array(randomBytes(32));
    const e = new Uint8Array(randomBytes(32));
    const sealed = deviceSeal(crypto, e, pub, domainId, 7, share);
    expect(sealed.length).toBe(SEALED_SHARE_BYTES);
    expect(
      e.every((b) => b === 0),
      'the ephemeral secret is wiped',
    ).toBe(true);
    expect(hostOpen(sealed, officer, domainId)).toEqual({ index: 7, share });
    expect(hostOpen(sealed, generateKeyPairSync('ed25519').privateKey, domainId)).toBeUndefined();
    expect(hostOpen(sealed, officer, new Uint8Array(16))).toBeUndefined();
    for (const at of [0, 40, SEALED_SHARE_BYTES - 1]) {
      const bad = sealed.slice();
      bad[at] ^= 1;
      expect(hostOpen(bad, officer, domainId), 'bit flipped at ' + at).toBeUndefined();
    }
    // host → device: the device opens with the seed, as it opens with its identity seed at DOMAIN_JOIN
    const back = hostSeal({ index: 3, share }, pub, domainId);
    const seed = ed25519Seed(officer);
    expect(deviceOpen(crypto, seed, domainId, back)).toEqual({ index: 3, share });
    expect(deviceOpen(crypto, seed, new Uint8Array(16), back)).toBeUndefined();
    expect(deviceOpen(crypto, seed, domainId, back.subarray(1))).toBeUndefined();
  });

  it("Shamir: any M of N of the device's shares give the secret to the tests' own interpolation, fewer do not; the device combines the tests' points", () => {
    const r = seededRng('shamir');
    for (const [m, n] of [
      [1, 1],
      [2, 3],
      [3, 5],
      [16, 16],
    ]) {
      const secret = new Uint8Array(randomBytes(32));
      const xs = Array.from({ length: n }, (_, i) => i + 1);
      const ys = shamirSplit(r, secret, m, xs);
      const pts = xs.map((x, i) => ({ index: x, share: ys[i] }));
      expect(combineShares(pts.slice(0, m))).toEqual(secret);
      expect(combineShares(pts.slice(n - m))).toEqual(secret);
      expect(shamirCombine(xs.slice(0, m), ys.slice(0, m))).toEqual(secret);
      if (m > 1) expect(combineShares(pts.slice(0, m - 1))).not.toEqual(secret);
    }
    // GF(2^8): the AES field's known product {57}·{83} = {c1} (FIPS 197 §4.2)
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
  });

  it('the domain id is SHA-256("tinyhsm domain v1" ‖ 0 ‖ wrap key)[0..16] on both sides', () => {
    const wrap = new Uint8Array(randomBytes(32));
    expect(deviceDomainId(crypto, wrap)).toEqual(domainIdOf(wrap));
  });
});

describe('the worked example of docs/quorum.md §11, opened with node:crypto', () => {
  it('the golden share opens with the RFC 8032 key to 01 ‖ W, and the golden blob to the documented plaintext', () => {
    const golden = JSON.parse(readFileSync('test/vectors/golden-frames.json', 'utf8')).frames as { name: string; fields: any }[];
    const f = (name: string) => golden.find((g) => g.name === name)!.fields;
    const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
    const W = hex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f');
    const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const officer = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    const domainId = hex(f('DOMAIN_CREATE response (one officer)').domainId.hex);
    expect(domainId).toEqual(domainIdOf(W));
    expect(hostOpen(hex(f('DOMAIN_CREATE response (one officer)').shares[0].sealed.hex), officer, domainId)).toEqual({ index: 1, share: W });
    const blob = hex(f('BACKUP_EXPORT response').blob.hex);
    const header = blob.subarray(0, 29);
    expect(Buffer.from(header).toString('hex')).toBe('01' + Buffer.from(domainId).toString('hex') + 'b0b1b2b3b4b5b6b7b8b9babb');
    const k = Buffer.from(hkdfSync('sha256', W, domainId, Buffer.from('tinyhsm backup v1'), 32));
    const d = createDecipheriv('chacha20-poly1305', k, header.subarray(17), { authTagLength: 16 });
    d.setAAD(header, { plaintextLength: blob.length - 45 });
    d.setAuthTag(blob.subarray(blob.length - 16));
    const plain = Buffer.concat([d.update(blob.subarray(29, blob.length - 16)), d.final()]);
    expect(plain.toString('hex')).toBe(
      '000102030405060708090a0b0c0d0e0f' + '01' + '11' + 'a70101020103626564040105110' + '6f507f4' + Buffer.from(seed).toString('hex'),
    );
  });
});

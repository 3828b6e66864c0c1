// Project Wycheproof vectors through real frames: Ed25519 signing, X25519 and P-256 ECDH, P-256/secp256k1 ECDSA checked by OpenSSL.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { Alg, Capability, Command, Status } from '../../firmware/protocol/codes.ts';
import { field, findLeakedKeys, hex, startTestDevice, unhex, type TestDevice } from '../helpers/loopback.ts';

const load = (name: string) => JSON.parse(readFileSync(new URL('../vectors/wycheproof/' + name, import.meta.url), 'utf8'));

/** KEY_IMPORT with the algorithm's default capabilities, or the given ones (key 4; docs/security.md §6). */
function importKey(t: TestDevice, alg: number, sk: Uint8Array, capabilities?: number): { id: number; pub: Uint8Array } {
  const r = t.call(Command.KEY_IMPORT, capabilities === undefined ? { 1: alg, 3: sk } : { 1: alg, 3: sk, 4: capabilities });
  expect(r.status, r.message).toBe(Status.OK);
  return { id: field<number>(r, 1), pub: field<Uint8Array>(r, 2) };
}

function deleteKey(t: TestDevice, id: number) {
  expect(t.call(Command.KEY_DELETE, { 1: id }).status).toBe(Status.OK);
}

/** Wycheproof writes scalars as big-endian integers (sometimes with a leading 00, sometimes short). */
function scalar32(h: string): Uint8Array {
  const b = Buffer.from(h, 'hex');
  const s = b.length > 32 ? b.subarray(b.length - 32) : b;
  if (b.length > 32 && b.subarray(0, b.length - 32).some((x) => x !== 0)) throw new Error('scalar longer than 32 bytes');
  return new Uint8Array(Buffer.concat([Buffer.alloc(32 - s.length), s]));
}

describe('Wycheproof ed25519_test.json: sign every valid message and compare with the vector', () => {
  const w = load('ed25519_test.json');
  const keys = load('ed25519_secret_keys.json');
  it('the secret keys name their source', () => {
    expect(keys.source).toMatch(/Wycheproof.*36e236b6/);
  });

  it('every valid case whose secret key is known gives exactly the vector signature', () => {
    const t = startTestDevice();
    let signed = 0;
    let validTotal = 0;
    for (const g of w.testGroups) {
      const valid = g.tests.filter((x: { result: string }) => x.result === 'valid');
      validTotal += valid.length;
      const sk = keys.keys[g.publicKey.pk];
      if (!sk || valid.length === 0) continue;
      const k = importKey(t, Alg.ED25519, unhex(sk));
      // the old file's secret key really belongs to this group's public key
      expect(hex(k.pub)).toBe(g.publicKey.pk);
      for (const c of valid) {
        const r = t.call(Command.SIGN, { 1: k.id, 2: unhex(c.msg) });
        expect(r.status, r.message).toBe(Status.OK);
        expect(hex(field<Uint8Array>(r, 1)), 'tcId ' + c.tcId).toBe(c.sig);
        signed++;
      }
      deleteKey(t, k.id);
    }
    expect(validTotal).toBe(88);
    expect(signed).toBe(87); // one group's secret key is not published anywhere we can cite
  });
});

describe('Wycheproof x25519_test.json through KEY_IMPORT + ECDH', () => {
  const w = load('x25519_test.json');
  it('valid and acceptable cases give the vector secret; all-zero results (low-order points) → INVALID_KEY', () => {
    const t = startTestDevice({ slots: 2 });
    const counts = { ok: 0, invalidKey: 0 };
    for (const c of w.testGroups[0].tests) {
      const k = importKey(t, Alg.X25519, unhex(c.private));
      const r = t.call(Command.ECDH, { 1: k.id, 2: unhex(c.public) });
      if (/^0+$/.test(c.shared)) {
        expect(r.status, 'tcId ' + c.tcId).toBe(Status.INVALID_KEY);
        expect(c.flags.some((f: string) => /LowOrderPublic|ZeroSharedSecret/.test(f))).toBe(true);
        counts.invalidKey++;
      } else {
        expect(r.status, 'tcId ' + c.tcId + ' ' + r.message).toBe(Status.OK);
        expect(hex(field<Uint8Array>(r, 1)), 'tcId ' + c.tcId).toBe(c.shared);
        counts.ok++;
      }
      deleteKey(t, k.id);
    }
    expect(counts.ok + counts.invalidKey).toBe(w.numberOfTests);
    expect(counts.invalidKey).toBeGreaterThan(10);
  });
});

describe('Wycheproof ecdh_secp256r1_ecpoint_test.json through KEY_IMPORT + ECDH', () => {
  const w = load('ecdh_secp256r1_ecpoint_test.json');
  it('valid (and acceptable compressed) cases give the vector secret; invalid points → INVALID_KEY', () => {
    const t = startTestDevice({ slots: 2 });
    const seen = { valid: 0, invalid: 0 };
    for (const c of w.testGroups[0].tests) {
      // a P-256 key signs by default; ECDH needs the derive capability asked for at import
      const k = importKey(t, Alg.ECDSA_P256, scalar32(c.private), Capability.DERIVE);
      const pub = unhex(c.public);
      const r = t.call(Command.ECDH, { 1: k.id, 2: pub });
      if (c.result === 'invalid') {
        // an empty point is below the schema's 32-byte minimum: the decoder refuses it before the handler
        expect(r.status, 'tcId ' + c.tcId).toBe(pub.length < 32 ? Status.INVALID_PARAMETER : Status.INVALID_KEY);
        seen.invalid++;
      } else {
        expect(r.status, 'tcId ' + c.tcId + ' ' + r.message).toBe(Status.OK);
        expect(hex(field<Uint8Array>(r, 1)), 'tcId ' + c.tcId).toBe(c.shared);
        seen.valid++;
      }
      deleteKey(t, k.id);
    }
    expect(seen).toEqual({ valid: 331, invalid: 24 });
  });
});

describe('Wycheproof ECDSA messages signed by the device verify with OpenSSL', () => {
  for (const [file, alg, crv] of [
    ['ecdsa_secp256r1_sha256_p1363_test.json', Alg.ECDSA_P256, 'P-256'],
    ['ecdsa_secp256k1_sha256_p1363_test.json', Alg.ECDSA_SECP256K1, 'secp256k1'],
  ] as const)
    it(file + ': every distinct message, by message and by digest, low-S', () => {
      const w = load(file);
      const msgs = [...new Set<string>(w.testGroups.flatMap((g: { tests: { msg: string }[] }) => g.tests.map((x) => x.msg)))];
      expect(msgs.length).toBeGreaterThan(30);
      const t = startTestDevice();
      const g = t.call(Command.KEY_GENERATE, { 1: alg });
      const id = field<number>(g, 1);
      const p = Buffer.from(field<Uint8Array>(g, 2));
      const pub = createPublicKey({
        key: { kty: 'EC', crv, x: p.subarray(1, 33).toString('base64url'), y: p.subarray(33).toString('base64url') },
        format: 'jwk',
      });
      const half =
        (alg === Alg.ECDSA_P256
          ? BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
          : BigInt('0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')) / 2n;
      msgs.forEach((m, i) => {
        const msg = unhex(m);
        const params = i % 2 === 0 ? { 1: id, 2: msg } : { 1: id, 3: new Uint8Array(createHash('sha256').update(msg).digest()) };
        const r = t.call(Command.SIGN, params);
        expect(r.status, r.message).toBe(Status.OK);
        const sig = field<Uint8Array>(r, 1);
        expect(BigInt('0x' + hex(sig.subarray(32))) <= half).toBe(true);
        expect(nodeVerify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' }, sig), 'msg ' + m).toBe(true);
      });
    });
});

describe('leak scan', () => {
  it('no imported private key appeared on the wire', () => {
    expect(findLeakedKeys()).toEqual([]);
  });
});

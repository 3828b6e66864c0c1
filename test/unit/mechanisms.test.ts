// The mechanism table (firmware/core/mechanisms) and the algorithms' wire data (firmware/protocol/algorithms.ts): one entry per algorithm id everywhere, and what each mechanism does agrees with what the wire data says it may do.
import { describe, it, expect } from 'vitest';
import { createPublicKey } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Alg, Capability } from '../../firmware/protocol/codes.ts';
import { ALLOWED_CAPABILITIES, DEFAULT_CAPABILITIES, PUBLIC_KEY_LENGTH, SPKI_PREFIX, SSH_KEY_TYPE } from '../../firmware/protocol/algorithms.ts';
import { MECHANISMS } from '../../firmware/core/mechanisms/index.ts';
import { nobleCrypto } from '../helpers/loopback.ts';

const ids = Object.values(Alg).sort((a, b) => a - b);
const keysOf = (t: object) => Object.keys(t).map(Number);

describe('one entry per algorithm', () => {
  it('the mechanism table and each wire table have exactly the ids of Alg (OpenSSH formats: a subset)', () => {
    expect(MECHANISMS.flatMap((m, id) => (m === undefined ? [] : [id]))).toEqual(ids);
    for (const t of [PUBLIC_KEY_LENGTH, DEFAULT_CAPABILITIES, ALLOWED_CAPABILITIES, SPKI_PREFIX]) expect(keysOf(t)).toEqual(ids);
    for (const id of keysOf(SSH_KEY_TYPE)) expect(ids).toContain(id);
  });

  it('a mechanism signs iff its algorithm may have sign, does ECDH iff it may have derive, and its defaults are allowed', () => {
    for (const id of ids) {
      const m = MECHANISMS[id]!;
      const allowed = ALLOWED_CAPABILITIES[id];
      expect((allowed & Capability.SIGN) !== 0, `alg ${id} sign`).toBe(m.sign !== undefined);
      expect((allowed & Capability.DERIVE) !== 0, `alg ${id} derive`).toBe(m.ecdh !== undefined);
      expect(DEFAULT_CAPABILITIES[id] & ~allowed).toBe(0);
    }
  });

  it("a mechanism's public key has the wire's length, and SPKI_PREFIX ‖ it is a public key node:crypto reads", () => {
    const c = nobleCrypto();
    const sk = new Uint8Array(32).fill(7);
    const types: Record<number, string> = { [Alg.ED25519]: 'ed25519', [Alg.ECDSA_P256]: 'ec', [Alg.ECDSA_SECP256K1]: 'ec', [Alg.X25519]: 'x25519' };
    for (const id of ids) {
      const pub = MECHANISMS[id]!.publicKey(c, sk);
      expect(pub.length, `alg ${id}`).toBe(PUBLIC_KEY_LENGTH[id]);
      const k = createPublicKey({ key: Buffer.concat([Buffer.from(SPKI_PREFIX[id], 'hex'), pub]), format: 'der', type: 'spki' });
      expect(k.asymmetricKeyType).toBe(types[id]);
    }
  });

  it('the key commands ask the mechanism: none compares algorithm ids', () => {
    const dir = new URL('../../firmware/core/commands/', import.meta.url);
    const files = readdirSync(dir).filter((f) => /^(key_\w+|sign|ecdh)\.ts$/.test(f));
    expect(files).toEqual(expect.arrayContaining(['sign.ts', 'ecdh.ts', 'key_generate.ts', 'key_import.ts']));
    for (const f of files) expect(readFileSync(new URL(f, dir), 'utf8'), f).not.toMatch(/\bAlg\.[A-Z]|\balg\s*[!=]==/);
  });
});

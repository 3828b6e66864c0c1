// RFC 8032 §7.1 Ed25519 vectors through real frames: KEY_IMPORT the secret, SIGN the message, compare and verify with OpenSSL.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { Alg, Command, Status } from '../../firmware/protocol/codes.ts';
import { field, findLeakedKeys, hex, startTestDevice, unhex } from '../helpers/loopback.ts';

const file = JSON.parse(readFileSync(new URL('../vectors/rfc8032.json', import.meta.url), 'utf8')) as {
  source: string;
  vectors: { name: string; secretKey: string; publicKey: string; message: string; signature: string }[];
};

describe('RFC 8032 §7.1 through KEY_IMPORT + SIGN', () => {
  it('the vector file names its source and holds the five tests', () => {
    expect(file.source).toMatch(/RFC 8032 section 7\.1/);
    expect(file.vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']);
    expect(unhex(file.vectors[3].message).length).toBe(1023);
  });

  for (const binaryOrArmor of ['binary', 'armor'] as const)
    it.each(file.vectors.map((v) => [v.name, v] as const))('%s (' + binaryOrArmor + ' link)', (_n, v) => {
      const t = startTestDevice({ mode: binaryOrArmor });
      const imp = t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: v.name, 3: unhex(v.secretKey) });
      expect(imp.status, imp.message).toBe(Status.OK);
      expect(hex(field<Uint8Array>(imp, 2))).toBe(v.publicKey);
      const s = t.call(Command.SIGN, { 1: field<number>(imp, 1), 2: unhex(v.message) });
      expect(s.status, s.message).toBe(Status.OK);
      const sig = field<Uint8Array>(s, 1);
      expect(hex(sig)).toBe(v.signature);
      const pub = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), unhex(v.publicKey)]), format: 'der', type: 'spki' });
      expect(nodeVerify(null, unhex(v.message), pub, sig)).toBe(true);
    });

  it('none of the secret keys appeared on the wire', () => {
    expect(findLeakedKeys()).toEqual([]);
  });
});

// RFC 7748 X25519 vectors through real frames: KEY_IMPORT the scalar, ECDH with the peer u-coordinate (§5.2, §6.1).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Alg, Command, Status } from '../../firmware/protocol/codes.ts';
import { field, findLeakedKeys, hex, startTestDevice, unhex, type TestDevice } from '../helpers/loopback.ts';

const v = JSON.parse(readFileSync(new URL('../vectors/rfc7748.json', import.meta.url), 'utf8'));

function importX(t: TestDevice, scalar: Uint8Array): { id: number; pub: string } {
  const r = t.call(Command.KEY_IMPORT, { 1: Alg.X25519, 3: scalar });
  expect(r.status, r.message).toBe(Status.OK);
  return { id: field<number>(r, 1), pub: hex(field<Uint8Array>(r, 2)) };
}

function ecdh(t: TestDevice, id: number, u: Uint8Array): string {
  const r = t.call(Command.ECDH, { 1: id, 2: u });
  expect(r.status, r.message).toBe(Status.OK);
  return hex(field<Uint8Array>(r, 1));
}

describe('RFC 7748 through KEY_IMPORT + ECDH', () => {
  const t = startTestDevice();

  it('names its source', () => {
    expect(v.source).toMatch(/RFC 7748 sections 5\.2 and 6\.1/);
  });

  const scalarMult = v.scalarMult as { name: string; scalar: string; u: string; output: string }[];
  it.each(scalarMult.map((x) => [x.name, x] as const))('§%s', (_n, x) => {
    const k = importX(t, unhex(x.scalar));
    expect(ecdh(t, k.id, unhex(x.u))).toBe(x.output);
  });

  it('§6.1 Diffie-Hellman: both public keys and the shared secret from both sides', () => {
    const d = v.diffieHellman;
    const a = importX(t, unhex(d.alicePrivate));
    const b = importX(t, unhex(d.bobPrivate));
    expect(a.pub).toBe(d.alicePublic);
    expect(b.pub).toBe(d.bobPublic);
    expect(ecdh(t, a.id, unhex(d.bobPublic))).toBe(d.shared);
    expect(ecdh(t, b.id, unhex(d.alicePublic))).toBe(d.shared);
  });

  it('§5.2 iterated: 1 and 1000 iterations (each one a KEY_IMPORT, an ECDH and a KEY_DELETE)', () => {
    const s = startTestDevice({ slots: 2 });
    let k = unhex(v.iterated.start);
    let u = unhex(v.iterated.start);
    for (let i = 1; i <= 1000; i++) {
      const key = importX(s, k);
      const r = unhex(ecdh(s, key.id, u));
      expect(s.call(Command.KEY_DELETE, { 1: key.id }).status).toBe(Status.OK);
      u = k;
      k = r;
      if (i === 1) expect(hex(k)).toBe(v.iterated.after1);
    }
    expect(hex(k)).toBe(v.iterated.after1000);
  });

  it('no imported scalar appeared on the wire (the iterated outputs are host-side values, so only the fixed vectors count)', () => {
    expect(findLeakedKeys().filter((h) => [v.diffieHellman.alicePrivate, v.diffieHellman.bobPrivate].includes(h))).toEqual([]);
  });
});

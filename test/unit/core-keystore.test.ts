// RAM keystore: id counter from 1 (never 0, skips ids in use, wraps past 0xffff), STORAGE_FULL, wipe on remove.
import { describe, it, expect } from 'vitest';
import { KeyStore } from '../../firmware/core/keystore.ts';
import { Alg, Origin, Status } from '../../firmware/protocol/codes.ts';

const k = (b: number) => new Uint8Array(32).fill(b);

describe('KeyStore', () => {
  it('hands out ids 1, 2, 3 … and does not reuse a deleted id', () => {
    const s = new KeyStore(3);
    const ids = [1, 2, 3].map((i) => {
      const r = s.add(Alg.ED25519, 'k' + i, Origin.GENERATED, k(i), k(100 + i));
      if (!r.ok) throw new Error(r.message);
      return r.value.id;
    });
    expect(ids).toEqual([1, 2, 3]);
    expect(s.remove(2)).toBe(true);
    const r = s.add(Alg.X25519, '', Origin.IMPORTED, k(9), k(109));
    expect(r.ok && r.value.id).toBe(4);
    expect(s.list().map((x) => x.id)).toEqual([1, 3, 4]);
  });

  it('STORAGE_FULL leaves the store unchanged and says how many slots there are', () => {
    const s = new KeyStore(2);
    s.add(Alg.ED25519, 'a', Origin.GENERATED, k(1), k(2));
    s.add(Alg.ED25519, 'b', Origin.GENERATED, k(3), k(4));
    const before = s.list().map((x) => x.id + x.label);
    const r = s.add(Alg.ED25519, 'c', Origin.GENERATED, k(5), k(6));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(Status.STORAGE_FULL);
      expect(r.message).toContain('2');
    }
    expect(s.list().map((x) => x.id + x.label)).toEqual(before);
    expect(s.used).toBe(2);
    expect(s.free).toBe(0);
  });

  it('remove wipes the private key bytes and reports unknown ids', () => {
    const s = new KeyStore(2);
    const priv = k(0xaa);
    const r = s.add(Alg.ECDSA_P256, '', Origin.IMPORTED, priv, k(1));
    expect(r.ok).toBe(true);
    expect(s.remove(1)).toBe(true);
    expect(priv.every((b) => b === 0)).toBe(true);
    expect(s.remove(1)).toBe(false);
    expect(s.get(1)).toBeUndefined();
  });

  it('wraps past 0xffff to 1, never 0, skipping ids still in use', () => {
    const s = new KeyStore(2);
    const first = s.add(Alg.ED25519, 'keep', Origin.GENERATED, k(1), k(1));
    expect(first.ok && first.value.id).toBe(1);
    // churn one slot through the whole id space
    let last = 0;
    for (let i = 0; i < 0xfffe; i++) {
      const r = s.add(Alg.ED25519, '', Origin.GENERATED, k(2), k(2));
      if (!r.ok) throw new Error(r.message);
      last = r.value.id;
      s.remove(last);
    }
    expect(last).toBe(0xffff);
    const next = s.add(Alg.ED25519, '', Origin.GENERATED, k(3), k(3));
    // 1 is still in use, so the counter skips it
    expect(next.ok && next.value.id).toBe(2);
  });
});

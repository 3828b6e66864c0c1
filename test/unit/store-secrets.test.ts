// Secure wipe: a deleted or overwritten secret (identity, key records) leaves no byte in flash, also across compaction and a power cut between commit and wipe (docs/storage.md §6).
import { describe, it, expect } from 'vitest';
import { Store, RecordKind, recordKey } from '../../firmware/core/store/index.ts';
import { forEachRecord } from '../../firmware/core/store/format.ts';
import { NorFlash, bytesFrom, leftover, hex, indexOfBytes } from '../helpers/nor-flash.ts';
import { PowerCutError } from '../../sim/flash.ts';

const K = (i: number) => recordKey(RecordKind.KEY, i);
const C = (i: number) => recordKey(RecordKind.COUNTERS, i);
const IDENTITY = recordKey(RecordKind.IDENTITY, 0);

describe('secret records are wiped from flash', () => {
  it('after delete and overwrite, the old value is nowhere in the raw bytes; live secrets still are', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = Store.open(f);
    const a = bytesFrom(1, 32);
    const b = bytesFrom(2, 32);
    const id1 = bytesFrom(3, 32);
    const id2 = bytesFrom(4, 32);
    expect(
      s.commit([
        { key: K(1), value: a },
        { key: K(2), value: b },
        { key: IDENTITY, value: id1 },
      ]).ok,
    ).toBe(true);
    expect(leftover(f.bytes, a)).toBeGreaterThan(0); // the search finds what is there
    expect(s.commit([{ key: K(1), value: null }]).ok).toBe(true);
    expect(s.commit([{ key: IDENTITY, value: id2 }]).ok).toBe(true);
    expect(leftover(f.bytes, a)).toBe(-1);
    expect(leftover(f.bytes, id1)).toBe(-1);
    expect(leftover(f.bytes, b)).toBeGreaterThan(0);
    expect(leftover(f.bytes, id2)).toBeGreaterThan(0);
    // The wiped records are still walked over at boot (their headers stay), and marked: value, CRC, wipe word all zero.
    const wiped: string[] = [];
    forEachRecord(f.read(0, 0, 1024), 1024, (r) => {
      if (r.wiped) wiped.push(r.key.toString(16) + (r.zeroed ? ' zeroed' : ' NOT zeroed'));
    });
    expect(wiped).toEqual([K(1).toString(16) + ' zeroed', IDENTITY.toString(16) + ' zeroed']);
    const again = Store.open(f);
    expect(again.get(K(1))).toBeUndefined();
    expect(hex(again.get(IDENTITY)!)).toBe(hex(id2));
  });

  it('plain records are not secret: a superseded counter is left for compaction to drop', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = Store.open(f);
    const old = bytesFrom(9, 16);
    s.commit([{ key: C(0), value: old }]);
    s.commit([{ key: C(0), value: bytesFrom(10, 16) }]);
    expect(leftover(f.bytes, old)).toBeGreaterThan(0);
  });

  it('no secret outlives its deletion through hundreds of compactions', () => {
    const f = new NorFlash({ pageSize: 512, pageCount: 4 });
    const s = Store.open(f);
    const dead: Uint8Array[] = [];
    const live = new Map<number, Uint8Array>();
    for (let i = 0; i < 600; i++) {
      // 12 keys: more live data than one page holds, so compaction also moves records out of pages that stay
      const key = K(1 + (i % 12));
      const v = bytesFrom(1000 + i, 16 + (i % 33));
      const prev = live.get(key);
      const r =
        i % 7 === 3
          ? s.commit([{ key, value: null }])
          : s.commit([
              { key, value: v },
              { key: C(0), value: bytesFrom(5000 + i, 8) },
            ]);
      expect(r.ok).toBe(true);
      if (prev) dead.push(prev);
      if (i % 7 === 3) live.delete(key);
      else live.set(key, v);
    }
    expect(f.erases).toBeGreaterThan(50);
    const bytes = f.snapshot();
    for (const d of dead) expect(leftover(bytes, d)).toBe(-1);
    for (const v of live.values()) expect(leftover(bytes, v)).toBeGreaterThanOrEqual(0);
    // every live secret sits in exactly one record (copies made by compaction replace their originals)
    for (const v of live.values()) {
      const first = indexOfBytes(bytes, v);
      expect(first).toBeGreaterThan(0);
      expect(indexOfBytes(bytes.subarray(first + 1), v)).toBe(-1);
    }
  });

  it('power cut between commit and wipe: the secret is still there, and the next boot wipes it', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = Store.open(f);
    const old = bytesFrom(21, 48);
    const next = bytesFrom(22, 48);
    s.commit([{ key: K(4), value: old }]);
    const base = f.snapshot();
    // Find the word that commits: the last word of the new record (header 16 + value 48 + CRC 4 = 17 words).
    const g = NorFlash.fromBytes(base, { pageSize: 1024 });
    const s2 = Store.open(g);
    g.cutAfterWords(18); // the first word after the commit: the old record's wipe word
    expect(() => s2.commit([{ key: K(4), value: next }])).toThrow(PowerCutError);
    g.powerOn();
    expect(leftover(g.bytes, old)).toBeGreaterThanOrEqual(0); // the cut came before the wipe
    const s3 = Store.open(g);
    expect(hex(s3.get(K(4))!)).toBe(hex(next)); // committed
    expect(leftover(g.bytes, old)).toBe(-1); // and wiped at boot
  });

  it('a secret written by a transaction that never committed is wiped at boot', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 4 });
    Store.open(f);
    const base = f.snapshot();
    const secret = bytesFrom(31, 64);
    for (let n = 5; n <= 20; n++) {
      const g = NorFlash.fromBytes(base, { pageSize: 1024, seed: n });
      const s = Store.open(g);
      g.cutAfterWords(n); // inside the first record's value, well before the commit marker
      expect(() =>
        s.commit([
          { key: K(1), value: secret },
          { key: K(2), value: bytesFrom(32, 64) },
        ]),
      ).toThrow(PowerCutError);
      g.powerOn();
      const s2 = Store.open(g);
      expect(s2.list(RecordKind.KEY)).toEqual([]);
      expect(leftover(g.bytes, secret)).toBe(-1);
    }
  });
});

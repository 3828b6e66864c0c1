// Capacity and wear: a full store refuses with STORAGE_FULL and stays unchanged, can always be emptied and refilled, and spreads erases evenly (docs/storage.md §8–§9).
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { Store, RecordKind, recordKey, RESERVE_BYTES } from '../../firmware/core/store/index.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { NorFlash, bytesFrom, stateOf, sameState, hex } from '../helpers/nor-flash.ts';

const KINDS = Object.values(RecordKind);
const K = (i: number) => recordKey(RecordKind.KEY, i);
const C = (i: number) => recordKey(RecordKind.COUNTERS, i);

function reopen(f: NorFlash): Store {
  return Store.open(NorFlash.fromBytes(f.snapshot(), { pageSize: f.pageSize }));
}

/** Put new keys until the store refuses; returns the ids stored. */
function fill(s: Store, f: NorFlash, next: { id: number }, len: (id: number) => number): number[] {
  const ids: number[] = [];
  for (;;) {
    const id = next.id;
    const v = bytesFrom(id, len(id));
    const fits = s.canFit([{ key: K(id % 0x10000), length: v.length }]);
    const snap = f.snapshot();
    const r = s.commit([{ key: K(id % 0x10000), value: v }]);
    expect(r.ok, 'canFit agrees with commit').toBe(fits);
    if (!r.ok) {
      expect(r.status).toBe(Status.STORAGE_FULL);
      expect(msgOf(r)).toMatch(/full.*delete records you no longer need/);
      expect(f.snapshot(), 'a refused commit writes nothing').toEqual(snap);
      return ids;
    }
    ids.push(id % 0x10000);
    next.id++;
  }
}

describe('a full store', () => {
  it('refuses with STORAGE_FULL, unchanged, after using most of its pages', () => {
    const f = new NorFlash({ pageSize: 4096, pageCount: 6 });
    const s = Store.open(f);
    const ids = fill(s, f, { id: 1 }, () => 120);
    const capacity = 5 * (4096 - 32);
    const used = s.stats().bytesUsed;
    expect(used).toBe(ids.length * (24 + 120));
    expect(used / capacity, 'live data when full, as a share of the non-spare pages').toBeGreaterThan(0.9);
    expect(s.stats().bytesFree).toBeLessThan(2 * 144 + RESERVE_BYTES);
    // what was there is intact, also after a reboot
    const st = stateOf(s, KINDS);
    expect(st.size).toBe(ids.length);
    expect(sameState(stateOf(reopen(f), KINDS), st)).toBe(true);
    for (const id of ids) expect(st.get(K(id))).toBe(hex(bytesFrom(id, 120)));
  });

  it('can always be emptied one delete at a time, and refilled to the same level', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 5 });
    const s = Store.open(f);
    const next = { id: 1 };
    const first = fill(s, f, next, (id) => 20 + ((id * 7) % 90));
    expect(first.length).toBeGreaterThan(20);
    // A small counter update (same size) still goes through when full: it grows nothing.
    expect(s.commit([{ key: K(first[0]), value: bytesFrom(first[0], 20 + ((first[0] * 7) % 90)) }]).ok).toBe(true);
    for (const id of first) expect(s.commit([{ key: K(id), value: null }]).ok, 'delete ' + id).toBe(true);
    expect(s.stats().bytesUsed).toBe(0);
    for (const k of KINDS) expect(s.list(k)).toEqual([]);
    const second = fill(s, f, next, (id) => 20 + ((id * 7) % 90));
    expect(Math.abs(second.length - first.length)).toBeLessThanOrEqual(2);
  });

  it('a delete mixed with a small counter update also goes through when full', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = Store.open(f);
    s.commit([{ key: C(0), value: new Uint8Array(4) }]);
    const ids = fill(s, f, { id: 1 }, () => 64);
    for (let i = 0; i < ids.length; i++) {
      const r = s.commit([
        { key: K(ids[i]), value: null },
        { key: C(0), value: new Uint8Array([i, 0, 0, 0]) },
      ]);
      expect(r.ok).toBe(true);
    }
    expect(s.list(RecordKind.KEY)).toEqual([]);
  });
});

describe('wear', () => {
  it('thousands of fill / delete / refill cycles keep compaction working and erases balanced', () => {
    const f = new NorFlash({ pageSize: 512, pageCount: 6 });
    let s = Store.open(f);
    const model = new Map<number, string>();
    let seed = 1;
    let commits = 0;
    for (let cycle = 0; cycle < 1500; cycle++) {
      // fill with a few new keys (sizes vary), overwrite one, delete a few: the live set wanders across pages
      for (let j = 0; j < 4; j++) {
        const key = K(1 + ((seed * 13) % 40));
        const v = bytesFrom(seed++, 8 + (seed % 70));
        const r = s.commit([
          { key, value: v },
          { key: C(cycle % 3), value: bytesFrom(seed++, 6) },
        ]);
        if (r.ok) {
          model.set(key, hex(v));
          model.set(C(cycle % 3), hex(bytesFrom(seed - 1, 6)));
          commits++;
        } else expect(r.status).toBe(Status.STORAGE_FULL);
      }
      for (let j = 0; j < 3; j++) {
        const key = K(1 + ((seed++ * 7) % 40));
        expect(s.commit([{ key, value: null }]).ok, 'a delete never fails').toBe(true);
        model.delete(key);
      }
      if (cycle % 250 === 0) {
        s = Store.open(f); // reboot now and then
        const st = stateOf(s, KINDS);
        expect(sameState(st, model)).toBe(true);
      }
    }
    expect(commits).toBeGreaterThan(4000);
    expect(sameState(stateOf(Store.open(f), KINDS), model)).toBe(true);
    const counts = f.eraseCounts;
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    expect(mean).toBeGreaterThan(200);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * mean + 4);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(mean / 2 - 4);
    // the store's own counts (kept in the page headers) are the chip's
    expect(s.stats().eraseCounts).toEqual(counts);
    expect(Store.open(f).stats().eraseCounts).toEqual(counts);
  });

  it('filled to the brim and emptied 300 times: same capacity each time, erases balanced', () => {
    const f = new NorFlash({ pageSize: 256, pageCount: 4 });
    const s = Store.open(f);
    const next = { id: 1 };
    const sizes = new Set<number>();
    for (let cycle = 0; cycle < 300; cycle++) {
      const ids = fill(s, f, next, () => 40);
      sizes.add(ids.length);
      for (const id of ids) expect(s.commit([{ key: K(id), value: null }]).ok).toBe(true);
      expect(s.stats().bytesUsed).toBe(0);
    }
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(8); // 3 pages of 224 bytes, 64-byte records, the reserve
    const counts = f.eraseCounts;
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    expect(mean).toBeGreaterThan(300);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2 * mean + 4);
  });

  it('static data does not pin a page: a store that mostly holds keys that never change still wears evenly', () => {
    const f = new NorFlash({ pageSize: 1024, pageCount: 8 });
    const s = Store.open(f);
    for (let i = 1; i <= 20; i++) expect(s.commit([{ key: K(i), value: bytesFrom(i, 100) }]).ok).toBe(true);
    for (let i = 0; i < 20000; i++) expect(s.commit([{ key: C(0), value: bytesFrom(100 + i, 16) }]).ok).toBe(true);
    const counts = f.eraseCounts;
    const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
    expect(mean).toBeGreaterThan(50);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    for (let i = 1; i <= 20; i++) expect(hex(s.get(K(i))!)).toBe(hex(bytesFrom(i, 100)));
  });
});

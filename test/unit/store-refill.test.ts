// A full store recovers by deleting: after one ~200-byte record is deleted, a ~140-byte one fits again, on small and large flashes, and a power cut during that refill leaves old or new (docs/storage.md §8).
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { Store, RecordKind, recordKey, RESERVE_BYTES, type Entry } from '../../firmware/core/store/index.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { NorFlash, bytesFrom, leftover, stateOf, sameState, applied } from '../helpers/nor-flash.ts';
import { PowerCutError } from '../../sim/flash.ts';

const KINDS = Object.values(RecordKind);
const K = (i: number) => recordKey(RecordKind.KEY, i);
const NEXT_ID = recordKey(RecordKind.COUNTERS, 0);
/** A P-256 key record on the device is about this long (24 + 176 = 200 bytes in flash); an ed25519 one 116 (140). */
const BIG = 176;
const SMALL = 116;

interface Internals {
  log: number[];
  compactOnce(cap: number): void;
}
const internals = (s: Store) => s as unknown as Internals;

/** A key's value: seeds apart from the device id's and identity's. */
const keyBytes = (id: number, len: number) => bytesFrom(10000 + id, len);

/** Like the device's KEY_GENERATE: a key record and the next-id counter in one transaction. */
function generate(id: number, len: number): Entry[] {
  return [
    { key: K(id), value: keyBytes(id, len) },
    { key: NEXT_ID, value: new Uint8Array([id & 0xff, id >> 8, 1, 0]) },
  ];
}

/** Device id and identity, then BIG keys until STORAGE_FULL (canFit agreeing with commit each time); the ids stored. */
function fill(s: Store): number[] {
  expect(s.commit([{ key: recordKey(RecordKind.DEVICE_ID, 0), value: bytesFrom(1, 16) }]).ok).toBe(true);
  expect(s.commit([{ key: recordKey(RecordKind.IDENTITY, 0), value: bytesFrom(2, 32) }]).ok).toBe(true);
  return fillWith(s, 1, BIG);
}

/** Keys of `len` bytes from id `first` on until STORAGE_FULL; the ids stored. */
function fillWith(s: Store, first: number, len: number): number[] {
  const ids: number[] = [];
  for (let id = first; ; id++) {
    const entries = generate(id, len);
    const fits = s.canFit(entries.map((e) => ({ key: e.key, length: e.value!.length })));
    const r = s.commit(entries);
    expect(r.ok, 'canFit agrees with commit').toBe(fits);
    if (!r.ok) {
      expect(r.status).toBe(Status.STORAGE_FULL);
      return ids;
    }
    ids.push(id);
  }
}

const GEOMETRIES = [
  [1024, 4],
  [4096, 4],
  [4096, 32],
  [1024, 2],
  [2048, 3],
] as const;

describe('a full store recovers by deleting', () => {
  for (const [pageSize, pageCount] of GEOMETRIES) {
    it(pageCount + ' pages of ' + pageSize + ' bytes: delete one 200-byte record (first, middle or last), then a 140-byte one fits', () => {
      const f = new NorFlash({ pageSize, pageCount });
      let s = Store.open(f);
      const ids = fill(s);
      expect(ids.length).toBeGreaterThan(0);
      // Top it up with small keys too: then only the delete can make room for the next one.
      fillWith(s, 2000, SMALL);
      expect(
        s.canFit([
          { key: K(999), length: SMALL },
          { key: NEXT_ID, length: 4 },
        ]),
      ).toBe(false);
      let next = 1000;
      for (const victim of [ids[0], ids[ids.length >> 1], ids[ids.length - 1]]) {
        const del = s.commit([{ key: K(victim), value: null }]);
        expect(del.ok, 'delete ' + victim).toBe(true);
        const before = s.stats().bytesFree;
        const r = s.commit(generate(next, SMALL));
        expect(r.ok, 'after deleting ' + victim + ': ' + (r.ok ? '' : msgOf(r))).toBe(true);
        expect(s.stats().bytesFree).toBe(before - (24 + SMALL));
        // one page is still erased for the next compaction
        expect(internals(s).log.length).toBeLessThan(pageCount);
        expect(s.get(K(next))).toEqual(keyBytes(next, SMALL));
        // the reserve is there: a delete goes through, and so does refilling the slot it frees
        s = Store.open(f);
        expect(s.get(K(next))).toEqual(keyBytes(next, SMALL));
        expect(s.get(K(victim))).toBeUndefined();
        expect(leftover(f.snapshot(), keyBytes(victim, BIG)), 'the deleted secret is wiped').toBe(-1);
        next++;
      }
      // And a full store can still be emptied, one delete at a time.
      for (const id of s.list(RecordKind.KEY)) expect(s.commit([{ key: id, value: null }]).ok).toBe(true);
      expect(s.list(RecordKind.KEY)).toEqual([]);
    });
  }

  it('the refill compacts only as far as leaves room, and a power cut at any of its words or erases leaves old or new', () => {
    const ps = 1024;
    const f = new NorFlash({ pageSize: ps, pageCount: 4 });
    const s = Store.open(f);
    const ids = fill(s);
    const victim = ids[ids.length >> 1];
    expect(s.commit([{ key: K(victim), value: null }]).ok).toBe(true);
    const base = f.snapshot();
    const txn = generate(500, SMALL);
    const before = stateOf(s, KINDS);
    const after = applied(before, txn);

    // The refill needs a compaction that stops early: copying as much as fits would leave under 140 + 28 + 96 bytes.
    const probe = Store.open(NorFlash.fromBytes(base, { pageSize: ps }));
    const caps: number[] = [];
    const real = internals(probe).compactOnce.bind(probe);
    internals(probe).compactOnce = (cap: number) => {
      caps.push(cap);
      real(cap);
    };
    const pf = NorFlash.fromBytes(base, { pageSize: ps });
    const ps2 = Store.open(pf);
    expect(probe.commit(txn).ok).toBe(true);
    expect(caps.length).toBeGreaterThan(0);
    expect(caps[caps.length - 1]).toBeLessThan(ps - 32 - (24 + BIG) + 1);
    expect(caps[caps.length - 1]).toBeLessThanOrEqual(ps - 32 - (24 + SMALL) - 28 - RESERVE_BYTES);
    expect(ps2.commit(txn).ok).toBe(true);
    const words = pf.wordWrites;
    const erases = pf.erases;
    expect(erases).toBeGreaterThan(0);

    const check = (flash: NorFlash, what: string) => {
      flash.powerOn();
      const t = Store.open(flash);
      const st = stateOf(t, KINDS);
      expect(sameState(st, before) || sameState(st, after), what + ': neither old nor new').toBe(true);
      expect(leftover(flash.snapshot(), keyBytes(victim, BIG)), what).toBe(-1);
      if (sameState(st, before)) expect(leftover(flash.snapshot(), keyBytes(500, SMALL)), what + ': uncommitted secret left').toBe(-1);
      // and it still takes the refill afterwards (from either state)
      expect(t.commit(generate(501, SMALL)).ok, what + ': refill after reboot').toBe(true);
    };
    for (let n = 1; n <= words; n++) {
      const flash = NorFlash.fromBytes(base, { pageSize: ps, seed: n });
      const t = Store.open(flash);
      flash.cutAfterWords(n);
      expect(() => t.commit(txn)).toThrow(PowerCutError);
      check(flash, 'cut at word ' + n + ' of ' + words);
    }
    for (let k = 1; k <= erases; k++) {
      for (const fraction of [0, 0.5, 1]) {
        const flash = NorFlash.fromBytes(base, { pageSize: ps, seed: k });
        const t = Store.open(flash);
        flash.cutDuringErase(k, fraction);
        expect(() => t.commit(txn)).toThrow(PowerCutError);
        check(flash, 'cut during erase ' + k + ' (' + fraction + ')');
      }
    }
  });
});

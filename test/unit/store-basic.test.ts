// The flash record store's API: round trips, overwrite, delete, list, stats, refusals, persistence, and the on-flash format of docs/storage.md.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { Store, RecordKind, recordKey, kindOf, indexOf, isSecretKind, isUserKey, RESERVE_BYTES } from '../../firmware/core/store/index.ts';
import { classifyPage, encodeRecord, encodePageHeader, forEachRecord, PageState, Flag, PAGE_MAGIC } from '../../firmware/core/store/format.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { crc32 } from '../../firmware/protocol/crc32.ts';
import { NorFlash, bytesFrom, hex, stateOf } from '../helpers/nor-flash.ts';

const KINDS = Object.values(RecordKind);
const K = (i: number) => recordKey(RecordKind.KEY, i);
const C = (i: number) => recordKey(RecordKind.COUNTERS, i);

function fresh(pageSize = 512, pageCount = 4) {
  const flash = new NorFlash({ pageSize, pageCount });
  return { flash, store: Store.open(flash) };
}

describe('record key table', () => {
  it('packs kind and index into 32 bits and back', () => {
    expect(recordKey(RecordKind.KEY, 0x1234)).toBe(0x00101234);
    expect(kindOf(0x00101234)).toBe(RecordKind.KEY);
    expect(indexOf(0x00101234)).toBe(0x1234);
    expect(recordKey(0xfffd, 0xffff)).toBe(0xfffdffff);
    expect(kindOf(0xfffdffff)).toBe(0xfffd);
  });

  it('kinds are unique, and only the identity, keys, role and domain (and retired PIN) records are secret', () => {
    expect(new Set(KINDS).size).toBe(KINDS.length);
    expect(KINDS.filter(isSecretKind).sort()).toEqual([RecordKind.IDENTITY, RecordKind.KEY, RecordKind.PIN, RecordKind.ROLE, RecordKind.DOMAIN].sort());
  });

  it('keys of kinds 0xfffe and 0xffff belong to the store', () => {
    expect(isUserKey(0)).toBe(true);
    expect(isUserKey(0xfffdffff)).toBe(true);
    expect(isUserKey(0xfffe0000)).toBe(false);
    expect(isUserKey(0xffffffff)).toBe(false);
    expect(isUserKey(-1)).toBe(false);
    expect(isUserKey(1.5)).toBe(false);
  });
});

describe('Store', () => {
  it('a factory-new flash is formatted: one log page, the others free, nothing stored', () => {
    const { flash, store } = fresh();
    const pages = [0, 1, 2, 3].map((p) => classifyPage(flash.read(p, 0, 512), 512));
    expect(pages.filter((p) => p.state === PageState.LOG)).toHaveLength(1);
    expect(pages.filter((p) => p.state === PageState.FREE)).toHaveLength(3);
    expect(pages.every((p) => p.erases === 0)).toBe(true);
    expect(flash.erases).toBe(0); // an erased chip needs no erase
    for (const k of KINDS) expect(store.list(k)).toEqual([]);
    expect(store.stats()).toEqual({ pageSize: 512, pages: 4, bytesUsed: 0, bytesFree: 3 * 480 - RESERVE_BYTES, eraseCounts: [0, 0, 0, 0] });
  });

  it('round-trips values of every length up to the limit, and get returns a copy', () => {
    const { flash, store } = fresh(1024, 4);
    expect(store.maxValueLength).toBe(1024 - 32 - 24);
    for (const n of [0, 1, 2, 3, 4, 5, 31, 32, 33, 100, 967, 968]) {
      const v = bytesFrom(n, n);
      expect(store.commit([{ key: C(1), value: v }])).toEqual({ ok: true, value: undefined });
      const got = store.get(C(1))!;
      expect(hex(got)).toBe(hex(v));
      got.fill(0xaa);
      expect(hex(store.get(C(1))!)).toBe(hex(v));
      expect(hex(Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 1024 })).get(C(1))!)).toBe(hex(v));
    }
  });

  it('overwrites, deletes and lists per kind in ascending order', () => {
    const { store } = fresh();
    expect(
      store.commit([
        { key: K(9), value: bytesFrom(1, 32) },
        { key: K(2), value: bytesFrom(2, 32) },
        { key: C(0), value: new Uint8Array([5]) },
      ]).ok,
    ).toBe(true);
    expect(store.list(RecordKind.KEY)).toEqual([K(2), K(9)]);
    expect(store.list(RecordKind.COUNTERS)).toEqual([C(0)]);
    expect(store.list(RecordKind.SETTINGS)).toEqual([]);
    expect(store.commit([{ key: K(9), value: bytesFrom(3, 40) }]).ok).toBe(true);
    expect(hex(store.get(K(9))!)).toBe(hex(bytesFrom(3, 40)));
    expect(store.commit([{ key: K(2), value: null }]).ok).toBe(true);
    expect(store.get(K(2))).toBeUndefined();
    expect(store.list(RecordKind.KEY)).toEqual([K(9)]);
    // deleting what is absent is fine and writes nothing
    expect(store.commit([{ key: K(77), value: null }]).ok).toBe(true);
    expect(store.commit([]).ok).toBe(true);
  });

  it('in one transaction the last entry for a key wins', () => {
    const { store } = fresh();
    expect(
      store.commit([
        { key: C(1), value: new Uint8Array([1]) },
        { key: C(1), value: new Uint8Array([2]) },
      ]).ok,
    ).toBe(true);
    expect(store.get(C(1))).toEqual(new Uint8Array([2]));
    expect(
      store.commit([
        { key: C(1), value: new Uint8Array([3]) },
        { key: C(1), value: null },
      ]).ok,
    ).toBe(true);
    expect(store.get(C(1))).toBeUndefined();
  });

  it('everything survives a reboot', () => {
    const { flash, store } = fresh(1024, 4);
    for (let i = 0; i < 300; i++) {
      const r = store.commit([
        { key: C(i % 7), value: bytesFrom(i, i % 50) },
        { key: K(i % 3), value: bytesFrom(1000 + i, 32) },
      ]);
      expect(r.ok).toBe(true);
      if (i % 11 === 0) expect(store.commit([{ key: C((i + 3) % 7), value: null }]).ok).toBe(true);
    }
    const before = stateOf(store, KINDS);
    expect(before.size).toBeGreaterThan(5);
    expect(flash.erases).toBeGreaterThan(5); // compaction ran
    const again = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 1024 }));
    expect(stateOf(again, KINDS)).toEqual(before);
    expect(again.stats()).toEqual(store.stats());
  });

  it('stats count live record bytes, headers included', () => {
    const { store } = fresh();
    store.commit([
      { key: C(0), value: new Uint8Array(5) },
      { key: C(1), value: new Uint8Array(8) },
    ]);
    expect(store.stats().bytesUsed).toBe(24 + 8 + (24 + 8));
    store.commit([{ key: C(0), value: null }]);
    expect(store.stats().bytesUsed).toBe(24 + 8);
    expect(store.stats().bytesFree).toBe(3 * 480 - 32 - RESERVE_BYTES);
  });

  it('refuses bad keys and oversized values with INVALID_PARAMETER and changes nothing', () => {
    const { flash, store } = fresh(256, 4);
    store.commit([{ key: C(0), value: new Uint8Array([1]) }]);
    const snap = flash.snapshot();
    const cases: [number, Uint8Array | null][] = [
      [0xfffe0000, new Uint8Array(1)],
      [0xffffffff, null],
      [-1, new Uint8Array(1)],
      [2 ** 32, new Uint8Array(1)],
      [1.5, new Uint8Array(1)],
      [C(1), new Uint8Array(256 - 56 + 1)],
    ];
    for (const [key, value] of cases) {
      const r = store.commit([
        { key: C(2), value: new Uint8Array([9]) },
        { key, value },
      ]);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.status).toBe(Status.INVALID_PARAMETER);
        expect(msgOf(r)).toMatch(/record key|bytes one record can hold/);
      }
    }
    const bad = store.commit([{ key: C(2), value: 'text' as unknown as Uint8Array }]);
    expect(bad.ok || bad.status).toBe(Status.INVALID_PARAMETER);
    expect(store.canFit([{ key: C(1), length: 201 }])).toBe(false);
    expect(store.canFit([{ key: C(1), length: 200 }])).toBe(true);
    expect(flash.snapshot()).toEqual(snap);
    expect(store.get(C(2))).toBeUndefined();
    // the largest value fits
    expect(store.commit([{ key: C(1), value: new Uint8Array(200) }]).ok).toBe(true);
  });

  it('refuses a flash geometry the format cannot use', () => {
    expect(() => Store.open(new NorFlash({ pageSize: 512, pageCount: 1 }))).toThrow(/at least 2 pages/);
    expect(() => Store.open(new NorFlash({ pageSize: 64, pageCount: 4 }))).toThrow(/page must be/);
    expect(() => Store.open(new NorFlash({ pageSize: 512, pageCount: 4, wordSize: 8 }))).toThrow(/word/);
  });

  it('a flash it cannot recognise is erased and formatted', () => {
    const flash = new NorFlash({ pageSize: 256, pageCount: 3 });
    flash.restore(bytesFrom(5, 768));
    const store = Store.open(flash);
    expect(flash.eraseCounts).toEqual([1, 1, 1]);
    for (const k of KINDS) expect(store.list(k)).toEqual([]);
    expect(store.commit([{ key: K(1), value: bytesFrom(6, 32) }]).ok).toBe(true);
    expect(hex(Store.open(flash).get(K(1))!)).toBe(hex(bytesFrom(6, 32)));
  });

  it('a record whose flash decays after boot is dropped, not returned', () => {
    const { flash, store } = fresh(256, 3);
    store.commit([
      { key: C(0), value: new Uint8Array([1, 2, 3, 4]) },
      { key: C(1), value: new Uint8Array([5]) },
    ]);
    const at = flash.bytes.indexOf(1, 32 + 16);
    flash.flipBit(at, 3);
    expect(store.get(C(0))).toBeUndefined();
    expect(store.list(RecordKind.COUNTERS)).toEqual([C(1)]);
    expect(stateOf(Store.open(flash), KINDS)).toEqual(stateOf(store, KINDS));
  });
});

describe('on-flash format (docs/storage.md)', () => {
  it('a fresh page header: magic, version, page size, erases, CRC; then seq, tail, CRC', () => {
    const { flash } = fresh(256, 2);
    const h = flash.read(0, 0, 32);
    const w = (o: number) => Buffer.from(h).readUInt32LE(o);
    expect(hex(h.subarray(0, 4))).toBe('7448534d');
    expect([w(0), w(4), w(8), w(12)]).toEqual([PAGE_MAGIC, 1, 256, 0]);
    expect(w(16)).toBe(crc32(h, 0, 16));
    expect([w(20), w(24)]).toEqual([1, 1]);
    expect(w(28)).toBe(crc32(h, 0, 28));
  });

  it('a record: key, txn, length, flags, header CRC, value padded to 4, CRC, wipe word', () => {
    const { flash, store } = fresh(256, 2);
    store.commit([{ key: 0x00040002, value: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]) }]);
    const r = flash.read(0, 32, 36);
    const b = Buffer.from(r);
    expect(b.readUInt32LE(0)).toBe(0x00040002);
    expect(b.readUInt32LE(4)).toBe(1); // first transaction
    expect(b.readUInt16LE(8)).toBe(5);
    expect(r[10]).toBe(Flag.COMMIT);
    expect(r[11]).toBe(0);
    expect(b.readUInt32LE(12)).toBe(crc32(r, 0, 12));
    expect(hex(r.subarray(16, 24))).toBe('deadbeef01000000');
    expect(b.readUInt32LE(24)).toBe(crc32(r, 0, 24));
    expect(b.readUInt32LE(28)).toBe(0xffffffff);
    expect(hex(r.subarray(0, 28))).toBe(hex(encodeRecord(0x00040002, 1, Flag.COMMIT, new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01]))));
  });

  it('the example bytes in docs/storage.md are what the encoder writes', () => {
    const doc = readFileSync(new URL('../../docs/storage.md', import.meta.url), 'utf8');
    const m = /<!-- example-record -->\s*```\n([\s\S]*?)```/.exec(doc);
    expect(m).not.toBeNull();
    const docHex = m![1].replace(/#[^\n]*/g, '').replace(/\s+/g, '');
    const rec = encodeRecord(0x00100007, 42, Flag.COMMIT, new Uint8Array([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
    expect(docHex).toBe(hex(rec) + 'ffffffff');
    const page = new Uint8Array(256).fill(0xff);
    page.set(rec, 32);
    const seen: number[] = [];
    forEachRecord(page, 256, (r) => seen.push(r.key, r.txn, r.length, r.size, r.complete ? 1 : 0));
    expect(seen).toEqual([0x00100007, 42, 6, 32, 1]);
    const h = /<!-- example-page-header -->\s*```\n([\s\S]*?)```/.exec(doc);
    expect(h).not.toBeNull();
    expect(h![1].replace(/#[^\n]*/g, '').replace(/\s+/g, '')).toBe(hex(encodePageHeader(4096, 3, 17, 15)));
    const pg = new Uint8Array(4096).fill(0xff);
    pg.set(encodePageHeader(4096, 3, 17, 15));
    pg.set(rec, 32);
    expect(classifyPage(pg, 4096)).toEqual({ state: PageState.LOG, erases: 3, seq: 17, tail: 15 });
  });

  it('a multi-record transaction whose records are all secret ends with a commit marker', () => {
    const { flash, store } = fresh(512, 2);
    store.commit([
      { key: K(1), value: bytesFrom(1, 32) },
      { key: K(2), value: bytesFrom(2, 32) },
    ]);
    store.commit([
      { key: K(3), value: bytesFrom(3, 32) },
      { key: C(0), value: new Uint8Array(4) },
    ]);
    const recs: { key: number; flags: number; txn: number }[] = [];
    forEachRecord(flash.read(0, 0, 512), 512, (r) => recs.push({ key: r.key, flags: r.flags, txn: r.txn }));
    expect(recs).toEqual([
      { key: K(1), flags: 0, txn: 1 },
      { key: K(2), flags: 0, txn: 1 },
      { key: 0xfffe0000, flags: Flag.COMMIT, txn: 1 },
      // a non-secret record goes last and carries the COMMIT flag itself
      { key: K(3), flags: 0, txn: 2 },
      { key: C(0), flags: Flag.COMMIT, txn: 2 },
    ]);
  });
});

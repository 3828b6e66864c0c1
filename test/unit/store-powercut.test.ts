// Power cuts at every word write and during every erase of a transaction (with and without compaction): after reboot the state is exactly old or new, and no stale secret is left in flash (docs/storage.md §1, §6).
import { describe, it, expect } from 'vitest';
import { Store, RecordKind, recordKey, type Entry } from '../../firmware/core/store/index.ts';
import { NorFlash, bytesFrom, leftover, stateOf, sameState, applied, hex } from '../helpers/nor-flash.ts';
import { PowerCutError } from '../../sim/flash.ts';

const KINDS = Object.values(RecordKind);
const K = (i: number) => recordKey(RecordKind.KEY, i);
const C = (i: number) => recordKey(RecordKind.COUNTERS, i);
const SETTINGS = recordKey(RecordKind.SETTINGS, 0);
const DEVICE_ID = recordKey(RecordKind.DEVICE_ID, 0);
const IDENTITY = recordKey(RecordKind.IDENTITY, 0);

interface Scenario {
  ps: number;
  /** A flash image whose open writes nothing (a store that booted cleanly). */
  base: Uint8Array;
  txn: Entry[];
  before: Map<number, string>;
  after: Map<number, string>;
  /** Secret values that must be gone from flash once the new state is reached. */
  goneIfNew: Uint8Array[];
  /** Secret values that must be gone from flash if the old state is kept. */
  goneIfOld: Uint8Array[];
}

function settle(f: NorFlash, ps: number): Uint8Array {
  Store.open(f);
  const img = f.snapshot();
  const g = NorFlash.fromBytes(img, { pageSize: ps });
  Store.open(g);
  expect(g.wordWrites + g.erases, 'a clean image boots without writing').toBe(0);
  return img;
}

/** Several records of every kind, then a transaction that adds, overwrites and deletes secrets and plain records. */
function plainScenario(): Scenario {
  const ps = 1024;
  const f = new NorFlash({ pageSize: ps, pageCount: 4 });
  const s = Store.open(f);
  expect(
    s.commit([
      { key: DEVICE_ID, value: bytesFrom(1, 16) },
      { key: IDENTITY, value: bytesFrom(2, 32) },
    ]).ok,
  ).toBe(true);
  for (let i = 1; i <= 4; i++)
    expect(
      s.commit([
        { key: K(i), value: bytesFrom(10 + i, 48) },
        { key: C(0), value: new Uint8Array([i]) },
      ]).ok,
    ).toBe(true);
  expect(s.commit([{ key: SETTINGS, value: new Uint8Array([0xa1, 1, 2]) }]).ok).toBe(true);
  const before = stateOf(s, KINDS);
  const txn: Entry[] = [
    { key: K(3), value: bytesFrom(99, 48) }, // overwrite a secret
    { key: K(7), value: bytesFrom(98, 64) }, // a new secret
    { key: K(2), value: null }, // delete a secret
    { key: C(0), value: new Uint8Array([5]) },
    { key: SETTINGS, value: null },
    { key: C(1), value: bytesFrom(97, 20) },
  ];
  return {
    ps,
    base: settle(f, ps),
    txn,
    before,
    after: applied(before, txn),
    goneIfNew: [bytesFrom(13, 48), bytesFrom(12, 48)],
    goneIfOld: [bytesFrom(99, 48), bytesFrom(98, 64)],
  };
}

/**
 * A store on 3 small pages kept busy until one page is the spare, the head is nearly full and the older page
 * is mostly superseded records: the next transaction must compact (copy, open, erase) before it can write.
 */
function compactionScenario(): Scenario {
  const ps = 512;
  const f = new NorFlash({ pageSize: ps, pageCount: 3 });
  const s = Store.open(f);
  expect(
    s.commit([
      { key: IDENTITY, value: bytesFrom(2, 32) },
      { key: K(1), value: bytesFrom(11, 40) },
    ]).ok,
  ).toBe(true);
  let i = 0;
  const headRoom = () => (s as unknown as { wp: number }).wp;
  // Overwrite until the second page is nearly full (F = 1, little head room).
  while (!((s as unknown as { log: number[] }).log.length === 2 && headRoom() > ps - 90)) {
    expect(
      s.commit([
        { key: C(i % 3), value: bytesFrom(500 + i, 30) },
        { key: K(2), value: bytesFrom(600 + i, 32) },
      ]).ok,
    ).toBe(true);
    i++;
    expect(i).toBeLessThan(500);
  }
  const oldK2 = s.get(K(2))!;
  const before = stateOf(s, KINDS);
  const txn: Entry[] = [
    { key: K(2), value: bytesFrom(700, 32) },
    { key: K(5), value: bytesFrom(701, 40) },
    { key: C(0), value: bytesFrom(702, 30) },
  ];
  return { ps, base: settle(f, ps), txn, before, after: applied(before, txn), goneIfNew: [oldK2], goneIfOld: [bytesFrom(700, 32), bytesFrom(701, 40)] };
}

/** Run the transaction on a copy of the base image with a cut armed; returns the flash, powered on again. */
function attempt(sc: Scenario, arm: (f: NorFlash) => void, seed = 3): { flash: NorFlash; cut: boolean } {
  const flash = NorFlash.fromBytes(sc.base, { pageSize: sc.ps, seed });
  const store = Store.open(flash);
  arm(flash);
  let cut = false;
  try {
    const r = store.commit(sc.txn);
    expect(r.ok).toBe(true);
  } catch (e) {
    expect(e).toBeInstanceOf(PowerCutError); // never a NOR rule violation
    cut = true;
  }
  flash.powerOn();
  return { flash, cut };
}

/** Reboot on the flash and check: old or new exactly, no stale secret; returns which. */
function check(sc: Scenario, flash: NorFlash, what: string): 'old' | 'new' {
  const store = Store.open(flash);
  const state = stateOf(store, KINDS);
  const isOld = sameState(state, sc.before);
  const isNew = sameState(state, sc.after);
  expect(isOld || isNew, what + ': state is neither old nor new: ' + JSON.stringify([...state])).toBe(true);
  const bytes = flash.snapshot();
  for (const secret of isNew ? sc.goneIfNew : sc.goneIfOld)
    expect(leftover(bytes, secret), what + ': stale secret ' + hex(secret).slice(0, 16) + '… in flash').toBe(-1);
  // And the store still works: a further commit survives another reboot.
  expect(store.commit([{ key: C(9), value: new Uint8Array([9, 9]) }]).ok).toBe(true);
  expect(Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: sc.ps })).get(C(9))).toEqual(new Uint8Array([9, 9]));
  return isNew ? 'new' : 'old';
}

function measure(sc: Scenario): { words: number; erases: number } {
  const f = NorFlash.fromBytes(sc.base, { pageSize: sc.ps });
  const s = Store.open(f);
  expect(s.commit(sc.txn).ok).toBe(true);
  return { words: f.wordWrites, erases: f.erases };
}

function sweepWords(sc: Scenario): { words: number; flipAt: number } {
  const { words } = measure(sc);
  const seen: string[] = [];
  for (let n = 1; n <= words; n++) {
    const { flash, cut } = attempt(sc, (f) => f.cutAfterWords(n), n);
    expect(cut).toBe(true);
    seen.push(check(sc, flash, 'cut at word ' + n + ' of ' + words));
  }
  // Past the last word nothing is cut and the new state is there.
  const { flash, cut } = attempt(sc, (f) => f.cutAfterWords(words + 1));
  expect(cut).toBe(false);
  expect(check(sc, flash, 'no cut')).toBe('new');
  // Old, old, …, then new from one word on: the commit point is a single word.
  const flipAt = seen.indexOf('new');
  expect(flipAt).toBeGreaterThan(0);
  expect(seen.slice(flipAt).every((x) => x === 'new')).toBe(true);
  expect(seen.slice(0, flipAt).every((x) => x === 'old')).toBe(true);
  return { words, flipAt: flipAt + 1 };
}

describe('power cut at every word of a transaction', () => {
  it('a six-record transaction (adds, overwrites, deletes, secrets and plain) is all or nothing', () => {
    const sc = plainScenario();
    const { words, flipAt } = sweepWords(sc);
    expect(words).toBeGreaterThan(60);
    // the words after the commit point wipe the superseded secrets
    expect(words - flipAt).toBeGreaterThan(2 * 12);
  });

  it('a transaction that must compact first is all or nothing, whichever word of the compaction is cut', () => {
    const sc = compactionScenario();
    const { erases } = measure(sc);
    expect(erases, 'the scenario compacts').toBeGreaterThan(0);
    sweepWords(sc);
  });
});

describe('power cut during an erase', () => {
  for (const fraction of [0.001, 0.2, 0.5, 0.8, 0.999, -1]) {
    it(
      'an erase interrupted with ' + (fraction < 0 ? 'a random share' : fraction * 100 + '%') + ' of its bits set leaves old or new, and boot finishes it',
      () => {
        const sc = compactionScenario();
        const { erases } = measure(sc);
        for (let k = 1; k <= erases; k++) {
          for (const seed of [1, 2, 3]) {
            const { flash, cut } = attempt(sc, (f) => f.cutDuringErase(k, fraction), seed);
            expect(cut).toBe(true);
            check(sc, flash, 'erase ' + k + ' cut');
          }
        }
      },
    );
  }
});

describe('a second power cut while booting from the first', () => {
  for (const which of ['plain', 'compaction'] as const) {
    it('recovery (' + which + ') cut at any word or erase ends where an uncut recovery would', () => {
      const sc = which === 'plain' ? plainScenario() : compactionScenario();
      const { words } = measure(sc);
      let recoveries = 0;
      for (let n = 1; n <= words; n += 3) {
        const first = attempt(sc, (f) => f.cutAfterWords(n), n).flash.snapshot();
        // Where an uninterrupted reboot lands, and how many words and erases its recovery takes.
        const clean = NorFlash.fromBytes(first, { pageSize: sc.ps });
        const expected = stateOf(Store.open(clean), KINDS);
        if (clean.wordWrites + clean.erases > 0) recoveries++;
        for (let m = 1; m <= clean.wordWrites; m++) {
          const f = NorFlash.fromBytes(first, { pageSize: sc.ps, seed: m });
          f.cutAfterWords(m);
          expect(() => Store.open(f)).toThrow(PowerCutError);
          f.powerOn();
          expect(sameState(stateOf(Store.open(f), KINDS), expected), 'cut at word ' + n + ', then recovery word ' + m).toBe(true);
        }
        for (let m = 1; m <= clean.erases; m++) {
          const f = NorFlash.fromBytes(first, { pageSize: sc.ps, seed: m });
          f.cutDuringErase(m);
          expect(() => Store.open(f)).toThrow(PowerCutError);
          f.powerOn();
          expect(sameState(stateOf(Store.open(f), KINDS), expected), 'cut at word ' + n + ', then recovery erase ' + m).toBe(true);
        }
      }
      expect(recoveries, 'some first cuts leave work for the boot').toBeGreaterThan(3);
    });
  }
});

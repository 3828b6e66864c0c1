// Property test: the store behaves as a plain Map over random operation sequences with random power cuts (during commits and during boot recovery), and leaves no stale secret in flash.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Store, RecordKind, recordKey, isSecretKind, kindOf, type Entry } from '../../firmware/core/store/index.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { NorFlash, bytesFrom, leftover, stateOf, sameState, applied, hex, indexOfBytes } from '../helpers/nor-flash.ts';
import { PowerCutError } from '../../sim/flash.ts';

const KINDS = Object.values(RecordKind);
const KEYS = [
  recordKey(RecordKind.DEVICE_ID, 0),
  recordKey(RecordKind.IDENTITY, 0),
  recordKey(RecordKind.SETTINGS, 0),
  recordKey(RecordKind.COUNTERS, 0),
  recordKey(RecordKind.COUNTERS, 1),
  recordKey(RecordKind.KEY, 1),
  recordKey(RecordKind.KEY, 2),
  recordKey(RecordKind.KEY, 3),
  recordKey(RecordKind.KEY, 0x1234),
  recordKey(RecordKind.KEY, 0xffff),
];

type Change = { key: number; len: number }; // len < 0: delete
type Op = { t: 'commit'; changes: Change[] } | { t: 'reboot' } | { t: 'cut'; changes: Change[]; at: number; erase: boolean; bootCut: number };

const change = fc.record({
  key: fc.integer({ min: 0, max: KEYS.length - 1 }).map((i) => KEYS[i]),
  len: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 60 })),
});
const changes = fc.array(change, { minLength: 1, maxLength: 4 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: changes.map((c) => ({ t: 'commit' as const, changes: c })) },
  { weight: 1, arbitrary: fc.constant({ t: 'reboot' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('cut' as const),
      changes,
      at: fc.integer({ min: 1, max: 100 }),
      erase: fc.boolean(),
      bootCut: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 12 })),
    }),
  },
);
const geometry = fc.constantFrom({ ps: 256, pages: 5 }, { ps: 256, pages: 3 }, { ps: 512, pages: 2 }, { ps: 512, pages: 4 });

/** What the runs exercised, so the test can show it is not vacuous. */
const seen = { cuts: 0, eraseCuts: 0, bootCuts: 0, oldKept: 0, newKept: 0, full: 0, erases: 0 };

function run(geo: { ps: number; pages: number }, ops: Op[], seed: number): void {
  const flash = new NorFlash({ pageSize: geo.ps, pageCount: geo.pages, seed });
  let store = Store.open(flash);
  let model = new Map<number, string>();
  let counter = 1;
  const secrets: Uint8Array[] = [];
  const entriesOf = (cs: Change[]): Entry[] =>
    cs.map((c) => {
      if (c.len < 0) return { key: c.key, value: null };
      // secrets are long enough to search for; every value is distinct
      const v = bytesFrom(seed * 100000 + counter++, isSecretKind(kindOf(c.key)) ? 16 + c.len : c.len);
      if (isSecretKind(kindOf(c.key))) secrets.push(v);
      return { key: c.key, value: v };
    });
  /** Boot (maybe cut during recovery, then boot again) and return the store. */
  const boot = (bootCut: number): Store => {
    if (bootCut > 0) {
      flash.cutAfterWords(bootCut);
      try {
        const s = Store.open(flash);
        flash.cancelCut();
        return s;
      } catch (e) {
        expect(e).toBeInstanceOf(PowerCutError);
        seen.bootCuts++;
        flash.powerOn();
      }
    }
    return Store.open(flash);
  };
  const noStaleSecret = (what: string) => {
    const live = new Set(model.values());
    const bytes = flash.snapshot();
    for (const s of secrets)
      if (!live.has(hex(s))) expect(leftover(bytes, s), what + ': stale secret in flash').toBe(-1);
      else {
        // a live secret is in exactly one record: no copy left behind by compaction
        const at = indexOfBytes(bytes, s);
        expect(at, what + ': live secret missing').toBeGreaterThanOrEqual(0);
        expect(indexOfBytes(bytes.subarray(at + 1), s), what + ': live secret stored twice').toBe(-1);
      }
  };

  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    const what = 'op ' + i + ' ' + o.t;
    if (o.t === 'reboot') {
      store = Store.open(flash);
      expect(sameState(stateOf(store, KINDS), model), what).toBe(true);
      noStaleSecret(what);
      continue;
    }
    const entries = entriesOf(o.changes);
    const next = applied(model, entries);
    if (o.t === 'cut') {
      if (o.erase) flash.cutDuringErase(1 + (o.at % 3));
      else flash.cutAfterWords(o.at);
    }
    let cut = false;
    try {
      const r = store.commit(entries);
      if (r.ok) model = next;
      else {
        expect(r.status, what).toBe(Status.STORAGE_FULL);
        seen.full++;
      }
    } catch (e) {
      expect(e, what).toBeInstanceOf(PowerCutError);
      cut = true;
      seen.cuts++;
      if (o.t === 'cut' && o.erase) seen.eraseCuts++;
    }
    flash.cancelCut();
    if (cut) {
      flash.powerOn();
      store = boot(o.t === 'cut' ? o.bootCut : 0);
      const st = stateOf(store, KINDS);
      const isOld = sameState(st, model);
      const isNew = sameState(st, next);
      expect(isOld || isNew, what + ': neither old nor new').toBe(true);
      if (isNew) model = next;
      if (isNew && !isOld) seen.newKept++;
      if (isOld && !isNew) seen.oldKept++;
      noStaleSecret(what + ' after the cut');
    } else {
      expect(sameState(stateOf(store, KINDS), model), what).toBe(true);
      noStaleSecret(what);
    }
  }
  store = Store.open(flash);
  expect(sameState(stateOf(store, KINDS), model)).toBe(true);
  noStaleSecret('at the end');
  // what the store reports about itself agrees with what it holds
  let used = 0;
  for (const v of model.values()) used += 24 + Math.ceil(v.length / 2 / 4) * 4;
  expect(store.stats().bytesUsed).toBe(used);
  seen.erases += flash.erases;
}

describe('the store against a Map model', () => {
  it('random commits, reboots and power cuts (also during boot) never leave a state the model cannot explain', () => {
    fc.assert(
      fc.property(geometry, fc.array(op, { minLength: 5, maxLength: 40, size: 'medium' }), fc.integer({ min: 1, max: 1 << 20 }), (geo, ops, seed) =>
        run(geo, ops, seed),
      ),
      { numRuns: 400 },
    );
    expect(seen.cuts).toBeGreaterThan(300);
    expect(seen.eraseCuts).toBeGreaterThan(30);
    expect(seen.bootCuts).toBeGreaterThan(30);
    expect(seen.oldKept).toBeGreaterThan(100);
    expect(seen.newKept).toBeGreaterThan(30);
    expect(seen.full).toBeGreaterThan(30);
    expect(seen.erases).toBeGreaterThan(1000);
  });
});

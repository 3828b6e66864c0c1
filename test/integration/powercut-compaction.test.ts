// Power cut during a compaction that a key command triggers (word writes of the copy, the new page header, the re-format, and the erase), and during a delete on a full flash (docs/storage.md §1, §8).
//
// The flash is small (4 pages of 1 KiB) and churned with generate/delete pairs until the next KEY_GENERATE has
// to compact the oldest page into the spare one; then the usual sweep runs (sweepCommand), plus cuts during
// each erase that leave none, half or all of the page's bits set.
import { describe, it, expect } from 'vitest';
import { Alg, Command, Status } from '../../firmware/protocol/codes.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { startTestDevice, sweepCommand, sweepStride, type TestDevice } from '../helpers/loopback.ts';

const PAGE = 1024;
const PAGES = 4;
const SEED = 'powercut compaction';

/** Would running `cmd` on this image erase a page (compact)? Tried on a copy. */
function compacts(image: Uint8Array, cmd: (t: TestDevice) => number): boolean {
  const f = NorFlash.fromBytes(image, { pageSize: PAGE });
  const t = startTestDevice({ flash: f, seed: SEED });
  const e = f.erases;
  expect(cmd(t)).toBe(0);
  return f.erases > e;
}

/**
 * Churn a device (generate, delete, with labels of varying length so records land at every alignment) until
 * `would` says the next command compacts; returns that flash image.
 */
function imageBefore(would: (image: Uint8Array) => boolean): Uint8Array {
  const flash = new NorFlash({ pageSize: PAGE, pageCount: PAGES });
  const t = startTestDevice({ flash, seed: SEED + ' setup' });
  for (const alg of [Alg.ED25519, Alg.ECDSA_P256, Alg.X25519]) expect(t.call(Command.KEY_GENERATE, { 1: alg, 2: 'kept ' + alg }).status).toBe(0);
  for (let i = 0; i < 200; i++) {
    if (would(flash.snapshot())) return flash.snapshot();
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_SECP256K1, 2: 'churn ' + 'x'.repeat(i % 25) });
    expect(g.status).toBe(0);
    if (would(flash.snapshot())) return flash.snapshot();
    expect(t.call(Command.KEY_DELETE, { 1: g.map.get(1) }).status).toBe(0);
  }
  throw new Error('no compaction after 200 rounds of churn');
}

describe('power cut during a compaction', () => {
  it('KEY_GENERATE that compacts: cut at word writes and during the erase; old or new key set, keys work, ids not reused', () => {
    const params = { 1: Alg.ECDSA_P256, 2: 'made during compaction' };
    const image = imageBefore((img) => compacts(img, (t) => t.call(Command.KEY_GENERATE, params).status));
    const stride = sweepStride(7);
    const r = sweepCommand({ image, pageSize: PAGE, seed: SEED, command: Command.KEY_GENERATE, params, stride, eraseCuts: [0, 0.5, 1] });
    expect(r.problems).toEqual([]);
    expect(r.erases).toBeGreaterThan(0);
    // a compaction copies a page's live records: far more words than the key record itself
    expect(r.words).toBeGreaterThan(60);
    expect(r.before).toBeGreaterThan(0);
  });

  /** A device whose flash is full (KEY_GENERATE says STORAGE_FULL) while slots are free; its image. */
  function fullImage(): Uint8Array {
    const flash = new NorFlash({ pageSize: PAGE, pageCount: PAGES });
    const t = startTestDevice({ flash, seed: SEED + ' full' });
    let full = false;
    for (let i = 0; i < 16 && !full; i++) {
      const r = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 2: 'f'.repeat(32) });
      if (r.status === Status.STORAGE_FULL) full = true;
      else expect(r.status).toBe(0);
    }
    expect(full).toBe(true);
    expect(t.call(Command.INFO).map.get(8)).toBeGreaterThan(0); // the flash, not the slots, ran out
    return flash.snapshot();
  }

  it('KEY_DELETE on a full flash: cut at every 3rd word and during any erase; the deletion stands or not, the device goes on', () => {
    // The store keeps a reserve so that a delete always fits on a full flash (docs/storage.md §8).
    const stride = sweepStride(3);
    const r = sweepCommand({ image: fullImage(), pageSize: PAGE, seed: SEED, command: Command.KEY_DELETE, params: { 1: 1 }, stride, eraseCuts: [0, 0.5, 1] });
    expect(r.problems).toEqual([]);
    expect(r.before).toBeGreaterThan(0);
    expect(r.after).toBeGreaterThan(0);
  });

  it('on a full flash, deleting a P-256 key makes room for an ed25519 key (docs/storage.md §8: a full device recovers by deleting)', () => {
    const t = startTestDevice({ flash: NorFlash.fromBytes(fullImage(), { pageSize: PAGE }), seed: SEED + ' refill' });
    expect(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'small' }).status).toBe(Status.STORAGE_FULL);
    const info = t.call(Command.INFO);
    expect(t.call(Command.KEY_DELETE, { 1: 1 }).status).toBe(0);
    const freed = (t.call(Command.INFO).map.get(14) as number) - (info.map.get(14) as number);
    // the P-256 record freed more than the ed25519 record and the id counter need
    expect(freed).toBeGreaterThan(150);
    const r = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'small' });
    expect(r.statusName + ' ' + (r.message || '')).toBe('OK ');
  });
});

// The tests' NOR flash (the simulator's, through test/helpers/nor-flash.ts): it enforces NOR rules, counts wear, and cuts power the way the store tests rely on (torn word, half-done erase, dark afterwards).
import { describe, it, expect } from 'vitest';
import { NorFlash, indexOfBytes, leftover, bytesFrom } from '../helpers/nor-flash.ts';
import { FlashBugError, PowerCutError } from '../../sim/flash.ts';

const w = (...b: number[]) => new Uint8Array(b);

describe('NorFlash', () => {
  it('starts erased and reads back what was programmed', () => {
    const f = new NorFlash({ pageSize: 64, pageCount: 2 });
    expect(f.read(1, 0, 64).every((b) => b === 0xff)).toBe(true);
    f.write(1, 8, w(1, 2, 3, 4, 0xf0, 0x0f, 0, 0xff));
    expect(f.read(1, 8, 8)).toEqual(w(1, 2, 3, 4, 0xf0, 0x0f, 0, 0xff));
    expect(f.wordWrites).toBe(2);
    // clearing more bits of a programmed word is allowed (this is how the store wipes)
    f.write(1, 8, w(0, 0, 0, 0));
    expect(f.read(1, 8, 4)).toEqual(w(0, 0, 0, 0));
  });

  it('refuses 0→1, misaligned and out-of-range access, before changing anything', () => {
    const f = new NorFlash({ pageSize: 64, pageCount: 2 });
    f.write(0, 0, w(0x0f, 0xff, 0xff, 0xff));
    expect(() => f.write(0, 0, w(0x1f, 0xff, 0xff, 0xff))).toThrow(FlashBugError);
    expect(() => f.write(0, 2, w(0, 0, 0, 0))).toThrow(/not whole aligned/);
    expect(() => f.write(0, 0, w(0, 0))).toThrow(/not whole aligned/);
    expect(() => f.write(2, 0, w(0, 0, 0, 0))).toThrow(/page 2/);
    expect(() => f.write(0, 64, w(0, 0, 0, 0))).toThrow(FlashBugError);
    expect(() => f.read(0, 60, 8)).toThrow(FlashBugError);
    expect(() => f.erase(-1)).toThrow(FlashBugError);
    // a write whose second word would set a bit changes neither word, and counts no word write
    f.write(0, 8, w(0xff, 0xff, 0xff, 0xfe));
    const snap = f.snapshot();
    const words = f.wordWrites;
    expect(() => f.write(0, 4, w(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff))).toThrow(/would set bits/);
    expect(f.snapshot()).toEqual(snap);
    expect(f.wordWrites).toBe(words);
  });

  it('counts erases per page and word writes', () => {
    const f = new NorFlash({ pageSize: 64, pageCount: 3 });
    f.erase(1);
    f.erase(1);
    f.erase(2);
    expect(f.eraseCounts).toEqual([0, 2, 1]);
    expect(f.erases).toBe(3);
    f.write(0, 0, new Uint8Array(16));
    expect(f.wordWrites).toBe(4);
  });

  it('cutAfterWords(n): earlier words land, the n-th lands torn, then everything throws PowerCutError until powerOn', () => {
    let tornPartly = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const f = new NorFlash({ pageSize: 64, pageCount: 2, seed });
      f.write(0, 0, new Uint8Array(4)); // not counted towards the cut
      f.cutAfterWords(3);
      expect(() => f.write(0, 4, new Uint8Array(16))).toThrow(PowerCutError);
      expect(f.isCut).toBe(true);
      expect(f.read(0, 4, 8)).toEqual(new Uint8Array(8)); // words 1 and 2 landed
      const torn = f.read(0, 12, 4);
      expect(f.read(0, 16, 4)).toEqual(w(0xff, 0xff, 0xff, 0xff)); // word 4 never happened
      if (torn.some((b) => b !== 0 && b !== 0xff)) tornPartly++;
      expect(() => f.write(1, 0, new Uint8Array(4))).toThrow(PowerCutError);
      expect(() => f.erase(1)).toThrow(PowerCutError);
      f.powerOn();
      expect(f.isCut).toBe(false);
      f.write(1, 0, new Uint8Array(4));
      expect(f.read(0, 12, 4)).toEqual(torn); // the torn word stays as the cut left it
    }
    expect(tornPartly).toBeGreaterThan(40); // a torn word usually has some, not all, of its bits
  });

  it('cutDuringErase: the page is left partly erased (only 0→1 changes), then dark', () => {
    const f = new NorFlash({ pageSize: 256, pageCount: 2, seed: 9 });
    f.write(0, 0, new Uint8Array(256));
    f.cutDuringErase(1, 0.5);
    expect(() => f.erase(0)).toThrow(PowerCutError);
    const b = f.read(0, 0, 256);
    let ones = 0;
    for (const x of b) for (let i = 0; i < 8; i++) ones += (x >> i) & 1;
    expect(ones).toBeGreaterThan(256 * 8 * 0.4);
    expect(ones).toBeLessThan(256 * 8 * 0.6);
    expect(() => f.write(1, 0, new Uint8Array(4))).toThrow(PowerCutError);
    f.powerOn();
    f.erase(0);
    expect(f.read(0, 0, 256).every((x) => x === 0xff)).toBe(true);
    expect(f.eraseCounts[0]).toBe(2);
  });

  it('cutDuringErase(n) waits for the n-th erase; cancelCut disarms', () => {
    const f = new NorFlash({ pageSize: 64, pageCount: 2 });
    f.cutDuringErase(2);
    f.erase(0);
    expect(() => f.erase(1)).toThrow(PowerCutError);
    f.powerOn();
    f.cutAfterWords(1);
    f.cancelCut();
    f.write(0, 0, new Uint8Array(4));
    expect(f.isCut).toBe(false);
  });

  it('snapshot, restore and fromBytes copy the bytes', () => {
    const f = new NorFlash({ pageSize: 64, pageCount: 2 });
    f.write(0, 0, w(1, 2, 3, 4));
    const snap = f.snapshot();
    const g = NorFlash.fromBytes(snap, { pageSize: 64 });
    expect(g.pageCount).toBe(2);
    expect(g.read(0, 0, 4)).toEqual(w(1, 2, 3, 4));
    f.erase(0);
    expect(g.read(0, 0, 4)).toEqual(w(1, 2, 3, 4));
    f.restore(snap);
    expect(f.read(0, 0, 4)).toEqual(w(1, 2, 3, 4));
    expect(() => NorFlash.fromBytes(new Uint8Array(100), { pageSize: 64 })).toThrow(/whole/);
  });

  it('finds byte strings, and leftover finds any 8-byte piece of a secret', () => {
    const hay = new Uint8Array(300);
    const s = bytesFrom(4, 32);
    hay.set(s.subarray(10, 18), 200);
    expect(indexOfBytes(hay, s)).toBe(-1);
    expect(leftover(hay, s)).toBe(200);
    hay.fill(0, 200, 208);
    expect(leftover(hay, s)).toBe(-1);
  });
});

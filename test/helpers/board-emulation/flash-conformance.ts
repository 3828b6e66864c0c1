// Random legal Flash HAL operations, and a fast-check property that a board adapter behaves exactly like the simulator's NOR flash (sim/flash.ts) under them.
import fc from 'fast-check';
import type { Flash } from '../../../firmware/hal/index.ts';
import { SimFlash } from '../../../sim/flash.ts';

export type FlashOp = { kind: 'write'; page: number; word: number; words: number; bits: number[] } | { kind: 'erase'; page: number };

/** Random legal operations for a flash of `pages` pages of `pageSize` bytes (4-byte words). */
export function flashOps(pages: number, pageSize: number, maxOps = 40): fc.Arbitrary<FlashOp[]> {
  const words = pageSize / 4;
  const write = fc.record({
    kind: fc.constant('write' as const),
    page: fc.integer({ min: 0, max: pages - 1 }),
    word: fc.integer({ min: 0, max: words - 1 }),
    words: fc.integer({ min: 1, max: 80 }),
    // which bits of the current contents to clear: each byte ANDed with one of these
    bits: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }),
  });
  const erase = fc.record({ kind: fc.constant('erase' as const), page: fc.integer({ min: 0, max: pages - 1 }) });
  return fc.array(fc.oneof({ weight: 5, arbitrary: write }, { weight: 1, arbitrary: erase }), { maxLength: maxOps });
}

/**
 * Apply `ops` to the adapter and to a memory SimFlash holding the adapter's contents, as the store would (each
 * write only clears bits of what is there, whole aligned words, within a page), and require the adapter's whole
 * contents to equal the model's after every operation.
 */
export function runAgainstModel(flash: Flash, ops: FlashOp[]): void {
  const { pageSize, pageCount } = flash;
  const image = new Uint8Array(pageSize * pageCount);
  for (let p = 0; p < pageCount; p++) image.set(flash.read(p, 0, pageSize), p * pageSize);
  const model = SimFlash.memory({ pageSize, wordSize: flash.wordSize, image });
  for (const op of ops) {
    if (op.kind === 'erase') {
      flash.erase(op.page);
      model.erase(op.page);
    } else {
      const offset = op.word * 4;
      const len = Math.min(op.words * 4, pageSize - offset);
      const data = model.read(op.page, offset, len);
      for (let i = 0; i < len; i++) data[i] &= op.bits[i % op.bits.length];
      flash.write(op.page, offset, data);
      model.write(op.page, offset, data);
    }
    const page = op.page;
    const got = flash.read(page, 0, pageSize);
    const want = model.read(page, 0, pageSize);
    for (let i = 0; i < pageSize; i++) {
      if (got[i] !== want[i]) throw new Error(`after ${JSON.stringify(op).slice(0, 120)}: page ${page} byte ${i} is ${got[i]}, the model says ${want[i]}`);
    }
  }
  for (let p = 0; p < pageCount; p++) {
    const got = flash.read(p, 0, pageSize);
    const want = model.read(p, 0, pageSize);
    for (let i = 0; i < pageSize; i++) if (got[i] !== want[i]) throw new Error(`at the end: page ${p} byte ${i} differs from the model`);
  }
}

// The device's RAM flash (firmware/core/ram_flash.ts) keeps the NOR rules of the simulator's flash (sim/flash.ts): same bytes after any legal operations, and a refusal, with nothing changed, wherever the simulator's flash refuses (docs/storage.md §2).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { RamFlash, RAM_FLASH_PAGES, RAM_FLASH_PAGE_SIZE } from '../../firmware/core/ram_flash.ts';
import { SimFlash } from '../../sim/flash.ts';
import { flashOps, runAgainstModel } from '../helpers/board-emulation/flash-conformance.ts';

type Call =
  | { kind: 'write'; page: number; offset: number; bytes: number[] }
  | { kind: 'erase'; page: number }
  | { kind: 'read'; page: number; offset: number; length: number };

/** Calls that a firmware bug could make: writes that set bits, misaligned or partial words, pages and offsets out of range. */
function anyCalls(pages: number, pageSize: number): fc.Arbitrary<Call[]> {
  const page = fc.integer({ min: -1, max: pages });
  const offset = fc.oneof(
    fc.integer({ min: 0, max: pageSize / 4 }).map((w) => w * 4),
    fc.integer({ min: -2, max: pageSize + 2 }),
  );
  const write = fc.record({ kind: fc.constant('write' as const), page, offset, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }) });
  const erase = fc.record({ kind: fc.constant('erase' as const), page });
  const read = fc.record({ kind: fc.constant('read' as const), page, offset, length: fc.integer({ min: -1, max: 12 }) });
  return fc.array(fc.oneof({ weight: 6, arbitrary: write }, { weight: 1, arbitrary: erase }, { weight: 2, arbitrary: read }), { maxLength: 60 });
}

function run(
  f: { read: (p: number, o: number, l: number) => Uint8Array; write: (p: number, o: number, d: Uint8Array) => void; erase: (p: number) => void },
  c: Call,
): string {
  try {
    if (c.kind === 'write') f.write(c.page, c.offset, new Uint8Array(c.bytes));
    else if (c.kind === 'erase') f.erase(c.page);
    else return Buffer.from(f.read(c.page, c.offset, c.length)).toString('hex');
    return 'ok';
  } catch {
    return 'refused';
  }
}

const everything = (f: { read: (p: number, o: number, l: number) => Uint8Array; pageSize: number; pageCount: number }) => {
  const out: string[] = [];
  for (let p = 0; p < f.pageCount; p++) out.push(Buffer.from(f.read(p, 0, f.pageSize)).toString('hex'));
  return out.join('');
};

describe('RamFlash', () => {
  it('starts erased, with the geometry a device without a flash HAL uses', () => {
    const f = new RamFlash();
    expect([f.pageSize, f.pageCount, f.wordSize]).toEqual([RAM_FLASH_PAGE_SIZE, RAM_FLASH_PAGES, 4]);
    expect(everything(f)).toBe(everything(SimFlash.memory({ pageSize: RAM_FLASH_PAGE_SIZE, pages: RAM_FLASH_PAGES })));
  });

  it("behaves exactly like the simulator's flash over random legal writes and erases (fast-check)", () => {
    fc.assert(
      fc.property(flashOps(3, 256), (ops) => {
        runAgainstModel(new RamFlash(256, 3), ops);
      }),
      { numRuns: 100 },
    );
  });

  it("refuses, changing nothing, exactly the calls the simulator's flash refuses (fast-check)", () => {
    fc.assert(
      fc.property(anyCalls(3, 64), (calls) => {
        const ram = new RamFlash(64, 3);
        const sim = SimFlash.memory({ pageSize: 64, pages: 3 });
        for (const c of calls) {
          expect(run(ram, c), JSON.stringify(c)).toBe(run(sim, c));
          expect(everything(ram)).toBe(everything(sim));
        }
      }),
      { numRuns: 200 },
    );
  });
});

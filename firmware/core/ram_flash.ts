// A Flash in RAM with NOR rules, for platforms without a flash HAL: the store runs unchanged, everything is lost at power-off.
//
// Why NOR rules here too (docs/storage.md §2): the store must behave the same on every target, so a
// write that would set a bit (0→1), a misaligned write or an out-of-range access is a firmware bug and
// throws, exactly as the simulator's flash does (the board adapters check the same rules: core/nor_rules.ts).
// INFO reports flashVolatile: true on such a device.
import type { Flash } from '../hal/index.ts';
import { checkFlashCall, checkNorWrite } from './nor_rules.ts';

/** Default geometry when the platform gives no flash: 4 pages of 2 KiB (8 KiB of heap). */
export const RAM_FLASH_PAGE_SIZE = 2048;
export const RAM_FLASH_PAGES = 4;
const WORD = 4;

export class RamFlash implements Flash {
  readonly wordSize = WORD;
  private readonly mem: Uint8Array;

  constructor(
    readonly pageSize: number = RAM_FLASH_PAGE_SIZE,
    readonly pageCount: number = RAM_FLASH_PAGES,
  ) {
    // the geometry is checked once, where it is used: Store.open refuses one the format cannot hold (store/store.ts)
    this.mem = new Uint8Array(pageSize * pageCount);
    this.mem.fill(0xff); // a fresh NOR part reads as erased
  }

  read(page: number, offset: number, length: number): Uint8Array {
    checkFlashCall(this, 'read', page, offset, length);
    const at = page * this.pageSize + offset;
    return this.mem.slice(at, at + length);
  }

  /** Program whole aligned words; only 1→0 bit changes are allowed (checked before anything is written). */
  write(page: number, offset: number, data: Uint8Array): void {
    checkFlashCall(this, 'write', page, offset, data.length);
    const at = page * this.pageSize + offset;
    checkNorWrite(page, offset, this.mem.subarray(at, at + data.length), data);
    for (let i = 0; i < data.length; i++) this.mem[at + i] &= data[i];
  }

  erase(page: number): void {
    checkFlashCall(this, 'erase', page, 0, 0);
    const at = page * this.pageSize;
    this.mem.fill(0xff, at, at + this.pageSize);
  }
}

// A Flash in RAM with NOR rules, for platforms without a flash HAL: the store runs unchanged, everything is lost at power-off.
//
// Why NOR rules here too (docs/storage.md §2): the store must behave the same on every target, so a
// write that would set a bit (0→1), a misaligned write or an out-of-range access is a firmware bug and
// throws, exactly as the simulator's flash does. INFO reports flashVolatile: true on such a device.
import type { Flash } from '../hal/index.ts';

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
    if (!(pageSize > 0 && pageSize % WORD === 0 && pageCount > 0))
      throw new Error('RamFlash: page size must be a positive multiple of ' + WORD + ' and the page count positive');
    this.mem = new Uint8Array(pageSize * pageCount);
    this.mem.fill(0xff); // a fresh NOR part reads as erased
  }

  private check(page: number, offset: number, length: number, what: string): void {
    if (!(page >= 0 && page < this.pageCount && page === Math.floor(page)))
      throw new Error('RamFlash.' + what + ': page ' + page + ' is outside 0..' + (this.pageCount - 1));
    if (!(offset >= 0 && length >= 0 && offset + length <= this.pageSize))
      throw new Error('RamFlash.' + what + ': bytes ' + offset + '..' + (offset + length) + ' run past the ' + this.pageSize + '-byte page');
  }

  read(page: number, offset: number, length: number): Uint8Array {
    this.check(page, offset, length, 'read');
    const at = page * this.pageSize + offset;
    return this.mem.slice(at, at + length);
  }

  /** Program whole aligned words; only 1→0 bit changes are allowed (checked before anything is written). */
  write(page: number, offset: number, data: Uint8Array): void {
    this.check(page, offset, data.length, 'write');
    if (offset % WORD !== 0 || data.length % WORD !== 0)
      throw new Error('RamFlash.write: offset ' + offset + ' and length ' + data.length + ' must be multiples of the ' + WORD + '-byte word');
    const at = page * this.pageSize + offset;
    for (let i = 0; i < data.length; i++)
      if ((this.mem[at + i] & data[i]) !== data[i])
        throw new Error('RamFlash.write: byte ' + (offset + i) + ' of page ' + page + ' would need a 0→1 bit change; erase the page first');
    for (let i = 0; i < data.length; i++) this.mem[at + i] &= data[i];
  }

  erase(page: number): void {
    this.check(page, 0, 0, 'erase');
    const at = page * this.pageSize;
    this.mem.fill(0xff, at, at + this.pageSize);
  }
}

// The Flash HAL's NOR rules (docs/storage.md §2), checked with the simulator's "firmware bug: …" messages by the RAM flash and the board adapters.

/** The geometry the rules are checked against (a Flash, or the part of one an adapter knows). */
export interface FlashGeometry {
  readonly pageSize: number;
  readonly pageCount: number;
  readonly wordSize: number;
}

function hex2(b: number): string {
  return '0x' + (b < 16 ? '0' : '') + b.toString(16);
}

/** The simulator's words for a broken rule: "firmware bug: flash <what> at page <page> offset <offset><rest>". */
function bug(what: string, page: number, offset: number, rest: string): Error {
  return new Error('firmware bug: flash ' + what + ' at page ' + page + ' offset ' + offset + rest);
}

/**
 * Range (whole numbers, inside one page) for every call, and whole aligned words for a write. Throws with the same
 * "firmware bug: …" message as the simulator's flash (sim/flash.ts).
 */
export function checkFlashCall(geometry: FlashGeometry, op: string, page: number, offset: number, length: number): void {
  if (!(
    page >= 0 &&
    page < geometry.pageCount &&
    page % 1 === 0 &&
    offset >= 0 &&
    offset % 1 === 0 &&
    length >= 0 &&
    length % 1 === 0 &&
    offset + length <= geometry.pageSize
  ))
    throw bug(op + ' out of range', page, offset, ' length ' + length + ' (' + geometry.pageCount + ' pages of ' + geometry.pageSize + ' bytes)');
  if (op === 'write' && (offset % geometry.wordSize || length % geometry.wordSize))
    throw bug('write', page, offset, ' length ' + length + ' is not whole aligned ' + geometry.wordSize + '-byte words');
}

/**
 * NOR programming only clears bits: throws the simulator's message, naming the first byte where `data` has a 1 over a
 * 0 of `current` (the bytes now at page/offset), if there is one.
 */
export function checkNorWrite(page: number, offset: number, current: Uint8Array, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++)
    if (data[i] & ~current[i] & 0xff)
      throw bug('write would set bits', page, offset + i, ' (' + hex2(current[i]) + ' -> ' + hex2(data[i]) + '); erase the page first');
}

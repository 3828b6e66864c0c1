// The store's on-flash layout (docs/storage.md §3–4): page headers and records, encoded and checked here and nowhere else.
import { crc32 } from '../../protocol/crc32.ts';

/** "tHSM" as little-endian bytes 74 48 53 4d at the start of every page header. */
export const PAGE_MAGIC = 0x4d534874;
export const FORMAT_VERSION = 1;
/** Page header: words 0–4 (the format half, written right after an erase) and 5–7 (the open half). */
export const PAGE_HEADER_SIZE = 32;
export const FORMAT_HALF_SIZE = 20;
export const OPEN_HALF_SIZE = 12;
/** Record = 16-byte header, value padded to 4, 4-byte CRC, 4-byte wipe word. */
export const RECORD_HEADER_SIZE = 16;
export const RECORD_OVERHEAD = 24;
/** Page sequence numbers and transaction ids stay below this, so that max + 1 never wraps (docs/storage.md §11). */
export const SEQ_MAX = 0xfffffff0;
export const TXN_MAX = 0xfffffff0;
export const ERASED_WORD = 0xffffffff;
/**
 * Wipe word values (docs/storage.md §6): a record superseded after it committed is wiped to 0; a record that
 * never committed is wiped to 0xffff0000. Any cleared bit in the upper half therefore proves the record had
 * committed, so a wiped record still counts as its transaction's COMMIT (boot reads the same state twice).
 */
export const WIPED_COMMITTED = 0x00000000;
export const WIPED_UNCOMMITTED = 0xffff0000;

/** Did the wipe that left this word start on a committed record (some upper bit cleared)? */
export function wipedAfterCommit(wipeWord: number): boolean {
  return wipeWord >>> 16 !== 0xffff;
}

/** The value a (possibly torn) wipe word is finished to: 0 once an upper bit is cleared, else 0xffff0000. */
export function wipeTarget(wipeWord: number, requested: number): number {
  if (wipedAfterCommit(wipeWord)) return WIPED_COMMITTED;
  return wipeWord === ERASED_WORD ? requested : WIPED_UNCOMMITTED;
}
/** The largest value a record may carry, whatever the page size: the length field is 16 bits. */
export const MAX_LENGTH_FIELD = 0xffff;

/** Record flags (header byte 10). */
export const Flag = {
  /** The last record of a transaction: when it is complete, the whole transaction is. */
  COMMIT: 0x01,
  /** Copied forward by compaction: committed on its own. */
  COPY: 0x02,
  /** A tombstone: the key is deleted (length 0). */
  DELETE: 0x04,
} as const;
const FLAG_MASK = 0x07;

export function u32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

export function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

export function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Bytes a record with a value of `length` bytes takes in a page. */
export function recordSize(length: number): number {
  return RECORD_OVERHEAD + pad4(length);
}

export function allBytes(b: Uint8Array, start: number, end: number, value: number): boolean {
  for (let i = start; i < end; i++) if (b[i] !== value) return false;
  return true;
}

/** Words 0–4: magic, version, page size, this page's erase count, CRC-32 of bytes 0..16. */
export function encodeFormatHalf(pageSize: number, erases: number): Uint8Array {
  const b = new Uint8Array(FORMAT_HALF_SIZE);
  putU32(b, 0, PAGE_MAGIC);
  putU32(b, 4, FORMAT_VERSION);
  putU32(b, 8, pageSize);
  putU32(b, 12, erases);
  putU32(b, 16, crc32(b, 0, 16));
  return b;
}

/** The whole 32-byte header: the format half, then seq, tail and CRC-32 of bytes 0..28. */
export function encodePageHeader(pageSize: number, erases: number, seq: number, tail: number): Uint8Array {
  const b = new Uint8Array(PAGE_HEADER_SIZE);
  b.set(encodeFormatHalf(pageSize, erases), 0);
  putU32(b, 20, seq);
  putU32(b, 24, tail);
  putU32(b, 28, crc32(b, 0, 28));
  return b;
}

export const PageState = {
  /** Every byte 0xff: never formatted, or erased and the format half not yet written (erase count unknown). */
  ERASED: 0,
  /** A valid format half and every other byte 0xff: ready to open. */
  FREE: 1,
  /** A valid whole header: part of the log (unless its seq is below the newest page's tail). */
  LOG: 2,
  /** Anything else: an interrupted compaction or erase, a torn header, corruption. Erased at boot. */
  GARBAGE: 3,
} as const;

export interface PageInfo {
  state: number;
  /** Erase count from the format half, or -1 if there is none. */
  erases: number;
  seq: number;
  tail: number;
}

/** Classify one page from its bytes (docs/storage.md §3, boot step 1 of §7). Never throws. */
export function classifyPage(b: Uint8Array, pageSize: number): PageInfo {
  const info: PageInfo = { state: PageState.GARBAGE, erases: -1, seq: 0, tail: 0 };
  if (allBytes(b, 0, pageSize, 0xff)) {
    info.state = PageState.ERASED;
    return info;
  }
  const formatOk = u32(b, 0) === PAGE_MAGIC && u32(b, 4) === FORMAT_VERSION && u32(b, 8) === pageSize && u32(b, 16) === crc32(b, 0, 16);
  if (!formatOk) return info;
  info.erases = u32(b, 12);
  if (allBytes(b, FORMAT_HALF_SIZE, pageSize, 0xff)) {
    info.state = PageState.FREE;
    return info;
  }
  const seq = u32(b, 20);
  const tail = u32(b, 24);
  if (u32(b, 28) === crc32(b, 0, 28) && seq >= 1 && seq <= SEQ_MAX && tail >= 1 && tail <= seq) {
    info.state = PageState.LOG;
    info.seq = seq;
    info.tail = tail;
  }
  return info;
}

/** One record as found in a page. */
export interface RecordView {
  /** Offset of the record in its page. */
  offset: number;
  key: number;
  txn: number;
  length: number;
  flags: number;
  /** recordSize(length). */
  size: number;
  /** Its CRC matches and it is not wiped: its value is what was written. */
  complete: boolean;
  /** Its wipe word is no longer 0xffffffff: dead, and its value is (being) zeroed. */
  wiped: boolean;
  wipeWord: number;
  /** The wipe is finished: value, padding and CRC all zero, and the wipe word at its final value. */
  zeroed: boolean;
}

/**
 * Parse the records of a LOG page in order. A record whose header check fails ends the page: nothing after
 * it can be found. Returns the offset where appending may continue (the end of the last record, if every
 * byte from there on is 0xff), or pageSize if the page is closed. Never throws. `crcFlags`: check the record
 * CRC only of records with one of these flags (complete is false for the others); default all records.
 */
export function forEachRecord(b: Uint8Array, pageSize: number, visit: (r: RecordView) => void, crcFlags = -1): number {
  let o = PAGE_HEADER_SIZE;
  while (o + RECORD_OVERHEAD <= pageSize) {
    if (allBytes(b, o, o + RECORD_HEADER_SIZE, 0xff)) return allBytes(b, o, pageSize, 0xff) ? o : pageSize;
    const key = u32(b, o);
    const txn = u32(b, o + 4);
    const length = b[o + 8] | (b[o + 9] << 8);
    const flags = b[o + 10];
    const size = recordSize(length);
    const headerOk =
      u32(b, o + 12) === crc32(b, o, o + 12) &&
      b[o + 11] === 0 &&
      key !== ERASED_WORD &&
      txn <= TXN_MAX &&
      (flags & ~FLAG_MASK) === 0 &&
      ((flags & Flag.DELETE) === 0 || length === 0) &&
      o + size <= pageSize;
    if (!headerOk) return pageSize;
    const p = pad4(length);
    const crcAt = o + RECORD_HEADER_SIZE + p;
    const wipe = u32(b, crcAt + 4);
    const wiped = wipe !== ERASED_WORD;
    visit({
      offset: o,
      key,
      txn,
      length,
      flags,
      size,
      complete: !wiped && (crcFlags < 0 || (flags & crcFlags) !== 0) && u32(b, crcAt) === crc32(b, o, crcAt),
      wiped,
      wipeWord: wipe,
      zeroed: (wipe === WIPED_COMMITTED || wipe === WIPED_UNCOMMITTED) && allBytes(b, o + RECORD_HEADER_SIZE, crcAt + 4, 0),
    });
    o += size;
  }
  return allBytes(b, o, pageSize, 0xff) ? o : pageSize;
}

/**
 * A record's bytes up to and including its CRC (the wipe word after it is left erased). `value` null = a
 * tombstone or commit marker (length 0). Padding bytes are zero.
 */
export function encodeRecord(key: number, txn: number, flags: number, value: Uint8Array | null): Uint8Array {
  const length = value === null ? 0 : value.length;
  const p = pad4(length);
  const b = new Uint8Array(RECORD_HEADER_SIZE + p + 4);
  putU32(b, 0, key);
  putU32(b, 4, txn);
  b[8] = length & 0xff;
  b[9] = (length >>> 8) & 0xff;
  b[10] = flags;
  b[11] = 0;
  putU32(b, 12, crc32(b, 0, 12));
  if (value !== null) b.set(value, RECORD_HEADER_SIZE);
  putU32(b, RECORD_HEADER_SIZE + p, crc32(b, 0, RECORD_HEADER_SIZE + p));
  return b;
}

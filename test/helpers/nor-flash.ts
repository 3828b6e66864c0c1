// The tests' NOR flash: the simulator's flash and power cuts (sim/flash.ts) in memory, with a test's geometry, seeded torn bits and cuts counted from now; and searches of flash bytes (docs/storage.md §2, §11).
import { RAM_FLASH_PAGES, RAM_FLASH_PAGE_SIZE } from '../../firmware/core/ram_flash.ts';
import { PowerCutFlash, SimFlash, coinTearing } from '../../sim/flash.ts';

export interface NorFlashOptions {
  /** Bytes per page (default 4096). */
  pageSize?: number;
  /** Pages (default 8). */
  pageCount?: number;
  /** Bytes per word (default 4). */
  wordSize?: number;
  /** Seed of the coin that picks which bits a torn write or an interrupted erase leaves (sim/flash.ts coinTearing; default 1). */
  seed?: number;
}

/**
 * A memory SimFlash behind a PowerCutFlash with coinTearing and reads that work while the power is off, and the
 * names the tests use: cuts armed relative to the writes and erases made so far, powerOn() that disarms them, and
 * the chip's bytes. NOR violations throw FlashBugError, cuts PowerCutError (both from sim/flash.ts).
 */
export class NorFlash extends PowerCutFlash {
  /** The memory chip behind the power cuts. */
  readonly chip: SimFlash;

  constructor(opts: NorFlashOptions & { image?: Uint8Array } = {}) {
    const chip = SimFlash.memory({
      pageSize: opts.pageSize === undefined ? 4096 : opts.pageSize,
      pages: opts.image ? undefined : opts.pageCount === undefined ? 8 : opts.pageCount,
      wordSize: opts.wordSize,
      image: opts.image,
    });
    super(chip, () => {}, undefined, { tearing: coinTearing(opts.seed === undefined ? 1 : opts.seed), readWhenOff: true });
    this.chip = chip;
  }

  /** A flash holding a copy of `bytes` (for example a snapshot), page count = bytes.length / pageSize. */
  static fromBytes(bytes: Uint8Array, opts: NorFlashOptions = {}): NorFlash {
    return new NorFlash({ ...opts, pageCount: undefined, image: bytes });
  }

  /** Erases so far, all pages (an interrupted one included). */
  get erases(): number {
    return this.eraseCount;
  }

  /** Erases per page (an interrupted erase counts). */
  get eraseCounts(): number[] {
    return this.erasesSinceStart;
  }

  /** The n-th word write from now (n ≥ 1) lands torn, then power is cut. */
  cutAfterWords(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('cutAfterWords: n must be an integer ≥ 1');
    this.setCutAt(this.wordWrites + n);
  }

  /** The n-th erase from now (n ≥ 1) is left partial, then power is cut. `fraction`: share of 0 bits it sets (default, or < 0: random). */
  cutDuringErase(n = 1, fraction = -1): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError('cutDuringErase: n must be an integer ≥ 1');
    this.setEraseCutAt(this.eraseCount + n, fraction < 0 ? undefined : fraction);
  }

  /** Disarm any pending cut. */
  cancelCut(): void {
    this.setCutAt(undefined);
    this.setEraseCutAt(undefined);
  }

  /** True once a cut has happened and until powerOn(). */
  get isCut(): boolean {
    return !this.isPowered;
  }

  /** Power the board back on: the bytes stay as the cut left them; pending cuts are disarmed. */
  override powerOn(): void {
    this.cancelCut();
    super.powerOn();
  }

  /** A copy of every byte. */
  snapshot(): Uint8Array {
    return this.chip.image();
  }

  /** Put the bytes of a snapshot back (counters are kept). */
  restore(bytes: Uint8Array): void {
    this.chip.restore(bytes);
  }

  /** Flip one bit in place (a retention error or a stray cosmic ray), ignoring NOR rules. */
  flipBit(byteIndex: number, bit: number): void {
    this.chip.flipBit(byteIndex, bit);
  }

  /** Every byte (a copy: search it for leftover secrets). */
  get bytes(): Uint8Array {
    return this.chip.image();
  }
}

/** A NorFlash of the geometry a device gives itself without a flash HAL (firmware/core/ram_flash.ts: 4 pages of 2 KiB), or of another. */
export function ramSizedFlash(pageSize = RAM_FLASH_PAGE_SIZE, pageCount = RAM_FLASH_PAGES): NorFlash {
  return new NorFlash({ pageSize, pageCount });
}

/** Where `needle` occurs in `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.length));
}

// ---- helpers for tests of what is kept in the flash ------------------------------------------------------

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Deterministic pseudo-random bytes (xorshift32), distinct per seed: values that cannot occur by chance. */
export function bytesFrom(seed: number, length: number): Uint8Array {
  let x = (Math.imul(seed, 2654435761) + 0x9e3779b9) >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Offset of the first 8-byte window of `secret` found anywhere in `bytes`, or -1 (a wiped secret leaves none). */
export function leftover(bytes: Uint8Array, secret: Uint8Array): number {
  if (secret.length < 8) return indexOfBytes(bytes, secret);
  for (let i = 0; i + 8 <= secret.length; i++) {
    const at = indexOfBytes(bytes, secret.subarray(i, i + 8));
    if (at >= 0) return at;
  }
  return -1;
}

/** What a key-value store shows through list() and get(). */
export interface KeyValueView {
  list(kind: number): number[];
  get(key: number): Uint8Array | undefined;
}

/** Every (key → hex value) a store holds over the kinds given, read through list() and get(). */
export function stateOf(s: KeyValueView, kinds: readonly number[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const k of kinds)
    for (const key of s.list(k)) {
      const v = s.get(key);
      if (v === undefined) throw new Error('listed key 0x' + key.toString(16) + ' has no value');
      m.set(key, hex(v));
    }
  return m;
}

export function sameState(a: Map<number, string>, b: Map<number, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** `before` with entries applied (null deletes; the last entry for a key wins). */
export function applied(before: Map<number, string>, entries: readonly { key: number; value: Uint8Array | null }[]): Map<number, string> {
  const m = new Map(before);
  for (const e of entries)
    if (e.value === null) m.delete(e.key);
    else m.set(e.key, hex(e.value));
  return m;
}

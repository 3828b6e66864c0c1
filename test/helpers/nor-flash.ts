// An in-memory NOR flash for tests: enforces NOR rules, counts erases and word writes, and cuts power mid-write or mid-erase (docs/storage.md §2, §11).
import type { Flash } from '../../firmware/hal/index.ts';

/** Thrown by the write or erase that loses power, and by every write or erase after it until powerOn(). */
export class PowerCut extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PowerCut';
  }
}

/** A write that breaks NOR rules (0→1, misaligned, out of range): a firmware bug, never a power effect. */
export class NorViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NorViolation';
  }
}

export interface NorFlashOptions {
  pageSize?: number;
  pageCount?: number;
  wordSize?: number;
  /** Seed of the generator that picks which bits a torn write or an interrupted erase leaves. */
  seed?: number;
}

/** mulberry32: small, seeded, good enough to pick bits. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class NorFlash implements Flash {
  readonly pageSize: number;
  readonly pageCount: number;
  readonly wordSize: number;
  /** Erases per page (an interrupted erase counts). */
  readonly eraseCounts: number[];
  /** Word writes so far (the torn one included). */
  wordWrites = 0;
  /** Erases so far, all pages. */
  erases = 0;
  private mem: Uint8Array;
  private random: () => number;
  private powered = true;
  /** wordWrites value at which the torn write happens, or -1. */
  private cutWordAt = -1;
  /** erases value at which the partial erase happens, or -1; and the share of bits it sets (-1: random). */
  private cutEraseAt = -1;
  private cutEraseFraction = -1;

  constructor(opts: NorFlashOptions = {}) {
    this.pageSize = opts.pageSize === undefined ? 4096 : opts.pageSize;
    this.pageCount = opts.pageCount === undefined ? 8 : opts.pageCount;
    this.wordSize = opts.wordSize === undefined ? 4 : opts.wordSize;
    if (!(this.pageSize > 0 && this.pageSize % this.wordSize === 0 && this.pageCount > 0))
      throw new Error('NorFlash: page size must be a positive multiple of the word size, and the page count positive');
    this.mem = new Uint8Array(this.pageSize * this.pageCount).fill(0xff);
    this.eraseCounts = new Array<number>(this.pageCount).fill(0);
    this.random = rng(opts.seed === undefined ? 1 : opts.seed);
  }

  /** A flash holding a copy of `bytes` (for example a snapshot), page count = bytes.length / pageSize. */
  static fromBytes(bytes: Uint8Array, opts: NorFlashOptions = {}): NorFlash {
    const pageSize = opts.pageSize === undefined ? 4096 : opts.pageSize;
    if (bytes.length % pageSize !== 0) throw new Error('NorFlash.fromBytes: ' + bytes.length + ' bytes are not whole ' + pageSize + '-byte pages');
    const f = new NorFlash({ ...opts, pageSize, pageCount: bytes.length / pageSize });
    f.mem.set(bytes);
    return f;
  }

  private check(page: number, offset: number, length: number, what: string): void {
    if (!(Number.isInteger(page) && page >= 0 && page < this.pageCount))
      throw new NorViolation('NorFlash.' + what + ': page ' + page + ' is outside 0..' + (this.pageCount - 1));
    if (!(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.pageSize))
      throw new NorViolation('NorFlash.' + what + ': bytes ' + offset + '..' + (offset + length) + ' are outside the ' + this.pageSize + '-byte page');
  }

  read(page: number, offset: number, length: number): Uint8Array {
    this.check(page, offset, length, 'read');
    const at = page * this.pageSize + offset;
    return this.mem.slice(at, at + length);
  }

  /** Program whole aligned words, in address order; only 1→0 changes (checked before anything lands). */
  write(page: number, offset: number, data: Uint8Array): void {
    if (!this.powered) throw new PowerCut('NorFlash.write after power was cut');
    this.check(page, offset, data.length, 'write');
    const w = this.wordSize;
    if (offset % w !== 0 || data.length % w !== 0)
      throw new NorViolation('NorFlash.write: offset ' + offset + ' and length ' + data.length + ' must be multiples of the ' + w + '-byte word');
    const at = page * this.pageSize + offset;
    for (let i = 0; i < data.length; i++)
      if ((this.mem[at + i] & data[i]) !== data[i])
        throw new NorViolation('NorFlash.write: byte ' + (offset + i) + ' of page ' + page + ' would need a 0→1 bit change (erase the page first)');
    for (let i = 0; i < data.length; i += w) {
      this.wordWrites++;
      if (this.wordWrites === this.cutWordAt) {
        // Torn: each bit this word was to clear is cleared or not, at random; then the board is dark.
        for (let j = 0; j < w; j++) {
          const clear = this.mem[at + i + j] & ~data[i + j] & 0xff;
          let landed = 0;
          for (let bit = 0; bit < 8; bit++) if (clear & (1 << bit) && this.random() < 0.5) landed |= 1 << bit;
          this.mem[at + i + j] &= ~landed & 0xff;
        }
        this.powered = false;
        this.cutWordAt = -1;
        throw new PowerCut('power cut during word write ' + this.wordWrites + ' (page ' + page + ', offset ' + (offset + i) + ')');
      }
      for (let j = 0; j < w; j++) this.mem[at + i + j] &= data[i + j];
    }
  }

  erase(page: number): void {
    if (!this.powered) throw new PowerCut('NorFlash.erase after power was cut');
    this.check(page, 0, 0, 'erase');
    this.erases++;
    this.eraseCounts[page]++;
    const at = page * this.pageSize;
    if (this.erases === this.cutEraseAt) {
      // Interrupted: some of the page's 0 bits have become 1, the rest not (yet).
      const f = this.cutEraseFraction >= 0 ? this.cutEraseFraction : this.random();
      for (let i = at; i < at + this.pageSize; i++) {
        let set = 0;
        for (let bit = 0; bit < 8; bit++) if (this.random() < f) set |= 1 << bit;
        this.mem[i] |= set;
      }
      this.powered = false;
      this.cutEraseAt = -1;
      throw new PowerCut('power cut during erase ' + this.erases + ' (page ' + page + ')');
    }
    this.mem.fill(0xff, at, at + this.pageSize);
  }

  /** The n-th word write from now (n ≥ 1) lands torn, then power is cut. */
  cutAfterWords(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error('cutAfterWords: n must be an integer ≥ 1');
    this.cutWordAt = this.wordWrites + n;
  }

  /** The n-th erase from now (n ≥ 1) is left partial, then power is cut. `fraction`: share of 0 bits it sets (default random). */
  cutDuringErase(n = 1, fraction = -1): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error('cutDuringErase: n must be an integer ≥ 1');
    this.cutEraseAt = this.erases + n;
    this.cutEraseFraction = fraction;
  }

  /** Disarm any pending cut. */
  cancelCut(): void {
    this.cutWordAt = -1;
    this.cutEraseAt = -1;
  }

  /** True once a cut has happened and until powerOn(). */
  get isCut(): boolean {
    return !this.powered;
  }

  /** Power the board back on: the bytes stay as the cut left them; pending cuts are disarmed. */
  powerOn(): void {
    this.powered = true;
    this.cancelCut();
  }

  /** A copy of every byte. */
  snapshot(): Uint8Array {
    return this.mem.slice();
  }

  /** Put the bytes of a snapshot back (counters are kept). */
  restore(bytes: Uint8Array): void {
    if (bytes.length !== this.mem.length) throw new Error('NorFlash.restore: snapshot is ' + bytes.length + ' bytes, flash is ' + this.mem.length);
    this.mem.set(bytes);
  }

  /** Flip one bit in place (a retention error or a stray cosmic ray), ignoring NOR rules. */
  flipBit(byteIndex: number, bit: number): void {
    this.mem[byteIndex] ^= 1 << bit;
  }

  /** The live bytes (read-only use: search them for leftover secrets). */
  get bytes(): Uint8Array {
    return this.mem;
  }
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

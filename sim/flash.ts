// The simulator's NOR flash: a file (or memory) with real NOR rules, wear counters, and power cuts that tear the N-th word write (docs/storage.md §2, §9, §11; docs/architecture.md §6).
//
// It is the one model of the NOR rules and of power cuts: the simulator runs the device on it, the tests get their
// flash from it too (test/helpers/nor-flash.ts picks a geometry, a seeded tearing and cuts counted from now), and the
// device's own RAM flash (firmware/core/ram_flash.ts) is checked against it (test/unit/core-ram-flash.test.ts).
//
// The file is a raw image: page p lives at byte p·4096, so `xxd dev.img` shows exactly what a flash dump of a
// board would. The geometry is the file's size (a whole number of 4096-byte pages); a file of another size than
// the one asked for is refused rather than reinterpreted. Erase counts live in a sidecar FILE.wear (JSON), and
// FILE.lock holds the pid of the simulator using the image, so two simulators never write one file.
// Every write reaches the file with fs.writeSync before the call returns: a process killed at any point
// leaves on disk exactly the words written so far, as a board that loses power keeps its flash.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, resolve as resolvePath } from 'node:path';
import type { Flash } from '../firmware/hal/index.ts';
import { createRandomSource, parseSeed, type RandomFill } from './rng.ts';
import { createHash } from 'node:crypto';

export const SIM_PAGE_SIZE = 4096;
export const SIM_WORD_SIZE = 4;
export const DEFAULT_FLASH_PAGES = 32;
/** A store needs at least one page and a spare to compact into. */
export const MIN_FLASH_PAGES = 2;
/** INFO reports one erase count per page, at most 256 (firmware/protocol/commands/limits.ts MAX_PAGES). */
export const MAX_FLASH_PAGES = 256;

/** A flash access no correct firmware makes: a write that sets bits, a misaligned or out-of-range access. */
export class FlashBugError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlashBugError';
  }
}

/** Thrown out of a flash call when the board loses power: it unwinds the device's stack; nothing after it runs. */
export class PowerCutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PowerCutError';
  }
}

const hex2 = (b: number) => '0x' + (b < 16 ? '0' : '') + b.toString(16);

/** The range and alignment rules of the Flash HAL (firmware/hal/index.ts); throws FlashBugError. */
export function checkFlashAccess(f: Flash, op: 'read' | 'write' | 'erase', page: number, offset: number, length: number): void {
  const where = `page ${page} offset ${offset} length ${length}`;
  if (
    !Number.isInteger(page) ||
    !Number.isInteger(offset) ||
    !Number.isInteger(length) ||
    page < 0 ||
    page >= f.pageCount ||
    offset < 0 ||
    length < 0 ||
    offset + length > f.pageSize
  )
    throw new FlashBugError(`firmware bug: flash ${op} out of range at ${where} (${f.pageCount} pages of ${f.pageSize} bytes)`);
  if (op === 'write' && (offset % f.wordSize !== 0 || length % f.wordSize !== 0))
    throw new FlashBugError(`firmware bug: flash write at ${where} is not whole aligned ${f.wordSize}-byte words`);
}

/** NOR programming only clears bits: throws FlashBugError naming the first byte where `data` has a 1 over a 0 of `current`. */
export function checkNorBits(page: number, offset: number, current: Uint8Array, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    if ((data[i] & ~current[i] & 0xff) !== 0)
      throw new FlashBugError(
        `firmware bug: flash write would set bits at page ${page} offset ${offset + i} (${hex2(current[i])} -> ${hex2(data[i])}); erase the page first`,
      );
  }
}

function asBytes(data: unknown, what: string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  // a Uint8Array from the device's realm fails instanceof but is still a typed array of bytes
  if (ArrayBuffer.isView(data) && (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 1)
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new FlashBugError(`firmware bug: ${what} expects a Uint8Array`);
}

export interface SimFlashOpenOptions {
  /** Pages for a new image; for an existing one, a different count is refused. Default: the file's, or 32. */
  pages?: number;
}

export interface SimFlashMemoryOptions {
  pages?: number;
  /** Bytes per page (default 4096, the simulator's); a file image always has 4096. */
  pageSize?: number;
  /** Bytes per programmable word (default 4); the page size must be a multiple of it. */
  wordSize?: number;
  /** Initial contents (a whole number of pages); default all 0xFF (factory-new). */
  image?: Uint8Array;
  eraseCounts?: number[];
}

/** Paths of images open in this process (the lock file guards against other processes). */
const openHere = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function checkPages(pages: number, what: string, min = MIN_FLASH_PAGES): void {
  if (!Number.isInteger(pages) || pages < min || pages > MAX_FLASH_PAGES)
    throw new RangeError(`${what} must be an integer from ${min} to ${MAX_FLASH_PAGES}, got ${pages}`);
}

/**
 * NOR flash for the simulator: pages of words (4096-byte pages of 4-byte words in a file image; any whole-word
 * geometry in memory). write() may only clear bits of whole aligned words (anything else throws FlashBugError: a
 * firmware bug, never silently ANDed as real chips do), erase() sets a page to 0xFF and counts it. Backed by a file
 * (SimFlash.open) or by memory (SimFlash.memory).
 */
export class SimFlash implements Flash {
  readonly pageSize: number;
  readonly wordSize: number;
  readonly pageCount: number;
  /** The image file, or undefined for a memory flash. */
  readonly path: string | undefined;
  private readonly mem: Uint8Array;
  private readonly erases: number[];
  private fd: number | undefined;
  private closed = false;

  private constructor(pageSize: number, wordSize: number, pageCount: number, mem: Uint8Array, erases: number[], path?: string, fd?: number) {
    this.pageSize = pageSize;
    this.wordSize = wordSize;
    this.pageCount = pageCount;
    this.mem = mem;
    this.erases = erases;
    this.path = path;
    this.fd = fd;
  }

  /**
   * A flash in memory (tests, sweeps): factory-new, or a copy of `image`. Its geometry may be any the Flash HAL
   * allows (a page of whole words, 1 to 256 pages), so that a test can also hand the store one it must refuse.
   */
  static memory(opts: SimFlashMemoryOptions = {}): SimFlash {
    const pageSize = opts.pageSize === undefined ? SIM_PAGE_SIZE : opts.pageSize;
    const wordSize = opts.wordSize === undefined ? SIM_WORD_SIZE : opts.wordSize;
    if (!(Number.isInteger(wordSize) && wordSize > 0 && Number.isInteger(pageSize) && pageSize > 0 && pageSize % wordSize === 0))
      throw new RangeError(`a flash page must be a positive whole number of words, got ${pageSize} bytes of ${wordSize}-byte words`);
    let pages = opts.pages;
    let mem: Uint8Array;
    if (opts.image) {
      if (opts.image.length === 0 || opts.image.length % pageSize !== 0)
        throw new RangeError(`a flash image must be a whole number of ${pageSize}-byte pages, got ${opts.image.length} bytes`);
      const n = opts.image.length / pageSize;
      if (pages !== undefined && pages !== n) throw new RangeError(`the image holds ${n} pages, not ${pages}`);
      pages = n;
      mem = new Uint8Array(opts.image);
    } else {
      pages = pages === undefined ? DEFAULT_FLASH_PAGES : pages;
      checkPages(pages, 'pages', 1);
      mem = new Uint8Array(pages * pageSize).fill(0xff);
    }
    checkPages(pages, 'pages', 1);
    const erases = new Array<number>(pages).fill(0);
    if (opts.eraseCounts) for (let i = 0; i < pages && i < opts.eraseCounts.length; i++) erases[i] = opts.eraseCounts[i];
    return new SimFlash(pageSize, wordSize, pages, mem, erases);
  }

  /**
   * Open (or create) the image at `path`. A missing or empty file becomes a factory-new device (all 0xFF) of
   * `pages` pages. An existing image keeps its geometry; asking for another page count is refused, as is a file
   * whose size is not a whole number of pages, or one another simulator is using.
   */
  static open(path: string, opts: SimFlashOpenOptions = {}): SimFlash {
    const abs = resolvePath(path);
    const name = basename(abs);
    if (opts.pages !== undefined) checkPages(opts.pages, '--flash-pages');
    if (openHere.has(abs)) throw new Error(`flash image ${abs} is already open in this process; close that simulator first or share its flash`);
    const lock = abs + '.lock';
    try {
      takeLock(lock, abs);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EROFS' || code === 'ENOTDIR')
        throw new Error(
          `cannot use ${abs} as the flash image: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'its directory does not exist' : 'the directory is not writable'}`,
        );
      throw e;
    }
    let fd: number | undefined;
    try {
      fd = openSync(abs, existsSync(abs) ? 'r+' : 'w+');
      const size = fstatSync(fd).size;
      let pages: number;
      let mem: Uint8Array;
      if (size === 0) {
        pages = opts.pages === undefined ? DEFAULT_FLASH_PAGES : opts.pages;
        mem = new Uint8Array(pages * SIM_PAGE_SIZE).fill(0xff);
        writeAll(fd, mem, 0);
      } else {
        if (size % SIM_PAGE_SIZE !== 0)
          throw new Error(
            `${name} is ${size} bytes, not a whole number of ${SIM_PAGE_SIZE}-byte flash pages: it is not a tinyhsm flash image (use a new file)`,
          );
        pages = size / SIM_PAGE_SIZE;
        if (pages < MIN_FLASH_PAGES || pages > MAX_FLASH_PAGES)
          throw new Error(`${name} holds ${pages} pages of ${SIM_PAGE_SIZE} bytes; a tinyhsm flash has ${MIN_FLASH_PAGES} to ${MAX_FLASH_PAGES}`);
        if (opts.pages !== undefined && opts.pages !== pages)
          throw new Error(
            `${name} holds ${pages} pages of ${SIM_PAGE_SIZE} bytes, not the ${opts.pages} asked for with --flash-pages; ` +
              `drop --flash-pages to use it as it is, or give a new file`,
          );
        mem = new Uint8Array(size);
        let got = 0;
        while (got < size) {
          const n = readSync(fd, mem, got, size - got, got);
          if (n <= 0) throw new Error(`${name}: short read at byte ${got}`);
          got += n;
        }
      }
      const erases = readWear(abs + '.wear', pages);
      const f = new SimFlash(SIM_PAGE_SIZE, SIM_WORD_SIZE, pages, mem, erases, abs, fd);
      openHere.add(abs);
      return f;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      releaseLock(lock);
      throw e;
    }
  }

  read(page: number, offset: number, length: number): Uint8Array {
    this.checkOpen();
    checkFlashAccess(this, 'read', page, offset, length);
    const at = page * this.pageSize + offset;
    return this.mem.slice(at, at + length);
  }

  write(page: number, offset: number, data: Uint8Array): void {
    this.checkOpen();
    const bytes = asBytes(data, 'flash write');
    checkFlashAccess(this, 'write', page, offset, bytes.length);
    const at = page * this.pageSize + offset;
    checkNorBits(page, offset, this.mem.subarray(at, at + bytes.length), bytes);
    if (bytes.length === 0) return;
    this.mem.set(bytes, at);
    if (this.fd !== undefined) writeAll(this.fd, this.mem.subarray(at, at + bytes.length), at);
  }

  erase(page: number): void {
    this.checkOpen();
    checkFlashAccess(this, 'erase', page, 0, 0);
    const at = page * this.pageSize;
    this.mem.fill(0xff, at, at + this.pageSize);
    this.erases[page]++;
    if (this.fd !== undefined) {
      writeAll(this.fd, this.mem.subarray(at, at + this.pageSize), at);
      this.saveWear();
    }
  }

  /** Erase count of every page (wear), persisted next to a file image. */
  eraseCounts(): number[] {
    return this.erases.slice();
  }

  /** A copy of the whole flash contents. */
  image(): Uint8Array {
    return this.mem.slice();
  }

  /** An independent memory flash with the same contents and erase counts (a sweep restarts from it). */
  clone(): SimFlash {
    return SimFlash.memory({ image: this.mem, pageSize: this.pageSize, wordSize: this.wordSize, eraseCounts: this.erases });
  }

  /**
   * Put a whole image back in place, as a flash programmer would (a sweep restarts each cut from it): no NOR rule
   * applies and the erase counts are kept.
   */
  restore(image: Uint8Array): void {
    this.checkOpen();
    if (image.length !== this.mem.length) throw new RangeError(`an image of ${image.length} bytes does not fit a flash of ${this.mem.length}`);
    this.mem.set(image);
    if (this.fd !== undefined) writeAll(this.fd, this.mem, 0);
  }

  /** Flip one bit in place (a retention error, a stray particle): corruption, not a write, so no NOR rule applies. */
  flipBit(byteIndex: number, bit: number): void {
    this.checkOpen();
    if (!(Number.isInteger(byteIndex) && byteIndex >= 0 && byteIndex < this.mem.length && Number.isInteger(bit) && bit >= 0 && bit < 8))
      throw new RangeError(`no bit ${bit} of byte ${byteIndex} in a flash of ${this.mem.length} bytes`);
    this.mem[byteIndex] ^= 1 << bit;
    if (this.fd !== undefined) writeAll(this.fd, this.mem.subarray(byteIndex, byteIndex + 1), byteIndex);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Close the file and release the lock; the flash cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    if (this.path !== undefined) {
      openHere.delete(this.path);
      releaseLock(this.path + '.lock');
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error(`the simulated flash${this.path ? ' ' + this.path : ''} is closed`);
  }

  private saveWear(): void {
    if (this.path === undefined) return;
    const file = this.path + '.wear';
    const tmp = file + '.tmp';
    const body = { pageSize: this.pageSize, pageCount: this.pageCount, eraseCounts: this.erases };
    writeFileSync(tmp, JSON.stringify(body) + '\n');
    renameSync(tmp, file);
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/** Erase counts from FILE.wear; zeros when it is missing or describes another geometry (the image was replaced). */
function readWear(file: string, pages: number): number[] {
  const zero = new Array<number>(pages).fill(0);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return zero;
  }
  const w = parsed as { pageSize?: unknown; pageCount?: unknown; eraseCounts?: unknown };
  if (w.pageSize !== SIM_PAGE_SIZE || w.pageCount !== pages || !Array.isArray(w.eraseCounts) || w.eraseCounts.length !== pages) return zero;
  if (!w.eraseCounts.every((n) => Number.isInteger(n) && n >= 0)) return zero;
  return (w.eraseCounts as number[]).slice();
}

/** FILE.lock holds the pid of the process using the image; a lock left by a dead process is taken over. */
function takeLock(lock: string, image: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid) + '\n', { flag: 'wx' });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    try {
      pid = parseInt(readFileSync(lock, 'utf8'), 10);
    } catch {
      // vanished meanwhile: try again
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid))
      throw new Error(`flash image ${image} is in use by another simulator (pid ${pid}); stop it first, or remove ${lock} if that process is not a simulator`);
    try {
      unlinkSync(lock); // stale: its process is gone
    } catch {
      // someone else removed it
    }
  }
  throw new Error(`could not lock ${image} (${lock} keeps coming back)`);
}

function releaseLock(lock: string): void {
  try {
    if (parseInt(readFileSync(lock, 'utf8'), 10) === process.pid) unlinkSync(lock);
  } catch {
    // already gone
  }
}

/** Where and when the power went. */
export interface PowerCutInfo {
  /** 'write': during a word write (the usual case); 'erase': during a page erase. */
  kind: 'write' | 'erase';
  /** Word writes since the simulator started, a torn one included (= the N of --power-cut-after N). */
  wordWrite: number;
  /** Erases since the simulator started, an interrupted one included. */
  erase: number;
  page: number;
  /** Byte offset in the page of the torn word (0 for an erase). */
  offset: number;
  /**
   * The word (or page) as it was, as the write asked for it (0xFF for an erase), and as it landed: a random
   * subset of the bits it was to clear (write), or of the bits it was to set (erase).
   */
  before: Uint8Array;
  intended: Uint8Array;
  landed: Uint8Array;
}

/**
 * What a power cut leaves of the operation it interrupts (docs/storage.md §11, the NOR model): `word` gives the
 * word a cut write leaves, some of the bits it was to clear cleared and no other bit changed; `page` gives the page
 * an interrupted erase leaves, some of its 0 bits back at 1. `fraction`, when given, is the chance of each 0 bit
 * coming back. Both draw from the tearing's own seeded stream.
 */
export interface Tearing {
  word(before: Uint8Array, intended: Uint8Array): Uint8Array;
  page(before: Uint8Array, fraction?: number): Uint8Array;
}

/**
 * The word a cut write leaves: of the bits it was to clear (1 before, 0 intended), a random subset is cleared.
 * One cut in four clears none of them and one in four all of them, so a sweep over N also meets the clean states
 * "N−1 words written" and "exactly N words written" (which a bit-by-bit coin would almost never give for a word
 * with many bits to clear); the rest are bit-by-bit tears.
 */
export function tear(before: Uint8Array, intended: Uint8Array, random: RandomFill): Uint8Array {
  const r = new Uint8Array(1 + before.length);
  random(r);
  const kind = r[0] & 3;
  const landed = new Uint8Array(before.length);
  for (let i = 0; i < before.length; i++) {
    const mask = kind === 0 ? 0 : kind === 1 ? 0xff : r[1 + i];
    landed[i] = before[i] & ~(before[i] & ~intended[i] & mask);
  }
  return landed;
}

/** The page an interrupted erase leaves: none, all, or (half the time) a random subset of its 0 bits back at 1. */
export function tearErase(before: Uint8Array, random: RandomFill): Uint8Array {
  const r = new Uint8Array(1 + before.length);
  random(r);
  const kind = r[0] & 3;
  const landed = new Uint8Array(before.length);
  for (let i = 0; i < before.length; i++) landed[i] = before[i] | (kind === 0 ? 0 : kind === 1 ? 0xff : r[1 + i]);
  return landed;
}

/** `before` with each bit set to 1 when a draw of `next` (uniform in [0, 1)) falls below `fraction`; bit 0 first. */
function eraseShare(before: Uint8Array, fraction: number, next: () => number): Uint8Array {
  const landed = new Uint8Array(before.length);
  for (let i = 0; i < before.length; i++) {
    let set = 0;
    for (let bit = 0; bit < 8; bit++) if (next() < fraction) set |= 1 << bit;
    landed[i] = before[i] | set;
  }
  return landed;
}

/**
 * The simulator's tearing: tear() and tearErase(), from a stream of their own, so that a cut does not shift the
 * device's seeded RNG. `seed` is the simulator's hex seed (--seed); without one (or with one that is not hex) the
 * torn bits come from the OS CSPRNG.
 */
export function mixedTearing(seed?: string): Tearing {
  const tornSeed = seed !== undefined && parseSeed(seed) ? createHash('sha256').update('tinyhsm power cut ').update(seed).digest('hex') : undefined;
  const random = createRandomSource(tornSeed);
  const u32 = new Uint8Array(4);
  const view = new DataView(u32.buffer);
  const next = () => {
    random(u32);
    return view.getUint32(0) / 4294967296;
  };
  return {
    word: (before, intended) => tear(before, intended, random),
    page: (before, fraction) => (fraction === undefined ? tearErase(before, random) : eraseShare(before, fraction, next)),
  };
}

/** mulberry32: small, seeded, good enough to pick bits. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Every bit its own fair coin, from a numeric seed: each bit a cut write was to clear is cleared or not; an
 * interrupted erase sets each bit of the page with chance `fraction` (drawn first when not given). The store's
 * power-cut tests were written with this tearing (a torn word is nearly always partly written), and their seeds
 * pick the same bits with it.
 */
export function coinTearing(seed: number): Tearing {
  const next = mulberry32(seed);
  return {
    word(before, intended) {
      const landed = new Uint8Array(before.length);
      for (let i = 0; i < before.length; i++) {
        const clear = before[i] & ~intended[i] & 0xff;
        let cleared = 0;
        for (let bit = 0; bit < 8; bit++) if (clear & (1 << bit) && next() < 0.5) cleared |= 1 << bit;
        landed[i] = before[i] & ~cleared & 0xff;
      }
      return landed;
    },
    page: (before, fraction) => eraseShare(before, fraction === undefined ? next() : fraction, next),
  };
}

export interface PowerCutOptions {
  /** How a cut word or page lands (default: mixedTearing of the seed). */
  tearing?: Tearing;
  /**
   * read() still works while the power is off (default: it throws, the board is dark). For tests that read the chip
   * between a cut and powerOn(), as a flash programmer would; writes and erases still fail until then.
   */
  readWhenOff?: boolean;
}

/**
 * The simulator's view of a flash: checks the NOR rules on any Flash (the simulator's own or one a test
 * provides), counts word writes and erases since the simulator started, and cuts power at a chosen word write:
 * the words before it land whole, that word lands torn, and nothing after it happens (PowerCutError unwinds the
 * device, and every flash call fails until power comes back). A cut can also interrupt a chosen erase.
 */
export class PowerCutFlash implements Flash {
  readonly pageSize: number;
  readonly pageCount: number;
  readonly wordSize: number;
  private words = 0;
  private pageErases: number[];
  private eraseTotal = 0;
  private cutAt: number | undefined;
  private eraseCutAt: number | undefined;
  private eraseCutFraction: number | undefined;
  private powered = true;
  private readonly tearing: Tearing;
  private readonly readWhenOff: boolean;

  constructor(
    readonly inner: Flash,
    private readonly onCut: (info: PowerCutInfo) => void,
    seed?: string,
    options: PowerCutOptions = {},
  ) {
    this.pageSize = inner.pageSize;
    this.pageCount = inner.pageCount;
    this.wordSize = inner.wordSize;
    if (!(
      Number.isInteger(this.wordSize) &&
      this.wordSize > 0 &&
      Number.isInteger(this.pageSize) &&
      this.pageSize % this.wordSize === 0 &&
      Number.isInteger(this.pageCount) &&
      this.pageCount > 0
    ))
      throw new RangeError(`flash geometry ${this.pageCount}×${this.pageSize} bytes, ${this.wordSize}-byte words is not usable`);
    this.pageErases = new Array<number>(this.pageCount).fill(0);
    this.tearing = options.tearing || mixedTearing(seed);
    this.readWhenOff = options.readWhenOff === true;
  }

  /** Word writes so far (since the simulator started, boot included). */
  get wordWrites(): number {
    return this.words;
  }

  /** Erases per page since the simulator started, interrupted ones included (the file flash also keeps lifetime counts). */
  get erasesSinceStart(): number[] {
    return this.pageErases.slice();
  }

  get isPowered(): boolean {
    return this.powered;
  }

  /** Cut power at absolute word write `n` (> wordWrites), or cancel with undefined. */
  setCutAt(n: number | undefined): void {
    if (n !== undefined && (!Number.isInteger(n) || n <= this.words))
      throw new RangeError(`a power cut must come at a later word write than the ${this.words} already made, got ${n}`);
    this.cutAt = n;
  }

  get pendingCutAt(): number | undefined {
    return this.cutAt;
  }

  /** Page erases so far (since the simulator started). */
  get eraseCount(): number {
    return this.eraseTotal;
  }

  /**
   * Cut power during absolute erase `n` (> eraseCount), or cancel with undefined. `fraction` (0 to 1): the chance
   * of each 0 bit of the page coming back to 1 (default: the tearing's own choice).
   */
  setEraseCutAt(n: number | undefined, fraction?: number): void {
    if (n !== undefined && (!Number.isInteger(n) || n <= this.eraseTotal))
      throw new RangeError(`a power cut must come at a later erase than the ${this.eraseTotal} already made, got ${n}`);
    if (fraction !== undefined && !(fraction >= 0 && fraction <= 1))
      throw new RangeError(`the share of bits an interrupted erase sets is from 0 to 1, got ${fraction}`);
    this.eraseCutAt = n;
    this.eraseCutFraction = fraction;
  }

  get pendingEraseCutAt(): number | undefined {
    return this.eraseCutAt;
  }

  powerOn(): void {
    this.powered = true;
  }

  /** Power off without a write in flight (the simulator is closed). */
  powerOff(): void {
    this.powered = false;
  }

  read(page: number, offset: number, length: number): Uint8Array {
    if (!this.readWhenOff) this.checkPower();
    checkFlashAccess(this, 'read', page, offset, length);
    return this.inner.read(page, offset, length);
  }

  write(page: number, offset: number, data: Uint8Array): void {
    this.checkPower();
    const bytes = asBytes(data, 'flash write');
    checkFlashAccess(this, 'write', page, offset, bytes.length);
    if (bytes.length === 0) return;
    checkNorBits(page, offset, this.inner.read(page, offset, bytes.length), bytes);
    const n = bytes.length / this.wordSize;
    if (this.cutAt === undefined || this.words + n < this.cutAt) {
      this.inner.write(page, offset, bytes);
      this.words += n;
      return;
    }
    // the cut falls on word k of this write: words 0..k-1 land whole, word k lands torn, the rest never happen
    const k = this.cutAt - this.words - 1;
    const ws = this.wordSize;
    if (k > 0) this.inner.write(page, offset, bytes.subarray(0, k * ws));
    const at = offset + k * ws;
    const before = this.inner.read(page, at, ws);
    const intended = bytes.slice(k * ws, (k + 1) * ws);
    const landed = this.tearing.word(before, intended);
    this.inner.write(page, at, landed);
    this.words = this.cutAt;
    this.cutAt = undefined;
    this.eraseCutAt = undefined;
    this.powered = false;
    const info: PowerCutInfo = { kind: 'write', wordWrite: this.words, erase: this.eraseTotal, page, offset: at, before, intended, landed };
    this.onCut(info);
    throw new PowerCutError(`power cut after word write ${info.wordWrite}`);
  }

  erase(page: number): void {
    this.checkPower();
    checkFlashAccess(this, 'erase', page, 0, 0);
    this.eraseTotal++;
    this.pageErases[page]++;
    if (this.eraseCutAt === undefined || this.eraseTotal < this.eraseCutAt) {
      this.inner.erase(page);
      return;
    }
    // the erase is interrupted: it began (the chip counts it) and left the page partly erased
    const before = this.inner.read(page, 0, this.pageSize);
    const intended = new Uint8Array(this.pageSize).fill(0xff);
    const landed = this.tearing.page(before, this.eraseCutFraction);
    this.inner.erase(page);
    let all = true;
    for (let i = 0; i < landed.length && all; i++) all = landed[i] === 0xff;
    if (!all) this.inner.write(page, 0, landed); // only clears bits of the erased page: a legal way to leave `landed`
    this.eraseCutAt = undefined;
    this.cutAt = undefined;
    this.powered = false;
    const info: PowerCutInfo = { kind: 'erase', wordWrite: this.words, erase: this.eraseTotal, page, offset: 0, before, intended, landed };
    this.onCut(info);
    throw new PowerCutError(`power cut during erase ${info.erase} (page ${page})`);
  }

  private checkPower(): void {
    if (!this.powered) throw new PowerCutError('the board has no power');
  }
}

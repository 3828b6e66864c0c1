// The `board` global that an embedding host (the simulator, an XS or QuickJS runtime) gives the node and generic bundles.
import type { Clock, Crypto, Env, Flash, Transport } from '../../hal/index.ts';

/**
 * The board's NOR flash, as the host hands it over (docs/storage.md §2): pages of `pageSize` bytes, writes of
 * whole aligned words that only clear bits, erase sets a page to 0xFF. The host enforces those rules (the
 * simulator throws "firmware bug: …" on a violation, as the emulations of the boards do) and copies bytes across
 * its realm boundary; read returns a new array of exactly `length` bytes.
 */
export interface BoardFlash {
  readonly pageSize: number;
  readonly pageCount: number;
  readonly wordSize: number;
  read(page: number, offset: number, length: number): Uint8Array;
  write(page: number, offset: number, data: Uint8Array): void;
  erase(page: number): void;
}

/**
 * What a host program puts on globalThis.board before it evaluates the bundle. It is the whole of the
 * device's contact with the outside: no require, no process, no fs (docs/architecture.md §7).
 */
export interface BoardGlobals {
  /** Send bytes to the host link. */
  serialWrite(bytes: Uint8Array): void;
  /** Register the receiver of bytes from the host link. */
  onSerialData(cb: (bytes: Uint8Array) => void): void;
  /** Fill with random bytes from the board's TRNG (or the simulator's RNG). */
  random(buf: Uint8Array): void;
  /** Milliseconds since boot. */
  millis(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
  /** 'binary' (default) or 'armor'. */
  linkMode?: 'binary' | 'armor';
  buttonPressed?(): boolean;
  led?(on: boolean): void;
  /** Largest packet to accept (default 2048). */
  maxPacket?: number;
  /** The flash for the store; without it the core keeps its store in RAM (lost at power-off). */
  flash?: BoardFlash;
  /**
   * A monotonic counter the flash image does not carry (hal MonotonicCounter: read, advance); without it an old
   * flash image written back is not detected, and INFO says rollbackProtection false.
   */
  monotonic?: { read(): number; advance(value: number): void };
  /**
   * A Crypto HAL the host supplies instead of the bundle's noble (the node bundle only: `tinyhsm sim --fast`, on
   * node:crypto; docs/architecture.md §7). The power-on self-tests run on it all the same.
   */
  crypto?: Crypto;
}

function isCount(n: unknown): boolean {
  return typeof n === 'number' && n > 0 && n === Math.floor(n);
}

/**
 * The Flash HAL over board.flash. Checks the geometry once (a platform configuration error throws at boot, as a
 * bad maxPacket does) and copies every read into this realm, so the core's `instanceof Uint8Array` holds whatever
 * realm the host allocated in.
 */
export function flashFromBoard(f: BoardFlash): Flash {
  const pageSize = f.pageSize;
  const pageCount = f.pageCount;
  const wordSize = f.wordSize;
  if (typeof f.read !== 'function' || typeof f.write !== 'function' || typeof f.erase !== 'function')
    throw new Error('tinyhsm: board.flash needs read, write and erase functions (firmware/platform/common/board.ts)');
  if (!isCount(pageSize) || !isCount(pageCount) || !isCount(wordSize) || pageSize % wordSize !== 0)
    throw new Error(
      'tinyhsm: board.flash has an unusable geometry (pageSize ' +
        pageSize +
        ', pageCount ' +
        pageCount +
        ', wordSize ' +
        wordSize +
        '): the page size must be a whole number of words (firmware/platform/common/board.ts)',
    );
  return {
    pageSize,
    pageCount,
    wordSize,
    read(page, offset, length) {
      const got = f.read(page, offset, length);
      if (!got || got.length !== length)
        throw new Error('tinyhsm: board.flash.read(' + page + ', ' + offset + ', ' + length + ') returned ' + (got ? got.length + ' bytes' : String(got)));
      const out = new Uint8Array(length);
      out.set(got);
      return out;
    },
    write(page, offset, data) {
      f.write(page, offset, data);
    },
    erase(page) {
      f.erase(page);
    },
  };
}

/**
 * The Flash HAL rules for adapters over raw chips that do not enforce them (a real NOR chip silently ANDs a 0→1
 * write; Kaluma ignores a misaligned one): the RAM flash's own checks (core/nor_rules.ts), with the simulator's messages.
 */
export { checkFlashCall, checkNorWrite } from '../../core/nor_rules.ts';

/** Wrap the board globals into the HAL Env. */
export function envFromBoard(board: BoardGlobals, platform: string, crypto: Crypto): Env {
  const transport: Transport = {
    mode: board.linkMode === 'armor' ? 'armor' : 'binary',
    write: (bytes) => board.serialWrite(bytes),
    onData: (cb) => board.onSerialData(cb),
  };
  const clock: Clock = {
    now: () => board.millis(),
    setTimer: (ms, fn) => board.setTimer(ms, fn),
    clearTimer: (h) => board.clearTimer(h),
  };
  const buttonPressed = board.buttonPressed;
  const led = board.led;
  return {
    platform,
    transport,
    rng: { fill: (buf) => board.random(buf) },
    clock,
    crypto,
    presence: buttonPressed ? { isPressed: () => buttonPressed() } : undefined,
    led: led ? { set: (on) => led(on) } : undefined,
    flash: board.flash ? flashFromBoard(board.flash) : undefined,
    monotonic: board.monotonic,
    maxPacket: board.maxPacket,
  };
}

// Maps Kaluma 1.x globals (RP2040, JerryScript) to the HAL: armored frames over the REPL's USB CDC, the RP2 RNG, millis(), LED and button.
//
// What this relies on, and why (Kaluma sources and docs, kaluma-project/kaluma 1.2.1; docs/api/*.md):
//
// * Link: USB CDC is owned by Kaluma's REPL. Every turn of Kaluma's event loop hands all received bytes to the
//   REPL (src/io.c km_io_tty_run → src/repl.c), which echoes them and evaluates each line as JavaScript, and a
//   received 0x03 stops the VM (targets/rp2/src/tty.c: tud_cdc_rx_wanted_cb → km_runtime_set_vm_stop). A
//   program can read the same bytes with `process.stdin.read()` (src/modules/stream: returns a Uint8Array of
//   everything buffered, or null) and write raw bytes with `process.stdout.write(Uint8Array)` — but only bytes
//   that arrive while JavaScript is running are its own: the moment it returns to the event loop, the REPL takes
//   the rest. So the adapter OWNS the loop: `run()` never returns; it polls stdin, feeds the core, and runs its
//   own timer queue (Kaluma's setTimeout cannot fire while the loop runs). USB itself keeps working because the
//   pico-sdk services TinyUSB from a background interrupt (pico_enable_stdio_usb). Frames travel in the text
//   armor ('*' base64(packet) '\n', firmware/protocol/frame.ts) because the line never contains 0x03 and stays
//   printable whatever the REPL printed before the program took over. Kaluma builds its stdio with
//   PICO_STDIO_DEFAULT_CRLF=0, so '\n' goes out unchanged (the reader also tolerates '\r\n').
//   To get the REPL back, send 0x03 (Ctrl-C); to boot without the program, hold GPIO 22 low at reset
//   (SCR_LOAD_GPIO in targets/rp2/boards/pico/board.h).
// * RNG: `require('rp2').randomBigInt()` (Kaluma ≥ 1.2.0) returns 128 bits from the pico-sdk's pico_rand
//   (get_rand_128: ring-oscillator, timer and bus-counter entropy mixed into a 128-bit generator; on RP2350 the
//   chip's TRNG). It is the only hardware-backed source Kaluma exposes (Math.random is a seeded PRNG, see
//   `seed()` in docs/api/global.md). Bytes are taken with `&` and `>>` only: JerryScript 2.4's BigInt division
//   is buggy (P-256 comes out wrong, docs/architecture.md §3), shifts and masks are not affected. A continuous test (FIPS 140-2
//   §4.9.2 style) refuses two equal consecutive 128-bit draws.
// * Clock: `millis()`; made monotonic here because it follows the RTC once one is set.
// * LED: `board.LED` (25 on the Pico) with pinMode/digitalWrite. Button: the Pico has no user button, so presence
//   is an optional GPIO (to ground, pulled up) given by the entry point.
// * Flash: `require('flash').Flash`, the block device of src/modules/flash/module_flash.c: `new Flash(base, count)`
//   addresses 4 KiB sectors counted from KALUMA_FLASH_OFFSET (1008 KiB into the chip on rp2 boards);
//   `read(block, buffer, offset)` copies from the memory-mapped flash; `write(block, buffer, offset)` programs
//   through km_flash_program, which refuses (and the module silently ignores the refusal) unless the address and
//   size are multiples of the 256-byte program page; `ioctl(6, block)` erases a sector, `ioctl(4)`/`ioctl(5)`/
//   `ioctl(7)` give the count, the sector size and the program size. The chip ANDs a program into what is there.
//   The region used is Kaluma's "storage" area, sectors 0..3 (16 KiB; targets/rp2/boards/pico/board.h
//   KALUMA_STORAGE_SECTOR_BASE/COUNT): uploading a program (`kaluma flash`, `.flash -e`) erases only the program
//   sectors 4..131 (src/prog.c km_prog_clear), and sectors 132..259 are the littlefs that board.js mounts, so the
//   store survives firmware updates and never meets the file system. The cost: Kaluma's own `storage` module
//   (localStorage-like) shares those sectors and must not be used alongside tinyhsm.
//   This adapter checks the HAL rules itself (the chip would silently AND a 0→1 write, and Kaluma ignores a
//   misaligned one) and reads every write back, so a refused or failing program is an error, not silent loss.
import type { Clock, Env, Flash, Led, Presence, Rng, TimerHandle, Transport, Crypto } from '../../hal/index.ts';
import { checkFlashCall, checkNorWrite } from '../common/board.ts';

/** `process.stdin` / `process.stdout` of Kaluma's stream module. */
export interface KalumaStdin {
  read(size?: number): Uint8Array | null;
}
export interface KalumaStdout {
  write(chunk: Uint8Array): unknown;
}

/** `require('rp2')` (RP2 targets only). */
export interface KalumaRp2 {
  randomBigInt(): bigint;
}

/** `require('flash').Flash` instances. */
export interface KalumaBlockDevice {
  read(block: number, buffer: Uint8Array, offset?: number): void;
  write(block: number, buffer: Uint8Array, offset?: number): void;
  ioctl(op: number, arg?: number): number;
}

/** `require('flash')`. */
export interface KalumaFlashModule {
  Flash: new (base?: number, count?: number) => KalumaBlockDevice;
}

/** Kaluma's "storage" sectors on rp2 boards (board.h KALUMA_STORAGE_SECTOR_BASE/COUNT): see the header. */
export const KALUMA_STORE_BASE = 0;
export const KALUMA_STORE_SECTORS = 4;
const KALUMA_SECTOR = 4096;
const KALUMA_PROGRAM_PAGE = 256;

/** The Kaluma globals this adapter touches (docs/api/global.md, process.md, timers.md, board.md, digital-io.md). */
export interface KalumaGlobals {
  process: { stdin: KalumaStdin; stdout: KalumaStdout };
  require(name: string): unknown;
  millis(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  board?: { name?: string; LED?: number };
  pinMode?(pin: number, mode: number): void;
  digitalWrite?(pin: number, value: number): void;
  digitalRead?(pin: number): number;
  OUTPUT?: number;
  INPUT_PULLUP?: number;
  HIGH?: number;
  LOW?: number;
}

export interface KalumaOptions {
  /** GPIO of a push button to ground used as the user-presence button (pulled up internally). */
  buttonPin?: number;
  /** Largest packet to accept (default 2048). */
  maxPacket?: number;
  /** Flash for the store, e.g. openKalumaFlash(k); none if absent (the core then keeps its store in RAM). */
  flash?: Flash;
}

/** The process's global object: `globalThis` where JerryScript has it, else Kaluma's `global`. */
export function kalumaGlobals(): KalumaGlobals {
  if (typeof globalThis !== 'undefined') return globalThis as unknown as KalumaGlobals;
  if (typeof global !== 'undefined') return global as unknown as KalumaGlobals;
  throw new Error('tinyhsm: no global object (neither globalThis nor global)');
}

/** Missing pieces of the Kaluma API, as text a person can act on; empty when everything needed is there. */
export function checkKaluma(k: KalumaGlobals): string[] {
  const missing: string[] = [];
  const proc = k.process as { stdin?: unknown; stdout?: unknown } | undefined;
  if (!proc || !proc.stdin || !proc.stdout) missing.push('process.stdin/process.stdout (Kaluma ≥ 1.0 stream module)');
  if (typeof k.require !== 'function') missing.push('require()');
  if (typeof k.millis !== 'function') missing.push('millis()');
  if (typeof k.setTimeout !== 'function') missing.push('setTimeout()');
  return missing;
}

/**
 * Hardware RNG from rp2.randomBigInt(), 16 bytes per draw, with a continuous test against a stuck source: every
 * draw must differ from the one before. The block kept for the next comparison is an extra draw that is never
 * output, so no copy of returned (possibly key) bytes outlives the call.
 */
export function createKalumaRng(rp2: KalumaRp2): Rng {
  if (!rp2 || typeof rp2.randomBigInt !== 'function')
    throw new Error("tinyhsm: require('rp2').randomBigInt() is missing; this needs Kaluma >= 1.2.0 on an RP2 board");
  const mask = BigInt(255);
  const eight = BigInt(8);
  const draw = (into: Uint8Array, prev: Uint8Array | undefined): void => {
    let r = rp2.randomBigInt();
    for (let i = 0; i < 16; i++) {
      into[i] = Number(r & mask);
      r = r >> eight;
    }
    if (prev !== undefined) {
      let d = 0;
      for (let i = 0; i < 16; i++) d |= into[i] ^ prev[i];
      if (d === 0) throw new Error('tinyhsm: RNG continuous test failed (two equal 128-bit draws)');
    }
  };
  const sentinel = new Uint8Array(16);
  draw(sentinel, undefined);
  return {
    fill(buf: Uint8Array): void {
      let prev = new Uint8Array(16);
      let cur = new Uint8Array(16);
      prev.set(sentinel);
      try {
        for (let o = 0; o < buf.length; o += 16) {
          draw(cur, prev);
          const n = buf.length - o < 16 ? buf.length - o : 16;
          for (let i = 0; i < n; i++) buf[o + i] = cur[i];
          const t = prev;
          prev = cur;
          cur = t;
        }
        draw(sentinel, prev);
      } finally {
        prev.fill(0);
        cur.fill(0);
      }
    },
  };
}

/** A clock that never goes back even if millis() does (it follows the RTC once set). */
export function monotonicMillis(read: () => number): () => number {
  let last = read();
  let offset = 0;
  return () => {
    const t = read() + offset;
    if (t < last) {
      offset += last - t;
      return last;
    }
    last = t;
    return t;
  };
}

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

/** Timers run by the adapter's own loop (Kaluma's setTimeout cannot fire while the loop owns the CPU). */
export class TimerQueue {
  private timers: Timer[] = [];
  private nextId = 1;
  add(due: number, fn: () => void): number {
    const id = this.nextId++;
    this.timers.push({ id, due, fn });
    return id;
  }
  cancel(id: unknown): void {
    for (let i = 0; i < this.timers.length; i++) {
      if (this.timers[i].id === id) {
        this.timers.splice(i, 1);
        return;
      }
    }
  }
  get size(): number {
    return this.timers.length;
  }
  /** Run every timer due at `now`, earliest first; a timer added meanwhile waits for the next call. Returns how many ran. */
  runDue(now: number, onError: (e: unknown) => void): number {
    let ran = 0;
    const budget = this.timers.length;
    while (ran < budget) {
      let best = -1;
      for (let i = 0; i < this.timers.length; i++) {
        const t = this.timers[i];
        if (t.due <= now && (best < 0 || t.due < this.timers[best].due)) best = i;
      }
      if (best < 0) break;
      const t = this.timers.splice(best, 1)[0];
      ran++;
      try {
        t.fn();
      } catch (e) {
        onError(e);
      }
    }
    return ran;
  }
}

/**
 * The HAL flash over a Kaluma block device: 4 KiB erase pages of 4-byte words. The RP2040 programs whole 256-byte
 * pages, so a write programs the program pages it touches with 0xFF everywhere but the words asked for (0xFF
 * programs nothing: the other words keep what they hold). The HAL rules are checked first and the write is read
 * back (see the header).
 */
export function createKalumaFlash(dev: KalumaBlockDevice, pageCount: number): Flash {
  const geometry = { pageSize: KALUMA_SECTOR, pageCount, wordSize: 4 };
  return {
    pageSize: KALUMA_SECTOR,
    pageCount,
    wordSize: 4,
    read(page, offset, length) {
      checkFlashCall(geometry, 'read', page, offset, length);
      const buf = new Uint8Array(length);
      if (length > 0) dev.read(page, buf, offset);
      return buf;
    },
    write(page, offset, data) {
      checkFlashCall(geometry, 'write', page, offset, data.length);
      if (data.length === 0) return;
      const start = offset - (offset % KALUMA_PROGRAM_PAGE);
      const end = Math.ceil((offset + data.length) / KALUMA_PROGRAM_PAGE) * KALUMA_PROGRAM_PAGE;
      const current = new Uint8Array(data.length);
      dev.read(page, current, offset);
      checkNorWrite(page, offset, current, data);
      const buf = new Uint8Array(end - start);
      buf.fill(0xff);
      buf.set(data, offset - start);
      dev.write(page, buf, start);
      dev.read(page, current, offset);
      for (let i = 0; i < data.length; i++) {
        if (current[i] !== data[i])
          throw new Error('flash: the write at page ' + page + ' offset ' + (offset + i) + ' did not take (the chip refused it or the cell is worn)');
      }
    },
    erase(page) {
      checkFlashCall(geometry, 'erase', page, 0, 0);
      dev.ioctl(6, page);
    },
  };
}

/**
 * The store's flash on Kaluma: `count` sectors from `base` through require('flash'), KALUMA_STORE_BASE/SECTORS by
 * default. Undefined when this Kaluma has no flash module or its geometry is not 4 KiB sectors programmed in
 * 256-byte pages (then the core keeps its store in RAM and INFO says so).
 */
export function openKalumaFlash(k: KalumaGlobals, base?: number, count?: number): Flash | undefined {
  const b = base === undefined ? KALUMA_STORE_BASE : base;
  const n = count === undefined ? KALUMA_STORE_SECTORS : count;
  let mod: KalumaFlashModule | undefined;
  try {
    mod = k.require('flash') as KalumaFlashModule;
  } catch (e) {
    return undefined;
  }
  if (!mod || typeof mod.Flash !== 'function') return undefined;
  const dev = new mod.Flash(b, n);
  if (dev.ioctl(5) !== KALUMA_SECTOR || dev.ioctl(7) !== KALUMA_PROGRAM_PAGE || dev.ioctl(4) !== n) return undefined;
  return createKalumaFlash(dev, n);
}

export interface KalumaLink {
  readonly transport: Transport;
  readonly clock: Clock;
  /** One turn: deliver what stdin holds, run due timers. Returns true if anything happened. */
  pump(): boolean;
  /** Own the CPU from now on (see the header). Returns only by an abort (Ctrl-C) or a failing stdin. */
  run(): void;
  /** Exceptions the core let escape (receive handler or timer); the loop survives them. */
  readonly faults: number;
}

/** Transport (armor mode) and clock over process.stdin/stdout, with the loop that owns stdin. */
export function createKalumaLink(k: KalumaGlobals): KalumaLink {
  const stdin = k.process.stdin;
  const stdout = k.process.stdout;
  const now = monotonicMillis(() => k.millis());
  const timers = new TimerQueue();
  let receiver: ((bytes: Uint8Array) => void) | undefined;
  let faults = 0;
  let started = false;
  const fault = (): void => {
    faults++;
    // a console line, not a frame: the host's armor reader drops it. No details: they could carry secrets.
    try {
      stdout.write(asciiBytes('tinyhsm: internal fault ' + faults + '\n'));
    } catch (e) {
      // nothing more to do: the link itself is failing
    }
  };
  const transport: Transport = {
    mode: 'armor',
    write(bytes) {
      try {
        stdout.write(bytes);
      } catch (e) {
        // the HAL contract: write never throws; a platform drops what it cannot send
      }
    },
    onData(cb) {
      receiver = cb;
    },
  };
  const clock: Clock = {
    now,
    setTimer: (ms: number, fn: () => void): TimerHandle => timers.add(now() + (ms > 0 ? ms : 0), fn),
    clearTimer: (h: TimerHandle) => timers.cancel(h),
  };
  const pump = (): boolean => {
    let busy = false;
    const chunk = stdin.read();
    if (chunk !== null && chunk !== undefined && chunk.length > 0) {
      busy = true;
      if (receiver) {
        try {
          receiver(chunk);
        } catch (e) {
          fault();
        }
      }
    }
    if (timers.size > 0 && timers.runDue(now(), fault) > 0) busy = true;
    return busy;
  };
  return {
    transport,
    clock,
    pump,
    run() {
      if (!started) {
        started = true;
        // end whatever the REPL printed last (its "> " prompt) so the first armor line starts a line
        transport.write(asciiBytes('\r\n'));
      }
      for (;;) pump();
    },
    get faults() {
      return faults;
    },
  };
}

function asciiBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0x7f;
  return b;
}

function kalumaLed(k: KalumaGlobals): Led | undefined {
  const pin = k.board ? k.board.LED : undefined;
  const pinMode = k.pinMode;
  const digitalWrite = k.digitalWrite;
  if (typeof pin !== 'number' || typeof pinMode !== 'function' || typeof digitalWrite !== 'function') return undefined;
  pinMode(pin, typeof k.OUTPUT === 'number' ? k.OUTPUT : 1);
  const hi = typeof k.HIGH === 'number' ? k.HIGH : 1;
  const lo = typeof k.LOW === 'number' ? k.LOW : 0;
  return { set: (on) => digitalWrite(pin, on ? hi : lo) };
}

function kalumaButton(k: KalumaGlobals, pin: number | undefined): Presence | undefined {
  const pinMode = k.pinMode;
  const digitalRead = k.digitalRead;
  if (typeof pin !== 'number' || typeof pinMode !== 'function' || typeof digitalRead !== 'function') return undefined;
  pinMode(pin, typeof k.INPUT_PULLUP === 'number' ? k.INPUT_PULLUP : 2);
  const lo = typeof k.LOW === 'number' ? k.LOW : 0;
  return { isPressed: () => digitalRead(pin) === lo };
}

/** The whole Env for Kaluma plus the loop to run. The RNG is passed in: the entry creates it before noble loads. */
export function createKalumaEnv(k: KalumaGlobals, rng: Rng, crypto: Crypto, opts?: KalumaOptions): { env: Env; link: KalumaLink } {
  const o = opts || {};
  const link = createKalumaLink(k);
  const env: Env = {
    platform: 'kaluma',
    transport: link.transport,
    rng,
    clock: link.clock,
    crypto,
    led: kalumaLed(k),
    presence: kalumaButton(k, o.buttonPin),
    flash: o.flash,
    maxPacket: o.maxPacket,
  };
  return { env, link };
}

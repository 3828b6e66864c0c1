// Maps Espruino globals to the HAL: raw binary frames on USB after moving the console to LoopbackA, E.hwRand, getTime, setTimeout, LED1/BTN1, Flash.
//
// What this relies on, and why (espruino/Espruino src/jswrap_serial.c, jswrap_espruino.c, jswrap_flash.c):
// * Link: while the JavaScript console (REPL) sits on USB it consumes every received byte. `LoopbackA.setConsole(true)`
//   moves it to the loopback device; `true` (force) keeps Espruino from moving it back when USB is re-plugged.
//   This happens first, before the data handler is registered and before any byte is written, so no frame ever
//   meets the REPL. Then `USB.on('data', s)` delivers received bytes as a string of char codes 0..255 and
//   `USB.write(Uint8Array)` sends bytes unmodified: COBS binary frames (Transport mode 'binary').
//   To get the console back: reset the board while holding BTN1 (Espruino boots without the saved code), or
//   run `USB.setConsole()` from a console on another port.
// * RNG: `E.hwRand()` (a 32-bit int per call) — nRF52: the SoftDevice's hardware TRNG; RP2xxx: pico_rand;
//   STM32F4 (Espruino Pico/WiFi): noise of the internal voltage reference, read through the ADC, XOR-rotated
//   32 times, the weakest of the three. Espruino offers nothing better on those chips; with no BigInt this port
//   creates no keys (below), so the RNG only serves RANDOM and the device id. A continuous test refuses two
//   equal consecutive words (FIPS 140-2 §4.9.2 style).
// * Crypto: no BigInt, so no curves: see crypto.ts. ECHO, INFO and RANDOM work; INFO says why no algorithm is offered.
// * Clock: `getTime()` (seconds, float), made monotonic because setTime() can move it. Timers: setTimeout/clearTimeout.
// * LED: `LED1` with digitalWrite; presence: `BTN1` (or `BTN`), which reads 1 while pressed on official boards.
// * Flash: `require('Flash')` (jswrap_flash.c). `getFree()` lists page-aligned areas Espruino itself does not use
//   (not its firmware, saved code or the Storage library's area), so erasing them is safe; `getPage(addr)` gives
//   the page holding an address, `erasePage(addr)` erases it, `read(length, addr)` returns a Uint8Array (undefined
//   for length 0), and `write(data, addr)` programs through jshFlashWriteAligned, which would pad a misaligned
//   write by re-writing the neighbouring bytes and, as the chip does, ANDs into what is there. The store takes the
//   first free area whose pages are all the same size (STM32F4 sectors are not) and at least 2 of them, up to
//   ESPRUINO_STORE_MAX_PAGES pages from its start. The HAL rules are checked here (the chip would silently AND a
//   0→1 write) and every write is read back.
import type { Clock, Crypto, Env, Flash, Led, Presence, Rng, TimerHandle, Transport } from '../../hal/index.ts';
import { checkFlashCall, checkNorWrite } from '../common/board.ts';

/** An Espruino Serial device (USB, Serial1, LoopbackA). */
export interface EspruinoSerial {
  on(event: 'data', cb: (data: string) => void): void;
  removeAllListeners?(event: 'data'): void;
  write(data: Uint8Array | string): void;
  setConsole(force?: boolean): void;
}

/** `require('Flash')`. */
export interface EspruinoFlashModule {
  getFree(): { addr: number; length: number }[] | undefined;
  getPage(addr: number): { addr: number; length: number } | undefined;
  erasePage(addr: number): void;
  write(data: Uint8Array, addr: number): void;
  read(length: number, addr: number): Uint8Array | undefined;
}

/** The Espruino globals this adapter touches. */
export interface EspruinoGlobals {
  USB?: EspruinoSerial;
  Serial1?: EspruinoSerial;
  LoopbackA: EspruinoSerial;
  E: { hwRand(): number; on?(event: 'errorFlag', cb: (flags: string[]) => void): void; getErrorFlags?(): string[] };
  getTime(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  require?(name: string): unknown;
  LED1?: unknown;
  BTN1?: unknown;
  BTN?: unknown;
  digitalWrite?(pin: unknown, value: boolean | number): void;
  digitalRead?(pin: unknown): number;
}

export interface EspruinoOptions {
  /** Which serial device carries frames; default USB, else Serial1. */
  link?: 'USB' | 'Serial1';
  /** Largest packet to accept (default 2048). */
  maxPacket?: number;
  /** Use the free flash area for the store (default true). */
  useFlash?: boolean;
  /** Most pages the store takes (default ESPRUINO_STORE_MAX_PAGES). */
  flashPages?: number;
}

/** Pages the store takes at most from a free area (INFO reports up to 256; the store needs far fewer). */
export const ESPRUINO_STORE_MAX_PAGES = 32;

/** The global object: `globalThis` (Espruino 2v2x) or the older `global`. */
export function espruinoGlobals(): EspruinoGlobals {
  if (typeof globalThis !== 'undefined') return globalThis as unknown as EspruinoGlobals;
  if (typeof global !== 'undefined') return global as unknown as EspruinoGlobals;
  throw new Error('tinyhsm: no global object (neither globalThis nor global)');
}

/** Missing pieces, as text a person can act on; empty when everything needed is there. */
export function checkEspruino(g: EspruinoGlobals): string[] {
  const missing: string[] = [];
  if (!g.LoopbackA || typeof g.LoopbackA.setConsole !== 'function') missing.push('LoopbackA.setConsole');
  if (!g.E || typeof g.E.hwRand !== 'function') missing.push('E.hwRand (not in SAVE_ON_FLASH builds)');
  if (typeof g.getTime !== 'function') missing.push('getTime');
  if (typeof g.setTimeout !== 'function' || typeof g.clearTimeout !== 'function') missing.push('setTimeout/clearTimeout');
  if (!g.USB && !g.Serial1) missing.push('a USB or Serial1 device');
  return missing;
}

/** E.hwRand() words with a continuous test; the word kept for the comparison is never output. */
export function createEspruinoRng(E: { hwRand(): number }): Rng {
  let sentinel = E.hwRand() | 0;
  return {
    fill(buf: Uint8Array): void {
      let prev = sentinel;
      for (let o = 0; o < buf.length; o += 4) {
        const w = E.hwRand() | 0;
        if (w === prev) throw new Error('tinyhsm: RNG continuous test failed (two equal words from E.hwRand)');
        prev = w;
        for (let i = 0; i < 4 && o + i < buf.length; i++) buf[o + i] = (w >>> (8 * i)) & 0xff;
      }
      const next = E.hwRand() | 0;
      if (next === prev) throw new Error('tinyhsm: RNG continuous test failed (two equal words from E.hwRand)');
      sentinel = next;
      prev = 0;
    },
  };
}

/** Espruino delivers serial data as a string of char codes 0..255. */
export function stringToBytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

function monotonicMs(getTime: () => number): () => number {
  let last = getTime() * 1000;
  let offset = 0;
  return () => {
    const t = getTime() * 1000 + offset;
    if (t < last) {
      offset += last - t;
      return last;
    }
    last = t;
    return t;
  };
}

/** How many pages of one size follow `addr` in an area of `length` bytes (stops at the first page of another size). */
function uniformPages(mod: EspruinoFlashModule, addr: number, length: number, pageSize: number, max: number): number {
  let n = 0;
  while (n < max && (n + 1) * pageSize <= length) {
    const p = mod.getPage(addr + n * pageSize);
    if (!p || p.addr !== addr + n * pageSize || p.length !== pageSize) break;
    n++;
  }
  return n;
}

/** The HAL flash over the first usable free area of Espruino's flash (see the header), or undefined if none. */
export function createEspruinoFlash(mod: EspruinoFlashModule, maxPages?: number): Flash | undefined {
  const max = maxPages === undefined ? ESPRUINO_STORE_MAX_PAGES : maxPages;
  const areas = mod.getFree();
  if (!areas) return undefined;
  for (let a = 0; a < areas.length; a++) {
    const area = areas[a];
    const first = mod.getPage(area.addr);
    if (!first || first.addr !== area.addr || !(first.length > 0) || first.length % 4 !== 0) continue;
    const pageSize = first.length;
    const pageCount = uniformPages(mod, area.addr, area.length, pageSize, max);
    if (pageCount < 2) continue;
    const base = area.addr;
    const geometry = { pageSize, pageCount, wordSize: 4 };
    const readRaw = (addr: number, length: number): Uint8Array => {
      const got = mod.read(length, addr);
      const out = new Uint8Array(length);
      if (got) out.set(got);
      return out;
    };
    return {
      pageSize,
      pageCount,
      wordSize: 4,
      read(page, offset, length) {
        checkFlashCall(geometry, 'read', page, offset, length);
        if (length === 0) return new Uint8Array(0);
        return readRaw(base + page * pageSize + offset, length);
      },
      write(page, offset, data) {
        checkFlashCall(geometry, 'write', page, offset, data.length);
        if (data.length === 0) return;
        const addr = base + page * pageSize + offset;
        checkNorWrite(page, offset, readRaw(addr, data.length), data);
        mod.write(data, addr);
        const back = readRaw(addr, data.length);
        for (let i = 0; i < data.length; i++) {
          if (back[i] !== data[i])
            throw new Error('flash: the write at page ' + page + ' offset ' + (offset + i) + ' did not take (the chip refused it or the cell is worn)');
        }
      },
      erase(page) {
        checkFlashCall(geometry, 'erase', page, 0, 0);
        mod.erasePage(base + page * pageSize);
      },
    };
  }
  return undefined;
}

/**
 * The whole Env for Espruino. Order matters: the console leaves USB before the data handler is registered
 * (by the core, through transport.onData) and before anything is written.
 */
export function createEspruinoEnv(g: EspruinoGlobals, rng: Rng, crypto: Crypto, opts?: EspruinoOptions): Env {
  const o = opts || {};
  g.LoopbackA.setConsole(true);
  const wanted = o.link === 'Serial1' ? g.Serial1 : g.USB ? g.USB : g.Serial1;
  if (!wanted) throw new Error('tinyhsm: no ' + (o.link || 'USB') + ' serial device on this board');
  const link: EspruinoSerial = wanted;
  const transport: Transport = {
    mode: 'binary',
    write(bytes) {
      try {
        link.write(bytes);
      } catch (e) {
        // the HAL contract: write never throws
      }
    },
    onData(cb) {
      const handler = (s: string) => cb(stringToBytes(s));
      link.on('data', handler);
      // Espruino removes a data handler that failed (src/jswrap_stream.c: "Error processing Serial data handler -
      // removing it"), as when a request runs the board out of JsVars (measured: a 1,024-byte RANDOM on 8,190), and
      // the board would then answer nothing until reset. It also sets the CALLBACK error flag, which raises E's
      // errorFlag event: the handler goes back there, so the failed request times out and the next one is answered.
      // Reading the flags clears them, so that the next failure raises the event again (src/jsinteractive.c). Espruino
      // raises the event on the global object named E, and reading globalThis.E hands out a built-in object without
      // making it that global (src/jsparse.c jspGetNamedVariable does, for a bare `E` only): it is stored back first,
      // or the listener would sit on an object nobody raises events on (measured in the twin).
      const E = g.E;
      g.E = E;
      if (typeof E.on === 'function' && typeof E.getErrorFlags === 'function' && typeof link.removeAllListeners === 'function') {
        const getErrorFlags = E.getErrorFlags;
        const removeAll = link.removeAllListeners;
        E.on('errorFlag', (flags: string[]) => {
          getErrorFlags.call(E);
          if (flags.indexOf('CALLBACK') < 0) return;
          removeAll.call(link, 'data');
          link.on('data', handler);
        });
      }
    },
  };
  const now = monotonicMs(() => g.getTime());
  const clock: Clock = {
    now,
    setTimer: (ms: number, fn: () => void): TimerHandle => g.setTimeout(fn, ms > 0 ? ms : 0),
    clearTimer: (h: TimerHandle) => g.clearTimeout(h),
  };
  let led: Led | undefined;
  const digitalWrite = g.digitalWrite;
  if (g.LED1 !== undefined && typeof digitalWrite === 'function') {
    const pin = g.LED1;
    led = { set: (on) => digitalWrite(pin, on) };
  }
  let presence: Presence | undefined;
  const btn = g.BTN1 !== undefined ? g.BTN1 : g.BTN;
  const digitalRead = g.digitalRead;
  if (btn !== undefined && typeof digitalRead === 'function') presence = { isPressed: () => digitalRead(btn) === 1 };
  let flash: Flash | undefined;
  if (o.useFlash !== false && typeof g.require === 'function') {
    try {
      flash = createEspruinoFlash(g.require('Flash') as EspruinoFlashModule, o.flashPages);
    } catch (e) {
      flash = undefined;
    }
  }
  return { platform: 'espruino', transport, rng, clock, crypto, led, presence, flash, maxPacket: o.maxPacket };
}

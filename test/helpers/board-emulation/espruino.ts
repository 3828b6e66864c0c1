// Emulation of the Espruino globals the espruino bundle touches (USB/LoopbackA serial and the console, E.hwRand, getTime, timers, LED1/BTN1, Flash), in a vm context stripped to what Espruino's library has.
//
// Modelled on espruino/Espruino (src/jswrap_serial.c, jswrap_espruino.c, jswrap_flash.c, jsinteractive.c):
// * The console (REPL) starts on USB. While it is there, bytes from the host go to the REPL, not to
//   USB.on('data') handlers, and console.log output goes out on USB. `X.setConsole(force)` moves it.
// * USB.on('data', cb) delivers a string of char codes 0..255, in USB-packet sized pieces, asynchronously.
// * USB.write(x) sends a Uint8Array, array of numbers or string unmodified.
// * Espruino's JS library lacks Map, Set, WeakMap, Symbol, BigInt, RangeError, Proxy, Reflect,
//   Number.isSafeInteger/isInteger/MAX_SAFE_INTEGER, Array.from/of, TypedArray.from/of, ArrayBuffer.isView,
//   Object.hasOwn/freeze, Math.imul/trunc/clz32: the context's copies of those are deleted, so the bundle only
//   works if it brings what it needs (firmware/platform/espruino/polyfills.ts).
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import type { Frame } from '../../../firmware/protocol/index.ts';
import { AnswerCollector } from './wire.ts';

/** Globals and properties Espruino's library does not have (see the header). */
export const ESPRUINO_MISSING = [
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'WeakRef',
  'Symbol',
  'BigInt',
  'BigInt64Array',
  'BigUint64Array',
  'RangeError',
  'Proxy',
  'Reflect',
  'SharedArrayBuffer',
  'Atomics',
  'Number.isSafeInteger',
  'Number.isInteger',
  'Number.MAX_SAFE_INTEGER',
  'Array.from',
  'Array.of',
  'TypedArray.from',
  'TypedArray.of',
  'ArrayBuffer.isView',
  'Object.hasOwn',
  'Object.freeze',
  'Object.isFrozen',
  'Math.imul',
  'Math.trunc',
  'Math.clz32',
];

export interface EspruinoEvent {
  kind: 'setConsole' | 'usbWrite' | 'usbOnData' | 'console' | 'hostToRepl';
  detail: string;
}

/**
 * Espruino's `require('Flash')` (src/jswrap_flash.c) over one emulated free area. As on a board: erasePage(addr)
 * erases the page holding addr; write(data, addr) goes through jshFlashWriteAligned, which pads a misaligned start
 * or end by re-programming the neighbouring bytes with what they hold, and the chip ANDs the data into the page
 * (a 0→1 request is silently dropped); read(length, addr) returns a Uint8Array of the program's realm, or
 * undefined for length ≤ 0. Pages may differ in size (`layout`), as STM32F4 sectors do. What a correct adapter
 * never does is recorded (violations, unaligned, outside) so tests can assert those lists stay empty.
 */
export class EmulatedEspruinoFlash {
  readonly base = 0x70000;
  /** Size of every page of the area, in order. */
  readonly layout: number[];
  readonly mem: Uint8Array;
  /** Writes that asked for a 1 over a 0 (real NOR keeps the 0 and says nothing). */
  readonly violations: string[] = [];
  /** Writes whose address or length was not a multiple of 4 (Espruino pads them; the HAL never asks for one). */
  readonly unaligned: string[] = [];
  /** Accesses beyond the free area (on a board: Espruino's own firmware or saved code). */
  readonly outside: string[] = [];
  readonly erases: number[];

  /** `pages` pages of 4096 bytes, or the given page sizes. */
  constructor(pages: number | number[]) {
    this.layout = typeof pages === 'number' ? new Array<number>(pages).fill(4096) : pages.slice();
    this.mem = new Uint8Array(this.layout.reduce((a, b) => a + b, 0)).fill(0xff);
    this.erases = new Array<number>(this.layout.length).fill(0);
  }

  /** The page size when all pages are equal (the common case). */
  get pageSize(): number {
    return this.layout[0];
  }

  /** [index, start offset, length] of the page holding area offset `off`, or undefined outside the area. */
  private pageAt(off: number): [number, number, number] | undefined {
    let start = 0;
    for (let i = 0; i < this.layout.length; i++) {
      if (off >= start && off < start + this.layout[i]) return [i, start, this.layout[i]];
      start += this.layout[i];
    }
    return undefined;
  }

  private inside(addr: number, length: number, what: string): boolean {
    const off = addr - this.base;
    if (off >= 0 && off + length <= this.mem.length) return true;
    this.outside.push(`${what} at 0x${addr.toString(16)} (${length} bytes)`);
    return false;
  }

  module(ctxUint8Array: Uint8ArrayConstructor): object {
    return {
      getFree: () => [{ addr: this.base, length: this.mem.length }],
      getPage: (addr: number) => {
        const p = this.pageAt(addr - this.base);
        return p ? { addr: this.base + p[1], length: p[2] } : undefined;
      },
      erasePage: (addr: unknown) => {
        if (typeof addr !== 'number' || !Number.isInteger(addr)) throw new Error('Address should be an integer');
        const p = this.pageAt(addr - this.base);
        if (!p) {
          this.outside.push(`erasePage(0x${addr.toString(16)})`);
          return;
        }
        this.mem.fill(0xff, p[1], p[1] + p[2]);
        this.erases[p[0]]++;
      },
      write: (data: ArrayLike<number>, addr: number) => {
        if (data === undefined) throw new Error('Data is not defined');
        if (addr % 4 !== 0 || data.length % 4 !== 0) this.unaligned.push(`write(${data.length} bytes, 0x${addr.toString(16)})`);
        if (!this.inside(addr, data.length, 'write')) return;
        const off = addr - this.base;
        for (let i = 0; i < data.length; i++) {
          const cur = this.mem[off + i];
          const want = data[i] & 0xff;
          if ((want & ~cur & 0xff) !== 0) this.violations.push(`0x${(addr + i).toString(16)}: 0x${cur.toString(16)} -> 0x${want.toString(16)}`);
          this.mem[off + i] = cur & want;
        }
      },
      read: (length: number, addr: number) => {
        if (!(length > 0)) return undefined;
        if (!this.inside(addr, length, 'read')) return new ctxUint8Array(length);
        const off = addr - this.base;
        const out = new ctxUint8Array(length);
        out.set(this.mem.subarray(off, off + length));
        return out;
      },
    };
  }
}

export interface EspruinoBoardOptions {
  bundle: string;
  /** Bytes per USB packet delivered to on('data') (full-speed CDC: 64). */
  packet?: number;
  hwRand?: () => number;
  /** The board's free flash area; pass the one of an earlier board to model a reset. Default: 8 erased 4 KiB pages. */
  flash?: EmulatedEspruinoFlash;
}

export class EspruinoBoard {
  readonly context: vm.Context;
  /** Where the console is: 'USB' at power-on. */
  consoleDevice = 'USB';
  consoleForced = false;
  readonly events: EspruinoEvent[] = [];
  /** Bytes the board sent on USB (device → host). */
  readonly usbOut: number[] = [];
  /** Text that went to the REPL instead of the program. */
  replInput = '';
  readonly flash: EmulatedEspruinoFlash;
  readonly gpio: string[] = [];
  private handlers: ((s: string) => void)[] = [];
  private listeners: ((bytes: Uint8Array) => void)[] = [];
  private readonly packet: number;
  private pending = new Set<NodeJS.Timeout>();
  /** Exceptions thrown out of the program's callbacks (Espruino would print them: "Uncaught ..."). */
  readonly uncaught: unknown[] = [];
  private readonly t0 = performance.now();

  constructor(private readonly opts: EspruinoBoardOptions) {
    this.packet = opts.packet ?? 64;
    this.flash = opts.flash ?? new EmulatedEspruinoFlash(8);
    const self = this;
    const toBytes = (x: unknown): number[] => {
      if (typeof x === 'string') return Array.from(Buffer.from(x, 'latin1'));
      if (typeof x === 'number') return [x & 0xff];
      if (x && typeof (x as ArrayLike<number>).length === 'number') return Array.from(x as ArrayLike<number>, (b) => b & 0xff);
      throw new TypeError('Serial.write: unsupported data');
    };
    const serial = (name: string) => ({
      setConsole(force?: boolean) {
        self.consoleDevice = name;
        self.consoleForced = !!force;
        self.events.push({ kind: 'setConsole', detail: `${name}${force ? ' (forced)' : ''}` });
      },
      on(event: string, cb: (s: string) => void) {
        if (event !== 'data') return;
        if (name === 'USB') {
          self.handlers.push(cb);
          self.events.push({ kind: 'usbOnData', detail: '' });
        }
      },
      write(data: unknown) {
        if (name !== 'USB') return;
        const bytes = toBytes(data);
        self.events.push({ kind: 'usbWrite', detail: `${bytes.length} bytes` });
        self.emitUsb(bytes);
      },
    });
    const timers = {
      setTimeout: (fn: () => void, ms: number) => {
        const t = setTimeout(() => {
          this.pending.delete(t);
          try {
            fn();
          } catch (e) {
            this.uncaught.push(e);
          }
        }, ms);
        this.pending.add(t);
        return t;
      },
      clearTimeout: (t: NodeJS.Timeout) => {
        clearTimeout(t);
        this.pending.delete(t);
      },
    };
    const sandbox: { [k: string]: unknown } = {
      USB: serial('USB'),
      Serial1: serial('Serial1'),
      LoopbackA: serial('LoopbackA'),
      LoopbackB: serial('LoopbackB'),
      E: { hwRand: opts.hwRand ?? (() => randomBytes(4).readInt32LE(0)) },
      getTime: () => (performance.now() - this.t0) / 1000 + 946684800,
      setTimeout: timers.setTimeout,
      clearTimeout: timers.clearTimeout,
      LED1: { pin: 'LED1' },
      BTN1: { pin: 'BTN1' },
      digitalWrite: (pin: { pin: string }, v: unknown) => this.gpio.push(`digitalWrite ${pin.pin} ${v ? 1 : 0}`),
      digitalRead: () => 0,
      require: (name: string) => {
        if (name === 'Flash') return this.flash.module(this.ctxUint8Array());
        throw new Error(`Module ${name} not found`);
      },
      console: {
        log: (...a: unknown[]) => {
          const line = a.map(String).join(' ');
          this.events.push({ kind: 'console', detail: line });
          if (this.consoleDevice === 'USB') this.emitUsb(Array.from(Buffer.from(line + '\r\n', 'latin1')));
        },
      },
    };
    sandbox.global = sandbox;
    this.context = vm.createContext(sandbox, { name: 'espruino-emulation', codeGeneration: { strings: false, wasm: false } });
    vm.runInContext(stripLibrary(ESPRUINO_MISSING), this.context);
  }

  private ctxUint8Array(): Uint8ArrayConstructor {
    return vm.runInContext('Uint8Array', this.context);
  }

  private emitUsb(bytes: number[]): void {
    for (const b of bytes) this.usbOut.push(b);
    const u = new Uint8Array(bytes);
    for (const l of this.listeners) l(u);
  }

  /** Evaluate the bundle, as Espruino runs boot code. */
  boot(): void {
    vm.runInContext(this.opts.bundle, this.context, { filename: 'tinyhsm-espruino.js' });
  }

  /** Watch bytes the board sends on USB. */
  onUsb(listener: (bytes: Uint8Array) => void): void {
    this.listeners.push(listener);
  }

  /** The host sends bytes: they reach the REPL while the console is on USB, else the program's on('data') handlers. */
  send(bytes: Uint8Array): void {
    for (let o = 0; o < bytes.length; o += this.packet) {
      const piece = Buffer.from(bytes.subarray(o, o + this.packet)).toString('latin1');
      const t = setTimeout(() => {
        this.pending.delete(t);
        if (this.consoleDevice === 'USB') {
          this.replInput += piece;
          this.events.push({ kind: 'hostToRepl', detail: `${piece.length} bytes` });
          return;
        }
        for (const h of this.handlers) {
          try {
            h(piece);
          } catch (e) {
            this.uncaught.push(e);
          }
        }
      }, 0);
      this.pending.add(t);
    }
  }

  /** Cancel every pending timer (end of test). */
  stop(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}

/** Script that deletes the listed globals/properties from a context's built-ins. */
function stripLibrary(names: string[]): string {
  const lines = names.map((n) => {
    if (n.startsWith('TypedArray.')) return `delete Object.getPrototypeOf(Uint8Array)[${JSON.stringify(n.slice(11))}];`;
    const dot = n.indexOf('.');
    if (dot < 0) return `delete globalThis[${JSON.stringify(n)}];`;
    return `delete ${n.slice(0, dot)}[${JSON.stringify(n.slice(dot + 1))}];`;
  });
  return `(function(){ ${lines.join(' ')} })();`;
}

/**
 * Listen on the board's USB and return `ask`: send request bytes, resolve with the next answer frame.
 * Call before boot() so no frame is missed. A 10 s safety limit makes a silent device fail the test
 * instead of hanging it (not a timing assertion).
 */
export function frameAsker(board: EspruinoBoard): (bytes: Uint8Array) => Promise<Frame> {
  const collector = new AnswerCollector('binary');
  let waiting: ((f: Frame) => void) | undefined;
  let consumed = 0;
  board.onUsb((bytes) => {
    collector.push(bytes);
    if (waiting && collector.frames.length > consumed) {
      const w = waiting;
      waiting = undefined;
      w(collector.frames[consumed++]);
    }
  });
  return (bytes) =>
    new Promise<Frame>((resolve, reject) => {
      const limit = setTimeout(() => reject(new Error('no answer from the device')), 10_000);
      waiting = (f) => {
        clearTimeout(limit);
        resolve(f);
      };
      board.send(bytes);
    });
}

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

/** Espruino's Flash module over one emulated area, with NOR rules and 4-byte alignment. */
export class EmulatedEspruinoFlash {
  readonly base = 0x70000;
  readonly pageSize = 4096;
  readonly mem: Uint8Array;
  constructor(readonly pages: number) {
    this.mem = new Uint8Array(pages * this.pageSize).fill(0xff);
  }
  module(ctxUint8Array: Uint8ArrayConstructor): object {
    return {
      getFree: () => [{ addr: this.base, length: this.mem.length }],
      getPage: (addr: number) => {
        const off = addr - this.base;
        if (off < 0 || off >= this.mem.length) return undefined;
        return { addr: this.base + off - (off % this.pageSize), length: this.pageSize };
      },
      erasePage: (addr: number) => {
        const off = addr - this.base - ((addr - this.base) % this.pageSize);
        this.mem.fill(0xff, off, off + this.pageSize);
      },
      write: (data: ArrayLike<number>, addr: number) => {
        if (addr % 4 !== 0 || data.length % 4 !== 0) throw new Error('Flash write must be 4-byte aligned');
        const off = addr - this.base;
        for (let i = 0; i < data.length; i++) this.mem[off + i] &= data[i];
      },
      read: (length: number, addr: number) => {
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
  readonly flash = new EmulatedEspruinoFlash(4);
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

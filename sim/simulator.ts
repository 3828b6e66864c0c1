// The simulator: boots the BUILT firmware bundle in an isolated vm context whose only contact with Node is a `board` global (docs/architecture.md §7).
import { readFileSync, statSync } from 'node:fs';
import vm from 'node:vm';
import type { BoardFlash, BoardGlobals } from '../firmware/platform/common/board.ts';
import type { Flash } from '../firmware/hal/index.ts';
import { createRandomSource, type RandomFill } from './rng.ts';
import { LinkFaults, type Direction } from './link.ts';
import { locateNodeBundle } from './locate.ts';
import { FlashBugError, PowerCutError, PowerCutFlash, SimFlash, type PowerCutInfo } from './flash.ts';
import { fileCounter, memoryCounter, type SimCounter } from './counter.ts';
import { createFastCrypto } from './fast-crypto.ts';
import type { Crypto } from '../firmware/hal/index.ts';

export type { Direction } from './link.ts';
export type { PowerCutInfo } from './flash.ts';

export interface SimulatorOptions {
  /** Hex seed: a deterministic RNG for tests (device id, keys, nonces). Default: the OS CSPRNG. */
  seed?: string;
  /** Largest packet the device accepts (board.maxPacket; the firmware's default is 2048). */
  maxPacket?: number;
  /** 'binary' COBS frames (default) or the text 'armor' Kaluma uses. */
  linkMode?: 'binary' | 'armor';
  /** Path of the node firmware bundle; default $TINYHSM_BUNDLE or dist/tinyhsm-node.js. */
  bundlePath?: string;
  /** Where the device's console output goes; default stderr with a "[device]" prefix. */
  log?: (line: string) => void;
  /**
   * The board's flash (docs/storage.md §2): a SimFlash (SimFlash.open(path) or SimFlash.memory()), any other HAL Flash
   * (checked against the same NOR rules), or the path of an image file, which the simulator opens and closes.
   * Without one the board has no flash and the firmware keeps its store in RAM. The flash outlives reboots.
   */
  flash?: Flash | string;
  /** Pages of a new image file when `flash` is a path (default 32; an existing file keeps its own). */
  flashPages?: number;
  /**
   * Cut power at this word write, counted from the simulator's start, boot included (1 = the first word the
   * firmware ever writes). That word lands torn; the device then stops: no byte out, no timer, no flash access,
   * until reboot(). Needs `flash`. See also schedulePowerCut().
   */
  powerCutAfterWords?: number;
  /**
   * The board's monotonic counter (docs/storage.md §12). Default: one kept beside a flash image file (FILE.counter),
   * else in memory; false: a board without one (INFO rollbackProtection false).
   */
  monotonic?: boolean;
  /**
   * Crypto on node:crypto instead of the bundle's noble (sim/fast-crypto.ts; docs/architecture.md §7): faster, but not
   * the device's code path, so INFO says 'node-sim-fast'. A function receives the fast HAL and returns the one to
   * install (tests break it on purpose to see the power-on self-tests catch it).
   */
  fast?: boolean | ((fast: Crypto) => Crypto);
}

/** Something the device did that a real board would show as a crash: an exception out of its receive handler or a timer. */
export interface DeviceFault {
  /** 'flash': the firmware broke a NOR rule (FlashBugError), even if it caught the exception itself. */
  where: 'boot' | 'receive' | 'timer' | 'flash';
  error: unknown;
}

type Listener = (bytes: Uint8Array) => void;
type WireListener = (dir: Direction, bytes: Uint8Array) => void;
type CutListener = (info: PowerCutInfo) => void;

const scripts = new Map<string, { mtimeMs: number; size: number; script: vm.Script }>();

/**
 * The JavaScript built-ins of a fresh context (Object, BigInt, Uint8Array, Math, …), which the bundle reads
 * as globals. In a vm context every global lookup goes through the context's interceptor, which made noble
 * ~20% slower than in the main context (measured: Ed25519 sign 888 vs 750 µs); binding the built-ins to
 * locals once, at boot, removes that cost. They are the context's own built-ins, so the device still sees
 * only its own realm, and names added later (globalThis.crypto from the RNG shim) are looked up normally.
 */
const BUILTINS = (vm.runInNewContext('Object.getOwnPropertyNames(globalThis)') as string[]).filter(
  (n) => /^[A-Za-z_$][\w$]*$/.test(n) && !['eval', 'arguments', 'globalThis', 'undefined', 'NaN', 'Infinity', 'console'].includes(n),
);

/** Compile the bundle once per file version; each boot runs it in a fresh context. */
function loadScript(path: string): vm.Script {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new Error(`firmware bundle ${path} not found: run \`npm run build\` first`);
  }
  const hit = scripts.get(path);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.script;
  // one line of prelude, so the bundle's line numbers in stack traces are off by nothing but the first line's columns
  // strict, as the ESM sources and esbuild's "use strict" banner (which the prelude turns into a plain statement) make it
  const prelude = '(function () { "use strict"; var ' + BUILTINS.map((n) => `${n} = globalThis.${n}`).join(', ') + ';';
  const source = prelude + readFileSync(path, 'utf8') + '\n}).call(this);';
  const script = new vm.Script(source, { filename: path });
  scripts.set(path, { mtimeMs: st.mtimeMs, size: st.size, script });
  return script;
}

/** A byte array from the device's realm, copied into this one (the device may reuse its buffer). */
function copyBytesIn(data: unknown): Uint8Array {
  if (!ArrayBuffer.isView(data) || (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT !== 1)
    throw new FlashBugError('firmware bug: board.flash.write expects a Uint8Array');
  const out = new Uint8Array(data.byteLength);
  out.set(data as Uint8Array);
  return out;
}

function formatArgs(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? String(a.stack || a) : safeJson(a))).join(' ');
}

function safeJson(a: unknown): string {
  try {
    return typeof a === 'bigint' ? String(a) + 'n' : (JSON.stringify(a) ?? String(a));
  } catch {
    return String(a);
  }
}

/**
 * A simulated token. The firmware sees exactly what a board gives it: `board` (BoardGlobals) and a minimal
 * `console`; no process, require, Buffer or Node timers. Bytes cross the link asynchronously (in a
 * microtask), as they would cross a USB cable, and are copied into the receiving realm.
 */
export class Simulator {
  readonly linkMode: 'binary' | 'armor';
  /** Fault injection on the link, per direction. */
  readonly faults: LinkFaults;
  /** Exceptions the firmware let escape (a firmware bug; tests assert this stays empty). */
  readonly deviceFaults: DeviceFault[] = [];

  private readonly opts: SimulatorOptions;
  private readonly bundlePath: string;
  private readonly rng: RandomFill;
  private readonly log: (line: string) => void;
  private listeners: Listener[] = [];
  private wireListeners: WireListener[] = [];
  private deviceRx: ((bytes: Uint8Array) => void) | undefined;
  private ctxUint8Array: Uint8ArrayConstructor = Uint8Array;
  private ctx: vm.Context | undefined;
  private timers = new Map<number, NodeJS.Timeout>();
  private nextTimer = 1;
  private bootedAt = 0;
  private generation = 0;
  private closed = false;
  private button = false;
  /** Set by every press, cleared when the firmware reads the button: a press shorter than its poll is not lost. */
  private pressLatch = false;
  private buttonTimer: NodeJS.Timeout | undefined;
  private ledOn = false;
  private boots = 0;
  private readonly flashDev: PowerCutFlash | undefined;
  private readonly ownedFlash: SimFlash | undefined;
  private readonly counter: SimCounter | undefined;
  private poweredOff = false;
  private cutInfo: PowerCutInfo | undefined;
  private cutListeners: CutListener[] = [];

  constructor(opts: SimulatorOptions = {}) {
    this.opts = opts;
    this.linkMode = opts.linkMode === 'armor' ? 'armor' : 'binary';
    this.faults = new LinkFaults(this.linkMode);
    this.bundlePath = locateNodeBundle(opts.bundlePath);
    this.rng = createRandomSource(opts.seed);
    this.log = opts.log || ((line) => process.stderr.write('[device] ' + line + '\n'));
    if (opts.flash === undefined) {
      if (opts.powerCutAfterWords !== undefined)
        throw new Error('powerCutAfterWords needs a flash (the flash option): a power cut only matters to what the device keeps in flash');
    } else {
      const inner = typeof opts.flash === 'string' ? SimFlash.open(opts.flash, { pages: opts.flashPages }) : opts.flash;
      if (typeof opts.flash === 'string') this.ownedFlash = inner as SimFlash;
      try {
        this.flashDev = new PowerCutFlash(inner, (info) => this.powerCut(info), opts.seed);
        if (opts.powerCutAfterWords !== undefined) this.flashDev.setCutAt(opts.powerCutAfterWords);
      } catch (e) {
        if (this.ownedFlash) this.ownedFlash.close();
        throw e;
      }
    }
    try {
      if (opts.monotonic !== false) {
        const inner = this.flashDev ? this.flashDev.inner : undefined;
        const file = inner instanceof SimFlash ? inner.path : undefined;
        this.counter = file !== undefined ? fileCounter(file + '.counter') : memoryCounter();
      }
      this.boot();
    } catch (e) {
      if (this.ownedFlash) this.ownedFlash.close();
      throw e;
    }
  }

  /** How many times the firmware has booted (1 after construction). */
  get bootCount(): number {
    return this.boots;
  }

  /** The state of the LED the firmware drives. */
  get led(): boolean {
    return this.ledOn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The board's flash as given (a SimFlash when the simulator opened a path), or undefined. */
  get flash(): Flash | undefined {
    return this.flashDev ? this.flashDev.inner : undefined;
  }

  /** Word writes the firmware has made since the simulator started (boot included); a torn word counts. */
  get wordWrites(): number {
    return this.flashDev ? this.flashDev.wordWrites : 0;
  }

  /**
   * Erase count per page: the flash's lifetime counts for a SimFlash (persisted in FILE.wear for a file),
   * else the erases seen since the simulator started. Empty without a flash.
   */
  eraseCounts(): number[] {
    if (!this.flashDev) return [];
    const inner = this.flashDev.inner;
    return inner instanceof SimFlash ? inner.eraseCounts() : this.flashDev.erasesSinceStart;
  }

  /** True from a power cut until reboot(). */
  get isPoweredOff(): boolean {
    return this.poweredOff;
  }

  /** The most recent power cut, if any. */
  get lastPowerCut(): PowerCutInfo | undefined {
    return this.cutInfo;
  }

  /**
   * Cut power after `afterWords` more word writes (1 = the next word). Resolves when the cut happens.
   * Replaces a cut scheduled before.
   */
  schedulePowerCut(afterWords: number): Promise<PowerCutInfo> {
    if (!this.flashDev) throw new Error('schedulePowerCut needs a flash (the flash option)');
    if (!Number.isInteger(afterWords) || afterWords < 1) throw new RangeError(`afterWords must be a positive integer, got ${afterWords}`);
    this.flashDev.setCutAt(this.flashDev.wordWrites + afterWords);
    return this.nextPowerCut();
  }

  /**
   * Cut power during the `afterErases`-th page erase from now (1 = the next one): the page is left partly erased
   * (none, all or a random subset of its bits back at 1). Resolves when the cut happens.
   */
  schedulePowerCutInErase(afterErases: number): Promise<PowerCutInfo> {
    if (!this.flashDev) throw new Error('schedulePowerCutInErase needs a flash (the flash option)');
    if (!Number.isInteger(afterErases) || afterErases < 1) throw new RangeError(`afterErases must be a positive integer, got ${afterErases}`);
    this.flashDev.setEraseCutAt(this.flashDev.eraseCount + afterErases);
    return this.nextPowerCut();
  }

  /** Page erases the firmware has made since the simulator started. */
  get erases(): number {
    return this.flashDev ? this.flashDev.eraseCount : 0;
  }

  /** Cancel scheduled power cuts (word write and erase). */
  cancelPowerCut(): void {
    if (this.flashDev) {
      this.flashDev.setCutAt(undefined);
      this.flashDev.setEraseCutAt(undefined);
    }
  }

  /** The absolute word write a scheduled cut will tear, if one is scheduled. */
  get pendingPowerCut(): number | undefined {
    return this.flashDev ? this.flashDev.pendingCutAt : undefined;
  }

  /** Resolves at the next power cut, or at once if the device is off after one (e.g. a cut during boot in the constructor). */
  whenPowerCut(): Promise<PowerCutInfo> {
    if (this.poweredOff && this.cutInfo) return Promise.resolve(this.cutInfo);
    return this.nextPowerCut();
  }

  /** Called after every power cut (outside the firmware's stack). Returns a function that removes it. */
  onPowerCut(cb: CutListener): () => void {
    this.cutListeners.push(cb);
    return () => {
      this.cutListeners = this.cutListeners.filter((l) => l !== cb);
    };
  }

  /** Host → device: bytes as the host wrote them on the link (faults on 'toDevice' apply). A board without power drops them. */
  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error('the simulator is closed');
    const copy = new Uint8Array(bytes); // the caller may reuse its buffer once write returns
    this.tap('toDevice', copy);
    if (this.poweredOff) return;
    const through = this.faults.toDevice.apply(copy);
    if (through.length === 0) return;
    const gen = this.generation;
    queueMicrotask(() => this.deliverToDevice(gen, through));
  }

  /** Device → host: register a receiver; returns a function that removes it. */
  onData(cb: Listener): () => void {
    this.listeners.push(cb);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb);
    };
  }

  /** Observe every chunk each side puts on the link, before faults apply (for tests and traces). */
  onWire(cb: WireListener): () => void {
    this.wireListeners.push(cb);
    return () => {
      this.wireListeners = this.wireListeners.filter((l) => l !== cb);
    };
  }

  /**
   * Hold the user-presence button down (true) or release it (false). The firmware polls it (every 100 ms while a
   * request waits, docs/security.md §7); a press also latches until the next poll, so even a press released before
   * that poll is seen once (the poll reads "pressed", then the real state).
   */
  setButton(pressed: boolean): void {
    if (this.buttonTimer) clearTimeout(this.buttonTimer);
    this.buttonTimer = undefined;
    if (pressed) this.pressLatch = true;
    this.button = pressed;
  }

  /**
   * Press the button for `ms` milliseconds, as a person would (the device counts only a press that begins after the
   * request that needs it: press after the device's first KEEPALIVE, or the press is taken for one held from before).
   */
  pressButton(ms = 200): void {
    this.setButton(true);
    this.buttonTimer = setTimeout(() => {
      this.button = false;
      this.buttonTimer = undefined;
    }, ms);
    this.buttonTimer.unref();
  }

  get buttonPressed(): boolean {
    return this.button;
  }

  /** Debug link (simulator only): the names on the device's global object, to check it has nothing of Node. */
  globalNames(): string[] {
    if (!this.ctx) return [];
    return (vm.runInContext('Object.getOwnPropertyNames(globalThis)', this.ctx) as string[]).slice().sort();
  }

  /**
   * Power-cycle: the bundle is evaluated again in a fresh context on the same flash; RAM (session, reply
   * cache, anything not in flash) is lost. After a power cut this is the power coming back.
   */
  reboot(): void {
    if (this.closed) throw new Error('the simulator is closed');
    this.poweredOff = false;
    if (this.flashDev) this.flashDev.powerOn();
    this.boot();
  }

  /** Power off for good: timers stop, nothing more is delivered; a flash the simulator opened is closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.halt();
    this.setButton(false);
    this.listeners = [];
    this.wireListeners = [];
    this.cutListeners = [];
    if (this.flashDev) this.flashDev.powerOff();
    if (this.ownedFlash) this.ownedFlash.close();
  }

  // ------------------------------------------------------------------ internals

  private halt(): void {
    this.generation++;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.deviceRx = undefined;
  }

  private nextPowerCut(): Promise<PowerCutInfo> {
    return new Promise((resolve) => {
      const off = this.onPowerCut((info) => {
        off();
        resolve(info);
      });
    });
  }

  /** Called by the flash inside the firmware's write: the board is off from here on. */
  private powerCut(info: PowerCutInfo): void {
    this.poweredOff = true;
    this.cutInfo = info;
    this.halt();
    // listeners run once the firmware's stack has unwound, so one may reboot() at once
    queueMicrotask(() => {
      for (const l of this.cutListeners.slice()) {
        try {
          l(info);
        } catch (error) {
          this.log('a power-cut listener threw: ' + formatArgs([error]));
        }
      }
    });
  }

  /** The board.flash the firmware sees: bytes are copied across the realm boundary both ways. */
  private boardFlash(gen: number, dev: PowerCutFlash): BoardFlash {
    const live = () => {
      if (gen !== this.generation) throw new PowerCutError('this boot of the device has ended');
    };
    const guard = <T>(fn: () => T): T => {
      live();
      try {
        return fn();
      } catch (error) {
        if (error instanceof FlashBugError) {
          // loud even if the firmware catches it: a test sees it in deviceFaults
          this.deviceFaults.push({ where: 'flash', error });
          this.log(error.message);
        }
        throw error;
      }
    };
    return {
      pageSize: dev.pageSize,
      pageCount: dev.pageCount,
      wordSize: dev.wordSize,
      read: (page, offset, length) =>
        guard(() => {
          const bytes = dev.read(page, offset, length);
          const out = new this.ctxUint8Array(bytes.length);
          out.set(bytes);
          return out;
        }),
      write: (page, offset, data) => guard(() => dev.write(page, offset, copyBytesIn(data))),
      erase: (page) => guard(() => dev.erase(page)),
    };
  }

  private boot(): void {
    this.halt();
    const gen = this.generation;
    const script = loadScript(this.bundlePath);
    const live = () => gen === this.generation;
    const board: BoardGlobals = {
      serialWrite: (bytes) => {
        if (live()) this.fromDevice(gen, bytes);
      },
      onSerialData: (cb) => {
        if (live()) this.deviceRx = cb;
      },
      random: (buf) => this.rng(buf),
      millis: () => Math.floor(performance.now() - this.bootedAt),
      setTimer: (ms, fn) => this.setTimer(gen, ms, fn),
      clearTimer: (h) => {
        const t = this.timers.get(h as number);
        if (t) clearTimeout(t);
        this.timers.delete(h as number);
      },
      linkMode: this.linkMode,
      buttonPressed: () => {
        const pressed = this.button || this.pressLatch;
        this.pressLatch = false;
        return pressed;
      },
      led: (on) => {
        this.ledOn = !!on;
      },
    };
    if (this.opts.maxPacket !== undefined) board.maxPacket = this.opts.maxPacket;
    if (this.flashDev) board.flash = this.boardFlash(gen, this.flashDev);
    const counter = this.counter;
    if (counter)
      board.monotonic = {
        read: () => counter.read(),
        advance: (value) => {
          if (live()) counter.advance(value);
        },
      };
    const log = this.log;
    const sandbox = {
      board,
      console: {
        log: (...a: unknown[]) => log(formatArgs(a)),
        info: (...a: unknown[]) => log(formatArgs(a)),
        warn: (...a: unknown[]) => log(formatArgs(a)),
        error: (...a: unknown[]) => log(formatArgs(a)),
        debug: (...a: unknown[]) => log(formatArgs(a)),
      },
    };
    // A board engine has the JavaScript built-ins and nothing of Node; no eval of strings, no wasm.
    const ctx = vm.createContext(sandbox, { name: 'tinyhsm-device', codeGeneration: { strings: false, wasm: false } });
    this.ctx = ctx;
    this.ctxUint8Array = vm.runInContext('Uint8Array', ctx) as Uint8ArrayConstructor;
    const fast = this.opts.fast;
    if (fast) {
      const c = createFastCrypto({ bytes: this.ctxUint8Array, error: vm.runInContext('Error', ctx) as ErrorConstructor, random: this.rng });
      board.crypto = typeof fast === 'function' ? fast(c) : c;
    }
    this.bootedAt = performance.now();
    this.boots++;
    try {
      script.runInContext(ctx);
    } catch (error) {
      if (this.poweredOff) return; // the power went during boot: the device stays off until reboot()
      this.deviceFaults.push({ where: 'boot', error });
      this.halt();
      throw new Error(`the firmware bundle ${this.bundlePath} failed to boot: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (this.poweredOff) return;
    if (!this.deviceRx) this.log('warning: the firmware registered no serial receiver (board.onSerialData) at boot');
  }

  private setTimer(gen: number, ms: number, fn: () => void): number {
    const id = this.nextTimer++;
    if (gen !== this.generation) return id;
    const t = setTimeout(
      () => {
        this.timers.delete(id);
        if (gen !== this.generation) return;
        try {
          fn();
        } catch (error) {
          if (!this.poweredOff && !(error instanceof PowerCutError)) this.deviceFault('timer', error);
        }
      },
      Math.max(0, Number(ms) || 0),
    );
    // the device's timers must not keep a host process alive on their own
    t.unref();
    this.timers.set(id, t);
    return id;
  }

  private deliverToDevice(gen: number, bytes: Uint8Array): void {
    const rx = this.deviceRx;
    if (gen !== this.generation || !rx) return;
    try {
      rx(new this.ctxUint8Array(bytes)); // the device's `instanceof Uint8Array` is its own realm's
    } catch (error) {
      // a power cut unwinds the firmware with PowerCutError: the board is off, not crashed
      if (!this.poweredOff && !(error instanceof PowerCutError)) this.deviceFault('receive', error);
    }
  }

  private fromDevice(gen: number, bytes: Uint8Array): void {
    const copy = new Uint8Array(bytes); // into this realm, and safe from reuse of the device's buffer
    this.tap('toHost', copy);
    const through = this.faults.toHost.apply(copy);
    if (through.length === 0) return;
    queueMicrotask(() => {
      if (gen !== this.generation) return;
      for (const l of this.listeners) {
        try {
          l(through);
        } catch (error) {
          this.log('a host receiver threw: ' + formatArgs([error]));
        }
      }
    });
  }

  private tap(dir: Direction, bytes: Uint8Array): void {
    for (const l of this.wireListeners) l(dir, bytes);
  }

  private deviceFault(where: DeviceFault['where'], error: unknown): void {
    this.deviceFaults.push({ where, error });
    this.log(`firmware exception in ${where}: ${formatArgs([error])}`);
  }
}

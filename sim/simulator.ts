// The simulator: boots the BUILT firmware bundle in an isolated vm context whose only contact with Node is a `board` global (DESIGN.md "Simulator").
import { readFileSync, statSync } from 'node:fs';
import vm from 'node:vm';
import type { BoardGlobals } from '../firmware/platform/common/board.ts';
import { createRandomSource, type RandomFill } from './rng.ts';
import { LinkFaults, type Direction } from './link.ts';
import { locateNodeBundle } from './locate.ts';

export type { Direction } from './link.ts';

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
}

/** Something the device did that a real board would show as a crash: an exception out of its receive handler or a timer. */
export interface DeviceFault {
  where: 'boot' | 'receive' | 'timer';
  error: unknown;
}

type Listener = (bytes: Uint8Array) => void;
type WireListener = (dir: Direction, bytes: Uint8Array) => void;

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

function formatArgs(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? String(a.stack || a) : safeJson(a))).join(' ');
}

function safeJson(a: unknown): string {
  try {
    return typeof a === 'bigint' ? String(a) + 'n' : JSON.stringify(a) ?? String(a);
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
  private buttonTimer: NodeJS.Timeout | undefined;
  private ledOn = false;
  private boots = 0;

  constructor(opts: SimulatorOptions = {}) {
    this.opts = opts;
    this.linkMode = opts.linkMode === 'armor' ? 'armor' : 'binary';
    this.faults = new LinkFaults(this.linkMode);
    this.bundlePath = locateNodeBundle(opts.bundlePath);
    this.rng = createRandomSource(opts.seed);
    this.log = opts.log || ((line) => process.stderr.write('[device] ' + line + '\n'));
    this.boot();
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

  /** Host → device: bytes as the host wrote them on the link (faults on 'toDevice' apply). */
  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error('the simulator is closed');
    const copy = new Uint8Array(bytes); // the caller may reuse its buffer once write returns
    this.tap('toDevice', copy);
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

  /** Hold the user-presence button down (true) or release it (false). */
  setButton(pressed: boolean): void {
    if (this.buttonTimer) clearTimeout(this.buttonTimer);
    this.buttonTimer = undefined;
    this.button = pressed;
  }

  /** Press the button for `ms` milliseconds, as a person would. */
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

  /** Power-cycle: the bundle is evaluated again in a fresh context; RAM (keys, reply cache) is lost. */
  reboot(): void {
    if (this.closed) throw new Error('the simulator is closed');
    this.boot();
  }

  /** Power off for good: timers stop, nothing more is delivered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.halt();
    this.setButton(false);
    this.listeners = [];
    this.wireListeners = [];
  }

  // ------------------------------------------------------------------ internals

  private halt(): void {
    this.generation++;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.deviceRx = undefined;
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
      buttonPressed: () => this.button,
      led: (on) => {
        this.ledOn = !!on;
      },
    };
    if (this.opts.maxPacket !== undefined) board.maxPacket = this.opts.maxPacket;
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
    this.bootedAt = performance.now();
    this.boots++;
    try {
      script.runInContext(ctx);
    } catch (error) {
      this.deviceFaults.push({ where: 'boot', error });
      this.halt();
      throw new Error(`the firmware bundle ${this.bundlePath} failed to boot: ${error instanceof Error ? error.message : String(error)}`);
    }
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
          this.deviceFault('timer', error);
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
      this.deviceFault('receive', error);
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

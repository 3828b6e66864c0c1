// A QuickJS "board" for the generic bundle: quickjs-emscripten with no Node globals, only a `board` object whose byte I/O crosses to the host as ArrayBuffers.
//
// Inside QuickJS there is nothing but ECMAScript built-ins (no console, no timers, no require). The board's
// functions are plain JavaScript evaluated in QuickJS; only two host functions cross the boundary:
// __host_write(ArrayBuffer) for bytes the device sends and __host_random(n) → ArrayBuffer of n random bytes
// from node:crypto. Time is virtual: the board's clock moves only when the host calls advance(ms).
// With a `flash` option the board also has board.flash (BoardGlobals), whose three calls cross to that host-side
// HAL Flash (e.g. sim/flash.ts SimFlash, which enforces the NOR rules and throws "firmware bug: …" into QuickJS).
import { randomBytes } from 'node:crypto';
import { getQuickJS, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten';
import type { Flash } from '../../../firmware/hal/index.ts';

const BOARD_JS = `
(function () {
  var now = 0, nextId = 1, timers = [], receiver = null;
  globalThis.board = {
    linkMode: 'binary',
    serialWrite: function (bytes) {
      __host_write(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    },
    onSerialData: function (cb) { receiver = cb; },
    random: function (buf) { buf.set(new Uint8Array(__host_random(buf.length))); },
    millis: function () { return now; },
    setTimer: function (ms, fn) { var id = nextId++; timers.push({ id: id, due: now + ms, fn: fn }); return id; },
    clearTimer: function (id) { timers = timers.filter(function (t) { return t.id !== id; }); }
  };
  globalThis.__feed = function (ab) { if (receiver) receiver(new Uint8Array(ab)); };
  globalThis.__advance = function (ms) {
    now += ms;
    var due = timers.filter(function (t) { return t.due <= now; });
    timers = timers.filter(function (t) { return t.due > now; });
    due.sort(function (a, b) { return a.due - b.due; }).forEach(function (t) { t.fn(); });
  };
})();
`;

export interface QuickJSBoardOptions {
  /** Runtime heap limit in bytes (QuickJS's own allocator). */
  memoryLimit?: number;
  /** Interpreter stack limit in bytes. */
  stackSize?: number;
  /** The board's flash, kept on the host: it outlives the QuickJS context (a new board on it is a reboot). */
  flash?: Flash;
}

/** board.flash inside QuickJS: bytes cross as ArrayBuffers, copied both ways. */
function boardFlashJs(f: Flash): string {
  return `
globalThis.board.flash = {
  pageSize: ${f.pageSize}, pageCount: ${f.pageCount}, wordSize: ${f.wordSize},
  read: function (page, offset, length) { return new Uint8Array(__host_flash_read(page, offset, length)); },
  write: function (page, offset, data) { __host_flash_write(page, offset, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)); },
  erase: function (page) { __host_flash_erase(page); }
};
`;
}

export class QuickJSBoard {
  /** Bytes the device wrote, in order. */
  readonly out: Uint8Array[] = [];
  private feed!: QuickJSHandle;
  private advanceFn!: QuickJSHandle;
  private constructor(
    readonly runtime: QuickJSRuntime,
    readonly vm: QuickJSContext,
  ) {}

  static async create(opts?: QuickJSBoardOptions): Promise<QuickJSBoard> {
    const QuickJS = await getQuickJS();
    const runtime = QuickJS.newRuntime();
    runtime.setMemoryLimit(opts?.memoryLimit ?? 256 * 1024 * 1024);
    runtime.setMaxStackSize(opts?.stackSize ?? 4 * 1024 * 1024);
    const vm = runtime.newContext();
    const board = new QuickJSBoard(runtime, vm);
    const write = vm.newFunction('__host_write', (ab) => {
      const view = vm.getArrayBuffer(ab);
      board.out.push(new Uint8Array(view.value)); // copy out of QuickJS memory before it is freed
      view.dispose();
    });
    const random = vm.newFunction('__host_random', (n) => vm.newArrayBuffer(new Uint8Array(randomBytes(vm.getNumber(n))).buffer));
    vm.setProp(vm.global, '__host_write', write);
    vm.setProp(vm.global, '__host_random', random);
    write.dispose();
    random.dispose();
    board.unwrap(vm.evalCode(BOARD_JS, 'board.js')).dispose();
    const flash = opts?.flash;
    if (flash) {
      const num = (h: QuickJSHandle) => vm.getNumber(h);
      const fns = {
        __host_flash_read: vm.newFunction('__host_flash_read', (p, o, l) => {
          const bytes = flash.read(num(p), num(o), num(l));
          return vm.newArrayBuffer(new Uint8Array(bytes).buffer);
        }),
        __host_flash_write: vm.newFunction('__host_flash_write', (p, o, ab) => {
          const view = vm.getArrayBuffer(ab);
          const data = new Uint8Array(view.value); // copied out of QuickJS memory
          view.dispose();
          flash.write(num(p), num(o), data); // a NOR violation throws into QuickJS with its message
        }),
        __host_flash_erase: vm.newFunction('__host_flash_erase', (p) => {
          flash.erase(num(p));
        }),
      };
      for (const [name, fn] of Object.entries(fns)) {
        vm.setProp(vm.global, name, fn);
        fn.dispose();
      }
      board.unwrap(vm.evalCode(boardFlashJs(flash), 'board-flash.js')).dispose();
    }
    board.feed = vm.getProp(vm.global, '__feed');
    board.advanceFn = vm.getProp(vm.global, '__advance');
    return board;
  }

  /** Evaluate the bundle (self-tests run now). Throws with QuickJS's error if it fails. */
  load(code: string, filename = 'tinyhsm-generic.js'): void {
    this.unwrap(this.vm.evalCode(code, filename)).dispose();
    this.drainJobs();
  }

  /** Deliver bytes from the host to the device. */
  send(bytes: Uint8Array): void {
    const ab = this.vm.newArrayBuffer(new Uint8Array(bytes).buffer);
    try {
      this.unwrap(this.vm.callFunction(this.feed, this.vm.undefined, ab)).dispose();
    } finally {
      ab.dispose();
    }
    this.drainJobs();
  }

  /** Move the board's virtual clock and run timers that came due. */
  advance(ms: number): void {
    const n = this.vm.newNumber(ms);
    try {
      this.unwrap(this.vm.callFunction(this.advanceFn, this.vm.undefined, n)).dispose();
    } finally {
      n.dispose();
    }
    this.drainJobs();
  }

  /** Run pending promise jobs, in case the firmware uses any. */
  drainJobs(): void {
    const r = this.runtime.executePendingJobs();
    if (r.error) {
      const e = this.vm.dump(r.error);
      r.error.dispose();
      throw new Error(`QuickJS job failed: ${JSON.stringify(e)}`);
    }
  }

  dispose(): void {
    this.feed.dispose();
    this.advanceFn.dispose();
    this.vm.dispose();
    this.runtime.dispose();
  }

  private unwrap(r: { error?: QuickJSHandle; value?: QuickJSHandle }): QuickJSHandle {
    if (r.error) {
      const e = this.vm.dump(r.error);
      r.error.dispose();
      throw new Error(`QuickJS: ${typeof e === 'object' && e ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`);
    }
    return r.value as QuickJSHandle;
  }
}

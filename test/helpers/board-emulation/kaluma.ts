// Emulation of the Kaluma 1.x globals the kaluma bundle touches (process.stdin/stdout over the REPL's USB CDC, rp2, flash, millis, GPIO), in a bare vm context.
//
// Modelled on kaluma-project/kaluma 1.2.1: process.stdin.read() returns everything buffered as a Uint8Array or
// null (src/modules/stream/module_stream.c); process.stdout.write(Uint8Array) puts bytes on USB unchanged
// (PICO_STDIO_DEFAULT_CRLF=0); console.log prints to the same USB line with "\r\n"; the REPL printed its banner and
// "> " prompt before the program runs; a 0x03 from the host stops the VM (tud_cdc_rx_wanted_cb), which reaches
// JavaScript as an uncatchable abort — emulated here as an exception thrown out of stdin.read().
// The program's loop never returns (adapter.ts), so the host side runs synchronously inside stdin.read(): a
// conversation generator yields what the host sends and receives each answer frame.
import { randomBytes } from 'node:crypto';
import vm from 'node:vm';
import type { Frame } from '../../../firmware/protocol/index.ts';
import { AnswerCollector } from './wire.ts';

/** What a conversation step may yield: bytes/text for the device (then it waits for one answer), or console noise printed by the board. */
export type HostAction = string | Uint8Array | { console: string };
export type Conversation = Generator<HostAction, void, Frame | undefined>;

/** Thrown out of stdin.read() to stop the device loop, as Kaluma's VM stop does. */
export class KalumaAbort extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'KalumaAbort';
  }
}

export interface KalumaBoardOptions {
  /** Source of dist/tinyhsm-kaluma.js. */
  bundle: string;
  /** Idle stdin polls without an answer before the emulation gives up (a hung device). */
  idleLimit?: number;
  /** Bytes per USB packet the host side delivers (full-speed CDC: 64). */
  packet?: number;
  /** The board's flash chip; pass the one of an earlier board to model a reset of the same Pico. Default: erased. */
  chip?: EmulatedKalumaChip;
}

/** Sectors of Kaluma's flash region on a Pico (targets/rp2/boards/pico/board.h): storage 0..3, program 4..131, littlefs 132..259. */
export const KALUMA_SECTORS = 260;
const SECTOR = 4096;
const PROGRAM_PAGE = 256;

/**
 * The flash region of an RP2040 running Kaluma, as km_flash_program/km_flash_erase treat it (targets/rp2/src/flash.c):
 * programming ANDs into what is there (a real NOR chip cannot set a bit and says nothing), a program whose address or
 * size is not a multiple of 256 is refused with -EINVAL (which module_flash.c ignores), erase sets a 4 KiB sector
 * to 0xFF. It records what a correct adapter never does, so tests can assert those lists stay empty.
 */
export class EmulatedKalumaChip {
  readonly mem = new Uint8Array(KALUMA_SECTORS * SECTOR).fill(0xff);
  /** Programs km_flash_program refused (misaligned); the data never reached the chip. */
  readonly rejected: string[] = [];
  /** Programs that asked for a 1 over a 0 (bytes other than the 0xFF padding): real NOR silently keeps the 0. */
  readonly violations: string[] = [];
  /** Sectors ever programmed or erased, to check an adapter stays inside its region. */
  readonly touched = new Set<number>();
  /** Every `new Flash(base, count)` made over this chip, as "base,count". */
  readonly opened: string[] = [];
  readonly erases = new Array<number>(KALUMA_SECTORS).fill(0);

  program(sector: number, offset: number, data: ArrayLike<number>): void {
    const at = sector * SECTOR + offset;
    if (at % PROGRAM_PAGE !== 0 || data.length % PROGRAM_PAGE !== 0) {
      this.rejected.push(`program(sector ${sector}, offset ${offset}, ${data.length} bytes)`);
      return;
    }
    if (at < 0 || at + data.length > this.mem.length) throw new RangeError(`program beyond Kaluma's flash region: sector ${sector} offset ${offset}`);
    for (let i = 0; i < data.length; i++) {
      const cur = this.mem[at + i];
      const want = data[i] & 0xff;
      if (want !== 0xff && (want & ~cur & 0xff) !== 0)
        this.violations.push(`sector ${sector} offset ${offset + i}: 0x${cur.toString(16)} -> 0x${want.toString(16)}`);
      this.mem[at + i] = cur & want; // programming only clears bits
    }
    for (let s = Math.floor(at / SECTOR); s <= Math.floor((at + data.length - 1) / SECTOR); s++) this.touched.add(s);
  }

  erase(sector: number): void {
    if (sector < 0 || sector >= KALUMA_SECTORS) throw new RangeError(`erase beyond Kaluma's flash region: sector ${sector}`);
    this.mem.fill(0xff, sector * SECTOR, (sector + 1) * SECTOR);
    this.erases[sector]++;
    this.touched.add(sector);
  }

  read(sector: number, offset: number, into: { length: number; [i: number]: number }): void {
    const at = sector * SECTOR + offset;
    // the board reads memory-mapped flash with no check; past the region it would read whatever follows
    if (at < 0 || at + into.length > this.mem.length) throw new RangeError(`read beyond Kaluma's flash region: sector ${sector} offset ${offset}`);
    for (let i = 0; i < into.length; i++) into[i] = this.mem[at + i];
  }
}

/**
 * `new (require('flash').Flash)(base, count)` of src/modules/flash/module_flash.c over an emulated chip: block
 * numbers are relative to `base`, nothing checks them against `count` (as on the board), ioctl 4/5/6/7 are the
 * block count, block size, erase and program size.
 */
export class EmulatedKalumaFlash {
  readonly size = SECTOR;
  constructor(
    readonly count = KALUMA_SECTORS,
    readonly chip = new EmulatedKalumaChip(),
    readonly base = 0,
  ) {}
  /** Programs the chip refused (see EmulatedKalumaChip). */
  get rejected(): string[] {
    return this.chip.rejected;
  }
  read(block: number, buffer: Uint8Array, offset = 0): void {
    this.chip.read(this.base + block, offset, buffer);
  }
  write(block: number, buffer: Uint8Array, offset = 0): void {
    this.chip.program(this.base + block, offset, buffer);
  }
  ioctl(op: number, arg = 0): number {
    if (op === 1 || op === 2 || op === 3) return 0;
    if (op === 4) return this.count;
    if (op === 5) return SECTOR;
    if (op === 6) {
      this.chip.erase(this.base + arg);
      return 0;
    }
    if (op === 7) return PROGRAM_PAGE;
    return -1;
  }
}

export class KalumaBoard {
  readonly context: vm.Context;
  /** Everything the board sent on USB (device → host): the REPL banner, console lines, armor lines. */
  readonly usbOut: number[] = [];
  /** GPIO calls, in order ("pinMode 25 1", "digitalWrite 25 1"). */
  readonly gpio: string[] = [];
  /** Set when the device loop stopped (abort or a thrown error), with the reason. */
  stopped: unknown;
  /** The flash chip behind require('flash'); it outlives the board (pass it to the next one). */
  readonly chip: EmulatedKalumaChip;
  millis = 1000;
  stdinReads = 0;
  private rx: Uint8Array[] = [];
  private timers: { due: number; fn: () => void }[] = [];
  private ctxUint8Array: Uint8ArrayConstructor;
  private readonly idleLimit: number;
  private readonly packet: number;
  private conversation: Conversation | undefined;
  private collector = new AnswerCollector('armor');
  private seen = 0;
  private consumed = 0;
  private awaiting = false;
  private started = false;
  private finished = false;
  private idle = 0;
  private hostError: unknown;

  constructor(private readonly opts: KalumaBoardOptions) {
    this.idleLimit = opts.idleLimit ?? 200_000;
    this.packet = opts.packet ?? 64;
    this.chip = opts.chip ?? new EmulatedKalumaChip();
    const chip = this.chip;
    // module_flash.c: exports { Flash }, a constructor with base and count (defaults: 0 and the whole region)
    const flashModule = {
      Flash: function Flash(this: unknown, base?: number, count?: number) {
        chip.opened.push(`${base ?? 0},${count ?? KALUMA_SECTORS}`);
        return new EmulatedKalumaFlash(count ?? KALUMA_SECTORS, chip, base ?? 0);
      },
    };
    const self = this;
    const out = (bytes: ArrayLike<number>): void => {
      for (let i = 0; i < bytes.length; i++) this.usbOut.push(bytes[i] & 0xff);
    };
    const text = (s: string): void => out(Buffer.from(s, 'latin1'));
    const sandbox: { [k: string]: unknown } = {
      process: {
        stdin: {
          read(size?: number): Uint8Array | null {
            return self.stdinRead(size);
          },
        },
        stdout: {
          write(chunk: Uint8Array): boolean {
            if (!chunk || typeof chunk.length !== 'number') throw new TypeError('"chunk" argument must be a typed array');
            out(chunk);
            return true;
          },
        },
      },
      require(name: string): unknown {
        if (name === 'rp2') return { randomBigInt: () => BigInt('0x' + randomBytes(16).toString('hex')) };
        if (name === 'flash') return flashModule;
        throw new Error(`Module "${name}" not found`);
      },
      millis: () => this.millis,
      micros: () => this.millis * 1000,
      setTimeout: (fn: () => void, ms: number) => this.timers.push({ due: this.millis + (ms || 0), fn }),
      clearTimeout: () => undefined,
      board: { name: 'pico', LED: 25, uid: 'E660000000000000' },
      pinMode: (pin: number, mode: number) => this.gpio.push(`pinMode ${pin} ${mode}`),
      digitalWrite: (pin: number, v: number) => this.gpio.push(`digitalWrite ${pin} ${v}`),
      digitalRead: () => 1,
      LOW: 0,
      HIGH: 1,
      INPUT: 0,
      OUTPUT: 1,
      INPUT_PULLUP: 2,
      INPUT_PULLDOWN: 3,
      console: { log: (...a: unknown[]) => text(a.map(String).join(' ') + '\r\n') },
      print: (...a: unknown[]) => text(a.map(String).join(' ')),
    };
    sandbox.global = sandbox;
    this.context = vm.createContext(sandbox, { name: 'kaluma-emulation', codeGeneration: { strings: false, wasm: false } });
    this.ctxUint8Array = vm.runInContext('Uint8Array', this.context);
    // what the REPL printed at boot, before the program (repl.c cmd_hi and the prompt)
    text("\r\n   Welcome to Kaluma v1.2.1\r\n   Type '.help' for more info.\r\n\r\n> ");
  }

  /** Evaluate the bundle, as Kaluma does with the program in flash at boot. */
  boot(): void {
    vm.runInContext(this.opts.bundle, this.context, { filename: 'tinyhsm-kaluma.js' });
  }

  /** Run due native timers (the entry starts its loop from one). Returns when the loop stops; rethrows a host-side failure. */
  run(conversation?: Conversation): void {
    this.conversation = conversation;
    for (let guard = 0; guard < 1000 && this.timers.length > 0; guard++) {
      this.timers.sort((a, b) => a.due - b.due);
      const t = this.timers.shift()!;
      if (t.due > this.millis) this.millis = t.due;
      try {
        t.fn();
      } catch (e) {
        this.stopped = e;
        if (!(e instanceof KalumaAbort)) throw e;
        break;
      }
    }
    if (this.hostError) throw this.hostError;
  }

  /** The host sends bytes (split into USB packets). */
  send(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'latin1')) : data;
    for (let o = 0; o < bytes.length; o += this.packet) this.rx.push(bytes.slice(o, o + this.packet));
  }

  /** The USB output as text (console lines and armor lines). */
  get usbText(): string {
    return Buffer.from(this.usbOut).toString('latin1');
  }

  private stdinRead(size?: number): Uint8Array | null {
    this.stdinReads++;
    if (this.rx.length === 0) this.onIdle();
    if (this.rx.length === 0) return null;
    let chunk = this.rx.shift()!;
    if (size !== undefined && size >= 0 && chunk.length < size) {
      this.rx.unshift(chunk);
      return null;
    }
    const etx = chunk.indexOf(0x03);
    if (etx >= 0) {
      // tud_cdc_rx_wanted_cb: stop the VM and flush what is buffered
      this.rx = [];
      throw new KalumaAbort('Aborted (0x03 received)');
    }
    const copy = new this.ctxUint8Array(chunk.length);
    copy.set(chunk);
    chunk = copy;
    return chunk;
  }

  private onIdle(): void {
    this.millis += 1;
    this.idle++;
    if (this.usbOut.length > this.seen) {
      this.collector.push(new Uint8Array(this.usbOut.slice(this.seen)));
      this.seen = this.usbOut.length;
    }
    if (this.conversation && !this.finished) {
      if (!this.started) {
        this.started = true;
        this.step(undefined);
      } else if (this.awaiting && this.collector.frames.length > this.consumed) {
        this.awaiting = false;
        this.step(this.collector.frames[this.consumed++]);
      }
    }
    if (this.rx.length > 0) {
      this.idle = 0;
      return;
    }
    if (this.finished || !this.conversation) throw new KalumaAbort('Aborted (host finished)');
    if (this.idle > this.idleLimit) {
      this.hostError = new Error(`the device did not answer within ${this.idleLimit} idle polls`);
      throw new KalumaAbort('Aborted (timeout)');
    }
  }

  private step(frame: Frame | undefined): void {
    let r: IteratorResult<HostAction, void>;
    for (;;) {
      try {
        r = this.conversation!.next(frame);
      } catch (e) {
        this.hostError = e;
        this.finished = true;
        throw new KalumaAbort('Aborted (host failed)');
      }
      if (r.done) {
        this.finished = true;
        return;
      }
      const v = r.value;
      if (typeof v === 'object' && !(v instanceof Uint8Array)) {
        const t = Buffer.from(v.console, 'latin1');
        for (const b of t) this.usbOut.push(b);
        frame = undefined;
        continue; // noise needs no answer
      }
      this.send(v);
      this.awaiting = true;
      return;
    }
  }
}

// Emulation of the Kaluma 1.x globals the kaluma bundle touches (process.stdin/stdout over the REPL's USB CDC, rp2, millis, GPIO), in a bare vm context.
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
}

/** A flash block device like Kaluma's `flash` module: 4 KiB blocks, writes only in whole 256-byte pages, NOR rules. */
export class EmulatedKalumaFlash {
  readonly mem: Uint8Array;
  readonly rejected: string[] = [];
  constructor(readonly count: number) {
    this.mem = new Uint8Array(count * 4096).fill(0xff);
  }
  read(block: number, buffer: Uint8Array, offset = 0): void {
    buffer.set(this.mem.subarray(block * 4096 + offset, block * 4096 + offset + buffer.length));
  }
  write(block: number, buffer: Uint8Array, offset = 0): void {
    // km_flash_program refuses (and the module ignores the error) unless offset and size are multiples of 256
    if (offset % 256 !== 0 || buffer.length % 256 !== 0) {
      this.rejected.push(`write(${block}, ${buffer.length} bytes, ${offset})`);
      return;
    }
    const base = block * 4096 + offset;
    for (let i = 0; i < buffer.length; i++) this.mem[base + i] &= buffer[i]; // programming only clears bits
  }
  ioctl(op: number, arg = 0): number {
    if (op === 4) return this.count;
    if (op === 5) return 4096;
    if (op === 6) {
      this.mem.fill(0xff, arg * 4096, (arg + 1) * 4096);
      return 0;
    }
    if (op === 7) return 256;
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
    text('\r\n   Welcome to Kaluma v1.2.1\r\n   Type \'.help\' for more info.\r\n\r\n> ');
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

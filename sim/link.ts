// Byte-link fault injection for the simulator: drop, corrupt or duplicate bytes or whole frames in one direction.

/** 'toDevice': host → device (requests). 'toHost': device → host (responses, keepalives). */
export type Direction = 'toDevice' | 'toHost';

type Action = 'drop' | 'corrupt' | 'duplicate';

interface Rule {
  action: Action;
  unit: 'byte' | 'frame';
  remaining: number;
}

/** What the corruption does to one byte: flip every other bit, so the byte always changes. */
const FLIP = 0x55;

/**
 * The faults waiting on one direction of the link, applied in the order they were queued.
 * A frame is everything up to and including the delimiter (0x00 in binary mode, '\n' in armor mode);
 * a bare delimiter (an empty frame, which hosts send to resynchronise a reader) is passed through and not counted.
 */
export class FaultPipe {
  private rules: Rule[] = [];
  private frame: number[] = [];

  constructor(private readonly delimiter: number) {}

  add(action: Action, unit: 'byte' | 'frame', count: number): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`fault count must be a positive integer, got ${count}`);
    this.rules.push({ action, unit, remaining: count });
  }

  clear(): void {
    this.rules = [];
    this.frame = [];
  }

  get pending(): number {
    return this.rules.length;
  }

  /** Pass a chunk through the queued faults; returns the bytes that reach the other side (possibly none). */
  apply(chunk: Uint8Array): Uint8Array {
    if (this.rules.length === 0) return chunk; // the fast path: no faults queued
    const out: number[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      const rule = this.rules[0];
      if (!rule) {
        out.push(b);
        continue;
      }
      if (rule.unit === 'byte') {
        if (rule.action === 'corrupt') out.push(b ^ FLIP);
        else if (rule.action === 'duplicate') out.push(b, b);
        if (--rule.remaining === 0) this.rules.shift();
        continue;
      }
      if (b === this.delimiter && this.frame.length === 0) {
        out.push(b); // an empty frame: not a frame to fault
        continue;
      }
      this.frame.push(b);
      if (b !== this.delimiter) continue;
      const f = this.frame;
      this.frame = [];
      if (rule.action === 'duplicate') out.push(...f, ...f);
      else if (rule.action === 'corrupt') {
        // change one byte in the middle of the frame, never into a delimiter, so the frame stays one frame with a bad CRC
        const k = (f.length - 1) >> 1;
        let x = f[k] ^ FLIP;
        if (x === this.delimiter || x === 0) x = f[k] ^ 0xaa;
        f[k] = x;
        out.push(...f);
      }
      if (--rule.remaining === 0) {
        this.rules.shift();
        // bytes after the faulted frame in this chunk continue through the remaining rules
      }
    }
    // a frame rule still collecting bytes holds them until the delimiter arrives
    return Uint8Array.from(out);
  }
}

/** The fault controls a test uses: one FaultPipe per direction. Default direction: device → host. */
export class LinkFaults {
  readonly toDevice: FaultPipe;
  readonly toHost: FaultPipe;

  constructor(mode: 'binary' | 'armor') {
    const delim = mode === 'binary' ? 0x00 : 0x0a;
    this.toDevice = new FaultPipe(delim);
    this.toHost = new FaultPipe(delim);
  }

  pipe(dir: Direction): FaultPipe {
    return dir === 'toDevice' ? this.toDevice : this.toHost;
  }

  dropBytes(n: number, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('drop', 'byte', n);
  }
  corruptBytes(n: number, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('corrupt', 'byte', n);
  }
  duplicateBytes(n: number, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('duplicate', 'byte', n);
  }
  dropFrames(n = 1, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('drop', 'frame', n);
  }
  corruptFrames(n = 1, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('corrupt', 'frame', n);
  }
  duplicateFrames(n = 1, dir: Direction = 'toHost'): void {
    this.pipe(dir).add('duplicate', 'frame', n);
  }
  clear(): void {
    this.toDevice.clear();
    this.toHost.clear();
  }
  /** Faults still queued in both directions. */
  get pending(): number {
    return this.toDevice.pending + this.toHost.pending;
  }
}

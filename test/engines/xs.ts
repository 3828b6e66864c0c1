// Engine launcher 'xs': dist/tinyhsm-generic.js in Moddable XS (the xsnap worker that @agoric/xsnap builds at install), with a globalThis.board bridged to Node.
//
// The worker binary is driven directly rather than through @agoric/xsnap's JavaScript API: that API
// (src/xsnap.js, api.js) calls SES's `harden` and `assert` globals at import, i.e. it needs lockdown() of the
// calling Node process (@endo/init), which would freeze the intrinsics of the vitest worker. The worker's own
// protocol is small (xsnap-native/xsnap/sources/xsnap-worker.c, main loop and xs_issueCommand):
//   - netstrings (https://cr.yp.to/proto/netstrings.txt, "LEN:BYTES,") on fd 3 (to the worker) and fd 4 (from it);
//   - `e<source>` evaluates with the global eval, `?<bytes>` calls globalThis.handleCommand(ArrayBuffer),
//     `w<path>` writes a snapshot of the machine to a file (answer: its size), `q` quits. Each is one "crank";
//     after it the worker runs its promise jobs and answers `.<meter JSON>\x01<reply>` or `!<error text>`;
//   - inside a crank, the worker's global issueCommand(ArrayBuffer) writes `?<bytes>` and blocks until the next
//     netstring on fd 3, which must be `/<reply>`: a call from the device to this host is synchronous for the
//     device. So exactly one crank may be in flight: a second command written early would be read as that reply.
// The worker has no setTimeout (xsBuildAgent leaves it out; only setImmediate, which runs at the end of the
// crank), so the board's timers are Node timers that deliver a crank when they fire.
//
// Memory figures (EngineStats): the meter JSON carries currentHeapCount (slots taken from the free list since the
// last collection, so live slots plus garbage not yet swept), allocate (bytes XS reserved from the OS for its chunk
// and slot blocks on this host: xsnapPlatform.c adjustSpaceMeter) and compute (XS's computation meter). XS gives no
// chunk figure in the meter, but a snapshot (xsSnapshot.c fxWriteSnapshot) collects garbage and then writes the live
// chunks as its BLOC atom and the live slots as its HEAP atom, so it tells chunk bytes and slot bytes apart.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { HsmError } from '../../host/errors.ts';
import type { HostTransport } from '../../host/transports/types.ts';
import { SimFlash } from '../../sim/flash.ts';
import type { EngineDevice, EngineProfile, EngineStats } from './engine.ts';

const ROOT = join(import.meta.dirname, '..', '..');
export const XS_BUNDLE = join(ROOT, 'dist', 'tinyhsm-generic.js');

/** A slot on a 32-bit MCU build of XS (txSlot: next pointer, flags/kind, 8-byte value); 32 bytes on a 64-bit host. */
export const MCU_SLOT_BYTES = 16;

/** The release worker that @agoric/xsnap's install script compiled, or undefined when the package is not installed. */
export function xsnapWorkerPath(): string | undefined {
  const os = process.platform === 'linux' ? 'lin' : process.platform === 'darwin' ? 'mac' : undefined;
  if (!os) return undefined;
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('@agoric/xsnap/package.json');
  } catch {
    return undefined;
  }
  return join(dirname(pkg), 'xsnap-native', 'xsnap', 'build', 'bin', os, 'release', 'xsnap-worker');
}

/** Operations the board inside XS asks of this host (first byte of an issueCommand); numbers follow as float64 LE. */
const Op = { SERIAL_WRITE: 1, RANDOM: 2, SET_TIMER: 3, CLEAR_TIMER: 4, FLASH_READ: 5, FLASH_WRITE: 6, FLASH_ERASE: 7 } as const;
/** What this host delivers to the board (first byte of a `?` command). */
const Deliver = { SERIAL: 1, TIMER: 2 } as const;

/**
 * globalThis.board inside XS (firmware/platform/common/board.ts BoardGlobals). Every delivery starts with gc(), so
 * the slot count the worker reports at the end of it is the live heap at its start plus all it allocated: a
 * bound on the slots that delivery needs.
 */
function boardSource(flash: { pageSize: number; pageCount: number; wordSize: number }): string {
  return `(function () {
  var boot = performance.now();
  var receiver = null;
  var timers = {};
  var nextTimer = 1;
  var decoder = new TextDecoder();
  function ask(op, nums, bytes) {
    var head = 1 + 8 * nums.length;
    var u = new Uint8Array(head + (bytes ? bytes.length : 0));
    var dv = new DataView(u.buffer);
    u[0] = op;
    for (var i = 0; i < nums.length; i++) dv.setFloat64(1 + 8 * i, nums[i], true);
    if (bytes) u.set(bytes, head);
    var r = new Uint8Array(issueCommand(u.buffer));
    if (r[0] !== 0) throw new Error(decoder.decode(r.subarray(1)));
    return r.subarray(1);
  }
  globalThis.board = {
    linkMode: 'binary',
    serialWrite: function (bytes) { ask(${Op.SERIAL_WRITE}, [], bytes); },
    onSerialData: function (cb) { receiver = cb; },
    random: function (buf) { buf.set(ask(${Op.RANDOM}, [buf.length])); },
    millis: function () { return Math.floor(performance.now() - boot); },
    setTimer: function (ms, fn) { var id = nextTimer++; timers[id] = fn; ask(${Op.SET_TIMER}, [id, ms]); return id; },
    clearTimer: function (id) { if (timers[id]) { delete timers[id]; ask(${Op.CLEAR_TIMER}, [id]); } },
    flash: {
      pageSize: ${flash.pageSize}, pageCount: ${flash.pageCount}, wordSize: ${flash.wordSize},
      read: function (page, offset, length) { return ask(${Op.FLASH_READ}, [page, offset, length]).slice(); },
      write: function (page, offset, data) { ask(${Op.FLASH_WRITE}, [page, offset], data); },
      erase: function (page) { ask(${Op.FLASH_ERASE}, [page]); }
    }
  };
  globalThis.handleCommand = function (ab) {
    var m = new Uint8Array(ab);
    gc();
    if (m[0] === ${Deliver.SERIAL}) { if (receiver) receiver(m.slice(1)); }
    else if (m[0] === ${Deliver.TIMER}) {
      var id = new DataView(ab).getFloat64(1, true);
      var fn = timers[id];
      delete timers[id];
      if (fn) fn();
    }
  };
})();`;
}

export interface XsMeter {
  /** Slots taken from XS's free list since the last collection (live + garbage not yet swept). */
  currentHeapCount: number;
  /** XS's computation meter for the crank. */
  compute: number;
  /** Bytes XS has reserved from the OS for chunk and slot blocks (this 64-bit host, cumulative). */
  allocate: number;
}

/** Sizes of the atoms of an XS snapshot: BLOC (live chunk bytes) and HEAP (live slot bytes), as this host lays them out. */
export function snapshotAtoms(file: string): Record<string, number> {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const out: Record<string, number> = {};
    // the file is one XS_M atom (size, tag) holding atoms of 4-byte big-endian size (header included) and 4-char tag
    let at = 8;
    for (;;) {
      if (readSync(fd, head, 0, 8, at) < 8) break;
      const size = head.readUInt32BE(0);
      out[head.toString('latin1', 4, 8)] = size - 8;
      if (size < 8) break;
      at += size;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

class XsWorker {
  private readonly child: ChildProcess;
  private readonly toWorker: Writable;
  private inbuf: Buffer = Buffer.alloc(0);
  private pending: { resolve: (r: { reply: Buffer; meter: XsMeter }) => void; reject: (e: Error) => void } | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private output = '';
  exited: string | undefined;
  private exitWaiters: Array<() => void> = [];
  /** Every meter the worker reported, in order. */
  readonly meters: XsMeter[] = [];

  constructor(
    bin: string,
    private readonly onQuery: (q: Buffer) => Uint8Array,
    private readonly onExit: (why: string) => void,
  ) {
    // no -l: no computation limit (a LOGIN's PBKDF2 is long); stdio 3 and 4 are the command pipes
    this.child = spawn(bin, ['tinyhsm-xs'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    this.toWorker = this.child.stdio[3] as Writable;
    const fromWorker = this.child.stdio[4] as Readable;
    fromWorker.on('data', (b: Buffer) => this.receive(b));
    this.toWorker.on('error', () => {
      // the exit handler reports it
    });
    for (const s of [this.child.stdout, this.child.stderr]) s?.on('data', (b: Buffer) => this.note(b.toString('utf8')));
    this.child.on('error', (e) => this.exit(`cannot run ${bin}: ${e.message}`));
    this.child.on('exit', (code, signal) => this.exit(`the xsnap worker exited (${signal ?? `code ${code}`})`));
  }

  note(text: string): void {
    this.output = (this.output + text).slice(-20_000);
  }

  diagnostics(): string {
    return this.output;
  }

  private exit(why: string): void {
    if (this.exited) return;
    this.exited = why;
    this.pending?.reject(new Error(why));
    this.pending = undefined;
    for (const w of this.exitWaiters) w();
    this.onExit(why);
  }

  /** One crank: `e`+source, `?`+bytes or `w`+path; runs after the cranks queued before it. */
  crank(kind: 'e' | '?' | 'w', body: Uint8Array | string): Promise<{ reply: Buffer; meter: XsMeter }> {
    const run = () =>
      new Promise<{ reply: Buffer; meter: XsMeter }>((resolve, reject) => {
        if (this.exited) return reject(new Error(this.exited));
        this.pending = { resolve, reject };
        this.send(Buffer.concat([Buffer.from(kind, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)]));
      });
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => {});
    return p;
  }

  private send(msg: Buffer): void {
    this.toWorker.write(Buffer.concat([Buffer.from(`${msg.length}:`, 'latin1'), msg, Buffer.from(',', 'latin1')]));
  }

  private receive(b: Buffer): void {
    this.inbuf = this.inbuf.length ? Buffer.concat([this.inbuf, b]) : b;
    for (;;) {
      const colon = this.inbuf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.inbuf.toString('latin1', 0, colon));
      if (!Number.isInteger(len)) return this.protocolError(`bad netstring length ${JSON.stringify(this.inbuf.toString('latin1', 0, colon))}`);
      if (this.inbuf.length < colon + 1 + len + 1) return;
      const msg = this.inbuf.subarray(colon + 1, colon + 1 + len);
      if (this.inbuf[colon + 1 + len] !== 0x2c) return this.protocolError('netstring without its comma');
      this.inbuf = this.inbuf.subarray(colon + 2 + len);
      this.message(Buffer.from(msg));
    }
  }

  private protocolError(what: string): void {
    this.note(`xsnap protocol error: ${what}\n`);
    this.child.kill('SIGKILL');
  }

  private message(msg: Buffer): void {
    const kind = msg[0];
    if (kind === 0x3f /* ? */) {
      let reply: Uint8Array;
      try {
        reply = Buffer.concat([Buffer.from([0]), this.onQuery(msg.subarray(1))]);
      } catch (e) {
        const text = (e as Error).message || String(e);
        this.note(`host call failed: ${text}\n`);
        reply = Buffer.concat([Buffer.from([1]), Buffer.from(text, 'utf8')]);
      }
      this.send(Buffer.concat([Buffer.from('/', 'latin1'), reply]));
      return;
    }
    const p = this.pending;
    this.pending = undefined;
    if (kind === 0x2e /* . */) {
      const sep = msg.indexOf(1, 1);
      const m = sep >= 0 ? (JSON.parse(msg.toString('utf8', 1, sep)) as XsMeter) : { currentHeapCount: 0, compute: 0, allocate: 0 };
      const meter = { currentHeapCount: m.currentHeapCount, compute: m.compute, allocate: m.allocate };
      this.meters.push(meter);
      p?.resolve({ reply: msg.subarray(sep >= 0 ? sep + 1 : 1), meter });
    } else if (kind === 0x21 /* ! */) {
      p?.reject(new Error(`XS: ${msg.toString('utf8', 1)}`));
    } else {
      this.protocolError(`unexpected message ${JSON.stringify(msg.toString('latin1', 0, 40))}`);
    }
  }

  /** SIGTERM, as a board loses power: nothing more runs in the machine. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.exitWaiters.push(r));
    this.child.kill('SIGTERM');
    await done;
  }
}

class XsTransport implements HostTransport {
  readonly mode = 'binary' as const;
  readonly description = 'xs';
  /** This process spawned the device: HsmClient pins its identity in memory, never in the known-devices file. */
  readonly selfHosted = true;
  private receiver: (b: Uint8Array) => void = () => {};
  private closeCb: ((reason?: Error) => void) | undefined;
  closing = false;

  constructor(
    private readonly deliver: (bytes: Uint8Array) => void,
    private readonly alive: () => string | undefined,
  ) {}

  write(bytes: Uint8Array): Promise<void> {
    const dead = this.alive();
    if (dead || this.closing) return Promise.reject(new HsmError('CLOSED', `xs is not running${dead ? `: ${dead}` : ''}`));
    this.deliver(new Uint8Array(bytes));
    return Promise.resolve();
  }

  onData(cb: (b: Uint8Array) => void): void {
    this.receiver = cb;
  }

  onClose(cb: (reason?: Error) => void): void {
    this.closeCb = cb;
  }

  received(b: Uint8Array): void {
    this.receiver(b);
  }

  ended(why: string): void {
    if (!this.closing) this.closeCb?.(new Error(why));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.receiver = () => {};
  }
}

/** What one power-on measured, kept for powerOff's EngineStats. */
interface Figures {
  freshSlots: number;
  freshAtoms: Record<string, number>;
  loadMs: number;
  loadCompute: number;
  loadSlots: number;
  afterLoadSlots: number;
  afterLoadAtoms: Record<string, number>;
}

async function powerOn(flashFile: string): Promise<EngineDevice> {
  const bin = xsnapWorkerPath();
  if (!bin || !existsSync(bin)) throw new Error('the xsnap worker is not built: npm ci installs @agoric/xsnap and compiles it (needs gcc and make)');
  if (!existsSync(XS_BUNDLE)) throw new Error(`${XS_BUNDLE} is missing: run \`npm run build\` first`);
  const bundle = readFileSync(XS_BUNDLE, 'utf8');
  const flash = SimFlash.open(flashFile);
  const scratch = mkdtempSync(join(tmpdir(), 'tinyhsm-xs-'));
  const timers = new Map<number, NodeJS.Timeout>();
  let transport: XsTransport | undefined;
  let firmwareErrors = 0;

  const query = (q: Buffer): Uint8Array => {
    const num = (i: number) => q.readDoubleLE(1 + 8 * i);
    switch (q[0]) {
      case Op.SERIAL_WRITE: {
        const bytes = new Uint8Array(q.subarray(1));
        // after this crank's own bookkeeping: the client may write again from inside its receiver
        queueMicrotask(() => transport?.received(bytes));
        return new Uint8Array(0);
      }
      case Op.RANDOM:
        return randomBytes(num(0));
      case Op.SET_TIMER: {
        const id = num(0);
        const t = setTimeout(() => {
          timers.delete(id);
          const msg = new Uint8Array(9);
          msg[0] = Deliver.TIMER;
          new DataView(msg.buffer).setFloat64(1, id, true);
          worker.crank('?', msg).catch((e: Error) => worker.note(`timer ${id}: ${e.message}\n`));
        }, num(1));
        t.unref();
        timers.set(id, t);
        return new Uint8Array(0);
      }
      case Op.CLEAR_TIMER: {
        clearTimeout(timers.get(num(0)));
        timers.delete(num(0));
        return new Uint8Array(0);
      }
      case Op.FLASH_READ:
        return flash.read(num(0), num(1), num(2));
      case Op.FLASH_WRITE:
        flash.write(num(0), num(1), new Uint8Array(q.subarray(17)));
        return new Uint8Array(0);
      case Op.FLASH_ERASE:
        flash.erase(num(0));
        return new Uint8Array(0);
      default:
        throw new Error(`unknown board call ${q[0]}`);
    }
  };
  const worker = new XsWorker(bin, query, (why) => transport?.ended(why));

  const snapshot = async (name: string): Promise<Record<string, number>> => {
    const file = join(scratch, `${name}.xss`);
    await worker.crank('w', file);
    const atoms = snapshotAtoms(file);
    rmSync(file, { force: true });
    return atoms;
  };

  let figures: Figures;
  try {
    const fresh = await worker.crank('e', 'gc()');
    const freshAtoms = await snapshot('fresh');
    await worker.crank('e', boardSource(flash));
    const t0 = performance.now();
    const load = await worker.crank('e', bundle);
    const loadMs = performance.now() - t0;
    const after = await worker.crank('e', 'gc()');
    const afterLoadAtoms = await snapshot('after-load');
    figures = {
      freshSlots: fresh.meter.currentHeapCount,
      freshAtoms,
      loadMs,
      loadCompute: load.meter.compute,
      loadSlots: load.meter.currentHeapCount,
      afterLoadSlots: after.meter.currentHeapCount,
      afterLoadAtoms,
    };
  } catch (e) {
    const out = worker.diagnostics();
    await worker.kill();
    flash.close();
    rmSync(scratch, { recursive: true, force: true });
    throw new Error(`xs: the firmware did not boot: ${(e as Error).message}${out ? `\nworker output:\n${out.slice(-2000)}` : ''}`);
  }
  const commandsFrom = worker.meters.length;

  transport = new XsTransport(
    (bytes) => {
      const msg = new Uint8Array(1 + bytes.length);
      msg[0] = Deliver.SERIAL;
      msg.set(bytes, 1);
      worker.crank('?', msg).catch((e: Error) => {
        firmwareErrors++;
        worker.note(`delivery failed: ${e.message}\n`);
      });
    },
    () => worker.exited,
  );
  const t = transport;

  return {
    transport: t,
    diagnostics: () => worker.diagnostics(),
    async powerOff(): Promise<EngineStats> {
      t.closing = true;
      for (const h of timers.values()) clearTimeout(h);
      timers.clear();
      // what is live at the end of the run; a collection and a snapshot run no firmware code
      let endSlots: number | undefined;
      let endAtoms: Record<string, number> | undefined;
      if (!worker.exited) {
        try {
          endSlots = (await worker.crank('e', 'gc()')).meter.currentHeapCount;
          endAtoms = await snapshot('power-off');
        } catch (e) {
          worker.note(`end-of-run figures: ${(e as Error).message}\n`);
        }
      }
      const meters = worker.meters;
      await worker.kill();
      flash.close();
      rmSync(scratch, { recursive: true, force: true });

      const cmd = meters.slice(commandsFrom, endSlots === undefined ? undefined : -1);
      const peakSlots = Math.max(figures.loadSlots, ...cmd.map((m) => m.currentHeapCount));
      const chunkBytes = Math.max(figures.afterLoadAtoms.BLOC ?? 0, endAtoms?.BLOC ?? 0);
      const hostSlot = figures.afterLoadAtoms.HEAP && figures.afterLoadSlots ? Math.round(figures.afterLoadAtoms.HEAP / figures.afterLoadSlots) : 32;
      const extra: Record<string, number | string> = {
        meaning:
          'peak = peakSlots×16 B (a 32-bit MCU slot) + the most live chunk bytes seen (BLOC of a snapshot); afterLoad = afterLoadSlots×16 B + afterLoadChunkBytes. ' +
          'Slot counts are xsnap meter currentHeapCount: slots taken since the last collection. peakSlots is the highest at the end of a delivery that began with gc() ' +
          '(live at its start plus all it allocated, garbage included: a bound on the slots it needs; loading the bundle included). ' +
          'Chunk bytes (byte code, strings, BigInts, buffers) come from snapshots after a collection, on this 64-bit host; XS reports no chunk peak inside a delivery. ' +
          'The "fresh" figures are an empty XS machine before the bundle (its intrinsics); compute is XS meter units; allocate is bytes XS reserved from the OS on this host.',
        peakSlots,
        peakSlotBytesMcu: peakSlots * MCU_SLOT_BYTES,
        afterLoadSlots: figures.afterLoadSlots,
        afterLoadSlotBytesMcu: figures.afterLoadSlots * MCU_SLOT_BYTES,
        afterLoadChunkBytes: figures.afterLoadAtoms.BLOC ?? -1,
        afterLoadSlotBytesHost: figures.afterLoadAtoms.HEAP ?? -1,
        hostSlotBytes: hostSlot,
        freshSlots: figures.freshSlots,
        freshChunkBytes: figures.freshAtoms.BLOC ?? -1,
        firmwareSlotsAfterLoad: figures.afterLoadSlots - figures.freshSlots,
        firmwareChunkBytesAfterLoad: (figures.afterLoadAtoms.BLOC ?? 0) - (figures.freshAtoms.BLOC ?? 0),
        loadMs: Math.round(figures.loadMs),
        loadCompute: figures.loadCompute,
        deliveries: cmd.length,
        maxDeliveryCompute: Math.max(0, ...cmd.map((m) => m.compute)),
        allocateBytesHost: meters.length ? meters[meters.length - 1].allocate : -1,
        failedDeliveries: firmwareErrors,
      };
      if (endSlots !== undefined) extra.endSlots = endSlots;
      if (endAtoms) extra.endChunkBytes = endAtoms.BLOC ?? -1;
      return {
        engine: 'xs',
        unit: 'bytes',
        peak: peakSlots * MCU_SLOT_BYTES + chunkBytes,
        afterLoad: figures.afterLoadSlots * MCU_SLOT_BYTES + (figures.afterLoadAtoms.BLOC ?? 0),
        extra,
      };
    },
  };
}

export const xsProfile: EngineProfile = {
  name: 'xs',
  unavailable() {
    const bin = xsnapWorkerPath();
    if (!bin) return '@agoric/xsnap is not installed (npm ci installs it and compiles its worker with gcc and make)';
    if (!existsSync(bin))
      return `@agoric/xsnap is installed but its worker was not built (${bin}); its install script needs allowScripts in package.json, gcc and make`;
    return undefined;
  },
  powerOn: ({ flashFile }) => powerOn(flashFile),
};

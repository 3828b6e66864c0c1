// The simulator's NOR flash (sim/flash.ts) and its power cuts, on their own and through the Simulator's board.flash (docs/storage.md §2, §11).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashBugError, PowerCutError, PowerCutFlash, SimFlash, Simulator, type PowerCutInfo } from '../../sim/index.ts';
import { coinTearing } from '../../sim/flash.ts';
import type { Flash } from '../../firmware/hal/index.ts';
import { BOOT_PATTERN, BOOT_WORDS, writeFlashExerciser } from '../helpers/board-emulation/flash-exerciser.ts';

const PAGE = 4096;
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

let dir: string;
let exerciser: string;
const open: { close(): void }[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-sim-flash-'));
  exerciser = writeFlashExerciser(dir);
});
afterEach(() => {
  while (open.length) open.pop()!.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function track<T extends { close(): void }>(x: T): T {
  open.push(x);
  return x;
}

let fileCount = 0;
const newPath = () => join(dir, `flash-${++fileCount}.img`);

/** Each bit of `landed` is the bit of `before` or of `intended`: the word is torn between the two (a NOR write only clears). */
function between(before: Uint8Array, intended: Uint8Array, landed: Uint8Array): boolean {
  for (let i = 0; i < landed.length; i++) {
    if ((landed[i] & ~before[i] & 0xff) !== 0) return false; // set a bit that was 0
    if ((intended[i] & ~landed[i] & 0xff) !== 0) return false; // cleared a bit the write was to keep
  }
  return true;
}

describe('SimFlash: NOR rules', () => {
  it('a factory-new flash reads 0xFF; writes clear bits; erase sets the page back to 0xFF and is counted', () => {
    const f = SimFlash.memory({ pages: 4 });
    expect([f.pageSize, f.pageCount, f.wordSize]).toEqual([PAGE, 4, 4]);
    expect(f.read(3, 4088, 8).every((b) => b === 0xff)).toBe(true);
    f.write(2, 8, unhex('f00faa55'));
    f.write(2, 8, unhex('f00f0a05')); // clears more bits of the same word: allowed
    expect(hex(f.read(2, 8, 4))).toBe('f00f0a05');
    expect(hex(f.read(2, 4, 12))).toBe('fffffffff00f0a05ffffffff');
    f.erase(2);
    expect(f.read(2, 0, PAGE).every((b) => b === 0xff)).toBe(true);
    expect(f.eraseCounts()).toEqual([0, 0, 1, 0]);
  });

  it('a write that would set a bit throws "firmware bug" naming page and offset, and changes nothing, even its valid words', () => {
    const f = SimFlash.memory({ pages: 4 });
    f.write(1, 8, unhex('00ff00ff'));
    const before = f.image();
    let err: unknown;
    try {
      f.write(1, 4, unhex('0000000000ff01ff')); // word 0 is fine, byte 6 (offset 10) has 0x01 over 0x00
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FlashBugError);
    expect((err as Error).message).toBe('firmware bug: flash write would set bits at page 1 offset 10 (0x00 -> 0x01); erase the page first');
    expect(hex(f.image())).toBe(hex(before));
  });

  it('misaligned or partial words and accesses out of range throw loudly', () => {
    const f = SimFlash.memory({ pages: 2 });
    expect(() => f.write(0, 2, unhex('00000000'))).toThrow(/firmware bug: flash write at page 0 offset 2 length 4 is not whole aligned 4-byte words/);
    expect(() => f.write(0, 4, unhex('000000'))).toThrow(/not whole aligned/);
    expect(() => f.write(2, 0, unhex('00000000'))).toThrow(/firmware bug: flash write out of range at page 2/);
    expect(() => f.write(0, PAGE - 4, unhex('0000000000000000'))).toThrow(/out of range/);
    expect(() => f.read(0, PAGE - 1, 2)).toThrow(/firmware bug: flash read out of range/);
    expect(() => f.read(-1, 0, 1)).toThrow(/out of range/);
    expect(() => f.erase(1.5)).toThrow(/firmware bug: flash erase out of range/);
    expect(() => f.write(0, 0, [0, 0, 0, 0] as unknown as Uint8Array)).toThrow(/expects a Uint8Array/);
    expect(f.image().every((b) => b === 0xff)).toBe(true);
  });

  it('clone() is an independent copy with the same contents and erase counts', () => {
    const f = SimFlash.memory({ pages: 2 });
    f.erase(1);
    f.write(1, 0, unhex('12345678'));
    const c = f.clone();
    c.write(1, 4, unhex('00000000'));
    expect(hex(f.read(1, 0, 8))).toBe('12345678ffffffff');
    expect(hex(c.read(1, 0, 8))).toBe('1234567800000000');
    expect(c.eraseCounts()).toEqual([0, 1]);
  });
  it('a memory flash takes any whole-word geometry (tests hand the store small or unusable ones); restore and flipBit bypass the NOR rules', () => {
    const f = SimFlash.memory({ pageSize: 64, pages: 1, wordSize: 8 });
    expect([f.pageSize, f.pageCount, f.wordSize]).toEqual([64, 1, 8]);
    expect(() => f.write(0, 4, unhex('0000000000000000'))).toThrow(/not whole aligned 8-byte words/);
    expect(() => SimFlash.memory({ pageSize: 60, wordSize: 8 })).toThrow(RangeError);
    expect(() => SimFlash.memory({ image: new Uint8Array(100), pageSize: 64 })).toThrow(/whole number of 64-byte pages/);
    f.write(0, 0, unhex('0000000000000000'));
    f.restore(new Uint8Array(64).fill(0xff));
    f.flipBit(9, 4);
    expect(hex(f.read(0, 8, 2))).toBe('ffef');
    expect(f.eraseCounts()).toEqual([0]);
    expect(() => f.restore(new Uint8Array(32))).toThrow(RangeError);
  });
});

describe('SimFlash.open: a file image', () => {
  it('a missing file becomes a factory-new image of the asked geometry; an empty file too', () => {
    const p = newPath();
    const f = track(SimFlash.open(p, { pages: 8 }));
    expect(f.pageCount).toBe(8);
    expect(statSync(p).size).toBe(8 * PAGE);
    expect(readFileSync(p).every((b) => b === 0xff)).toBe(true);
    const empty = newPath();
    writeFileSync(empty, '');
    const g = track(SimFlash.open(empty));
    expect(g.pageCount).toBe(32);
    expect(statSync(empty).size).toBe(32 * PAGE);
  });

  it('every write is in the file when write() returns (a killed process keeps it), at page·4096 + offset', () => {
    const p = newPath();
    const f = track(SimFlash.open(p, { pages: 4 }));
    f.write(3, 100 * 4, unhex('deadbeef'));
    const disk = readFileSync(p); // read by another handle while the flash is still open
    expect(hex(disk.subarray(3 * PAGE + 400, 3 * PAGE + 408))).toBe('deadbeefffffffff');
    f.erase(3);
    expect(
      readFileSync(p)
        .subarray(3 * PAGE, 4 * PAGE)
        .every((b) => b === 0xff),
    ).toBe(true);
  });

  it('contents and wear survive close and reopen; the geometry comes from the file', () => {
    const p = newPath();
    const f = SimFlash.open(p, { pages: 4 });
    f.erase(0);
    f.erase(2);
    f.erase(2);
    f.write(2, 0, unhex('0102030405060708'));
    f.close();
    expect(JSON.parse(readFileSync(p + '.wear', 'utf8'))).toEqual({ pageSize: PAGE, pageCount: 4, eraseCounts: [1, 0, 2, 0] });
    const g = track(SimFlash.open(p));
    expect(g.pageCount).toBe(4);
    expect(hex(g.read(2, 0, 12))).toBe('0102030405060708ffffffff');
    expect(g.eraseCounts()).toEqual([1, 0, 2, 0]);
    expect(() => g.write(2, 0, unhex('ff000000'))).toThrow(/would set bits at page 2 offset 0/);
  });

  it('refuses another page count, a size that is not whole pages, and a wrong --flash-pages', () => {
    const p = newPath();
    SimFlash.open(p, { pages: 16 }).close();
    expect(() => SimFlash.open(p, { pages: 32 })).toThrow(/holds 16 pages of 4096 bytes, not the 32 asked for with --flash-pages/);
    const odd = newPath();
    writeFileSync(odd, Buffer.alloc(5000, 0xff));
    expect(() => SimFlash.open(odd)).toThrow(/is 5000 bytes, not a whole number of 4096-byte flash pages: it is not a tinyhsm flash image/);
    expect(() => SimFlash.open(newPath(), { pages: 1 })).toThrow(/--flash-pages must be an integer from 2 to 256/);
    expect(() => SimFlash.open(join(dir, 'no', 'such', 'dir.img'))).toThrow(/dir.img as the flash image: its directory does not exist/);
    // a refused open leaves neither a lock nor a changed file
    expect(existsSync(p + '.lock')).toBe(false);
    expect(statSync(p).size).toBe(16 * PAGE);
  });

  it('one image, one simulator: a second open is refused while the first holds it; a stale lock is taken over', () => {
    const p = newPath();
    const f = SimFlash.open(p, { pages: 2 });
    expect(() => SimFlash.open(p)).toThrow(/already open in this process/);
    expect(readFileSync(p + '.lock', 'utf8').trim()).toBe(String(process.pid));
    f.close();
    expect(existsSync(p + '.lock')).toBe(false);
    // another live process (our parent) holds it
    writeFileSync(p + '.lock', `${process.ppid}\n`);
    expect(() => SimFlash.open(p)).toThrow(new RegExp(`in use by another simulator \\(pid ${process.ppid}\\)`));
    // a process that has exited left it behind
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(p + '.lock', dead.stdout + '\n');
    track(SimFlash.open(p));
    expect(readFileSync(p + '.lock', 'utf8').trim()).toBe(String(process.pid));
  });
});

describe('PowerCutFlash: the N-th word write lands torn, then nothing', () => {
  function cutRig(seed?: string) {
    const inner = SimFlash.memory({ pages: 2 });
    const cuts: PowerCutInfo[] = [];
    const pc = new PowerCutFlash(inner, (i) => cuts.push(i), seed);
    return { inner, pc, cuts };
  }

  it('counts words; at word N the earlier words of that write land whole, word N torn, the later ones not at all', () => {
    const { inner, pc, cuts } = cutRig('01');
    pc.write(0, 0, unhex('11111111')); // word 1
    pc.setCutAt(3);
    let err: unknown;
    try {
      pc.write(1, 16, unhex('00000000' + '00000000' + '00000000')); // words 2, 3 (torn), 4 (never)
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PowerCutError);
    expect((err as Error).message).toBe('power cut after word write 3');
    expect(pc.wordWrites).toBe(3);
    expect(cuts.length).toBe(1);
    const c = cuts[0];
    expect([c.wordWrite, c.page, c.offset]).toEqual([3, 1, 20]);
    expect(hex(inner.read(1, 16, 4))).toBe('00000000');
    expect(hex(inner.read(1, 20, 4))).toBe(hex(c.landed));
    expect(hex(c.before)).toBe('ffffffff');
    expect(hex(c.intended)).toBe('00000000');
    expect(between(c.before, c.intended, c.landed)).toBe(true);
    expect(hex(inner.read(1, 24, 4))).toBe('ffffffff');
    // no power: every call fails and changes nothing, until power comes back
    expect(() => pc.read(0, 0, 4)).toThrow(PowerCutError);
    expect(() => pc.write(0, 4, unhex('00000000'))).toThrow(PowerCutError);
    expect(() => pc.erase(0)).toThrow(PowerCutError);
    pc.powerOn();
    expect(hex(pc.read(0, 0, 4))).toBe('11111111');
    pc.write(0, 4, unhex('00000000'));
    expect(pc.wordWrites).toBe(4);
  });

  it('the torn bits are a seeded random subset: same seed, same word; across seeds none, all and some of them land', () => {
    const landedFor = (seed: string) => {
      const { pc, cuts } = cutRig(seed);
      pc.setCutAt(1);
      expect(() => pc.write(0, 0, unhex('00ff0f00'))).toThrow(PowerCutError);
      return cuts[0].landed;
    };
    expect(hex(landedFor('abcd'))).toBe(hex(landedFor('abcd')));
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const l = landedFor(i.toString(16).padStart(2, '0'));
      expect(between(unhex('ffffffff'), unhex('00ff0f00'), l)).toBe(true);
      expect(l[1]).toBe(0xff); // bits the write did not clear stay
      seen.add(hex(l));
    }
    // a quarter of cuts leave the word untouched, a quarter write it whole (the clean states a sweep must meet), the rest tear it
    expect(seen.has('ffffffff')).toBe(true);
    expect(seen.has('00ff0f00')).toBe(true);
    expect(seen.size).toBeGreaterThan(16);
  });

  it('checks the NOR rules itself on any Flash, even one that would silently AND', () => {
    const mem = new Uint8Array(2 * PAGE).fill(0xff);
    const anding: Flash = {
      pageSize: PAGE,
      pageCount: 2,
      wordSize: 4,
      read: (p, o, l) => mem.slice(p * PAGE + o, p * PAGE + o + l),
      write: (p, o, d) => d.forEach((b, i) => (mem[p * PAGE + o + i] &= b)),
      erase: (p) => mem.fill(0xff, p * PAGE, (p + 1) * PAGE),
    };
    const pc = new PowerCutFlash(anding, () => {});
    pc.write(0, 0, unhex('0f0f0f0f'));
    expect(() => pc.write(0, 0, unhex('ffffffff'))).toThrow(/firmware bug: flash write would set bits at page 0 offset 0 \(0x0f -> 0xff\)/);
    expect(() => pc.write(0, 1, unhex('00000000'))).toThrow(/aligned/);
    expect(pc.wordWrites).toBe(1);
    pc.erase(1);
    pc.erase(1);
    expect(pc.erasesSinceStart).toEqual([0, 2]);
  });

  it('an interrupted erase leaves the page with only some of its bits back at 1 (or none, or all), then no power', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const { inner, pc, cuts } = cutRig('e' + i.toString(16).padStart(3, '0'));
      pc.write(1, 0, new Uint8Array(PAGE).fill(0x5a));
      pc.erase(0);
      pc.setEraseCutAt(2);
      expect(() => pc.erase(1)).toThrow('power cut during erase 2 (page 1)');
      const c = cuts[0];
      expect([c.kind, c.erase, c.page, c.wordWrite]).toEqual(['erase', 2, 1, PAGE / 4]);
      const page = inner.read(1, 0, PAGE);
      expect(hex(page)).toBe(hex(c.landed));
      // every bit is 1 or what it was: an erase only sets bits
      for (let j = 0; j < PAGE; j++) expect(page[j] & 0x5a).toBe(0x5a);
      expect(() => pc.read(1, 0, 1)).toThrow(PowerCutError);
      seen.add(page.every((b) => b === 0x5a) ? 'none' : page.every((b) => b === 0xff) ? 'all' : 'some');
    }
    expect([...seen].sort()).toEqual(['all', 'none', 'some']);
  });

  it('a chosen tearing and share of bits; reads while off when asked; an interrupted erase counts even if nothing changed', () => {
    const inner = SimFlash.memory({ pageSize: 256, pages: 2 });
    const pc = new PowerCutFlash(inner, () => {}, undefined, { tearing: coinTearing(9), readWhenOff: true });
    pc.write(0, 0, new Uint8Array(256));
    pc.setEraseCutAt(1, 0);
    expect(() => pc.erase(0)).toThrow(PowerCutError);
    expect(pc.read(0, 0, 256).every((b) => b === 0)).toBe(true); // a share of 0: nothing came back, and reads still work
    expect(pc.erasesSinceStart).toEqual([1, 0]);
    expect(() => pc.write(1, 0, new Uint8Array(4))).toThrow(PowerCutError);
    pc.powerOn();
    expect(() => pc.setEraseCutAt(2, 1.5)).toThrow(RangeError);
    pc.setEraseCutAt(2, 1);
    expect(() => pc.erase(0)).toThrow(PowerCutError);
    expect(pc.read(0, 0, 256).every((b) => b === 0xff)).toBe(true);
    expect(inner.eraseCounts()).toEqual([2, 0]);
  });

  it('a cut must come after the writes already made', () => {
    const { pc } = cutRig();
    pc.write(0, 0, unhex('00000000'));
    expect(() => pc.setCutAt(1)).toThrow(RangeError);
  });
});

/** A simulator running the flash exerciser, and a way to send it one line and get its answer. */
function exerciserSim(opts: ConstructorParameters<typeof Simulator>[0] = {}) {
  const log: string[] = [];
  const sim = new Simulator({ bundlePath: exerciser, log: (l) => log.push(l), ...opts });
  let buf = '';
  const lines: string[] = [];
  sim.onData((b) => {
    buf += Buffer.from(b).toString('latin1');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  /** Send a line; after the link's microtasks have run, return the lines that came back. */
  const say = async (line: string): Promise<string[]> => {
    sim.write(new Uint8Array(Buffer.from(line + '\n', 'latin1')));
    await new Promise((r) => setImmediate(r));
    return lines.splice(0);
  };
  return { sim, say, log };
}

describe('Simulator with a flash: board.flash, word counts, power cuts, reboot', () => {
  it('the firmware reads, writes and erases through board.flash; its writes are counted from boot', async () => {
    const flash = SimFlash.memory({ pages: 4 });
    const { sim, say } = exerciserSim({ flash });
    track(sim);
    expect(sim.flash).toBe(flash);
    expect(sim.wordWrites).toBe(BOOT_WORDS);
    expect(hex(flash.read(0, 0, 12))).toBe(BOOT_PATTERN);
    expect(await say('g')).toEqual([JSON.stringify({ pageSize: PAGE, pageCount: 4, wordSize: 4 })]);
    expect(await say('w 2 64 0011223344556677')).toEqual(['ok']);
    expect(sim.wordWrites).toBe(BOOT_WORDS + 2);
    expect(await say('r 2 60 12')).toEqual(['ffffffff0011223344556677']);
    expect(await say('e 2')).toEqual(['ok']);
    expect(sim.eraseCounts()).toEqual([0, 0, 1, 0]);
    expect(await say('r 2 64 4')).toEqual(['ffffffff']);
    expect(sim.deviceFaults).toEqual([]);
  });

  it('a 0→1 write is a firmware bug: the firmware gets the exception and it is recorded even though the firmware caught it', async () => {
    const { sim, say, log } = exerciserSim({ flash: SimFlash.memory({ pages: 2 }) });
    track(sim);
    expect(await say('w 1 0 00000000')).toEqual(['ok']);
    expect(await say('w 1 0 00000001')).toEqual(['err firmware bug: flash write would set bits at page 1 offset 3 (0x00 -> 0x01); erase the page first']);
    expect(await say('w 1 2 00000000')).toEqual(['err firmware bug: flash write at page 1 offset 2 length 4 is not whole aligned 4-byte words']);
    expect(sim.deviceFaults.map((f) => f.where)).toEqual(['flash', 'flash']);
    expect(log.filter((l) => l.startsWith('firmware bug:')).length).toBe(2);
    expect(await say('r 1 0 4')).toEqual(['00000000']);
  });

  it('without a flash the board has none, and a power cut cannot be asked for', async () => {
    const { sim, say } = exerciserSim();
    track(sim);
    expect(await say('g')).toEqual(['noflash']);
    expect(sim.wordWrites).toBe(0);
    expect(sim.eraseCounts()).toEqual([]);
    expect(() => sim.schedulePowerCut(1)).toThrow(/needs a flash/);
    expect(() => new Simulator({ bundlePath: exerciser, powerCutAfterWords: 1, log: () => {} })).toThrow(/powerCutAfterWords needs a flash/);
  });

  it('a cut during boot: the constructor returns a board that is off; reboot() is power coming back on the same flash', async () => {
    const flash = SimFlash.memory({ pages: 2 });
    const { sim, say } = exerciserSim({ flash, powerCutAfterWords: 2, seed: '42' });
    track(sim);
    expect(sim.isPoweredOff).toBe(true);
    const cut = await sim.whenPowerCut();
    expect([cut.wordWrite, cut.page, cut.offset]).toEqual([2, 0, 4]);
    expect(sim.wordWrites).toBe(2);
    expect(hex(flash.read(0, 0, 4))).toBe(BOOT_PATTERN.slice(0, 8));
    expect(hex(flash.read(0, 4, 4))).toBe(hex(cut.landed));
    expect(between(cut.before, cut.intended, cut.landed)).toBe(true);
    expect(hex(flash.read(0, 8, 4))).toBe('ffffffff'); // word 3 never happened
    expect(await say('g')).toEqual([]); // no power, no answer
    expect(sim.deviceFaults).toEqual([]); // a power cut is not a crash
    sim.reboot();
    expect(sim.isPoweredOff).toBe(false);
    expect(sim.bootCount).toBe(2);
    expect(await say('r 0 0 12')).toEqual([hex(flash.read(0, 0, 12))]); // the torn boot record is still there
    expect(sim.wordWrites).toBe(2); // this boot saw a used flash and wrote nothing
  });

  it('a cut while serving: no answer, no timer, no byte out; listeners and the promise get the cut; reboot serves again', async () => {
    const flash = SimFlash.memory({ pages: 2 });
    const { sim, say } = exerciserSim({ flash });
    track(sim);
    const seen: PowerCutInfo[] = [];
    sim.onPowerCut((i) => seen.push(i));
    const out: Uint8Array[] = [];
    sim.onData((b) => out.push(b));
    const cutP = sim.schedulePowerCut(2);
    expect(sim.pendingPowerCut).toBe(BOOT_WORDS + 2);
    // a timer armed just before the cut must never fire: the board has no power
    expect(await say('t 0\nw 1 0 000000000000000000000000')).toEqual([]);
    const cut = await cutP;
    expect(cut.wordWrite).toBe(BOOT_WORDS + 2);
    expect([cut.page, cut.offset]).toEqual([1, 4]);
    expect(seen).toEqual([cut]);
    expect(sim.lastPowerCut).toBe(cut);
    expect(hex(flash.read(1, 0, 12))).toBe('00000000' + hex(cut.landed) + 'ffffffff');
    await new Promise((r) => setTimeout(r, 20)); // the 0 ms timer had its chance
    expect(await say('g')).toEqual([]);
    expect(out).toEqual([]);
    expect(sim.deviceFaults).toEqual([]);
    sim.reboot();
    expect(await say('r 1 0 4')).toEqual(['00000000']);
    // after the reboot timers run again: the tick may come before or after say() returns (a loaded machine)
    const early = await say('t 0');
    await new Promise((r) => setTimeout(r, 20));
    expect([...early, ...(await say('g'))]).toEqual(['tick', JSON.stringify({ pageSize: PAGE, pageCount: 2, wordSize: 4 })]);
  });

  it('a cut in an erase: the page is left partly erased, the device stops; reboot sees it', async () => {
    const flash = SimFlash.memory({ pages: 2 });
    const { sim, say } = exerciserSim({ flash, seed: '77' });
    track(sim);
    expect(await say('w 1 0 00000000')).toEqual(['ok']);
    const cutP = sim.schedulePowerCutInErase(1);
    expect(await say('e 1')).toEqual([]);
    const cut = await cutP;
    expect([cut.kind, cut.erase, cut.page]).toEqual(['erase', 1, 1]);
    expect(sim.isPoweredOff).toBe(true);
    sim.reboot();
    expect(await say('r 1 0 4')).toEqual([hex(cut.landed.subarray(0, 4))]);
    expect(sim.erases).toBe(1);
  });

  it('a flash given as a path is opened, survives reboots, and is closed (unlocked) with the simulator; wear is kept', async () => {
    const p = newPath();
    const { sim, say } = exerciserSim({ flash: p, flashPages: 3 });
    expect(sim.flash).toBeInstanceOf(SimFlash);
    expect((sim.flash as SimFlash).path).toBe(p);
    expect(await say('e 2')).toEqual(['ok']);
    expect(await say('w 2 0 00000000')).toEqual(['ok']);
    sim.reboot();
    expect(await say('r 2 0 8')).toEqual(['00000000ffffffff']);
    sim.close();
    expect(existsSync(p + '.lock')).toBe(false);
    const again = track(SimFlash.open(p));
    expect(again.pageCount).toBe(3);
    expect(hex(again.read(0, 0, 12))).toBe(BOOT_PATTERN);
    expect(again.eraseCounts()).toEqual([0, 0, 1]);
  });

  it('a geometry mismatch or a locked file fails the constructor with the reason', () => {
    const p = newPath();
    SimFlash.open(p, { pages: 4 }).close();
    expect(() => new Simulator({ bundlePath: exerciser, flash: p, flashPages: 8, log: () => {} })).toThrow(/holds 4 pages/);
    const holder = track(SimFlash.open(p));
    expect(() => new Simulator({ bundlePath: exerciser, flash: p, log: () => {} })).toThrow(/already open/);
    expect(holder.isClosed).toBe(false);
  });
});

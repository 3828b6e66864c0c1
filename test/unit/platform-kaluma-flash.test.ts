// Kaluma's flash adapter (firmware/platform/kaluma/adapter.ts) against an emulation of require('flash') on an RP2040, and the kaluma bundle booting on it (docs/storage.md §2).
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verify as nodeVerify, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { Alg, Command, Role, Status, toHex, type Frame } from '../../firmware/protocol/index.ts';
import { createKalumaFlash, openKalumaFlash, KALUMA_STORE_BASE, KALUMA_STORE_SECTORS, type KalumaGlobals } from '../../firmware/platform/kaluma/adapter.ts';
import { EmulatedKalumaChip, EmulatedKalumaFlash, KalumaBoard, type Conversation } from '../helpers/board-emulation/kaluma.ts';
import { WireSession, armorRequest, decodeAnswer, type Answer } from '../helpers/board-emulation/wire.ts';
import { flashOps, runAgainstModel } from '../helpers/board-emulation/flash-conformance.ts';

const SECTOR = 4096;
const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** Just enough of the Kaluma globals for openKalumaFlash: require('flash') over `chip`. */
function globalsWith(chip: EmulatedKalumaChip, mod?: unknown): KalumaGlobals {
  return {
    require: (name: string) => {
      if (name !== 'flash') throw new Error(`Module "${name}" not found`);
      if (mod !== undefined) return mod;
      return {
        Flash: function (base?: number, count?: number) {
          chip.opened.push(`${base},${count}`);
          return new EmulatedKalumaFlash(count, chip, base);
        },
      };
    },
  } as unknown as KalumaGlobals;
}

describe('Kaluma flash adapter over require("flash")', () => {
  it("opens Kaluma's storage sectors 0..3 by default: 4 pages of 4096 bytes in 4-byte words", () => {
    const chip = new EmulatedKalumaChip();
    const flash = openKalumaFlash(globalsWith(chip))!;
    expect([KALUMA_STORE_BASE, KALUMA_STORE_SECTORS]).toEqual([0, 4]);
    expect(chip.opened).toEqual(['0,4']);
    expect([flash.pageSize, flash.pageCount, flash.wordSize]).toEqual([4096, 4, 4]);
  });

  it('write/read/erase round trips land in the chip at (base + page)·4096 + offset, nowhere else', () => {
    const chip = new EmulatedKalumaChip();
    const flash = openKalumaFlash(globalsWith(chip), 124, 8)!; // the tail of the program area, say
    flash.write(5, 1020, unhex('0102030405060708')); // straddles two 256-byte program pages
    expect(hex(flash.read(5, 1016, 16))).toBe('ffffffff0102030405060708ffffffff');
    expect(hex(chip.mem.subarray((124 + 5) * SECTOR + 1016, (124 + 5) * SECTOR + 1032))).toBe('ffffffff0102030405060708ffffffff');
    expect([...chip.touched]).toEqual([129]);
    expect(chip.rejected).toEqual([]);
    flash.erase(5);
    expect(flash.read(5, 0, SECTOR).every((b) => b === 0xff)).toBe(true);
    expect(chip.erases[129]).toBe(1);
    // everything outside sectors 124..131 is still erased
    for (let s = 0; s < 260; s++) if (s < 124 || s > 131) expect(chip.mem.subarray(s * SECTOR, (s + 1) * SECTOR).every((b) => b === 0xff)).toBe(true);
  });

  it('pads to whole 256-byte program pages with 0xFF, so the other words of those pages keep what they hold', () => {
    const chip = new EmulatedKalumaChip();
    const flash = createKalumaFlash(new EmulatedKalumaFlash(4, chip, 0), 4);
    flash.write(2, 0, unhex('11111111'));
    flash.write(2, 252, unhex('22222222'));
    flash.write(2, 4, unhex('33333333'));
    flash.write(2, 248, unhex('00000000'));
    expect(hex(flash.read(2, 0, 8))).toBe('1111111133333333');
    expect(hex(flash.read(2, 248, 8))).toBe('0000000022222222');
    expect(chip.rejected).toEqual([]);
    expect(chip.violations).toEqual([]);
  });

  it('refuses what the chip would silently get wrong: a 0→1 write, misaligned words, pages out of range; nothing reaches the chip', () => {
    const chip = new EmulatedKalumaChip();
    const flash = createKalumaFlash(new EmulatedKalumaFlash(4, chip, 0), 4);
    flash.write(1, 16, unhex('0f0f0f0f'));
    const before = hex(chip.mem);
    expect(() => flash.write(1, 16, unhex('0f1f0f0f'))).toThrow(
      'firmware bug: flash write would set bits at page 1 offset 17 (0x0f -> 0x1f); erase the page first',
    );
    expect(() => flash.write(1, 18, unhex('00000000'))).toThrow(/not whole aligned 4-byte words/);
    expect(() => flash.write(1, 16, unhex('000000'))).toThrow(/not whole aligned/);
    expect(() => flash.write(4, 0, unhex('00000000'))).toThrow(/firmware bug: flash write out of range at page 4/);
    expect(() => flash.read(0, 4090, 8)).toThrow(/out of range/);
    expect(() => flash.erase(-1)).toThrow(/firmware bug: flash erase out of range/);
    expect(hex(chip.mem)).toBe(before);
    expect(chip.violations).toEqual([]);
  });

  it('a program the chip refuses or does not take is an error, not silent loss (read back)', () => {
    const chip = new EmulatedKalumaChip();
    const deaf = new EmulatedKalumaFlash(4, chip, 0);
    deaf.write = () => {}; // as km_flash_program failing: the module returns undefined either way
    const flash = createKalumaFlash(deaf, 4);
    expect(() => flash.write(0, 0, unhex('00000000'))).toThrow(/did not take/);
  });

  it('no flash module, or one with another geometry: no flash (the core then keeps its store in RAM)', () => {
    const chip = new EmulatedKalumaChip();
    const none = {
      require: () => {
        throw new Error('Module "flash" not found');
      },
    } as unknown as KalumaGlobals;
    expect(openKalumaFlash(none)).toBeUndefined();
    const odd = {
      Flash: function () {
        const f = new EmulatedKalumaFlash(4, chip, 0);
        f.ioctl = (op: number) => (op === 5 ? 512 : 4);
        return f;
      },
    };
    expect(openKalumaFlash(globalsWith(chip, odd))).toBeUndefined();
  });

  it('behaves exactly like a NOR model over random writes and erases (fast-check)', () => {
    fc.assert(
      fc.property(flashOps(4, SECTOR), (ops) => {
        const chip = new EmulatedKalumaChip();
        runAgainstModel(openKalumaFlash(globalsWith(chip))!, ops);
        return chip.rejected.length === 0 && chip.violations.length === 0 && [...chip.touched].every((s) => s < 4);
      }),
      { numRuns: 60 },
    );
  });
});

// ------------------------------------------------------------------ the kaluma bundle on the emulated board

const BUNDLE = join(import.meta.dirname, '..', '..', 'dist', 'tinyhsm-kaluma.js');
let bundle = '';
beforeAll(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  bundle = readFileSync(BUNDLE, 'utf8');
});

function session(chip: EmulatedKalumaChip, script: () => Conversation): KalumaBoard {
  const board = new KalumaBoard({ bundle, chip });
  board.boot();
  board.run(script());
  return board;
}

function answer(code: number, f: Frame | undefined): Answer {
  if (!f) throw new Error('no answer frame');
  return decodeAnswer(code, f);
}

/** Open a session (docs/protocol.md §6) on the board: yields INFO and SESSION_OPEN with seqs from `seq`, returns the session. */
function* openSession(seq: number): Generator<string, WireSession, Frame | undefined> {
  const info = answer(Command.INFO, yield armorRequest(seq, Command.INFO));
  const ws = new WireSession();
  ws.finish(answer(Command.SESSION_OPEN, yield armorRequest(seq + 1, Command.SESSION_OPEN, ws.openFields())), info);
  return ws;
}

/** A gated command inside the session: the request line to yield, and how to read its answer frame. */
function sealed(ws: WireSession, seq: number, code: number, fields: object = {}): { line: string; read: (f: Frame | undefined) => Answer } {
  return { line: armorRequest(seq, Command.SESSION_MESSAGE, ws.wrap(code, fields)), read: (f) => ws.unwrap(code, answer(Command.SESSION_MESSAGE, f)) };
}

/** The PINs these tests give the factory-new board (docs/security.md §3). */
const USER_PIN = new Uint8Array(Buffer.from('pico-user-pin'));
const SO_PIN = new Uint8Array(Buffer.from('pico-so-pin'));

/** INIT the board in session `ws` (seq `seq`); throws unless it answers OK. */
function* init(ws: WireSession, seq: number): Generator<string, void, Frame | undefined> {
  const i = sealed(ws, seq, Command.INIT, { userPin: USER_PIN, soPin: SO_PIN });
  const r = i.read(yield i.line);
  if (r.status !== Status.OK) throw new Error(`INIT failed: ${r.statusName} ${String(r.fields.message)}`);
}

/** LOGIN as the user in session `ws` (seq `seq`); the answer. */
function* loginUser(ws: WireSession, seq: number): Generator<string, Answer, Frame | undefined> {
  const l = sealed(ws, seq, Command.LOGIN, { role: Role.USER, pin: USER_PIN });
  return l.read(yield l.line);
}

describe('kaluma bundle on an emulated Pico with flash', () => {
  it('opens exactly its store sectors, stays inside them, and never breaks a NOR rule', () => {
    const chip = new EmulatedKalumaChip();
    let info: Answer | undefined;
    let gen: Answer | undefined;
    let login: Answer | undefined;
    session(chip, function* () {
      info = answer(Command.INFO, yield armorRequest(1, Command.INFO));
      const ws = yield* openSession(10);
      yield* init(ws, 12);
      login = yield* loginUser(ws, 13);
      const g = sealed(ws, 2, Command.KEY_GENERATE, { alg: Alg.ED25519, label: 'stays' });
      gen = g.read(yield g.line);
    });
    expect(info!.status).toBe(Status.OK);
    expect(login!.status).toBe(Status.OK);
    // the PIN records, the retry counters and the key were written, so the checks below saw real flash traffic
    expect(gen!.status).toBe(Status.OK);
    expect(chip.opened).toEqual([`${KALUMA_STORE_BASE},${KALUMA_STORE_SECTORS}`]);
    expect([...chip.touched].every((s) => s >= KALUMA_STORE_BASE && s < KALUMA_STORE_BASE + KALUMA_STORE_SECTORS)).toBe(true);
    expect(chip.rejected).toEqual([]);
    expect(chip.violations).toEqual([]);
  });

  it('a key made before a reset is listed and signs after it, on the same flash; the device id stays', () => {
    const chip = new EmulatedKalumaChip();
    let gen: Answer | undefined;
    let info1: Answer | undefined;
    session(chip, function* () {
      info1 = answer(Command.INFO, yield armorRequest(1, Command.INFO));
      const ws = yield* openSession(10);
      yield* init(ws, 12);
      expect((yield* loginUser(ws, 13)).status).toBe(Status.OK);
      const g = sealed(ws, 2, Command.KEY_GENERATE, { alg: Alg.ED25519, label: 'survivor' });
      gen = g.read(yield g.line);
    });
    expect(gen!.status).toBe(Status.OK);
    const message = new Uint8Array(Buffer.from('signed after a reset'));
    let info2: Answer | undefined;
    let list: Answer | undefined;
    let sig: Answer | undefined;
    let before: Answer | undefined;
    session(chip, function* () {
      info2 = answer(Command.INFO, yield armorRequest(3, Command.INFO));
      // a reset ended the old session: a new one, and the identity is the same key as before (pinned from info1)
      const ws = new WireSession();
      ws.finish(answer(Command.SESSION_OPEN, yield armorRequest(20, Command.SESSION_OPEN, ws.openFields())), info1!);
      // and its role with it (docs/security.md §1): the new session must log in again, with the PIN kept in flash
      const b = sealed(ws, 21, Command.KEY_LIST);
      before = b.read(yield b.line);
      expect((yield* loginUser(ws, 22)).status).toBe(Status.OK);
      const l = sealed(ws, 4, Command.KEY_LIST);
      list = l.read(yield l.line);
      const sg = sealed(ws, 5, Command.SIGN, { keyId: gen!.fields.keyId, message });
      sig = sg.read(yield sg.line);
    });
    expect(toHex(info2!.fields.deviceId as Uint8Array)).toBe(toHex(info1!.fields.deviceId as Uint8Array));
    expect([info1!.fields.initialized, info2!.fields.initialized]).toEqual([false, true]);
    expect(before!.statusName).toBe('LOGIN_REQUIRED');
    const keys = list!.fields.keys as { keyId: number; publicKey: Uint8Array }[];
    expect(keys.some((k) => k.keyId === gen!.fields.keyId && toHex(k.publicKey) === toHex(gen!.fields.publicKey as Uint8Array))).toBe(true);
    expect(sig!.status).toBe(Status.OK);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(gen!.fields.publicKey as Uint8Array)]);
    expect(nodeVerify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), sig!.fields.signature as Uint8Array)).toBe(true);
    expect(chip.violations).toEqual([]);
  });
});

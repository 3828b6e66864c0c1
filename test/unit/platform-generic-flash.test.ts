// The generic adapter's flash (board.flash → env.flash, firmware/platform/common/board.ts), and the generic bundle on a QuickJS board whose flash is the simulator's NOR flash (docs/storage.md §2).
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vm from 'node:vm';
import { Command, Status, toHex } from '../../firmware/protocol/index.ts';
import { envFromBoard, type BoardFlash, type BoardGlobals } from '../../firmware/platform/common/board.ts';
import type { Crypto } from '../../firmware/hal/index.ts';
import { SimFlash } from '../../sim/flash.ts';
import { QuickJSBoard } from '../helpers/board-emulation/quickjs.ts';
import { AnswerCollector, binaryRequest, decodeAnswer, type Answer } from '../helpers/board-emulation/wire.ts';
import { flashOps, runAgainstModel } from '../helpers/board-emulation/flash-conformance.ts';
import fc from 'fast-check';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** A board whose flash hands out arrays of another realm, as the simulator's vm context or an embedding does. */
function boardWith(flash?: BoardFlash): BoardGlobals {
  return {
    serialWrite: () => {},
    onSerialData: () => {},
    random: (b) => b.fill(7),
    millis: () => 0,
    setTimer: () => 0,
    clearTimer: () => {},
    flash,
  };
}

function foreignRealmFlash(inner: SimFlash): BoardFlash {
  const Foreign = vm.runInNewContext('Uint8Array') as Uint8ArrayConstructor;
  return {
    pageSize: inner.pageSize,
    pageCount: inner.pageCount,
    wordSize: inner.wordSize,
    read: (p, o, l) => {
      const out = new Foreign(l);
      out.set(inner.read(p, o, l));
      return out;
    },
    write: (p, o, d) => inner.write(p, o, d),
    erase: (p) => inner.erase(p),
  };
}

const noCrypto = {} as Crypto;

describe('envFromBoard: board.flash becomes env.flash', () => {
  it('keeps the geometry; reads are fresh arrays of this realm; writes and erases reach the board', () => {
    const inner = SimFlash.memory({ pages: 3 });
    const env = envFromBoard(boardWith(foreignRealmFlash(inner)), 'generic', noCrypto);
    const flash = env.flash!;
    expect([flash.pageSize, flash.pageCount, flash.wordSize]).toEqual([4096, 3, 4]);
    flash.write(2, 40, unhex('0badf00d'));
    const r = flash.read(2, 40, 4);
    expect(r).toBeInstanceOf(Uint8Array); // this realm's, although the board made it in another
    expect(hex(r)).toBe('0badf00d');
    r[0] = 0xff; // a copy: the flash does not change
    expect(hex(inner.read(2, 40, 4))).toBe('0badf00d');
    flash.erase(2);
    expect(inner.eraseCounts()).toEqual([0, 0, 1]);
  });

  it('the board\'s NOR rules reach the core unchanged (the simulator\'s flash throws "firmware bug")', () => {
    const env = envFromBoard(boardWith(SimFlash.memory({ pages: 2 })), 'generic', noCrypto);
    env.flash!.write(0, 0, unhex('00000000'));
    expect(() => env.flash!.write(0, 0, unhex('00000100'))).toThrow(/firmware bug: flash write would set bits at page 0 offset 2/);
    expect(() => env.flash!.write(0, 6, unhex('00000000'))).toThrow(/aligned/);
  });

  it('no board.flash, no env.flash (the core keeps its store in RAM)', () => {
    expect(envFromBoard(boardWith(), 'generic', noCrypto).flash).toBeUndefined();
  });

  it('refuses an unusable geometry at boot, and a read of the wrong length', () => {
    const f = SimFlash.memory({ pages: 2 });
    const bad = (g: Partial<BoardFlash>) => () => envFromBoard(boardWith({ ...foreignRealmFlash(f), ...g } as BoardFlash), 'generic', noCrypto);
    expect(bad({ pageSize: 4094 })).toThrow(/board.flash has an unusable geometry \(pageSize 4094, pageCount 2, wordSize 4\)/);
    expect(bad({ pageCount: 0 })).toThrow(/unusable geometry/);
    expect(bad({ wordSize: 2.5 })).toThrow(/unusable geometry/);
    expect(bad({ erase: undefined })).toThrow(/board.flash needs read, write and erase functions/);
    const short = envFromBoard(boardWith({ ...foreignRealmFlash(f), read: () => new Uint8Array(2) }), 'generic', noCrypto);
    expect(() => short.flash!.read(0, 0, 4)).toThrow(/board.flash.read\(0, 0, 4\) returned 2 bytes/);
  });

  it('behaves exactly like a NOR model over random writes and erases (fast-check)', () => {
    fc.assert(
      fc.property(flashOps(2, 4096), (ops) => {
        runAgainstModel(envFromBoard(boardWith(foreignRealmFlash(SimFlash.memory({ pages: 2 }))), 'generic', noCrypto).flash!, ops);
      }),
      { numRuns: 40 },
    );
  });
});

// ------------------------------------------------------------------ the generic bundle in QuickJS

const BUNDLE = join(import.meta.dirname, '..', '..', 'dist', 'tinyhsm-generic.js');
let code = '';
beforeAll(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  code = readFileSync(BUNDLE, 'utf8');
});

/** Boot the generic bundle in a fresh QuickJS board on `flash`; returns a synchronous request function. */
async function quickjsDevice(flash: SimFlash): Promise<{ board: QuickJSBoard; ask: (c: number, f?: object) => Answer }> {
  const board = await QuickJSBoard.create({ flash });
  board.load(code);
  const collector = new AnswerCollector('binary');
  let delivered = 0;
  let seq = 0;
  const ask = (c: number, fields: object = {}): Answer => {
    board.send(binaryRequest(++seq, c, fields));
    while (delivered < board.out.length) collector.push(board.out[delivered++]);
    const f = collector.frames.shift();
    if (!f) throw new Error(`no answer to command ${c}`);
    return decodeAnswer(c, f);
  };
  return { board, ask };
}

describe('generic bundle on a QuickJS board with board.flash', () => {
  it("boots and answers with the simulator's NOR flash behind board.flash; the device id survives a new board on the same flash", async () => {
    const flash = SimFlash.memory({ pages: 8 });
    const a = await quickjsDevice(flash);
    let first: Uint8Array;
    try {
      const info = a.ask(Command.INFO);
      expect(info.status).toBe(Status.OK);
      expect(info.fields.platform).toBe('generic');
      first = info.fields.deviceId as Uint8Array;
    } finally {
      a.board.dispose();
    }
    const b = await quickjsDevice(flash);
    try {
      expect(toHex(b.ask(Command.INFO).fields.deviceId as Uint8Array)).toBe(toHex(first));
    } finally {
      b.board.dispose();
    }
  });
});

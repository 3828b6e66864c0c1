// Espruino's flash adapter (firmware/platform/espruino/adapter.ts) against an emulation of require('Flash'), and the espruino bundle booting on it (docs/storage.md §2).
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Command, Status, toHex } from '../../firmware/protocol/index.ts';
import { createEspruinoFlash, ESPRUINO_STORE_MAX_PAGES, type EspruinoFlashModule } from '../../firmware/platform/espruino/adapter.ts';
import { EmulatedEspruinoFlash, EspruinoBoard, frameAsker } from '../helpers/board-emulation/espruino.ts';
import { binaryRequest, decodeAnswer, type Answer } from '../helpers/board-emulation/wire.ts';
import { flashOps, runAgainstModel } from '../helpers/board-emulation/flash-conformance.ts';

const hex = (u: Uint8Array) => Buffer.from(u).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const mod = (area: EmulatedEspruinoFlash) => area.module(Uint8Array) as EspruinoFlashModule;

/** Nothing a correct adapter does shows up in the emulation's complaint lists. */
function clean(area: EmulatedEspruinoFlash): void {
  expect(area.violations).toEqual([]);
  expect(area.unaligned).toEqual([]);
  expect(area.outside).toEqual([]);
}

describe('Espruino flash adapter over require("Flash")', () => {
  it("takes the free area's pages: write/read/erase round trips at addr + page·pageSize + offset", () => {
    const area = new EmulatedEspruinoFlash(8);
    const flash = createEspruinoFlash(mod(area))!;
    expect([flash.pageSize, flash.pageCount, flash.wordSize]).toEqual([4096, 8, 4]);
    flash.write(6, 4092, unhex('a1b2c3d4'));
    expect(hex(area.mem.subarray(6 * 4096 + 4088, 6 * 4096 + 4096))).toBe('ffffffffa1b2c3d4');
    expect(hex(flash.read(6, 4088, 8))).toBe('ffffffffa1b2c3d4');
    flash.write(6, 4092, unhex('a0b0c0d0'));
    expect(hex(flash.read(6, 4092, 4))).toBe('a0b0c0d0');
    expect(flash.read(6, 0, 0).length).toBe(0); // Espruino's read gives undefined for length 0; the adapter gives []
    flash.erase(6);
    expect(area.erases).toEqual([0, 0, 0, 0, 0, 0, 1, 0]);
    expect(flash.read(6, 0, 4096).every((b) => b === 0xff)).toBe(true);
    clean(area);
  });

  it('refuses a 0→1 write (the chip would AND it silently), misaligned words and pages out of range, touching nothing', () => {
    const area = new EmulatedEspruinoFlash(4);
    const flash = createEspruinoFlash(mod(area))!;
    flash.write(0, 0, unhex('00ff00ff'));
    const before = hex(area.mem);
    expect(() => flash.write(0, 0, unhex('00ff01ff'))).toThrow(
      'firmware bug: flash write would set bits at page 0 offset 2 (0x00 -> 0x01); erase the page first',
    );
    expect(() => flash.write(0, 2, unhex('00000000'))).toThrow(/not whole aligned 4-byte words/);
    expect(() => flash.write(4, 0, unhex('00000000'))).toThrow(/out of range/);
    expect(() => flash.erase(4)).toThrow(/firmware bug: flash erase out of range/);
    expect(hex(area.mem)).toBe(before);
    clean(area);
  });

  it('a write that does not take is an error (read back), not silent loss', () => {
    const area = new EmulatedEspruinoFlash(4);
    const m = mod(area);
    const flash = createEspruinoFlash({ ...m, write: () => {} })!;
    expect(() => flash.write(1, 0, unhex('00000000'))).toThrow(/did not take/);
  });

  it('takes at most ESPRUINO_STORE_MAX_PAGES (or the asked number) of a large area', () => {
    expect(createEspruinoFlash(mod(new EmulatedEspruinoFlash(100)))!.pageCount).toBe(ESPRUINO_STORE_MAX_PAGES);
    expect(createEspruinoFlash(mod(new EmulatedEspruinoFlash(100)), 6)!.pageCount).toBe(6);
  });

  it('uses only pages of one size (STM32F4 sectors differ), and needs two of them', () => {
    const mixed = createEspruinoFlash(mod(new EmulatedEspruinoFlash([4096, 4096, 4096, 16384, 65536])))!;
    expect([mixed.pageSize, mixed.pageCount]).toEqual([4096, 3]);
    expect(createEspruinoFlash(mod(new EmulatedEspruinoFlash([16384, 65536, 131072])))).toBeUndefined();
    const none = { ...mod(new EmulatedEspruinoFlash(4)), getFree: () => [] };
    expect(createEspruinoFlash(none)).toBeUndefined();
    const old = { ...mod(new EmulatedEspruinoFlash(4)), getFree: () => undefined };
    expect(createEspruinoFlash(old)).toBeUndefined();
  });

  it('behaves exactly like a NOR model over random writes and erases (fast-check)', () => {
    fc.assert(
      fc.property(flashOps(3, 4096), (ops) => {
        const area = new EmulatedEspruinoFlash(3);
        runAgainstModel(createEspruinoFlash(mod(area))!, ops);
        return area.violations.length === 0 && area.unaligned.length === 0 && area.outside.length === 0;
      }),
      { numRuns: 60 },
    );
  });
});

// ------------------------------------------------------------------ the espruino bundle on the emulated board

const BUNDLE = join(import.meta.dirname, '..', '..', 'dist', 'tinyhsm-espruino.js');
let bundle = '';
beforeAll(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  bundle = readFileSync(BUNDLE, 'utf8');
});

const boards: EspruinoBoard[] = [];
afterEach(() => {
  while (boards.length) boards.pop()!.stop();
});

/** Boot a board on `area` and return a function that sends one request frame and resolves with the answer. */
function boot(area: EmulatedEspruinoFlash): (code: number, fields?: object) => Promise<Answer> {
  const board = new EspruinoBoard({ bundle, flash: area });
  boards.push(board);
  const ask = frameAsker(board);
  let seq = 0;
  board.boot();
  expect(board.uncaught).toEqual([]);
  return async (code, fields = {}) => decodeAnswer(code, await ask(binaryRequest(++seq, code, fields)));
}

describe('espruino bundle on an emulated Espruino with a free flash area', () => {
  it('boots, answers, and keeps to whole aligned words inside its area without a 0→1 request', async () => {
    const area = new EmulatedEspruinoFlash(8);
    const ask = boot(area);
    const info = await ask(Command.INFO);
    expect(info.status).toBe(Status.OK);
    // no identity on Espruino, so no session: ECHO, and RANDOM in the clear, are what run (docs/protocol.md §6); the
    // boot itself wrote the device id
    expect((await ask(Command.ECHO, { data: new Uint8Array([1, 2, 3]) })).status).toBe(Status.OK);
    expect(((await ask(Command.RANDOM, { length: 16 })).fields.bytes as Uint8Array).length).toBe(16);
    expect((await ask(Command.KEY_LIST)).statusName).toBe('SESSION_REQUIRED');
    clean(area);
  });

  it('the device id outlives a reset: a second boot on the same flash reports the same one', async () => {
    const area = new EmulatedEspruinoFlash(8);
    const first = (await boot(area)(Command.INFO)).fields.deviceId as Uint8Array;
    boards.pop()!.stop();
    const second = (await boot(area)(Command.INFO)).fields.deviceId as Uint8Array;
    expect(toHex(second)).toBe(toHex(first));
    clean(area);
  });
});

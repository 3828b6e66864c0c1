// The espruino bundle in a vm context that has only an emulation of Espruino's globals and library, fed real binary frames (docs/architecture.md §3).
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Alg, Command, Status, type Frame } from '../../firmware/protocol/index.ts';
import { EspruinoBoard, frameAsker } from '../helpers/board-emulation/espruino.ts';
import { WireSession, binaryRequest, decodeAnswer, type Answer } from '../helpers/board-emulation/wire.ts';
import { createEspruinoFlash, createEspruinoRng, stringToBytes } from '../../firmware/platform/espruino/adapter.ts';
import { EmulatedEspruinoFlash } from '../helpers/board-emulation/espruino.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BUNDLE = join(ROOT, 'dist', 'tinyhsm-espruino.js');

let bundle = '';
beforeAll(() => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  bundle = readFileSync(BUNDLE, 'utf8');
});

const boards: EspruinoBoard[] = [];
afterEach(() => {
  while (boards.length) boards.pop()!.stop();
});

/** A booted board and a host that sends a frame and waits for the next answer frame. */
function setup(): { board: EspruinoBoard; ask: (bytes: Uint8Array) => Promise<Frame> } {
  const board = new EspruinoBoard({ bundle });
  boards.push(board);
  const ask = frameAsker(board);
  board.boot();
  return { board, ask };
}

describe('espruino bundle on an emulated Espruino board', () => {
  it('the bundle carries no BigInt and parses without Map, Symbol, BigInt and friends', () => {
    expect(bundle).not.toMatch(/\bBigInt\(|\b\d+n\b/);
    const { board } = setup();
    expect(board.uncaught).toEqual([]);
  });

  it('moves the console off USB (forced) before it registers for data or writes anything', async () => {
    const { board, ask } = setup();
    const first = board.events.findIndex((e) => e.kind === 'setConsole');
    expect(first).toBe(0);
    expect(board.events[0].detail).toBe('LoopbackA (forced)');
    expect(board.consoleDevice).toBe('LoopbackA');
    const onData = board.events.findIndex((e) => e.kind === 'usbOnData');
    expect(onData).toBeGreaterThan(first);
    const f = await ask(binaryRequest(1, Command.ECHO, { data: new Uint8Array([1, 2, 3]) }));
    expect(decodeAnswer(Command.ECHO, f).status).toBe(Status.OK);
    const firstWrite = board.events.findIndex((e) => e.kind === 'usbWrite');
    expect(firstWrite).toBeGreaterThan(first);
    // nothing the host sent went to the REPL
    expect(board.replInput).toBe('');
    expect(board.events.some((e) => e.kind === 'hostToRepl')).toBe(false);
  });

  it('INFO: platform "espruino", no curve algorithm offered, and every failure says the engine has no BigInt', async () => {
    const { ask } = setup();
    const info: Answer = decodeAnswer(Command.INFO, await ask(binaryRequest(9, Command.INFO)));
    expect(info.status).toBe(Status.OK);
    expect(info.frame.seq).toBe(9);
    expect(info.fields.platform).toBe('espruino');
    expect(info.fields.algorithms).toEqual([]);
    const failures = info.fields.selftestFailures as { [alg: number]: string };
    for (const alg of [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]) expect(failures[alg]).toMatch(/BigInt/);
  });

  it('ECHO works; SESSION_OPEN is refused (no Ed25519, so no identity); RANDOM answers in the clear; every other gated command answers SESSION_REQUIRED', async () => {
    const { ask } = setup();
    const data = new Uint8Array(500).map((_, i) => (i * 13 + 1) & 0xff); // spans many USB packets, contains 0x00
    const echo = decodeAnswer(Command.ECHO, await ask(binaryRequest(2, Command.ECHO, { data })));
    expect(echo.status).toBe(Status.OK);
    expect(Array.from(echo.fields.data as Uint8Array)).toEqual(Array.from(data));
    // docs/protocol.md §6: a session needs the Ed25519 identity, which an engine without BigInt cannot have
    const open = decodeAnswer(Command.SESSION_OPEN, await ask(binaryRequest(3, Command.SESSION_OPEN, new WireSession().openFields())));
    expect(open.statusName).toBe('UNSUPPORTED_ALGORITHM');
    expect(String(open.fields.message)).toMatch(/Ed25519 is not offered.*only INFO, ECHO and RANDOM/);
    // a device that cannot open sessions serves RANDOM in the clear (dispatch.ts Gate.SESSION_IF_CAPABLE; docs/protocol.md §6)
    const rnd = decodeAnswer(Command.RANDOM, await ask(binaryRequest(4, Command.RANDOM, { length: 64 })));
    expect(rnd.statusName).toBe('OK');
    expect((rnd.fields.bytes as Uint8Array).length).toBe(64);
    const gen = decodeAnswer(Command.KEY_GENERATE, await ask(binaryRequest(5, Command.KEY_GENERATE, { alg: Alg.ED25519 })));
    expect(gen.statusName).toBe('SESSION_REQUIRED');
  });

  it('drops bytes outside frames (e.g. a banner) and still answers', async () => {
    const { ask } = setup();
    const noise = new Uint8Array(Buffer.from(' ____                 _ \r\n|  __|___ ___ ___ _ _|_|___ ___\r\n>', 'latin1'));
    const req = binaryRequest(5, Command.ECHO, { data: new Uint8Array([0, 0, 7]) });
    const f = await ask(new Uint8Array([...noise, 0, ...req]));
    const a = decodeAnswer(Command.ECHO, f);
    expect(a.frame.seq).toBe(5);
    expect(Array.from(a.fields.data as Uint8Array)).toEqual([0, 0, 7]);
  });
});

describe('espruino adapter pieces', () => {
  it('serial strings become bytes 0..255', () => {
    expect(Array.from(stringToBytes('\x00\x7f\x80\xff'))).toEqual([0, 127, 128, 255]);
  });

  it('RNG: four little-endian bytes per E.hwRand word, the sentinel word is never output, a stuck source is refused', () => {
    const words = [0x11111111, 0x04030201, 0x08070605, 0x7f7f7f7f];
    let i = 0;
    const rng = createEspruinoRng({ hwRand: () => words[i++] });
    const out = new Uint8Array(6);
    rng.fill(out);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => createEspruinoRng({ hwRand: () => 5 }).fill(new Uint8Array(4))).toThrow(/continuous test/);
  });

  it('flash over the first free area: aligned NOR writes, reads, erase', () => {
    const area = new EmulatedEspruinoFlash(4);
    const flash = createEspruinoFlash(area.module(Uint8Array) as never)!;
    expect(flash.pageSize).toBe(4096);
    expect(flash.pageCount).toBe(4);
    flash.write(2, 8, new Uint8Array([0xf0, 0x0f, 0xaa, 0x55]));
    flash.write(2, 8, new Uint8Array([0xf0, 0x0f, 0x0a, 0x55])); // clears more bits of the same word
    expect(Array.from(flash.read(2, 8, 4))).toEqual([0xf0, 0x0f, 0x0a, 0x55]);
    // 0xFF over a programmed byte asks to set bits: a firmware bug, refused as the simulator refuses it
    expect(() => flash.write(2, 8, new Uint8Array([0xff, 0xff, 0x0f, 0xff]))).toThrow(/would set bits/);
    expect(area.mem[2 * 4096 + 8]).toBe(0xf0);
    flash.erase(2);
    expect(Array.from(flash.read(2, 8, 4))).toEqual([255, 255, 255, 255]);
    expect(() => flash.write(0, 1, new Uint8Array(4))).toThrow(/aligned/);
  });
});

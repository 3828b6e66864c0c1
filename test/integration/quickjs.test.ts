// The engine check (docs/architecture.md §3): dist/tinyhsm-generic.js runs in QuickJS with no Node globals, passes its self-tests and signs through real frames; node:crypto verifies.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Alg, Command, Role, Status } from '../../firmware/protocol/index.ts';
import { QuickJSBoard } from '../helpers/board-emulation/quickjs.ts';
import { AnswerCollector, WireSession, binaryRequest, decodeAnswer, type Answer } from '../helpers/board-emulation/wire.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BUNDLE = join(ROOT, 'dist', 'tinyhsm-generic.js');

let board: QuickJSBoard;
const collector = new AnswerCollector('binary');
let delivered = 0;
let seq = 100;

let ws: WireSession | undefined;

/** The PINs this test gives the factory-new board at INIT (6–64 bytes, docs/security.md §3). */
const USER_PIN = new Uint8Array(Buffer.from('quickjs-user-pin'));
const SO_PIN = new Uint8Array(Buffer.from('quickjs-so-pin'));

/** A request inside the session `w` (SESSION_MESSAGE envelope), its inner answer decoded. */
function sealed(w: WireSession, code: number, fields: object = {}): Answer {
  return w.unwrap(code, askClear(Command.SESSION_MESSAGE, w.wrap(code, fields)));
}

/** A session (docs/protocol.md §6) with host/session.ts (node:crypto), pinned to INFO's identity key; throws unless the identity signature verifies. */
function openSession(): WireSession {
  const info = askClear(Command.INFO);
  const w = new WireSession();
  w.finish(askClear(Command.SESSION_OPEN, w.openFields()), info);
  return w;
}

/**
 * Send one request and decode its answer. INFO and ECHO go in the clear; every other command goes inside a
 * session opened on first use, INITed (the board starts factory-new) and logged in as the user (docs/security.md §2–§4).
 */
function ask(code: number, fields: object = {}): Answer {
  if (code === Command.INFO || code === Command.ECHO || code === Command.SESSION_OPEN) return askClear(code, fields);
  return sealed(userSession(), code, fields);
}

/** The user's session, opened (and the board INITed) on first use. */
function userSession(): WireSession {
  if (!ws) {
    const w = openSession();
    if (askClear(Command.INFO).fields.initialized !== true) expect(sealed(w, Command.INIT, { userPin: USER_PIN, soPin: SO_PIN }).statusName).toBe('OK');
    expect(sealed(w, Command.LOGIN, { role: Role.USER, pin: USER_PIN }).statusName).toBe('OK');
    ws = w;
  }
  return ws;
}

/** Send one request frame in the clear and decode the one answer it produces (the device answers synchronously inside send). */
function askClear(code: number, fields: object = {}): Answer {
  const s = ++seq;
  board.send(binaryRequest(s, code, fields));
  while (delivered < board.out.length) collector.push(board.out[delivered++]);
  const f = collector.frames.shift();
  if (!f) throw new Error(`no answer to command ${code}`);
  expect(f.seq).toBe(s);
  return decodeAnswer(code, f);
}

const spki = (prefixHex: string, raw: Uint8Array) =>
  createPublicKey({ key: Buffer.concat([Buffer.from(prefixHex, 'hex'), Buffer.from(raw)]), format: 'der', type: 'spki' });
const ED25519_SPKI = '302a300506032b6570032100';
const P256_SPKI = '3059301306072a8648ce3d020106082a8648ce3d030107034200';

beforeAll(async () => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  board = await QuickJSBoard.create();
  board.load(readFileSync(BUNDLE, 'utf8'));
});

afterAll(() => board?.dispose());

describe('generic bundle in QuickJS', () => {
  it('has no Node or browser globals to lean on', () => {
    const r = board.vm.evalCode('[typeof process, typeof require, typeof console, typeof setTimeout, typeof Buffer, typeof crypto.subtle].join()');
    const v = board.vm.dump(board.vm.unwrapResult(r));
    expect(v).toBe('undefined,undefined,undefined,undefined,undefined,undefined');
  });

  it('INFO: every self-test passed in QuickJS, platform "generic"', () => {
    const info = ask(Command.INFO);
    expect(info.status).toBe(Status.OK);
    expect(info.fields.platform).toBe('generic');
    expect(info.fields.algorithms).toEqual([Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]);
    expect(info.fields.selftestFailures).toBeUndefined();
  });

  it('KEY_GENERATE + SIGN Ed25519: node:crypto verifies the signature', () => {
    const gen = ask(Command.KEY_GENERATE, { alg: Alg.ED25519, label: 'quickjs-ed' });
    expect(gen.status).toBe(Status.OK);
    const pub = gen.fields.publicKey as Uint8Array;
    const message = new Uint8Array(Buffer.from('QuickJS signed this with Ed25519'));
    const sig = ask(Command.SIGN, { keyId: gen.fields.keyId, message });
    expect(sig.status).toBe(Status.OK);
    const key = spki(ED25519_SPKI, pub);
    expect(nodeVerify(null, message, key, sig.fields.signature as Uint8Array)).toBe(true);
    expect(nodeVerify(null, new Uint8Array(Buffer.from('tampered')), key, sig.fields.signature as Uint8Array)).toBe(false);
  });

  it('KEY_GENERATE + SIGN ECDSA P-256 (over SHA-256 of the message, raw r‖s, low-S): node:crypto verifies', () => {
    const gen = ask(Command.KEY_GENERATE, { alg: Alg.ECDSA_P256 });
    expect(gen.status).toBe(Status.OK);
    const pub = gen.fields.publicKey as Uint8Array;
    expect(pub.length).toBe(65);
    expect(pub[0]).toBe(0x04);
    const key = spki(P256_SPKI, pub);
    const message = new Uint8Array(Buffer.from('QuickJS signed this with P-256'));
    const sig = ask(Command.SIGN, { keyId: gen.fields.keyId, message });
    expect(sig.status).toBe(Status.OK);
    const rs = sig.fields.signature as Uint8Array;
    expect(nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, rs)).toBe(true);
    // low-S: s ≤ n/2
    const halfN = BigInt('0x7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8');
    expect(BigInt('0x' + Buffer.from(rs.subarray(32)).toString('hex')) <= halfN).toBe(true);
    // and over a given digest
    const digest = new Uint8Array(createHash('sha256').update('a digest made by the host').digest());
    const sig2 = ask(Command.SIGN, { keyId: gen.fields.keyId, digest });
    expect(sig2.status).toBe(Status.OK);
    expect(nodeVerify('sha256', Buffer.from('a digest made by the host'), { key, dsaEncoding: 'ieee-p1363' }, sig2.fields.signature as Uint8Array)).toBe(true);
  });

  it('gates key commands: in the clear KEY_GENERATE answers SESSION_REQUIRED and makes no key', () => {
    const before = askClear(Command.INFO).fields.slotsUsed;
    expect(askClear(Command.KEY_GENERATE, { alg: Alg.ED25519 }).statusName).toBe('SESSION_REQUIRED');
    expect(askClear(Command.INFO).fields.slotsUsed).toBe(before);
  });

  it('gates key commands in a session too: LOGIN_REQUIRED before the LOGIN, WRONG_ROLE for the SO; no key is made', () => {
    userSession(); // the board is INITed, and a user is logged in, in another session
    const before = askClear(Command.INFO).fields.slotsUsed;
    const w = openSession();
    expect(sealed(w, Command.KEY_GENERATE, { alg: Alg.ED25519 }).statusName).toBe('LOGIN_REQUIRED');
    // key use is the user's: the SO is refused (docs/security.md §2)
    expect(sealed(w, Command.LOGIN, { role: Role.SO, pin: SO_PIN }).statusName).toBe('OK');
    expect(sealed(w, Command.KEY_GENERATE, { alg: Alg.ED25519 }).statusName).toBe('WRONG_ROLE');
    expect(sealed(w, Command.SESSION_CLOSE).statusName).toBe('OK');
    expect(askClear(Command.INFO).fields.slotsUsed).toBe(before);
  });

  it('keeps answering after timers run and bad input arrives', () => {
    board.advance(1000);
    board.send(new Uint8Array([1, 2, 3, 0, 0xff, 0xfe, 0])); // garbage frames are dropped
    const echo = ask(Command.ECHO, { data: new Uint8Array([9, 8, 7]) });
    expect(echo.status).toBe(Status.OK);
    expect(Array.from(echo.fields.data as Uint8Array)).toEqual([9, 8, 7]);
  });
});

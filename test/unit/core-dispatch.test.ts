// Dispatcher tables: every command has a handler and schemas; code tables are unique; dispatch maps errors and exceptions safely, reads a lone command byte as an empty map, and checks gate, CBOR and schema in order.
import { msgOf } from '../helpers/message.ts';
import { renderReason } from '../../host/render.ts';
import { describe, it, expect } from 'vitest';
import { Alg, ALG_NAMES, Command, FrameType, Origin, Status, STATUS_HINTS, nameOf } from '../../firmware/protocol/codes.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import { type CborValue, cborDecode, cborEncode } from '../../firmware/protocol/cbor.ts';
import { utf8Encode } from '../../firmware/protocol/bytes.ts';
import { HANDLERS, dispatch as dispatchAnswer, dispatchInSession as dispatchInSessionAnswer, errorBody } from '../../firmware/core/dispatch.ts';

const dispatch = (c: DeviceContext, body: Uint8Array): Uint8Array => answered(dispatchAnswer(c, body));
const dispatchInSession = (c: DeviceContext, body: Uint8Array, sid: number): Uint8Array => answered(dispatchInSessionAnswer(c, body, sid));
import { Reason } from '../../firmware/protocol/reasons.ts';
import type { DeviceContext } from '../../firmware/core/context.ts';
import type { Flash } from '../../firmware/hal/index.ts';
import { answered, handlerContext } from '../helpers/devices.ts';
import { Role } from '../../firmware/protocol/codes.ts';
import { NorFlash } from '../helpers/nor-flash.ts';

function values(t: Record<string, number>): number[] {
  return Object.keys(t).map((k) => t[k]);
}

describe('code tables', () => {
  it.each([
    ['Command', Command],
    ['Status', Status],
    ['FrameType', FrameType],
    ['Alg', Alg],
    ['Origin', Origin],
  ] as const)('%s codes are unique bytes', (_name, table) => {
    const v = values(table as unknown as Record<string, number>);
    expect(v.length).toBeGreaterThan(1);
    expect(new Set(v).size).toBe(v.length);
    for (const c of v) expect(Number.isInteger(c) && c >= 0 && c <= 255).toBe(true);
  });

  it('every status has a hint and every algorithm a name', () => {
    for (const k of Object.keys(Status)) expect(STATUS_HINTS[k as keyof typeof Status]).toBeTruthy();
    for (const v of values(Alg)) expect(ALG_NAMES[v]).toBeTruthy();
  });

  it('every Command has a handler and a COMMANDS entry, and nothing else does', () => {
    const cmds = values(Command);
    for (const c of cmds) {
      expect(typeof HANDLERS[c], 'handler for ' + c).toBe('function');
      expect(COMMANDS[c], 'COMMANDS entry for ' + c).toBeDefined();
      expect(Array.isArray(COMMANDS[c].request) && Array.isArray(COMMANDS[c].response)).toBe(true);
    }
    expect(
      Object.keys(HANDLERS)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(cmds.slice().sort((a, b) => a - b));
    expect(
      Object.keys(COMMANDS)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(cmds.slice().sort((a, b) => a - b));
  });
});

const ctx = (flash?: Flash): DeviceContext => handlerContext({ flash, firmwareVersion: 'test' }).ctx;

const PIN = new Uint8Array(Buffer.from('dispatch-user-PIN-1'));

/** INIT the context's device, open a session (the handshake on the device side) and log it in as user, as LOGIN does. */
function userSession(c: DeviceContext): number {
  expect(c.auth.init(PIN.slice(), PIN.slice(), undefined).ok).toBe(true);
  const seed = new Uint8Array(32).fill(1);
  const host = c.env.crypto.x25519PublicKey(new Uint8Array(32).fill(2));
  const o = c.sessions.open(c.env.crypto, c.env.rng, seed, c.deviceId, host, c.env.clock.now());
  if (!o.ok) throw new Error(msgOf(o));
  expect(c.auth.login(Role.USER, PIN.slice()).ok).toBe(true);
  c.sessions.get(o.value.sessionId)!.role = Role.USER;
  return o.value.sessionId;
}

/** The host's words for an error body's {1: reason, 2..: args} (host/render.ts). */
function render(r: { map: Map<number, unknown> }, command?: string): string {
  const args: number[] = [];
  for (let k = 2; r.map.has(k); k++) args.push(r.map.get(k) as number);
  return renderReason(r.map.get(1) as number, args, { command });
}

function decode(body: Uint8Array): { status: number; map: Map<number, unknown> } {
  const d = cborDecode(body.subarray(1));
  if (!d.ok || !(d.value instanceof Map)) throw new Error('bad response body');
  return { status: body[0], map: d.value };
}

describe('dispatch', () => {
  it('unknown and missing command bytes give INVALID_COMMAND', () => {
    const c = ctx();
    for (const body of [new Uint8Array([0x00]), new Uint8Array([0x7f, 0xa0]), new Uint8Array([0xff]), new Uint8Array(0)]) {
      const r = decode(dispatch(c, body));
      expect(r.status).toBe(Status.INVALID_COMMAND);
      expect([Reason.EMPTY_REQUEST, Reason.UNKNOWN_COMMAND]).toContain(r.map.get(1));
      if (body.length > 0) expect(r.map.get(2)).toBe(body[0]);
    }
  });

  it('a body with only the command byte means no parameters', () => {
    const r = decode(dispatch(ctx(), new Uint8Array([Command.INFO])));
    expect(r.status).toBe(Status.OK);
    expect(r.map.get(1)).toBe('test');
  });

  it('parameters that are not a map give INVALID_CBOR', () => {
    const r = decode(dispatch(ctx(), new Uint8Array([Command.INFO, 0x80]))); // empty array
    expect(r.status).toBe(Status.INVALID_CBOR);
    expect(r.map.get(1)).toBe(Reason.PARAMETERS_NOT_MAP);
    expect(render(r)).toMatch(/map/);
  });

  it('a handler that throws gives INTERNAL_ERROR with a generic message, never the exception text', () => {
    const c = ctx();
    const secret = 'deadbeefcafebabe0123456789abcdef';
    const evil: DeviceContext = {
      ...c,
      env: {
        ...c.env,
        rng: {
          fill() {
            throw new Error('key material ' + secret);
          },
        },
      },
    };
    const body = dispatchInSession(evil, new Uint8Array([Command.RANDOM, 0xa1, 0x01, 0x10]), 1);
    const r = decode(body);
    expect(r.status).toBe(Status.INTERNAL_ERROR);
    expect(String(r.map.get(1))).not.toContain(secret);
    expect(Buffer.from(body).toString('latin1')).not.toContain(secret);
  });

  it('a flash that throws during a commit gives INTERNAL_ERROR saying to power-cycle, never OK, and later changes are refused', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const c = ctx(flash);
    const sid = userSession(c);
    flash.cutAfterWords(2);
    const r = decode(dispatchInSession(c, new Uint8Array([Command.KEY_GENERATE, 0xa1, 0x01, Alg.ED25519]), sid));
    expect(r.status).toBe(Status.INTERNAL_ERROR);
    expect(r.map.get(1)).toBe(Reason.FLASH_WRITE_FAILED);
    expect(render(r, 'KEY_GENERATE')).toMatch(/^KEY_GENERATE: the flash failed.*power-cycle/);
    expect(c.keystore.used).toBe(0);
    flash.powerOn();
    const again = decode(dispatchInSession(c, new Uint8Array([Command.KEY_GENERATE, 0xa1, 0x01, Alg.ED25519]), sid));
    expect(again.status).toBe(Status.INTERNAL_ERROR);
    expect(render(again, 'KEY_GENERATE')).toMatch(/power-cycle/);
    // a read's answer is withheld too: its audit entry cannot be written (docs/audit.md §3), and nothing leaves unrecorded
    const read = decode(dispatchInSession(c, new Uint8Array([Command.KEY_LIST]), sid));
    expect(read.status).toBe(Status.INTERNAL_ERROR);
    expect(render(read, 'KEY_LIST')).toMatch(/power-cycle/);
  });

  it('an error body is status + {1: reason, 2: arg0, …} with no text (docs/protocol.md §2.1)', () => {
    const body = errorBody(Status.INVALID_PARAMETER, Reason.VALUE_OUT_OF_RANGE, [1, 70000, 0, 65535]);
    expect(Array.from(body)).toEqual([0x03, 0xa5, 0x01, 0x18, 0x2d, 0x02, 0x01, 0x03, 0x1a, 0x00, 0x01, 0x11, 0x70, 0x04, 0x00, 0x05, 0x19, 0xff, 0xff]);
    const r = decode(errorBody(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [7]));
    expect(r.status).toBe(Status.KEY_NOT_FOUND);
    expect([...r.map.entries()]).toEqual([
      [1, Reason.KEY_NOT_FOUND],
      [2, 7],
    ]);
  });
});

/** A request body: the command byte and the CBOR of a map given as entries. */
function req(command: number, entries: [number, CborValue][]): Uint8Array {
  return Uint8Array.of(command, ...cborEncode(new Map(entries)));
}
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const detail = (body: Uint8Array) => {
  const r = decode(body);
  const args: number[] = [];
  for (let k = 2; r.map.has(k); k++) args.push(r.map.get(k) as number);
  return [nameOf(Status, r.status), r.map.get(1), args];
};

describe('request bodies (docs/protocol.md §2)', () => {
  it('a command byte alone is read exactly as the command byte followed by a0, in the clear and inside a session', () => {
    const c = ctx();
    expect(hexOf(dispatch(c, Uint8Array.of(Command.INFO)))).toBe(hexOf(dispatch(c, Uint8Array.of(Command.INFO, 0xa0))));
    // a command with a required field: MISSING_PARAMETER either way
    expect(detail(dispatch(c, Uint8Array.of(Command.ECHO)))).toEqual(['MISSING_PARAMETER', Reason.MISSING_FIELD, [1]]);
    expect(hexOf(dispatch(c, Uint8Array.of(Command.ECHO)))).toBe(hexOf(dispatch(c, Uint8Array.of(Command.ECHO, 0xa0))));
    const sid = userSession(c);
    expect(hexOf(dispatchInSession(c, Uint8Array.of(Command.KEY_LIST), sid))).toBe(hexOf(dispatchInSession(c, Uint8Array.of(Command.KEY_LIST, 0xa0), sid)));
    expect(detail(dispatchInSession(c, Uint8Array.of(Command.SIGN), sid))).toEqual(['MISSING_PARAMETER', Reason.MISSING_FIELD, [1]]);
    // anything after the command byte is one CBOR item that fills the body, and a map
    expect(detail(dispatch(c, Uint8Array.of(Command.INFO, 0xa0, 0xa0)))).toEqual(['INVALID_CBOR', Reason.CBOR_TRAILING, [1]]);
    expect(detail(dispatch(c, Uint8Array.of(Command.INFO, 0x40)))).toEqual(['INVALID_CBOR', Reason.PARAMETERS_NOT_MAP, []]);
  });
});

describe('SIGN and ECDH before their handlers (docs/protocol.md §7 "Order of checks")', () => {
  it('the gate, then the CBOR, then the schema (an unknown key, then each field in key order), then the handler', () => {
    const c = ctx();
    const sid = userSession(c);
    const session = c.sessions.get(sid)!;
    const run = (body: Uint8Array) => detail(dispatchInSession(c, body, sid));
    const notCbor = Uint8Array.of(Command.SIGN, 0x5f); // an indefinite-length byte string
    session.role = 0; // not logged in: refused before the CBOR is read
    expect(run(notCbor)).toEqual(['LOGIN_REQUIRED', Reason.LOGIN_NEEDED, [Role.USER]]);
    session.role = Role.USER;
    expect(run(notCbor)).toEqual(['INVALID_CBOR', Reason.CBOR_INDEFINITE, []]);
    const msg = new Uint8Array(0);
    const digest = new Uint8Array(32);
    expect(
      run(
        req(Command.SIGN, [
          [1, 0],
          [2, msg],
          [3, digest],
          [6, 1],
        ]),
      ),
    ).toEqual(['UNKNOWN_PARAMETER', Reason.UNKNOWN_FIELD, [6]]);
    expect(
      run(
        req(Command.SIGN, [
          [1, 0],
          [2, msg],
          [3, digest],
        ]),
      ),
    ).toEqual(['INVALID_PARAMETER', Reason.VALUE_OUT_OF_RANGE, [1, 0, 1, 65535]]);
    expect(
      run(
        req(Command.SIGN, [
          [1, 7],
          [2, msg],
          [3, new Uint8Array(31)],
        ]),
      ),
    ).toEqual(['INVALID_PARAMETER', Reason.LENGTH_OUT_OF_RANGE, [3, 31, 32, 64]]);
    // the handler: message and digest before the key lookup
    expect(
      run(
        req(Command.SIGN, [
          [1, 7],
          [2, msg],
          [3, digest],
        ]),
      ),
    ).toEqual(['INVALID_PARAMETER', Reason.MESSAGE_AND_DIGEST, []]);
    expect(run(req(Command.SIGN, [[1, 7]]))).toEqual(['INVALID_PARAMETER', Reason.NO_MESSAGE_OR_DIGEST, []]);
    expect(
      run(
        req(Command.SIGN, [
          [1, 7],
          [2, msg],
        ]),
      ),
    ).toEqual(['KEY_NOT_FOUND', Reason.KEY_NOT_FOUND, [7]]);
    expect(run(req(Command.ECDH, [[2, new Uint8Array(31)]]))).toEqual(['MISSING_PARAMETER', Reason.MISSING_FIELD, [1]]);
    expect(
      run(
        req(Command.ECDH, [
          [1, 7],
          [2, new Uint8Array(31)],
        ]),
      ),
    ).toEqual(['INVALID_PARAMETER', Reason.LENGTH_OUT_OF_RANGE, [2, 31, 32, 65]]);
    expect(
      run(
        req(Command.ECDH, [
          [1, 7],
          [2, new Uint8Array(33)],
        ]),
      ),
    ).toEqual(['KEY_NOT_FOUND', Reason.KEY_NOT_FOUND, [7]]);
  });
});

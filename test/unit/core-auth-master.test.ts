// The master key's lifetime in RAM (docs/security.md §5): unwrapped at LOGIN, wiped with the keystore's cache when the last logged-in session ends (LOGOUT, SESSION_CLOSE, idle, cap); and the handlers wipe the decoded PIN copies.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { cborDecode } from '../../firmware/protocol/cbor.ts';
import { dispatch, dispatchInSession } from '../../firmware/core/dispatch.ts';
import type { DeviceContext } from '../../firmware/core/context.ts';
import type { SessionLimits } from '../../firmware/core/session/index.ts';
import { init } from '../../firmware/core/commands/init.ts';
import { login } from '../../firmware/core/commands/login.ts';
import { changePin } from '../../firmware/core/commands/change_pin.ts';
import { unblock } from '../../firmware/core/commands/unblock.ts';
import { requestBodyOf } from '../helpers/loopback.ts';
import { NorFlash, leftover } from '../helpers/nor-flash.ts';
import { answered, handlerContext } from '../helpers/devices.ts';

const USER_PIN = 'user-pin-master';
const SO_PIN = 'so-pin-master';
const pin = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

interface Rig {
  ctx: DeviceContext;
  flash: NorFlash;
  lockCalls: () => number;
  setNow(ms: number): void;
}

/** A device context as startDevice builds it, with a clock the test sets. */
function rig(limits?: Partial<SessionLimits>): Rig {
  let now = 0;
  const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
  const ctx = handlerContext({ flash, now: () => now, sessionLimits: limits }).ctx;
  const lock = vi.spyOn(ctx.keystore, 'lock');
  return { ctx, flash, lockCalls: () => lock.mock.calls.length, setNow: (ms) => (now = ms) };
}

/** A session opened on the device side (the handshake itself is tested in core-session). */
function open(c: DeviceContext): number {
  const host = c.env.crypto.x25519PublicKey(new Uint8Array(randomBytes(32)));
  const r = c.sessions.open(c.env.crypto, c.env.rng, new Uint8Array(32).fill(1), c.deviceId, host, c.env.clock.now());
  if (!r.ok) throw new Error(msgOf(r));
  return r.value.sessionId;
}

function run(c: DeviceContext, sid: number, command: number, params?: unknown): { status: number; message?: string } {
  const body = answered(sid === 0 ? dispatch(c, requestBodyOf(command, params)) : dispatchInSession(c, requestBodyOf(command, params), sid));
  const d = cborDecode(body.subarray(1));
  const m = d.ok && d.value instanceof Map ? d.value.get(1) : undefined;
  return { status: body[0], message: typeof m === 'string' ? m : undefined };
}

function initAndLogin(r: Rig, role: number = Role.USER): number {
  const c = r.ctx;
  const sid = open(c);
  expect(run(c, sid, Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).status).toBe(Status.OK);
  expect(c.auth.masterKey()).toBeUndefined(); // INIT does not log in
  expect(run(c, sid, Command.LOGIN, { 1: role, 2: pin(role === Role.SO ? SO_PIN : USER_PIN) }).status).toBe(Status.OK);
  return sid;
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);

describe('the master key lives in RAM only while a session is logged in', () => {
  it('LOGIN unwraps it; the user and SO records wrap the same key; it is never in flash', () => {
    const r = rig();
    const sid = initAndLogin(r);
    const m = r.ctx.auth.masterKey();
    expect(m).toBeInstanceOf(Uint8Array);
    expect(m!.length).toBe(32);
    expect(isZero(m!)).toBe(false);
    const copy = m!.slice();
    expect(leftover(r.flash.bytes, copy)).toBe(-1);
    // an SO login in another session finds the same key
    const so = open(r.ctx);
    expect(run(r.ctx, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }).status).toBe(Status.OK);
    expect(Buffer.from(r.ctx.auth.masterKey()!).equals(Buffer.from(copy))).toBe(true);
    // after a LOGOUT of both, a fresh SO login unwraps the same bytes again
    expect(run(r.ctx, sid, Command.LOGOUT).status).toBe(Status.OK);
    expect(run(r.ctx, so, Command.LOGOUT).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
    expect(run(r.ctx, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }).status).toBe(Status.OK);
    expect(Buffer.from(r.ctx.auth.masterKey()!).equals(Buffer.from(copy))).toBe(true);
  });

  it('an auditor session neither opens it nor keeps it: the user logs out, the auditor stays, the key is wiped (docs/audit.md §7)', () => {
    const r = rig();
    const u = initAndLogin(r);
    const so = open(r.ctx);
    expect(run(r.ctx, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }).status).toBe(Status.OK);
    expect(run(r.ctx, so, Command.AUDIT_SET, { 3: pin('auditor-pin-Xq9') }).status).toBe(Status.OK);
    expect(run(r.ctx, so, Command.LOGOUT).status).toBe(Status.OK);
    const m = r.ctx.auth.masterKey()!;
    const a = open(r.ctx);
    expect(run(r.ctx, a, Command.LOGIN, { 1: Role.AUDITOR, 2: pin('auditor-pin-Xq9') }).status).toBe(Status.OK);
    expect(run(r.ctx, u, Command.LOGOUT).status).toBe(Status.OK);
    expect(r.ctx.sessions.get(a)!.role).toBe(Role.AUDITOR);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
    expect(isZero(m)).toBe(true);
    // and an auditor's LOGIN alone never unwraps it
    expect(run(r.ctx, a, Command.LOGOUT).status).toBe(Status.OK);
    expect(run(r.ctx, a, Command.LOGIN, { 1: Role.AUDITOR, 2: pin('auditor-pin-Xq9') }).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
  });

  it('LOGOUT of one of two logged-in sessions keeps it; SESSION_CLOSE of the last one wipes it and the keystore cache', () => {
    const r = rig();
    const a = initAndLogin(r);
    const b = open(r.ctx);
    expect(run(r.ctx, b, Command.LOGIN, { 1: Role.SO, 2: pin(SO_PIN) }).status).toBe(Status.OK);
    const m = r.ctx.auth.masterKey()!;
    expect(run(r.ctx, a, Command.LOGOUT).status).toBe(Status.OK);
    expect(r.ctx.sessions.get(a)!.role).toBe(0);
    expect(r.ctx.auth.masterKey()).toBe(m);
    expect(r.lockCalls()).toBe(0);
    expect(run(r.ctx, b, Command.SESSION_CLOSE).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
    expect(isZero(m)).toBe(true); // the buffer itself was wiped, not only dropped
    expect(r.lockCalls()).toBe(1);
    // and the closed session's role is gone: nothing that needs a role runs in it
    expect(run(r.ctx, b, Command.KEY_LIST).status).toBe(Status.LOGIN_REQUIRED);
  });

  it('an idle session is noticed at the next request, even one in the clear: its role ends and the key is wiped', () => {
    const r = rig({ idleTimeoutMs: 1000 });
    const sid = initAndLogin(r);
    const m = r.ctx.auth.masterKey()!;
    r.setNow(1000); // exactly the timeout: still alive
    expect(run(r.ctx, 0, Command.INFO).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBe(m);
    r.setNow(1001);
    expect(run(r.ctx, 0, Command.INFO).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
    expect(isZero(m)).toBe(true);
    expect(r.lockCalls()).toBe(1);
    expect(r.ctx.sessions.get(sid)!.ended).toBe('idle-timeout');
    expect(r.ctx.sessions.get(sid)!.role).toBe(0);
  });

  it('a session at its message cap is ended at the next request; another logged-in session keeps the key alive', () => {
    const r = rig({ maxMessages: 5 });
    const a = initAndLogin(r);
    const b = open(r.ctx);
    expect(run(r.ctx, b, Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }).status).toBe(Status.OK);
    const m = r.ctx.auth.masterKey()!;
    r.ctx.sessions.get(a)!.accepted = 5; // what five authenticated envelopes leave behind
    expect(run(r.ctx, 0, Command.INFO).status).toBe(Status.OK);
    expect(r.ctx.sessions.get(a)!.ended).toBe('message-cap');
    expect(r.ctx.auth.masterKey()).toBe(m);
    r.ctx.sessions.get(b)!.accepted = 5;
    expect(run(r.ctx, 0, Command.ECHO, { 1: new Uint8Array([1]) }).status).toBe(Status.OK);
    expect(r.ctx.auth.masterKey()).toBeUndefined();
    expect(r.lockCalls()).toBe(1);
  });
});

describe('handlers wipe the decoded PIN copies (the dispatcher wipes the request body, not these)', () => {
  it('INIT, LOGIN (right, wrong and refused), CHANGE_PIN (also when refused for the role) and UNBLOCK', () => {
    const r = rig();
    const c = r.ctx;
    const sid = open(c);
    const caller = (role: number) => ({ sessionId: sid, role });
    const u = pin(USER_PIN);
    const s = pin(SO_PIN);
    expect(init(c, { userPin: u, soPin: s }, caller(0)).ok).toBe(true);
    expect(isZero(u) && isZero(s)).toBe(true);
    const wrong = pin('wrong-pin-here');
    expect(login(c, { role: Role.USER, pin: wrong }, caller(0)).ok).toBe(false);
    expect(isZero(wrong)).toBe(true);
    const right = pin(USER_PIN);
    expect(login(c, { role: Role.USER, pin: right }, caller(0)).ok).toBe(true);
    expect(isZero(right)).toBe(true);
    const again = pin(USER_PIN);
    const refused = login(c, { role: Role.USER, pin: again }, caller(Role.USER));
    expect(refused.ok).toBe(false);
    expect(isZero(again)).toBe(true);
    const [o1, n1] = [pin(SO_PIN), pin('new-so-pin-1')];
    const wr = changePin(c, { role: Role.SO, oldPin: o1, newPin: n1 }, caller(Role.USER));
    expect(wr.ok ? 'ok' : wr.status).toBe(Status.WRONG_ROLE);
    expect(isZero(o1) && isZero(n1)).toBe(true);
    const [o2, n2] = [pin(USER_PIN), pin('new-user-pin-1')];
    expect(changePin(c, { role: Role.USER, oldPin: o2, newPin: n2 }, caller(Role.USER)).ok).toBe(true);
    expect(isZero(o2) && isZero(n2)).toBe(true);
    const n3 = pin('new-user-pin-2');
    expect(unblock(c, { newUserPin: n3 }, caller(Role.SO)).ok).toBe(true);
    expect(isZero(n3)).toBe(true);
  });
});

// Initialization, LOGIN and its retry counters, lockout, blocking, UNBLOCK, CHANGE_PIN, the access gate by role, INFO's PIN fields, and no PIN in flash (docs/security.md §1–§5).
import { renderReason } from '../../host/render.ts';

/** The device's boot problems as the host renders them. */
const bootText = (d: { reason: number; args: number[] }[] | undefined): string => (d ?? []).map((x) => renderReason(x.reason, x.args)).join('; ');
import { describe, it, expect } from 'vitest';
import { createPublicKey, hkdfSync, pbkdf2Sync, verify as nodeVerify } from 'node:crypto';
import { Alg, Command, FrameType, Role, Status } from '../../firmware/protocol/codes.ts';
import { encodeFrame } from '../../firmware/protocol/frame.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { DEFAULT_PIN_ITERATIONS, startDevice } from '../../firmware/core/device.ts';
import { decodePinRecord, decodeTries, pinRecordKey, triesRecordKey } from '../../firmware/core/auth/access_records.ts';
import type { HostSession } from '../../host/session.ts';
import {
  allDeviceOutput,
  createLoopbackEnv,
  decodeReplies,
  field,
  startTestDevice,
  type Reply,
  type TestDevice,
  type TestDeviceOptions,
} from '../helpers/loopback.ts';
import { NorFlash, leftover } from '../helpers/nor-flash.ts';
import { storeState } from '../helpers/audit.ts';
import { countingCrypto, inSession, newSession, pin } from '../helpers/auth-cut.ts';

const USER_PIN = 'user-pin-Kq7w';
const SO_PIN = 'so-pin-Zt3x9';
const WRONG = 'not-the-pin';
const ED_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

/** A device whose test host does nothing by itself: the test sends INIT and LOGIN. */
function rawDevice(opts: TestDeviceOptions = {}): TestDevice {
  return startTestDevice({ autoAuth: false, ...opts });
}

function init(t: TestDevice, s: HostSession, label?: string, user = USER_PIN, so = SO_PIN): Reply {
  return inSession(t, s, Command.INIT, label === undefined ? { 1: pin(user), 2: pin(so) } : { 1: pin(user), 2: pin(so), 3: label });
}

function login(t: TestDevice, s: HostSession, role: number, p: string): Reply {
  return inSession(t, s, Command.LOGIN, { 1: role, 2: pin(p) });
}

function info(t: TestDevice): Reply {
  const r = t.callClear(Command.INFO);
  expect(r.status).toBe(Status.OK);
  return r;
}

const userTries = (t: TestDevice) => field<number>(info(t), 19);
const soTries = (t: TestDevice) => field<number>(info(t), 20);

/** The tries-left counter of `role` as committed in flash (a copy of the image, opened by a fresh store). */
function committedTries(flash: NorFlash, role: number): number | undefined {
  const s = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: flash.pageSize }));
  const v = s.get(triesRecordKey(role));
  return v === undefined ? undefined : decodeTries(v);
}

/** An initialized device on a NOR flash, and a session of it. */
function initialized(opts: TestDeviceOptions = {}): { t: TestDevice; flash: NorFlash; s: HostSession } {
  const flash = (opts.flash as NorFlash) || new NorFlash({ pageSize: 4096, pageCount: 8 });
  const t = rawDevice({ ...opts, flash });
  const s = newSession(t);
  expect(init(t, s).status).toBe(Status.OK);
  return { t, flash, s };
}

function reboot(flash: NorFlash, opts: TestDeviceOptions = {}): TestDevice {
  return rawDevice({ ...opts, flash });
}

describe('INIT', () => {
  it('a factory-new device: INFO says so, and everything that needs PINs is refused with NOT_INITIALIZED', () => {
    const t = rawDevice();
    const i = info(t);
    expect(field(i, 17)).toBe(false);
    for (const k of [18, 19, 20, 21]) expect(i.map.has(k), 'key ' + k).toBe(false);
    const s = newSession(t);
    for (const [code, params] of [
      [Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }],
      [Command.KEY_GENERATE, { 1: Alg.ED25519 }],
      [Command.KEY_LIST, {}],
      [Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin(SO_PIN) }],
      [Command.UNBLOCK, { 1: pin(USER_PIN) }],
      [Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(3) }],
    ] as const) {
      const r = inSession(t, s, code, params);
      expect(r.statusName, 'command ' + code).toBe('NOT_INITIALIZED');
      expect(r.message).toMatch(/INIT.*`tinyhsm init`/);
    }
    // what does not need PINs still works
    expect(inSession(t, s, Command.RANDOM, { 1: 8 }).status).toBe(Status.OK);
    expect(field(info(t), 7)).toBe(0);
  });

  it('needs a session; PINs of 5 or 65 bytes are refused and change nothing', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const t = rawDevice({ flash });
    expect(t.callClear(Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).statusName).toBe('SESSION_REQUIRED');
    const s = newSession(t);
    const writes = storeState(flash);
    for (const [u, so] of [
      ['12345', SO_PIN],
      [USER_PIN, '12345'],
      ['x'.repeat(65), SO_PIN],
    ]) {
      const r = init(t, s, undefined, u, so);
      expect(r.statusName).toBe('INVALID_PARAMETER');
      expect(r.message).toMatch(/key [12]: expected 6\.\.64 bytes/); // the userPin (1) or soPin (2) field
    }
    expect(storeState(flash)).toBe(writes);
    expect(field(info(t), 17)).toBe(false);
    // 6 and 64 bytes are the bounds, and a PIN is bytes: 'ééé' is a 6-byte PIN, but too easy to guess from a flash
    // dump (6 bytes of one class: 36 bits of the estimate, docs/security.md §4.1); 'éé-Aa1' (8 bytes, every class) is not
    const weak = init(t, s, undefined, 'ééé', 'y'.repeat(64));
    expect(weak.statusName).toBe('INVALID_PARAMETER');
    expect(weak.message).toMatch(/key 1\)?: this PIN is too easy to guess .*about 36 bits; at least 48/);
    expect(storeState(flash)).toBe(writes);
    expect(init(t, s, undefined, 'éé-Aa1', 'y'.repeat(64)).status).toBe(Status.OK);
    expect(login(t, s, Role.USER, 'éé-Aa1').status).toBe(Status.OK);
  });

  it('sets both PINs, 8 tries each and the label, does not log in, survives a reboot, and runs only once', () => {
    const { t, flash, s } = initialized();
    const i = info(t);
    expect([field(i, 17), field(i, 19), field(i, 20), field(i, 21)]).toEqual([true, 8, 8, false]);
    expect(i.map.has(18)).toBe(false); // no label given
    // INIT does not log in
    const g = inSession(t, s, Command.KEY_GENERATE, { 1: Alg.ED25519 });
    expect(g.statusName).toBe('LOGIN_REQUIRED');
    expect(g.message).toMatch(/LOGIN with the user PIN/);
    expect(init(t, s).statusName).toBe('ALREADY_INITIALIZED');
    expect(init(t, newSession(t), 'again', 'other-pin-1', 'other-pin-2').statusName).toBe('ALREADY_INITIALIZED');
    const t2 = reboot(flash);
    expect(t2.device.bootProblem).toBeUndefined();
    expect([field(info(t2), 17), field(info(t2), 19), field(info(t2), 20)]).toEqual([true, 8, 8]);
    const s2 = newSession(t2);
    expect(init(t2, s2, 'x', 'other-pin-1', 'other-pin-2').statusName).toBe('ALREADY_INITIALIZED');
    expect(login(t2, s2, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(login(t2, newSession(t2), Role.SO, SO_PIN).status).toBe(Status.OK);
  });

  it('the label is kept and reported by INFO', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const t = rawDevice({ flash });
    expect(init(t, newSession(t), 'bench board ✓').status).toBe(Status.OK);
    expect(field(info(t), 18)).toBe('bench board ✓');
    expect(field(info(reboot(flash)), 18)).toBe('bench board ✓');
  });
});

describe('LOGIN and its retry counter (docs/security.md §4)', () => {
  it('right PIN: the session gets the role and keys work; wrong PIN: PIN_INCORRECT with the tries left; a right PIN resets them', () => {
    const { t, s } = initialized();
    const bad = login(t, s, Role.USER, WRONG);
    expect(bad.statusName).toBe('PIN_INCORRECT');
    expect(bad.message).toBe('the user PIN is wrong; 7 tries left');
    expect(userTries(t)).toBe(7);
    expect(soTries(t)).toBe(8);
    expect(inSession(t, s, Command.KEY_GENERATE, { 1: Alg.ED25519 }).statusName).toBe('LOGIN_REQUIRED');
    expect(login(t, s, Role.USER, WRONG).message).toBe('the user PIN is wrong; 6 tries left');
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(userTries(t)).toBe(8);
    // the role works: a key is made and signs, and OpenSSL verifies the signature
    const k = inSession(t, s, Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'login' });
    expect(k.status).toBe(Status.OK);
    const msg = new Uint8Array(Buffer.from('signed after LOGIN'));
    const sig = inSession(t, s, Command.SIGN, { 1: field<number>(k, 1), 2: msg });
    expect(sig.status).toBe(Status.OK);
    const pub = createPublicKey({ key: Buffer.concat([ED_SPKI, field<Uint8Array>(k, 2)]), format: 'der', type: 'spki' });
    expect(nodeVerify(null, msg, pub, field<Uint8Array>(sig, 1))).toBe(true);
    // the SO PIN is another PIN: the user's does not log in as SO
    const so = login(t, newSession(t), Role.SO, USER_PIN);
    expect(so.statusName).toBe('PIN_INCORRECT');
    expect(so.message).toBe('the SO PIN is wrong; 7 tries left');
  });

  it('a role belongs to one session: LOGIN in session A does not log in session B; LOGIN twice is ALREADY_LOGGED_IN and spends no try', () => {
    const { t, flash, s } = initialized();
    const b = newSession(t);
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(inSession(t, b, Command.KEY_LIST).statusName).toBe('LOGIN_REQUIRED');
    expect(inSession(t, s, Command.KEY_LIST).status).toBe(Status.OK);
    const writes = storeState(flash);
    for (const [role, p] of [
      [Role.USER, USER_PIN],
      [Role.SO, SO_PIN],
      [Role.SO, WRONG],
    ] as const) {
      const r = login(t, s, role, p);
      expect(r.statusName).toBe('ALREADY_LOGGED_IN');
      expect(r.message).toMatch(/LOGOUT first/);
    }
    expect(storeState(flash)).toBe(writes);
    expect([userTries(t), soTries(t)]).toEqual([8, 8]);
    // LOGOUT drops the role and keeps the session; then it may log in as SO
    expect(inSession(t, s, Command.LOGOUT).status).toBe(Status.OK);
    expect(inSession(t, s, Command.KEY_LIST).statusName).toBe('LOGIN_REQUIRED');
    expect(login(t, s, Role.SO, SO_PIN).status).toBe(Status.OK);
    expect(inSession(t, s, Command.KEY_LIST).status).toBe(Status.OK);
    // LOGOUT without a role is harmless
    expect(inSession(t, b, Command.LOGOUT).status).toBe(Status.OK);
  });

  it('a PIN shorter than 6 bytes is refused by the schema: no try spent, nothing written, no PBKDF2 run', () => {
    const crypto = countingCrypto();
    const { t, flash, s } = initialized({ crypto });
    const writes = storeState(flash);
    const runs = crypto.runs;
    const r = login(t, s, Role.USER, '12345');
    expect(r.statusName).toBe('INVALID_PARAMETER');
    expect(r.message).toMatch(/key 2: expected 6\.\.64 bytes, got 5/); // LOGIN's pin field
    expect(storeState(flash)).toBe(writes);
    expect(crypto.runs).toBe(runs);
    expect(userTries(t)).toBe(8);
  });

  it('the spent try is in flash before the PIN is compared: at the PBKDF2 run, the committed counter is already one lower', () => {
    const seen: (number | undefined)[] = [];
    let flash: NorFlash | undefined;
    let watch = false;
    const crypto = countingCrypto(() => {
      if (watch && flash) seen.push(committedTries(flash, Role.USER));
    });
    flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const { t, s } = initialized({ crypto, flash });
    watch = true;
    expect(login(t, s, Role.USER, WRONG).statusName).toBe('PIN_INCORRECT'); // 8 → 7 before the compare
    expect(login(t, s, Role.USER, WRONG).statusName).toBe('PIN_INCORRECT'); // 7 → 6
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK); // 6 → 5, compare, then back to 8
    watch = false;
    expect(seen).toEqual([7, 6, 5]);
    expect(committedTries(flash, Role.USER)).toBe(8);
  });

  it('a flash that fails on the counter write: the PIN is never compared, the answer is an error, and no PIN is tried until a power cycle', () => {
    const crypto = countingCrypto();
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const { t, s } = initialized({ crypto, flash });
    const runs = crypto.runs;
    flash.cutAfterWords(1); // the first word of the counter's record is torn, then every write throws
    const r = login(t, s, Role.USER, USER_PIN);
    expect(r.statusName).toBe('INTERNAL_ERROR');
    expect(r.message).toMatch(/the flash failed while writing; power-cycle/);
    expect(crypto.runs).toBe(runs); // not compared, not even derived
    expect(inSession(t, s, Command.KEY_LIST).statusName).toBe('LOGIN_REQUIRED');
    // the device counts the try as spent and takes no more until it restarts
    expect(userTries(t)).toBe(7);
    flash.powerOn();
    const again = login(t, s, Role.USER, USER_PIN);
    expect(again.statusName).toBe('INTERNAL_ERROR');
    expect(again.message).toMatch(/power-cycle/);
    expect(crypto.runs).toBe(runs);
    // after the restart the torn write is gone: the try was never spent, and the PIN was never compared
    const t2 = reboot(flash, { crypto });
    expect(userTries(t2)).toBe(8);
    expect(login(t2, newSession(t2), Role.USER, USER_PIN).status).toBe(Status.OK);
  });

  it('3 wrong PINs in a row (any role) lock every PIN until a power cycle; nothing is written or compared while locked', () => {
    const crypto = countingCrypto();
    const { t, flash, s } = initialized({ crypto });
    const before = newSession(t); // logged in before the lock: it keeps its role, but its CHANGE_PIN is a PIN try
    expect(login(t, before, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(login(t, s, Role.USER, WRONG).message).toBe('the user PIN is wrong; 7 tries left');
    expect(login(t, s, Role.SO, WRONG).message).toBe('the SO PIN is wrong; 7 tries left');
    const third = login(t, s, Role.USER, WRONG);
    expect(third.statusName).toBe('PIN_INCORRECT');
    expect(third.message).toMatch(/^the user PIN is wrong; 6 tries left; that was 3 wrong PINs in a row: no more tries until the device is power-cycled$/);
    expect(field(info(t), 21)).toBe(true);
    const writes = storeState(flash);
    const runs = crypto.runs;
    for (const [role, p] of [
      [Role.USER, USER_PIN],
      [Role.SO, SO_PIN],
    ] as const) {
      const r = login(t, newSession(t), role, p);
      expect(r.statusName).toBe('PIN_LOCKED_UNTIL_POWER_CYCLE');
      expect(r.message).toMatch(/power-cycled/);
    }
    const c = inSession(t, before, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin('new-user-pin') });
    expect(c.statusName).toBe('PIN_LOCKED_UNTIL_POWER_CYCLE');
    expect(inSession(t, before, Command.KEY_LIST).status).toBe(Status.OK);
    expect(storeState(flash)).toBe(writes);
    expect(crypto.runs).toBe(runs);
    expect([userTries(t), soTries(t)]).toEqual([6, 7]);
    // a power cycle (reboot on the same flash) clears the RAM count, and only that
    const t2 = reboot(flash, { crypto });
    expect(field(info(t2), 21)).toBe(false);
    expect([userTries(t2), soTries(t2)]).toEqual([6, 7]);
    expect(login(t2, newSession(t2), Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(userTries(t2)).toBe(8);
  });

  it('a right PIN clears the in-a-row count: wrong, wrong, right, wrong, wrong is not locked', () => {
    const { t, s } = initialized();
    expect(login(t, s, Role.USER, WRONG).statusName).toBe('PIN_INCORRECT');
    expect(login(t, s, Role.USER, WRONG).statusName).toBe('PIN_INCORRECT');
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    const b = newSession(t);
    expect(login(t, b, Role.SO, WRONG).statusName).toBe('PIN_INCORRECT');
    const r = login(t, b, Role.SO, WRONG);
    expect(r.message).toBe('the SO PIN is wrong; 6 tries left');
    expect(field(info(t), 21)).toBe(false);
    expect(login(t, b, Role.SO, SO_PIN).status).toBe(Status.OK);
  });

  it('8 wrong user PINs across reboots block the user PIN; it stays blocked after a reboot; the SO unblocks it and the old keys still work', () => {
    let flash: NorFlash;
    let t: TestDevice;
    ({ t, flash } = initialized());
    // a key made before the block, to show that UNBLOCK keeps the master key
    const u = newSession(t);
    expect(login(t, u, Role.USER, USER_PIN).status).toBe(Status.OK);
    const k = inSession(t, u, Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'kept' });
    expect(k.status).toBe(Status.OK);
    let wrong = 0;
    const messages: string[] = [];
    while (wrong < 8) {
      t = reboot(flash); // two tries per power-on: never 3 in a row
      const s = newSession(t);
      for (let i = 0; i < 2 && wrong < 8; i++) {
        const r = login(t, s, Role.USER, WRONG);
        wrong++;
        messages.push(r.statusName + ': ' + r.message);
        expect(userTries(t)).toBe(8 - wrong);
      }
    }
    expect(messages[6]).toBe('PIN_INCORRECT: the user PIN is wrong; 1 try left');
    expect(messages[7]).toMatch(/^PIN_BLOCKED: the user PIN is wrong and is now blocked after 8 wrong tries; the SO can set a new user PIN with UNBLOCK/);
    t = reboot(flash);
    expect(userTries(t)).toBe(0);
    const writes = storeState(flash);
    const blocked = login(t, newSession(t), Role.USER, USER_PIN);
    expect(blocked.statusName).toBe('PIN_BLOCKED');
    expect(blocked.message).toMatch(/blocked after 8 wrong tries.*UNBLOCK/);
    expect(storeState(flash)).toBe(writes); // a blocked PIN spends and compares nothing
    // the SO sets a new user PIN
    const so = newSession(t);
    expect(login(t, so, Role.SO, SO_PIN).status).toBe(Status.OK);
    expect(inSession(t, so, Command.UNBLOCK, { 1: pin('fresh-user-pin') }).status).toBe(Status.OK);
    expect(userTries(t)).toBe(8);
    const s = newSession(t);
    expect(login(t, s, Role.USER, USER_PIN).statusName).toBe('PIN_INCORRECT'); // the old PIN is gone
    expect(login(t, s, Role.USER, 'fresh-user-pin').status).toBe(Status.OK);
    const msg = new Uint8Array([1, 2, 3]);
    const sig = inSession(t, s, Command.SIGN, { 1: field<number>(k, 1), 2: msg });
    expect(sig.status).toBe(Status.OK);
    const pub = createPublicKey({ key: Buffer.concat([ED_SPKI, field<Uint8Array>(k, 2)]), format: 'der', type: 'spki' });
    expect(nodeVerify(null, msg, pub, field<Uint8Array>(sig, 1))).toBe(true);
    // and after a reboot too
    const t2 = reboot(flash);
    expect(login(t2, newSession(t2), Role.USER, 'fresh-user-pin').status).toBe(Status.OK);
  });

  it('8 wrong SO PINs block the SO role for good: no UNBLOCK, no KEY_IMPORT; the user PIN keeps working (docs/security.md §4)', () => {
    let { t, flash } = initialized();
    for (let wrong = 0; wrong < 8;) {
      t = reboot(flash);
      const s = newSession(t);
      for (let i = 0; i < 2; i++, wrong++) login(t, s, Role.SO, WRONG);
    }
    t = reboot(flash);
    expect([userTries(t), soTries(t)]).toEqual([8, 0]);
    const r = login(t, newSession(t), Role.SO, SO_PIN);
    expect(r.statusName).toBe('PIN_BLOCKED');
    expect(r.message).toMatch(/the SO PIN is blocked after 8 wrong tries; only a reset that erases every key remains/);
    // administration is impossible: no session can hold the SO role
    const u = newSession(t);
    expect(login(t, u, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(inSession(t, u, Command.UNBLOCK, { 1: pin('whatever-pin') }).statusName).toBe('WRONG_ROLE');
    expect(inSession(t, u, Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(9) }).statusName).toBe('WRONG_ROLE');
    // key use goes on
    expect(inSession(t, u, Command.KEY_GENERATE, { 1: Alg.X25519 }).status).toBe(Status.OK);
    // no INIT either: the device stays initialized with its keys
    expect(init(t, u).statusName).toBe('ALREADY_INITIALIZED');
  });
});

describe('the gate by role (docs/security.md §2)', () => {
  it('no login → LOGIN_REQUIRED; user commands refused to the SO and SO commands to the user with WRONG_ROLE; nothing runs', () => {
    const { t, flash, s } = initialized();
    const writes = storeState(flash);
    for (const [code, params, who] of [
      [Command.KEY_GENERATE, { 1: Alg.ED25519 }, /the user PIN/],
      [Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(3) }, /the SO PIN/],
      [Command.UNBLOCK, { 1: pin('new-user-pin') }, /the SO PIN/],
      [Command.KEY_LIST, {}, /the user or SO PIN/],
      [Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin('new-user-pin') }, /the user or SO PIN/],
    ] as const) {
      const r = inSession(t, s, code, params);
      expect(r.statusName).toBe('LOGIN_REQUIRED');
      expect(r.message).toMatch(who);
    }
    expect(storeState(flash)).toBe(writes);
    const u = newSession(t);
    expect(login(t, u, Role.USER, USER_PIN).status).toBe(Status.OK);
    const so = newSession(t);
    expect(login(t, so, Role.SO, SO_PIN).status).toBe(Status.OK);
    for (const [code, params] of [
      [Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(3) }],
      [Command.UNBLOCK, { 1: pin('new-user-pin') }],
    ] as const) {
      const r = inSession(t, u, code, params);
      expect(r.statusName).toBe('WRONG_ROLE');
      expect(r.message).toMatch(/for the SO role; this session is logged in as the user/);
    }
    for (const [code, params] of [
      [Command.KEY_GENERATE, { 1: Alg.ED25519 }],
      [Command.SIGN, { 1: 1, 2: new Uint8Array([1]) }],
      [Command.KEY_DELETE, { 1: 1 }],
    ] as const) {
      const r = inSession(t, so, code, params);
      expect(r.statusName).toBe('WRONG_ROLE');
      expect(r.message).toMatch(/for the user role; this session is logged in as the SO/);
    }
    expect(field(info(t), 7)).toBe(0);
    // both may list
    expect(inSession(t, u, Command.KEY_LIST).status).toBe(Status.OK);
    expect(inSession(t, so, Command.KEY_LIST).status).toBe(Status.OK);
  });
});

describe('CHANGE_PIN', () => {
  it('changes only the PIN of the role the session holds; the old PIN is a try; the new one works after a reboot, the old one does not', () => {
    const { t, flash, s } = initialized();
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    const writes = storeState(flash);
    const wr = inSession(t, s, Command.CHANGE_PIN, { 1: Role.SO, 2: pin(SO_PIN), 3: pin('new-so-pin') });
    expect(wr.statusName).toBe('WRONG_ROLE');
    expect(wr.message).toMatch(/logged in as the user.*LOGOUT and LOGIN as SO/);
    expect(storeState(flash)).toBe(writes);
    const bad = inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(WRONG), 3: pin('new-user-pin') });
    expect(bad.statusName).toBe('PIN_INCORRECT');
    expect(bad.message).toBe('the user PIN is wrong; 7 tries left');
    expect(inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin('new-user-pin') }).status).toBe(Status.OK);
    expect(userTries(t)).toBe(8);
    // the session keeps its role
    expect(inSession(t, s, Command.KEY_LIST).status).toBe(Status.OK);
    const t2 = reboot(flash);
    const s2 = newSession(t2);
    expect(login(t2, s2, Role.USER, USER_PIN).statusName).toBe('PIN_INCORRECT');
    expect(login(t2, s2, Role.USER, 'new-user-pin').status).toBe(Status.OK);
    // the SO changes its own
    const so = newSession(t2);
    expect(login(t2, so, Role.SO, SO_PIN).status).toBe(Status.OK);
    expect(inSession(t2, so, Command.CHANGE_PIN, { 1: Role.SO, 2: pin(SO_PIN), 3: pin('new-so-pin') }).status).toBe(Status.OK);
    expect(login(t2, newSession(t2), Role.SO, 'new-so-pin').status).toBe(Status.OK);
  });

  it('a new PIN below the floor (docs/security.md §4.1) is refused by CHANGE_PIN and UNBLOCK before anything else: no try spent, nothing written', () => {
    const { t, flash, s } = initialized();
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    const writes = storeState(flash);
    for (const weak of ['123456', '12345678901', 'abcdefgh', 'ééé']) {
      // even with a wrong old PIN: the new one is judged first, so no try is spent
      const r = inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(WRONG), 3: pin(weak) });
      expect(r.statusName, weak).toBe('INVALID_PARAMETER');
      expect(r.message).toMatch(/key 3\)?: this PIN is too easy to guess .*at least 48 needed/);
    }
    expect(userTries(t)).toBe(8);
    expect(storeState(flash)).toBe(writes);
    // 15 digits, or 8 characters of every class, clear it
    expect(inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin('123456789012345') }).status).toBe(Status.OK);
    const so = newSession(t);
    expect(login(t, so, Role.SO, SO_PIN).status).toBe(Status.OK);
    const w = storeState(flash);
    const u = inSession(t, so, Command.UNBLOCK, { 1: pin('654321') });
    expect(u.statusName).toBe('INVALID_PARAMETER');
    expect(u.message).toMatch(/this PIN is too easy to guess .*about 19 bits/);
    expect(storeState(flash)).toBe(w);
    expect(inSession(t, so, Command.UNBLOCK, { 1: pin('Aa1-Bb2+') }).status).toBe(Status.OK);
    expect(login(t, newSession(t), Role.USER, 'Aa1-Bb2+').status).toBe(Status.OK);
    // INFO states the floor (key 24), in the clear
    expect(field(info(t), 24)).toBe(48);
  });

  it('the superseded PIN record is wiped from flash: its verifier, wrapped secrets and envelope are nowhere in the image', () => {
    const { t, flash, s } = initialized();
    const store = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: flash.pageSize }));
    const old = decodePinRecord(store.get(pinRecordKey(Role.USER)) as Uint8Array, Role.USER);
    expect(old).toBeDefined();
    expect(leftover(flash.bytes, old!.verifier)).toBeGreaterThanOrEqual(0); // the check can fail: it is there now
    expect(login(t, s, Role.USER, USER_PIN).status).toBe(Status.OK);
    expect(inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER_PIN), 3: pin('new-user-pin') }).status).toBe(Status.OK);
    expect(leftover(flash.bytes, old!.verifier)).toBe(-1);
    expect(leftover(flash.bytes, old!.wrappedSecrets)).toBe(-1);
    expect(leftover(flash.bytes, old!.envelope.subarray(32))).toBe(-1); // its first 32 bytes are the SO's public key, still in use
    expect(leftover(flash.bytes, old!.salt)).toBe(-1);
  });
});

describe('stored state', () => {
  it('the PIN record is a PBKDF2-SHA256 verifier with the device iterations (recomputed with OpenSSL); no PIN is anywhere in flash or on the wire', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const t = rawDevice({ flash, pinIterations: 7 });
    expect(field(info(t), 22)).toBe(7);
    const pins = ['user-Qm4#first-pin', 'so-Vd8$first-pin', 'user-Hy2@second-pin', 'user-Lp6!third-pin', 'so-Xc1%second-pin'];
    const s = newSession(t);
    expect(init(t, s, 'scan', pins[0], pins[1]).status).toBe(Status.OK);
    expect(login(t, s, Role.USER, pins[0]).status).toBe(Status.OK);
    expect(login(t, newSession(t), Role.USER, 'user-wrong-pin-value').statusName).toBe('PIN_INCORRECT');
    expect(inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(pins[0]), 3: pin(pins[2]) }).status).toBe(Status.OK);
    const so = newSession(t);
    expect(login(t, so, Role.SO, pins[1]).status).toBe(Status.OK);
    expect(inSession(t, so, Command.UNBLOCK, { 1: pin(pins[3]) }).status).toBe(Status.OK);
    expect(inSession(t, so, Command.CHANGE_PIN, { 1: Role.SO, 2: pin(pins[1]), 3: pin(pins[4]) }).status).toBe(Status.OK);
    // the records: salt, verifier = HKDF(PBKDF2(pin, salt, 7)) (docs/session.md §8.2), by node:crypto
    const store = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: flash.pageSize }));
    for (const [role, p] of [
      [Role.USER, pins[3]],
      [Role.SO, pins[4]],
    ] as const) {
      const rec = decodePinRecord(store.get(pinRecordKey(role)) as Uint8Array, role)!;
      expect(rec.iterations).toBe(7);
      const base = pbkdf2Sync(Buffer.from(p), rec.salt, 7, 32, 'sha256');
      const verifier = Buffer.from(hkdfSync('sha256', base, rec.salt, 'tinyhsm/pin/v1 verifier', 32));
      expect(verifier.toString('hex')).toBe(Buffer.from(rec.verifier).toString('hex'));
    }
    for (const p of [...pins, 'user-wrong-pin-value']) {
      expect(leftover(flash.bytes, pin(p)), p + ' in flash').toBe(-1);
      for (const out of allDeviceOutput()) expect(leftover(out, pin(p)), p + ' on the wire').toBe(-1);
    }
  });

  it('a damaged PIN record or counter: the device boots, says so, treats the role as blocked, and the SO repairs the user role with UNBLOCK', () => {
    for (const damage of ['record', 'counter'] as const) {
      const { flash } = initialized();
      const store = Store.open(flash);
      const key = damage === 'record' ? pinRecordKey(Role.USER) : triesRecordKey(Role.USER);
      expect(store.commit([{ key, value: new Uint8Array([0xa1, 0x01, 0x63, 0x61, 0x62, 0x63]) }]).ok).toBe(true);
      const t = reboot(flash);
      expect(bootText(t.device.bootProblem)).toMatch(new RegExp('the user PIN ' + (damage === 'record' ? 'record' : 'retry counter') + ' in flash is damaged'));
      const i = info(t);
      expect([field(i, 17), field(i, 19), field(i, 20)]).toEqual([true, 0, 8]);
      const r = login(t, newSession(t), Role.USER, USER_PIN);
      expect(r.statusName).toBe('PIN_BLOCKED');
      expect(r.message).toMatch(/damaged.*UNBLOCK/);
      expect(init(t, newSession(t)).statusName).toBe('ALREADY_INITIALIZED');
      const so = newSession(t);
      expect(login(t, so, Role.SO, SO_PIN).status).toBe(Status.OK);
      expect(inSession(t, so, Command.UNBLOCK, { 1: pin('repaired-pin') }).status).toBe(Status.OK);
      const t2 = reboot(flash);
      expect(t2.device.bootProblem).toBeUndefined();
      expect(login(t2, newSession(t2), Role.USER, 'repaired-pin').status).toBe(Status.OK);
    }
  });
});

describe('INFO PIN fields (keys 17–23)', () => {
  it('initialized, label, tries, lock, iterations and presence', () => {
    const t = rawDevice();
    let i = info(t);
    expect([field(i, 17), field(i, 22), field(i, 23)]).toEqual([false, 2, false]);
    const s = newSession(t);
    expect(init(t, s, 'lab').status).toBe(Status.OK);
    i = info(t);
    expect([field(i, 17), field(i, 18), field(i, 19), field(i, 20), field(i, 21)]).toEqual([true, 'lab', 8, 8, false]);
    login(t, s, Role.SO, WRONG);
    expect([field(info(t), 19), field(info(t), 20)]).toEqual([8, 7]);
    // the same answer inside a session, with no login
    const inner = inSession(t, s, Command.INFO);
    expect(inner.status).toBe(Status.OK);
    expect([field(inner, 17), field(inner, 18), field(inner, 19), field(inner, 20), field(inner, 21)]).toEqual([true, 'lab', 8, 7, false]);
  });

  it('pinIterations defaults to the simulator value; presence is true on a board with a button', () => {
    const link = createLoopbackEnv();
    (link.env as { presence?: unknown }).presence = { isPressed: () => false };
    startDevice(link.env);
    link.feed(encodeFrame(FrameType.REQUEST, 1, new Uint8Array([Command.INFO])));
    const r = decodeReplies(link.take())[0];
    expect(r.status).toBe(Status.OK);
    expect([field(r, 22), field(r, 23)]).toEqual([DEFAULT_PIN_ITERATIONS, true]);
    expect(DEFAULT_PIN_ITERATIONS).toBe(10000);
  });
});

// The rollback attack (docs/storage.md §12, docs/security.md §9): an old flash image written back brings back PIN tries, a deleted key, a looser policy, unless the store is bound to a monotonic counter the image does not carry.
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { FRESHNESS_RECORD } from '../../firmware/core/records.ts';
import type { MonotonicCounter } from '../../firmware/hal/index.ts';
import { field } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { countingCrypto, inSession, loggedIn, newSession, pin, tries } from '../helpers/auth-cut.ts';
import { startTestDevice, type TestDevice } from '../helpers/loopback.ts';

const USER = 'user-Roll-pin-11';
const SO = 'so-Roll-pin-22';
const WRONG = 'not-the-Pin-33';

/** A counter kept apart from the flash (as a secure element keeps it); `failNext` makes the next advance throw. */
function counter(start = 0): MonotonicCounter & { value: number; failNext: boolean; advances: number } {
  const c = {
    value: start,
    failNext: false,
    advances: 0,
    read: () => c.value,
    advance: (v: number) => {
      if (c.failNext) {
        c.failNext = false;
        throw new Error('power went before the counter was raised');
      }
      c.advances++;
      if (v > c.value) c.value = v;
    },
  };
  return c;
}

function boot(flash: NorFlash, monotonic?: MonotonicCounter): TestDevice {
  return startTestDevice({ flash, monotonic, autoAuth: false });
}

function initialized(monotonic?: MonotonicCounter): { flash: NorFlash; t: TestDevice } {
  const flash = new NorFlash({ pageSize: 2048, pageCount: 8 });
  const t = boot(flash, monotonic);
  expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER), 2: pin(SO) }).status).toBe(Status.OK);
  return { flash, t };
}

const wrongLogin = (t: TestDevice) => inSession(t, newSession(t), Command.LOGIN, { 1: Role.USER, 2: pin(WRONG) });

describe('without a monotonic counter (every board today): an old image written back is used as it is', () => {
  it('INFO says rollbackProtection false, and the old image gives back the PIN tries an attacker spent', () => {
    const { flash, t } = initialized();
    expect(field(t.callClear(Command.INFO), 25)).toBe(false);
    const image = flash.snapshot();
    for (let i = 0; i < 2; i++) expect(wrongLogin(boot(flash)).statusName).toBe('PIN_INCORRECT');
    expect(tries(boot(flash), Role.USER)).toBe(6);
    flash.restore(image);
    expect(tries(boot(flash), Role.USER)).toBe(8); // the attack docs/security.md §9 describes, where no counter exists
  });
});

describe('with a monotonic counter: an old image written back is refused, not used', () => {
  it('spent PIN tries do not come back: the old image boots refusing everything but INFO and ECHO, and writes nothing', () => {
    const c = counter();
    const { flash, t } = initialized(c);
    expect(field(t.callClear(Command.INFO), 25)).toBe(true);
    expect(t.device.bootProblem).toBeUndefined();
    const image = flash.snapshot();
    for (let i = 0; i < 2; i++) expect(wrongLogin(boot(flash, c)).statusName).toBe('PIN_INCORRECT');
    const newest = flash.snapshot();
    flash.restore(image);
    const w = flash.wordWrites;
    const old = boot(flash, c);
    const info = old.callClear(Command.INFO);
    expect([field(info, 25), field(info, 26)]).toEqual([true, true]);
    expect(old.device.bootProblem).toEqual([{ reason: expect.any(Number), args: [expect.any(Number), c.value] }]);
    expect(old.callClear(Command.ECHO, { 1: new Uint8Array([1]) }).status).toBe(Status.OK);
    const open = old.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) });
    expect(open.statusName).toBe('ROLLBACK_DETECTED');
    expect(open.message).toMatch(/older flash image was written back/);
    expect(old.callClear(Command.RANDOM, { 1: 8 }).statusName).toBe('ROLLBACK_DETECTED');
    expect(flash.wordWrites).toBe(w); // not even the boot wrote
    // the newest image written back works again, with the tries as they were
    flash.restore(newest);
    const back = boot(flash, c);
    expect(field(back.callClear(Command.INFO), 26)).toBeUndefined();
    expect(tries(back, Role.USER)).toBe(6);
  });

  it('a deleted key and a policy from before it was tightened do not come back (nor does KEY_ATTEST attest it)', () => {
    const c = counter();
    const { flash, t } = initialized(c);
    const u = loggedIn(t, Role.USER, USER);
    expect(field(inSession(t, u, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBe(1);
    expect(field(inSession(t, u, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBe(2);
    const loose = flash.snapshot();
    expect(inSession(t, u, Command.KEY_DELETE, { 1: 1 }).status).toBe(Status.OK);
    expect(inSession(t, u, Command.KEY_SET_POLICY, { 1: 2, 4: true }).status).toBe(Status.OK); // touch from now on
    flash.restore(loose);
    const old = boot(flash, c);
    expect(field(old.callClear(Command.INFO), 26)).toBe(true);
    expect(old.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) }).statusName).toBe('ROLLBACK_DETECTED');
  });

  it('a commit that landed before power went, with the counter not yet raised, is accepted and the counter raised at boot', () => {
    const c = counter();
    const { flash } = initialized(c);
    const booted = boot(flash, c); // its BOOT entry is a commit of its own (docs/audit.md §3)
    const before = c.value;
    c.failNext = true;
    // the try is committed, then the advance throws (as if power went): the PIN is never compared
    const r = wrongLogin(booted);
    expect(r.statusName, r.message).toBe('INTERNAL_ERROR');
    expect(c.value).toBe(before);
    const t = boot(flash, c);
    expect(field(t.callClear(Command.INFO), 26)).toBeUndefined();
    // raised to the try's commit at boot, then once more by this boot's own entry
    expect(c.value).toBe(before + 2);
    expect(tries(t, Role.USER)).toBe(7); // the try stays spent
  });

  it('the spent try is bound before the PIN is compared: at the PBKDF2 run the counter already holds the commit', () => {
    const c = counter();
    let seen: number[] = [];
    const flash = new NorFlash({ pageSize: 2048, pageCount: 8 });
    const crypto = countingCrypto(() => {
      const s = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 2048 })).get(FRESHNESS_RECORD)!;
      seen.push(Buffer.from(s).readUInt32LE(0), c.value);
    });
    const t = startTestDevice({ flash, monotonic: c, autoAuth: false, crypto });
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER), 2: pin(SO) }).status).toBe(Status.OK);
    seen = [];
    expect(wrongLogin(t).statusName).toBe('PIN_INCORRECT');
    expect(seen.length).toBe(2);
    expect(seen[0]).toBe(seen[1]);
  });

  it('a store stripped of its bound value, or with one that does not decode, is refused; an empty store is a new device', () => {
    const c = counter();
    const { flash } = initialized(c);
    const image = flash.snapshot();
    for (const value of [null, new Uint8Array([1, 2, 3])]) {
      flash.restore(image);
      expect(Store.open(flash).commit([{ key: FRESHNESS_RECORD, value }]).ok).toBe(true);
      expect(field(boot(flash, c).callClear(Command.INFO), 26), String(value)).toBe(true);
    }
    // an erased flash with the counter far ahead: a new device, nothing to bring back
    const fresh = new NorFlash({ pageSize: 2048, pageCount: 8 });
    const t = boot(fresh, c);
    expect(field(t.callClear(Command.INFO), 26)).toBeUndefined();
    expect(field(t.callClear(Command.INFO), 17)).toBe(false);
  });

  it('a counter that throws when read fails closed', () => {
    const { flash } = initialized();
    const broken: MonotonicCounter = {
      read: () => {
        throw new Error('secure element not answering');
      },
      advance: () => {},
    };
    const t = boot(flash, broken);
    expect(field(t.callClear(Command.INFO), 26)).toBe(true);
  });

  it('each transaction raises the counter once, after its commit', () => {
    const c = counter();
    const { flash, t } = initialized(c);
    const n = c.advances;
    loggedIn(t, Role.USER, USER); // LOGIN: the spent try and its reset, two transactions
    expect(c.advances - n).toBe(2);
    expect(Buffer.from(Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 2048 })).get(FRESHNESS_RECORD)!).readUInt32LE(0)).toBe(c.value);
  });
});

// PIN tests on the loopback device: sealed requests in a chosen session, a PBKDF2-counting Crypto, INFO's tries-left, and the power-cut sweep of a PIN command (docs/security.md §3–§4).
import { expect } from 'vitest';
import type { Crypto } from '../../firmware/hal/index.ts';
import { Command, Role, Status } from '../../firmware/protocol/codes.ts';
import type { HostSession } from '../../host/session.ts';
import { field, nobleCrypto, replyOfBody, requestBodyOf, startTestDevice, sweepPoints, type Reply, type TestDevice } from './loopback.ts';
import { NorFlash } from './nor-flash.ts';

export const pin = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));

/** The PINs the power-cut tests give the device (INIT with label 'cut'), a new PIN for CHANGE_PIN / UNBLOCK, and a wrong one. */
export const USER_PIN = 'cut-user-pin-1';
export const SO_PIN = 'cut-so-pin-22';
export const NEW_PIN = 'cut-new-pin-333';
export const WRONG_PIN = 'cut-wrong-pin';
/** The flash page size of the images (a NorFlash of 6 pages unless said otherwise). */
export const CUT_PAGE = 2048;

/**
 * noble, counting PBKDF2 runs: a run during a command means a PIN was derived (compared or made) in it.
 * `onPbkdf2` lets a test look at the world at the moment of each run.
 */
export function countingCrypto(onPbkdf2?: () => void): Crypto & { readonly runs: number } {
  const c = nobleCrypto();
  let runs = 0;
  return {
    ...c,
    pbkdf2Sha256(p: Uint8Array, salt: Uint8Array, it: number, len: number) {
      runs++;
      if (onPbkdf2) onPbkdf2();
      return c.pbkdf2Sha256(p, salt, it, len);
    },
    get runs() {
      return runs;
    },
  } as Crypto & { readonly runs: number };
}

/** A fresh session of the test host (the device keeps the others). */
export function newSession(t: TestDevice): HostSession {
  expect(t.openSession().status).toBe(Status.OK);
  return t.session as HostSession;
}

/** Send one command sealed in session `s`, whatever the test host's current session is; the inner answer, or the outer refusal. */
export function inSession(t: TestDevice, s: HostSession, command: number, params?: unknown): Reply {
  const e = s.seal(requestBodyOf(command, params), 0);
  const outer = t.callClear(Command.SESSION_MESSAGE, { 1: e.sessionId, 2: e.counter, 3: e.ciphertext });
  if (outer.status !== Status.OK) return outer;
  return replyOfBody(outer.frame, s.open(field<number>(outer, 1), field<Uint8Array>(outer, 2)));
}

/** A new session logged in as `role` with PIN `p` (the LOGIN must succeed). */
export function loggedIn(t: TestDevice, role: number, p: string): HostSession {
  const s = newSession(t);
  expect(inSession(t, s, Command.LOGIN, { 1: role, 2: pin(p) }).status, 'LOGIN as ' + role).toBe(Status.OK);
  return s;
}

/** A session left without a role by a refused LOGIN is used again (a device holds only 4 sessions). */
const idle = new WeakMap<TestDevice, HostSession>();

/** LOGIN as `role` with PIN `p`, in a session without a role. */
export function login(t: TestDevice, role: number, p: string): Reply {
  const s = idle.get(t) || newSession(t);
  const r = inSession(t, s, Command.LOGIN, { 1: role, 2: pin(p) });
  if (r.status === Status.OK) idle.delete(t);
  else idle.set(t, s);
  return r;
}

/** The tries left of `role`'s PIN, from INFO. */
export const tries = (t: TestDevice, role: number): number => field<number>(t.callClear(Command.INFO), role === Role.USER ? 19 : 20);

/**
 * After a cut command that tries a PIN of `role` with `before` tries left: `before` (the try never reached flash, so
 * the PIN was never compared) or `before - 1`, never more, and a compared PIN is always a spent try. The tries left.
 */
export function triesAfterCut(c: Cut, role: number, before: number): number {
  const left = tries(c.after, role);
  expect([before - 1, before], 'N=' + c.n + ': ' + before + ' before, ' + (before - 1) + ' after; never more').toContain(left);
  if (c.compared) expect(left, 'N=' + c.n + ': a compared PIN is a spent try').toBe(before - 1);
  return left;
}

/**
 * After a cut CHANGE_PIN or UNBLOCK of `role`'s PIN (a device whose tries for it were 8 before): exactly one of
 * `oldPin` and `newPin` logs in, never both, never neither; the new PIN comes with a full counter, the old one with
 * 7 or 8 tries (at most one of the two probes is wrong, and the right one clears the in-a-row count); and the other
 * role's `otherPin` still logs in. Which of the two worked.
 */
export function oldOrNewPin(after: TestDevice, n: string, role: number, oldPin: string, newPin: string, otherPin: string, keyId?: number): 'old' | 'new' {
  const left = tries(after, role);
  const withNew = login(after, role, newPin).status === Status.OK;
  const withOld = login(after, role, oldPin).status === Status.OK;
  expect(withNew !== withOld, 'N=' + n + ': new ' + withNew + ', old ' + withOld).toBe(true);
  if (withNew) expect(left, 'N=' + n + ': the new PIN comes with a full counter').toBe(8);
  else expect([7, 8], 'N=' + n).toContain(left);
  const other = role === Role.USER ? Role.SO : Role.USER;
  expect(login(after, other, otherPin).status, 'N=' + n + ': the other role').toBe(Status.OK);
  if (keyId !== undefined) {
    // the key made before the change opens under the master key that the working PINs give: both roles' envelopes
    // and every key record are of the same state (old or new), never a mix
    const s = loggedIn(after, Role.USER, role === Role.USER ? (withNew ? newPin : oldPin) : otherPin);
    expect(inSession(after, s, Command.SIGN, { 1: keyId, 2: new Uint8Array([1, 2, 3]) }).status, 'N=' + n + ': SIGN with the key made before').toBe(Status.OK);
    const so = loggedIn(after, Role.SO, role === Role.SO ? (withNew ? newPin : oldPin) : otherPin);
    expect(so).toBeDefined(); // both roles logged in at once: their envelopes hold the same master key (else MASTER_KEY_MISMATCH)
  }
  return withNew ? 'new' : 'old';
}

/** What a sweep's `check` sees after one cut. */
export interface Cut {
  /** The cut point: a word number, or an erase. */
  n: string;
  /** A PIN was derived (PBKDF2 ran) during the cut command. */
  compared: boolean;
  /** The device after power came back (a reboot on the cut flash). */
  after: TestDevice;
}

export interface AuthSweep<P> {
  img: Uint8Array;
  pageSize?: number;
  /** Runs after each boot, before the cut is armed (its writes are not the command's); its result goes to `act`. */
  prepare: (t: TestDevice) => P;
  act: (t: TestDevice, p: P) => Reply;
  /** Whether an answer is the one the uncut command gives (a wrong PIN's PIN_INCORRECT may be); a cut command must never give it, nor OK. */
  ok: (r: Reply) => boolean;
  /** Cut at every `stride`-th word the command writes (always the first and the last). */
  stride: number;
  /** Also cut during each erase of the command, at each of these fractions (compaction). */
  eraseFractions?: number[];
  check: (c: Cut) => void;
}

/** A CHANGE_PIN or UNBLOCK to sweep: sent in a session logged in as `as`, it changes `role`'s PIN from `from` to `to`. */
export interface PinChange {
  img: Uint8Array;
  stride: number;
  as: { role: number; pin: string };
  command: number;
  /** The request's parameters (made anew for each run). */
  params: () => unknown;
  role: number;
  from: string;
  to: string;
  /** The other role's PIN, which must still log in. */
  other: string;
  /** A key in the image: after every cut it must sign with the PINs that work. */
  keyId?: number;
}

export interface AuthCutRig {
  /** Counts the PBKDF2 runs of every device the rig boots. */
  crypto: Crypto & { readonly runs: number };
  /** A device on `flash` whose test host does nothing by itself (the test sends INIT and LOGIN). */
  boot(flash: NorFlash, seed?: string): TestDevice;
  /** The flash of a device booted once on a new flash, after `setup` ran on it. */
  image(setup?: (t: TestDevice, flash: NorFlash) => void, pageSize?: number, pageCount?: number): Uint8Array;
  /** The flash of a device INITed with USER_PIN, SO_PIN and label 'cut', after `then` ran on that flash. */
  initializedImage(then?: (flash: NorFlash) => void, pageSize?: number, pageCount?: number): Uint8Array;
  /**
   * Run the command once uncut to count its word writes (and erases), then for each cut point: restore the image,
   * boot, `prepare`, cut at the n-th word of `act`, power on and reboot. The device must not give the uncut answer
   * for a cut command and must boot cleanly (no damaged record); `check` judges each outcome.
   */
  sweep<P>(s: AuthSweep<P>): { words: number; erases: number; cuts: number };
  /** Sweep a PIN change: after every cut exactly the old or the new PIN works (oldOrNewPin), and the sweep sees both. */
  sweepPinChange(c: PinChange): void;
}

/** Devices booted with RNG seed `seed` and one counting Crypto. */
export function authCutRig(seed: string): AuthCutRig {
  const crypto = countingCrypto();
  const boot = (flash: NorFlash, s: string = seed): TestDevice => startTestDevice({ flash, seed: s, crypto, autoAuth: false });
  const image = (setup?: (t: TestDevice, flash: NorFlash) => void, pageSize = CUT_PAGE, pageCount = 6): Uint8Array => {
    const flash = new NorFlash({ pageSize, pageCount });
    const t = boot(flash);
    if (setup) setup(t, flash);
    return flash.snapshot();
  };
  const initializedImage = (then?: (flash: NorFlash) => void, pageSize = CUT_PAGE, pageCount = 6): Uint8Array =>
    image(
      (t, flash) => {
        expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'cut' }).status).toBe(Status.OK);
        if (then) then(flash);
      },
      pageSize,
      pageCount,
    );
  function sweep<P>(c: AuthSweep<P>): { words: number; erases: number; cuts: number } {
    const flash = NorFlash.fromBytes(c.img, { pageSize: c.pageSize || CUT_PAGE });
    const t0 = boot(flash);
    const p0 = c.prepare(t0);
    const w0 = flash.wordWrites;
    const e0 = flash.erases;
    const whole = c.act(t0, p0);
    expect(c.ok(whole), 'the uncut command: ' + whole.statusName + ' ' + whole.message).toBe(true);
    const words = flash.wordWrites - w0;
    const erases = flash.erases - e0;
    expect(words).toBeGreaterThan(0);
    const points: { n: string; arm: () => void }[] = [];
    for (const n of sweepPoints(words, c.stride)) points.push({ n: String(n), arm: () => flash.cutAfterWords(n) });
    for (let e = 1; e <= erases; e++)
      for (const f of c.eraseFractions || []) points.push({ n: 'erase ' + e + ' (' + f + ')', arm: () => flash.cutDuringErase(e, f) });
    let cuts = 0;
    for (const { n, arm } of points) {
      flash.restore(c.img);
      flash.powerOn();
      const t = boot(flash);
      const p = c.prepare(t);
      const runs = crypto.runs;
      arm();
      let answer: Reply | undefined;
      try {
        answer = c.act(t, p);
      } catch (e) {
        // a device whose flash died mid-write may answer nothing; what matters is that it never gives the uncut answer
      }
      expect(flash.isCut, 'N=' + n + ' reached').toBe(true);
      if (answer) {
        expect(answer.status, 'N=' + n + ': no OK for a cut command').not.toBe(Status.OK);
        expect(c.ok(answer), 'N=' + n + ': the cut command answered ' + answer.statusName).toBe(false);
      }
      const compared = crypto.runs > runs;
      flash.powerOn();
      const after = boot(flash, seed + ' after ' + n);
      expect(after.device.bootProblem, 'N=' + n).toBeUndefined();
      c.check({ n, compared, after });
      cuts++;
    }
    return { words, erases, cuts };
  }
  function sweepPinChange(c: PinChange): void {
    const seen = { old: 0, new: 0 };
    sweep({
      img: c.img,
      prepare: (t) => loggedIn(t, c.as.role, c.as.pin),
      act: (t, s) => inSession(t, s, c.command, c.params()),
      ok: (r) => r.status === Status.OK,
      stride: c.stride,
      check: ({ n, after }) => {
        seen[oldOrNewPin(after, n, c.role, c.from, c.to, c.other, c.keyId)]++;
      },
    });
    expect(seen.old, 'cuts that left the old PIN').toBeGreaterThan(0);
    expect(seen.new, 'cuts that left the new PIN').toBeGreaterThan(0);
  }
  return { crypto, boot, image, initializedImage, sweep, sweepPinChange };
}

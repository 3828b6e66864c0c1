// Power cuts at every word of INIT, LOGIN (wrong and right PIN), CHANGE_PIN and UNBLOCK: the device boots, the state is old or new, a PIN always works, and a retry counter never comes back up (docs/security.md §3–§4).
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { field, sweepStride } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { SETTINGS_RECORD, encodeSettings } from '../../firmware/core/auth/access_records.ts';
import {
  CUT_PAGE,
  NEW_PIN,
  SO_PIN,
  USER_PIN,
  WRONG_PIN,
  authCutRig,
  inSession,
  loggedIn,
  login,
  newSession,
  pin,
  tries,
  triesAfterCut,
} from '../helpers/auth-cut.ts';

const { crypto, boot, image, initializedImage, sweep, sweepPinChange } = authCutRig('auth power cut');

/**
 * A small flash, initialized, whose user counter went 8 → 7 → 6 → 5 (the older values are superseded records in the
 * log), filled with label rewrites up to the point where the next wrong-PIN LOGIN has to compact the store first.
 */
function compactingLoginImage(): { img: Uint8Array; pageSize: number } {
  const pageSize = 512;
  const flash = NorFlash.fromBytes(initializedImage(undefined, pageSize, 6), { pageSize });
  for (let i = 0; i < 3; i++) {
    const t = boot(flash); // a restart per try: never 3 in a row
    expect(login(t, Role.USER, WRONG_PIN).statusName).toBe('PIN_INCORRECT');
  }
  for (let i = 0; i < 200; i++) {
    const img = flash.snapshot();
    const probe = NorFlash.fromBytes(img, { pageSize });
    const t = boot(probe);
    const e0 = probe.erases;
    expect(login(t, Role.USER, WRONG_PIN).statusName).toBe('PIN_INCORRECT');
    if (probe.erases > e0) return { img, pageSize };
    // one more record in the log (the label, rewritten), as a device's history would leave
    expect(Store.open(flash).commit([{ key: SETTINGS_RECORD, value: encodeSettings({ label: 'fill ' + i }) }]).ok).toBe(true);
  }
  throw new Error('no LOGIN compacted the store');
}

/** An initialized image holding key 1 (Ed25519), so that a PIN change has a key record to seal again under its new master key. */
function imageWithKey(): Uint8Array {
  return image((t) => {
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'cut' }).status).toBe(Status.OK);
    const r = inSession(t, loggedIn(t, Role.USER, USER_PIN), Command.KEY_GENERATE, { 1: Alg.ED25519 });
    expect([r.status, field(r, 1)]).toEqual([Status.OK, 1]);
  });
}

const isOk = (r: { status: number }) => r.status === Status.OK;
/** The uncut answer of a wrong PIN with tries left. */
const isIncorrect = (r: { statusName: string }) => r.statusName === 'PIN_INCORRECT';

describe('power cuts during the PIN commands', () => {
  it('INIT: cut at every word (every 3rd unless POWERCUT_FULL=1), the device is factory-new (and INIT then works) or fully initialized, never half', () => {
    const img = image();
    const seen = { fresh: 0, done: 0 };
    const r = sweep({
      img,
      prepare: (t) => newSession(t),
      act: (t, s) => inSession(t, s, Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'cut' }),
      ok: isOk,
      stride: sweepStride(3),
      check: ({ n, after }) => {
        const info = after.callClear(Command.INFO);
        if (field(info, 17) === false) {
          seen.fresh++;
          for (const k of [18, 19, 20]) expect(info.map.has(k), 'N=' + n + ' key ' + k).toBe(false);
          expect(inSession(after, newSession(after), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN), 3: 'cut' }).status).toBe(Status.OK);
        } else {
          seen.done++;
          expect([field(info, 18), field(info, 19), field(info, 20)], 'N=' + n).toEqual(['cut', 8, 8]);
        }
        expect(login(after, Role.USER, USER_PIN).status, 'N=' + n).toBe(Status.OK);
        expect(login(after, Role.SO, SO_PIN).status, 'N=' + n).toBe(Status.OK);
      },
    });
    expect(r.cuts).toBeGreaterThan(20);
    // INIT is one transaction whose last word commits it: every cut inside it leaves the device factory-new
    expect(seen.fresh + seen.done).toBe(r.cuts);
    expect(seen.fresh).toBeGreaterThan(0);
  });

  it('LOGIN with a wrong PIN: cut at every word, the counter is unchanged with the PIN never compared, or spent; it never comes back', () => {
    const img = initializedImage();
    const seen = { kept: 0, spent: 0 };
    const r = sweep({
      img,
      prepare: (t) => newSession(t),
      act: (t, s) => inSession(t, s, Command.LOGIN, { 1: Role.USER, 2: pin(WRONG_PIN) }),
      ok: isIncorrect,
      stride: 1,
      check: (c) => {
        if (triesAfterCut(c, Role.USER, 8) === 8) seen.kept++;
        else seen.spent++;
        expect(tries(c.after, Role.SO)).toBe(8);
      },
    });
    // the counter's commit is the LOGIN's only write: a cut anywhere in it keeps the try, and the PIN is not compared
    expect(seen.kept + seen.spent).toBe(r.cuts);
    expect(seen.kept).toBeGreaterThan(0);
  });

  it('LOGIN with a wrong PIN that compacts the store first: cuts at its words (every 2nd unless POWERCUT_FULL=1) and erases never bring back an older counter', () => {
    const { img, pageSize } = compactingLoginImage();
    const r = sweep({
      img,
      pageSize,
      prepare: (t) => newSession(t),
      act: (t, s) => inSession(t, s, Command.LOGIN, { 1: Role.USER, 2: pin(WRONG_PIN) }),
      ok: isIncorrect,
      stride: sweepStride(2),
      eraseFractions: [0.1, 0.5, 0.9],
      check: (c) => {
        triesAfterCut(c, Role.USER, 5); // 8, 7 and 6 are superseded records
        expect(login(c.after, Role.USER, USER_PIN).status, 'N=' + c.n).toBe(Status.OK);
      },
    });
    expect(r.erases).toBeGreaterThan(0);
    expect(r.words).toBeGreaterThan(20);
  });

  it('LOGIN with the right PIN: cut at every word, the counter is spent or reset, and the PIN still logs in', () => {
    const img = initializedImage();
    sweep({
      img,
      prepare: (t) => newSession(t),
      act: (t, s) => inSession(t, s, Command.LOGIN, { 1: Role.USER, 2: pin(USER_PIN) }),
      ok: isOk,
      stride: 1,
      check: ({ n, after }) => {
        expect([7, 8], 'N=' + n).toContain(tries(after, Role.USER));
        expect(login(after, Role.USER, USER_PIN).status, 'N=' + n).toBe(Status.OK);
        expect(tries(after, Role.USER)).toBe(8);
      },
    });
  });

  it('eight wrong PINs, each cut at a different word and followed by a restart, block the user PIN; the counter never goes up', () => {
    const flash = NorFlash.fromBytes(initializedImage(), { pageSize: CUT_PAGE });
    // the word writes of one wrong-PIN LOGIN
    let t = boot(flash);
    const s0 = newSession(t);
    const w0 = flash.wordWrites;
    inSession(t, s0, Command.LOGIN, { 1: Role.USER, 2: pin(WRONG_PIN) });
    const words = flash.wordWrites - w0;
    let last = tries(boot(flash), Role.USER);
    expect(last).toBe(7);
    let attempt = 0;
    while (last > 0) {
      expect(attempt, 'the PIN blocks within a bounded number of tries').toBeLessThan(40);
      t = boot(flash);
      const s = newSession(t);
      const runs = crypto.runs;
      // odd attempts run whole; even ones are cut at each word of the LOGIN in turn
      if (attempt % 2 === 0) flash.cutAfterWords(((attempt / 2) % words) + 1);
      try {
        inSession(t, s, Command.LOGIN, { 1: Role.USER, 2: pin(WRONG_PIN) });
      } catch (e) {
        // the cut
      }
      const compared = crypto.runs > runs;
      flash.powerOn();
      const now = tries(boot(flash), Role.USER);
      expect(now, 'attempt ' + attempt + ': the counter never comes back up').toBeLessThanOrEqual(last);
      if (compared) expect(now, 'attempt ' + attempt + ': a compared PIN is a spent try').toBe(last - 1);
      last = now;
      attempt++;
    }
    t = boot(flash);
    expect(login(t, Role.USER, USER_PIN).statusName).toBe('PIN_BLOCKED');
    expect(inSession(t, loggedIn(t, Role.SO, SO_PIN), Command.UNBLOCK, { 1: pin(NEW_PIN) }).status).toBe(Status.OK);
    expect(login(boot(flash), Role.USER, NEW_PIN).status).toBe(Status.OK);
  });

  // the user PIN changed by the user, and set anew by the SO's UNBLOCK: the same sweep, the same judgement of which PIN works
  for (const c of [
    {
      name: 'CHANGE_PIN',
      command: Command.CHANGE_PIN,
      as: { role: Role.USER, pin: USER_PIN },
      params: () => ({ 1: Role.USER, 2: pin(USER_PIN), 3: pin(NEW_PIN) }),
    },
    { name: 'UNBLOCK', command: Command.UNBLOCK, as: { role: Role.SO, pin: SO_PIN }, params: () => ({ 1: pin(NEW_PIN) }) },
  ])
    it(c.name + ': cut at every word (every 3rd unless POWERCUT_FULL=1), the old user PIN or the new one works, never neither and never both', () => {
      sweepPinChange({ ...c, img: imageWithKey(), stride: sweepStride(3), role: Role.USER, from: USER_PIN, to: NEW_PIN, other: SO_PIN, keyId: 1 });
    });
});

// Power cuts and PIN lockout, what test/unit/core-auth-powercut.test.ts leaves out: the SO's counter, the last try, a right PIN after a cut, 8 wrong PINs with cuts inside tries, cuts between them and the 3-in-a-row lock, CHANGE_PIN of the SO and with a wrong old PIN, UNBLOCK of a blocked PIN (docs/security.md §4).
//
// Every sweep runs a command once uncut to count its word writes, then for each cut point: restores the flash
// image, boots, cuts the power at the n-th word the command writes, powers on, reboots and judges the state. A
// counting Crypto tells whether the PIN was compared (PBKDF2 ran) during the cut command: a compared PIN must be a
// spent try. CI cuts at every word of a LOGIN; the long commands (CHANGE_PIN, UNBLOCK: ~80 words) at every 4th
// word unless POWERCUT_FULL=1 (`npm run test:powercut`).
import { describe, it, expect } from 'vitest';
import { Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { field, sweepStride, type Reply, type TestDevice } from '../helpers/loopback.ts';
import { auditNext, storeState } from '../helpers/audit.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { CUT_PAGE, NEW_PIN, SO_PIN, USER_PIN, WRONG_PIN, authCutRig, inSession, loggedIn, login, pin, tries, triesAfterCut } from '../helpers/auth-cut.ts';

const SEED = 'powercut login';
const { crypto, boot, initializedImage: image, sweep, sweepPinChange } = authCutRig(SEED);
const info = (t: TestDevice) => t.callClear(Command.INFO);

/** `n` wrong PINs for `role`, each after a reboot (so the in-a-row lock never interferes). */
const wrongTries = (role: number, n: number) => (flash: NorFlash) => {
  for (let i = 0; i < n; i++) expect(login(boot(flash), role, WRONG_PIN).status).not.toBe(Status.OK);
};

const isWrong = (r: Reply) => r.statusName === 'PIN_INCORRECT' || r.statusName === 'PIN_BLOCKED';
const isOk = (r: Reply) => r.status === Status.OK;

describe('a wrong PIN cut at every word: the counter never comes back, and the right PIN still works while tries remain', () => {
  it('SO LOGIN with a wrong PIN: SO tries 8 (never compared) or 7, the user counter untouched; the right SO PIN then logs in and restores 8', () => {
    const seen = { kept: 0, spent: 0 };
    const r = sweep({
      img: image(),
      prepare: () => undefined,
      act: (t) => login(t, Role.SO, WRONG_PIN),
      ok: isWrong,
      stride: 1,
      check: (c) => {
        const { n, after } = c;
        const left = triesAfterCut(c, Role.SO, 8);
        if (left === 8) seen.kept++;
        else seen.spent++;
        expect(tries(after, Role.USER), 'N=' + n).toBe(8);
        expect(login(after, Role.SO, SO_PIN).status, 'N=' + n).toBe(Status.OK);
        expect(tries(after, Role.SO), 'N=' + n).toBe(8);
      },
    });
    expect(seen.kept + seen.spent).toBe(r.cuts);
    expect(r.cuts).toBe(r.words);
  });

  it('user LOGIN with a wrong PIN after 2 wrong in a row: the reboot clears the in-a-row count; the right PIN logs in and the counter goes back to 8', () => {
    // 5 tries left, and the device about to lock on this power-on: 2 wrong in a row are in RAM
    const img = image(wrongTries(Role.USER, 3));
    sweep({
      img,
      prepare: (t) => {
        for (const left of [4, 3]) expect(login(t, Role.USER, WRONG_PIN).message).toContain(left + ' tries left');
      },
      act: (t) => login(t, Role.USER, WRONG_PIN),
      ok: isWrong,
      stride: 1,
      check: (c) => {
        const { n, after } = c;
        triesAfterCut(c, Role.USER, 3);
        expect(field(info(after), 21), 'N=' + n + ': a power cycle clears the lock').toBe(false);
        expect(login(after, Role.USER, USER_PIN).status, 'N=' + n).toBe(Status.OK);
        expect(tries(after, Role.USER), 'N=' + n).toBe(8);
      },
    });
  });

  it('the last try: a wrong PIN cut at every word leaves 1 try (the right PIN then logs in) or a blocked PIN (the SO unblocks it), never more', () => {
    const img = image(wrongTries(Role.USER, 7));
    const seen = { one: 0, blocked: 0 };
    sweep({
      img,
      prepare: (t) => expect(tries(t, Role.USER)).toBe(1),
      act: (t) => login(t, Role.USER, WRONG_PIN),
      ok: (r) => r.statusName === 'PIN_BLOCKED',
      stride: 1,
      check: (c) => {
        const { n, after } = c;
        if (triesAfterCut(c, Role.USER, 1) === 1) {
          seen.one++;
          expect(login(after, Role.USER, USER_PIN).status, 'N=' + n).toBe(Status.OK);
          expect(tries(after, Role.USER)).toBe(8);
        } else {
          seen.blocked++;
          expect(login(after, Role.USER, USER_PIN).statusName, 'N=' + n).toBe('PIN_BLOCKED');
          expect(inSession(after, loggedIn(after, Role.SO, SO_PIN), Command.UNBLOCK, { 1: pin(NEW_PIN) }).status).toBe(Status.OK);
          expect(login(after, Role.USER, NEW_PIN).status, 'N=' + n).toBe(Status.OK);
        }
      },
    });
    expect(seen.one).toBeGreaterThan(0);
  });
});

describe('eight wrong user PINs with power cuts inside tries, between them, and the 3-in-a-row lock: the PIN ends blocked', () => {
  it('the counter only ever goes down, by one per try that reached flash, and a compared PIN is always a spent try', () => {
    const flash = NorFlash.fromBytes(image(), { pageSize: CUT_PAGE });
    // the word writes of one wrong user LOGIN and of one right SO LOGIN (the "between" cut)
    const count = (fn: (t: TestDevice) => void): number => {
      const f = NorFlash.fromBytes(flash.snapshot(), { pageSize: CUT_PAGE });
      const t = boot(f);
      const w = f.wordWrites;
      fn(t);
      return f.wordWrites - w;
    };
    const loginWords = count((t) => login(t, Role.USER, WRONG_PIN));
    const soWords = count((t) => login(t, Role.SO, SO_PIN));
    expect(loginWords).toBeGreaterThan(0);
    expect(soWords).toBeGreaterThan(loginWords);

    let t = boot(flash);
    let last = 8;
    let inARow = 0;
    const seen = { whole: 0, cutInside: 0, cutBetween: 0, locked: 0, reboots: 0 };
    const reboot = () => {
      flash.powerOn();
      t = boot(flash, SEED + ' reboot ' + seen.reboots++);
      inARow = 0;
    };
    // whole tries (the 4th in a row meets the lock), cuts inside a try at each of its words in turn, cuts between
    const schedule = ['whole', 'whole', 'whole', 'whole', 'inside', 'whole', 'between', 'inside', 'whole', 'whole', 'between', 'inside'];
    for (let step = 0; last > 0; step++) {
      expect(step, 'the PIN blocks within a bounded number of steps').toBeLessThan(80);
      const kind = schedule[step % schedule.length];
      if (kind === 'between') {
        // between two tries: the power fails while the SO logs in (another counter is being written)
        const soBefore = tries(t, Role.SO);
        flash.cutAfterWords((step % soWords) + 1);
        try {
          login(t, Role.SO, SO_PIN);
        } catch (e) {
          // the cut
        }
        expect(flash.isCut).toBe(true);
        reboot();
        seen.cutBetween++;
        expect(tries(t, Role.USER), 'step ' + step + ': an SO LOGIN cut leaves the user counter alone').toBe(last);
        expect(tries(t, Role.SO)).toBeLessThanOrEqual(soBefore);
        continue;
      }
      const s0 = storeState(flash);
      const n0 = auditNext(flash);
      const runs = crypto.runs;
      let answer: Reply | undefined;
      if (kind === 'inside') {
        // inside a try: cut at each of its words in turn
        flash.cutAfterWords((seen.cutInside % loginWords) + 1);
        try {
          answer = login(t, Role.USER, WRONG_PIN);
        } catch (e) {
          // the cut
        }
        expect(flash.isCut, 'step ' + step).toBe(true);
        reboot();
        seen.cutInside++;
      } else {
        answer = login(t, Role.USER, WRONG_PIN);
        if (inARow >= 3) {
          // locked until a power cycle: nothing is written, nothing compared, nothing spent
          expect(answer.statusName, 'step ' + step).toBe('PIN_LOCKED_UNTIL_POWER_CYCLE');
          // only the refusal's audit entry is written (docs/audit.md §3.1)
          expect(storeState(flash), 'step ' + step).toBe(s0);
          expect(auditNext(flash), 'step ' + step).toBe(n0 + 1);
          expect(crypto.runs).toBe(runs);
          expect(field(info(t), 21)).toBe(true);
          seen.locked++;
          // the lock holds for the right PIN too
          expect(login(t, Role.USER, USER_PIN).statusName).toBe('PIN_LOCKED_UNTIL_POWER_CYCLE');
          reboot();
        } else {
          expect(['PIN_INCORRECT', 'PIN_BLOCKED'], 'step ' + step).toContain(answer.statusName);
          inARow++;
          seen.whole++;
        }
      }
      const now = tries(t, Role.USER);
      const compared = crypto.runs > runs;
      expect(now, 'step ' + step + ': the counter never comes back up').toBeLessThanOrEqual(last);
      expect(now, 'step ' + step + ': one try spends at most one').toBeGreaterThanOrEqual(last - 1);
      if (compared) expect(now, 'step ' + step + ': a compared PIN is a spent try').toBe(last - 1);
      last = now;
    }
    expect(seen.locked).toBeGreaterThan(0);
    expect(seen.cutInside).toBeGreaterThan(0);
    expect(seen.cutBetween).toBeGreaterThan(0);
    // blocked: the right PIN too, after another power cycle as well
    expect(login(t, Role.USER, USER_PIN).statusName).toBe('PIN_BLOCKED');
    reboot();
    expect(tries(t, Role.USER)).toBe(0);
    expect(login(t, Role.USER, USER_PIN).statusName).toBe('PIN_BLOCKED');
    // the SO counter took at most the cuts between tries, and the SO PIN works: it unblocks the user PIN
    expect(inSession(t, loggedIn(t, Role.SO, SO_PIN), Command.UNBLOCK, { 1: pin(NEW_PIN) }).status).toBe(Status.OK);
    reboot();
    expect([tries(t, Role.USER), tries(t, Role.SO)]).toEqual([8, 8]);
    expect(login(t, Role.USER, NEW_PIN).status).toBe(Status.OK);
  });
});

describe('CHANGE_PIN and UNBLOCK cut at every word (every 4th unless POWERCUT_FULL=1): exactly the old or the new PIN works', () => {
  it('CHANGE_PIN of the SO PIN: the old SO PIN or the new one, never both, never neither; the user PIN untouched', () => {
    sweepPinChange({
      img: image(),
      stride: sweepStride(4),
      as: { role: Role.SO, pin: SO_PIN },
      command: Command.CHANGE_PIN,
      params: () => ({ 1: Role.SO, 2: pin(SO_PIN), 3: pin(NEW_PIN) }),
      role: Role.SO,
      from: SO_PIN,
      to: NEW_PIN,
      other: USER_PIN,
    });
  });

  it('CHANGE_PIN with a wrong old PIN, cut at every word: the counter is kept or spent, never back; the old PIN still works, the new one never', () => {
    sweep({
      img: image(),
      prepare: (t) => loggedIn(t, Role.USER, USER_PIN),
      act: (t, s) => inSession(t, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(WRONG_PIN), 3: pin(NEW_PIN) }),
      ok: isWrong,
      stride: 1,
      check: (c) => {
        const { n, after } = c;
        triesAfterCut(c, Role.USER, 8);
        expect(login(after, Role.USER, NEW_PIN).statusName, 'N=' + n).toBe('PIN_INCORRECT');
        expect(login(after, Role.USER, USER_PIN).status, 'N=' + n).toBe(Status.OK);
      },
    });
  });

  it('UNBLOCK of a blocked user PIN: still blocked (old and new PIN refused, 0 tries) or the new PIN works with 8 tries; the SO PIN works either way', () => {
    const img = image(wrongTries(Role.USER, 8));
    const seen = { blocked: 0, new: 0 };
    sweep({
      img,
      prepare: (t) => {
        expect(tries(t, Role.USER)).toBe(0);
        return loggedIn(t, Role.SO, SO_PIN);
      },
      act: (t, s) => inSession(t, s, Command.UNBLOCK, { 1: pin(NEW_PIN) }),
      ok: isOk,
      stride: sweepStride(4),
      check: ({ n, after }) => {
        const left = tries(after, Role.USER);
        if (left === 0) {
          seen.blocked++;
          expect(login(after, Role.USER, NEW_PIN).statusName, 'N=' + n).toBe('PIN_BLOCKED');
          expect(login(after, Role.USER, USER_PIN).statusName, 'N=' + n).toBe('PIN_BLOCKED');
        } else {
          seen.new++;
          expect(left, 'N=' + n).toBe(8);
          expect(login(after, Role.USER, USER_PIN).statusName, 'N=' + n).toBe('PIN_INCORRECT');
          expect(login(after, Role.USER, NEW_PIN).status, 'N=' + n).toBe(Status.OK);
        }
        expect(login(after, Role.SO, SO_PIN).status, 'N=' + n).toBe(Status.OK);
      },
    });
    expect(seen.blocked).toBeGreaterThan(0);
    expect(seen.new).toBeGreaterThan(0);
  });
});

// Power cuts and the audit log (docs/audit.md §1, §3.2): a cut at any word of a recorded command leaves its change and its entry both or neither, the chain verifies after recovery, and the index never goes back.
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role } from '../../firmware/protocol/codes.ts';
import { field, hex, startTestDevice, sweepPoints, sweepStride, type Reply } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { inSession, newSession, pin } from '../helpers/auth-cut.ts';
import { auditEntries } from '../helpers/audit.ts';
import { checkChain, decodeEntry, type AuditEntry } from '../../host/audit.ts';
import { decodeTries, triesRecordKey } from '../../firmware/core/auth/access_records.ts';
import { Store } from '../../firmware/core/store/index.ts';

const PAGE = 2048;
const SEED = 'audit power cuts';

function entries(flash: NorFlash): AuditEntry[] {
  return auditEntries(flash).map(decodeEntry);
}

function userTries(flash: NorFlash): number | undefined {
  const v = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: PAGE })).get(triesRecordKey(Role.USER));
  return v === undefined ? undefined : decodeTries(v);
}

/** An initialized device with one Ed25519 key, its image, and the log's newest index in it. */
function prepared(): { image: Uint8Array; keyId: number } {
  const flash = new NorFlash({ pageSize: PAGE, pageCount: 8 });
  const t = startTestDevice({ flash, seed: SEED });
  const keyId = field<number>(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'cut' }), 1);
  return { image: flash.snapshot(), keyId };
}

interface Case {
  name: string;
  /** Sends the command on a booted device (after whatever session and login it needs) and returns the answer. */
  act: (t: ReturnType<typeof startTestDevice>) => Reply;
  /** Whether the change the command makes is in this flash. */
  changed: (flash: NorFlash, keyId: number) => boolean;
  /** The entry that records the change: it must be in the log exactly when the change is. */
  recordsIt: (e: AuditEntry) => boolean;
  /** The command writes after its commit (a wipe, an outcome entry), so some cut points come after the change landed. */
  landsInSweep: boolean;
}

describe('power cuts during recorded commands: the change and its entry land together, the chain holds, the index never goes back', () => {
  const { image, keyId } = prepared();
  const cases: Case[] = [
    {
      name: 'KEY_GENERATE',
      act: (t) => t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'new' }),
      changed: (flash) => {
        const t = startTestDevice({ flash: NorFlash.fromBytes(flash.snapshot(), { pageSize: PAGE }), seed: SEED + ' probe' });
        return (field<unknown[]>(t.call(Command.KEY_LIST), 1) ?? []).length === 2;
      },
      recordsIt: (e) => e.command === 'KEY_GENERATE' && e.status === 'OK' && e.keyId === keyId + 1,
      landsInSweep: false,
    },
    {
      name: 'KEY_DELETE',
      act: (t) => t.call(Command.KEY_DELETE, { 1: keyId }),
      changed: (flash) => {
        const t = startTestDevice({ flash: NorFlash.fromBytes(flash.snapshot(), { pageSize: PAGE }), seed: SEED + ' probe' });
        return (field<unknown[]>(t.call(Command.KEY_LIST), 1) ?? []).length === 0;
      },
      recordsIt: (e) => e.command === 'KEY_DELETE' && e.status === 'OK' && e.keyId === keyId,
      landsInSweep: true,
    },
    {
      name: 'LOGIN with a wrong PIN (the spent try)',
      act: (t) => inSession(t, newSession(t), Command.LOGIN, { 1: Role.USER, 2: pin('wrong-pin-Kq7') }),
      changed: (flash) => userTries(flash) === 7,
      recordsIt: (e) => e.event === 'pin-try' && e.command === 'LOGIN',
      landsInSweep: true,
    },
  ];

  for (const c of cases)
    it(`${c.name}: cut at every word (every 3rd unless POWERCUT_FULL=1)`, () => {
      // the uncut run: how many words the command writes, after its session and login
      const whole = NorFlash.fromBytes(image, { pageSize: PAGE });
      const t0 = startTestDevice({ flash: whole, seed: SEED });
      t0.ready(c.name === 'KEY_DELETE' ? Command.KEY_DELETE : Command.KEY_GENERATE);
      const w0 = whole.wordWrites;
      const uncut = c.act(t0);
      expect(uncut.statusName, 'the uncut command: ' + uncut.message).toBe(c.name.startsWith('LOGIN') ? 'PIN_INCORRECT' : 'OK');
      const words = whole.wordWrites - w0;
      expect(words).toBeGreaterThan(20);
      // uncut, both landed (a cut at the last word tears that word: the sweep below may never see the change land)
      expect(c.changed(whole, keyId), 'the uncut change').toBe(true);
      expect(entries(whole).some(c.recordsIt), 'the uncut entry').toBe(true);
      let recovered = 0;
      let landed = 0;
      for (const n of sweepPoints(words, sweepStride(3))) {
        const flash = NorFlash.fromBytes(image, { pageSize: PAGE });
        const t = startTestDevice({ flash, seed: SEED });
        t.ready(c.name === 'KEY_DELETE' ? Command.KEY_DELETE : Command.KEY_GENERATE);
        const before = entries(flash);
        const headBefore = before[before.length - 1].index;
        flash.cutAfterWords(n);
        let answer: Reply | undefined;
        try {
          answer = c.act(t);
        } catch {
          // the device went quiet with its flash: never an OK
        }
        expect(flash.isCut, `N=${n}: reached the cut`).toBe(true);
        expect(answer === undefined || answer.status !== 0, `N=${n}: no OK for a cut command`).toBe(true);
        flash.powerOn();
        const t2 = startTestDevice({ flash, seed: SEED + ' after ' + n });
        expect(t2.callClear(Command.INFO).status, `N=${n}: boots`).toBe(0);
        const after = entries(flash);
        // the chain verifies across the cut and the reboot, and its index never went back
        expect(checkChain(after, undefined).problems, `N=${n}: the chain`).toEqual([]);
        expect(after[after.length - 1].index, `N=${n}: the index`).toBeGreaterThan(headBefore);
        // both or neither
        const changed = c.changed(flash, keyId);
        const recorded = after.some((e) => e.index > headBefore && c.recordsIt(e));
        expect([n, recorded], `N=${n}: the entry is there exactly when the change is`).toEqual([n, changed]);
        if (changed) landed++;
        const boot = after.filter((e) => e.index > headBefore && e.event === 'boot');
        expect(boot.length, `N=${n}: the reboot is recorded`).toBe(1);
        if (after.some((e) => e.index > headBefore && e.event === 'recovered')) recovered++;
        // the device goes on, and the log with it
        const next = t2.call(Command.KEY_LIST);
        expect(next.status, `N=${n}: KEY_LIST after recovery`).toBe(0);
        expect(hex(t2.device.deviceId)).toBe(hex(t0.device.deviceId));
      }
      // boots that had something to repair said so; where the command writes on after its commit (a wipe, an outcome
      // entry), some cuts came after the change landed
      expect(recovered).toBeGreaterThan(0);
      if (c.landsInSweep) expect(landed).toBeGreaterThan(0);
    });
});

// The attack on a PIN change from an old flash image (docs/security.md §4, §9): whoever kept a dump from before the change, and knows the PIN of that day, opens no key that exists after it.
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { Store, RecordKind, indexOf } from '../../firmware/core/store/index.ts';
import { decodePinRecord, encodePinRecord, pinRecordKey } from '../../firmware/core/auth/access_records.ts';
import { unlockWithPin } from '../../firmware/core/auth/pin.ts';
import { openKeyRecord } from '../../firmware/core/auth/key_seal.ts';
import { decodeKey, encodeKeyClear } from '../../firmware/core/records.ts';
import { field } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { authCutRig, inSession, loggedIn, newSession, pin } from '../helpers/auth-cut.ts';

const { crypto, boot } = authCutRig('old image attack');
const USER = 'user-Old-pin-11';
const SO = 'so-Old-pin-22';
const NEW = 'user-New-pin-33';

/** Every key record of an image, opened with `master`: how many open (the attacker's yield). */
function keysOpened(img: Uint8Array, master: Uint8Array, deviceId: Uint8Array): { total: number; opened: number } {
  const store = Store.open(NorFlash.fromBytes(img, { pageSize: 2048 }));
  let total = 0;
  let opened = 0;
  for (const key of store.list(RecordKind.KEY)) {
    const k = decodeKey(store.get(key)!, indexOf(key))!;
    total++;
    if (openKeyRecord(crypto, master, { deviceId, keyId: k.id, alg: k.alg, bound: encodeKeyClear(k) }, k.sealed)) opened++;
  }
  return { total, opened };
}

/** The attacker's step: the master key a role's record in `img` gives for `p` (the precondition: the PIN of that image is right). */
function masterFrom(img: Uint8Array, role: number, p: string, deviceId: Uint8Array): Uint8Array {
  const store = Store.open(NorFlash.fromBytes(img, { pageSize: 2048 }));
  const rec = decodePinRecord(store.get(pinRecordKey(role))!, role)!;
  const u = unlockWithPin(crypto, rec, pin(p), deviceId);
  if (!u.ok) throw new Error('the PIN of that day does not open its own image: ' + u.reason);
  return u.value.master;
}

const cases = [
  {
    name: "the user's CHANGE_PIN",
    role: Role.USER,
    old: USER,
    as: { role: Role.USER, pin: USER },
    command: Command.CHANGE_PIN,
    params: { 1: Role.USER, 2: pin(USER), 3: pin(NEW) },
    user: NEW,
    so: SO,
  },
  {
    name: "the SO's UNBLOCK of the user",
    role: Role.USER,
    old: USER,
    as: { role: Role.SO, pin: SO },
    command: Command.UNBLOCK,
    params: { 1: pin(NEW) },
    user: NEW,
    so: SO,
  },
  {
    name: "the SO's CHANGE_PIN",
    role: Role.SO,
    old: SO,
    as: { role: Role.SO, pin: SO },
    command: Command.CHANGE_PIN,
    params: { 1: Role.SO, 2: pin(SO), 3: pin(NEW) },
    user: USER,
    so: NEW,
  },
];

describe('an old flash image and the PIN of its day open no key that exists after a PIN change', () => {
  for (const c of cases)
    it(c.name + ': keys made before and after are sealed under a new master key; the current PINs open them all', () => {
      const flash = new NorFlash({ pageSize: 2048, pageCount: 8 });
      const t = boot(flash);
      expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER), 2: pin(SO) }).status).toBe(Status.OK);
      const u = loggedIn(t, Role.USER, USER);
      expect(field(inSession(t, u, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBe(1);
      const oldImage = flash.snapshot(); // the attacker's dump, taken before the change
      expect(inSession(t, loggedIn(t, c.as.role, c.as.pin), c.command, c.params).status).toBe(Status.OK);
      // a key made after the change, in a session that logged in after it
      const t2 = boot(flash);
      expect(field(inSession(t2, loggedIn(t2, Role.USER, c.user), Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBe(2);
      const newImage = flash.snapshot();
      const deviceId = t2.device.deviceId;

      const stale = masterFrom(oldImage, c.role, c.old, deviceId);
      expect(keysOpened(oldImage, stale, deviceId)).toEqual({ total: 1, opened: 1 }); // the dump of its day: yes
      expect(keysOpened(newImage, stale, deviceId)).toEqual({ total: 2, opened: 0 }); // anything after: nothing
      // while the PINs of today open every key, through either role's record
      for (const [role, p] of [
        [Role.USER, c.user],
        [Role.SO, c.so],
      ] as const)
        expect(keysOpened(newImage, masterFrom(newImage, role, p, deviceId), deviceId), 'role ' + role).toEqual({ total: 2, opened: 2 });
      // and the device itself: the key made before still signs
      expect(inSession(t2, loggedIn(t2, Role.USER, c.user), Command.SIGN, { 1: 1, 2: new Uint8Array([7]) }).status).toBe(Status.OK);
    });

  it('a role record spliced back from the old image logs in with the old PIN but opens no key (the keys are sealed under the new master key)', () => {
    const flash = new NorFlash({ pageSize: 2048, pageCount: 8 });
    const t = boot(flash);
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER), 2: pin(SO) }).status).toBe(Status.OK);
    const u = loggedIn(t, Role.USER, USER);
    expect(field(inSession(t, u, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBe(1);
    const oldRecord = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 2048 })).get(pinRecordKey(Role.USER))!;
    expect(inSession(t, u, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER), 3: pin(NEW) }).status).toBe(Status.OK);
    // someone who can write the flash puts the old user record back
    expect(Store.open(flash).commit([{ key: pinRecordKey(Role.USER), value: oldRecord }]).ok).toBe(true);
    const t2 = boot(flash);
    const s = loggedIn(t2, Role.USER, USER);
    const sign = inSession(t2, s, Command.SIGN, { 1: 1, 2: new Uint8Array([7]) });
    expect(sign.statusName).toBe('INVALID_KEY');
    // and the SO, logged in beside it, finds a master key that differs from the one the old record gave
    const so = newSession(t2);
    expect(inSession(t2, so, Command.LOGIN, { 1: Role.SO, 2: pin(SO) }).statusName).toBe('INTERNAL_ERROR');
    // a PIN change from the spliced record would seal nothing (no key opens under its master key) and drop the SO's
    // envelope of the real one, losing every key: it is refused, and nothing changes
    const image = flash.snapshot();
    const change = inSession(t2, s, Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER), 3: pin('user-Third-pin-44') });
    expect([change.statusName, change.message]).toEqual(['INVALID_KEY', expect.stringMatching(/key 1 is damaged or was altered on flash/)]);
    const t3 = boot(flash);
    expect(inSession(t3, loggedIn(t3, Role.SO, SO), Command.KEY_LIST).status).toBe(Status.OK);
    expect(Store.open(NorFlash.fromBytes(image, { pageSize: 2048 })).get(pinRecordKey(Role.SO))).toEqual(
      Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 2048 })).get(pinRecordKey(Role.SO)),
    );
  });

  it("a public key planted in the SO record by someone without a PIN is not sealed to: the user's PIN change deletes that record instead", () => {
    const flash = new NorFlash({ pageSize: 2048, pageCount: 8 });
    const t = boot(flash);
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER), 2: pin(SO) }).status).toBe(Status.OK);
    const store = Store.open(flash);
    const so = decodePinRecord(store.get(pinRecordKey(Role.SO))!, Role.SO)!;
    const secret = new Uint8Array(32).fill(9);
    const planted = { ...so, rolePublic: crypto.x25519PublicKey(secret) };
    expect(store.commit([{ key: pinRecordKey(Role.SO), value: encodePinRecord(planted) }]).ok).toBe(true);
    const t2 = boot(flash);
    expect(inSession(t2, loggedIn(t2, Role.USER, USER), Command.CHANGE_PIN, { 1: Role.USER, 2: pin(USER), 3: pin(NEW) }).status).toBe(Status.OK);
    const after = Store.open(NorFlash.fromBytes(flash.snapshot(), { pageSize: 2048 }));
    expect(after.get(pinRecordKey(Role.SO))).toBeUndefined();
    const t3 = boot(flash);
    expect(inSession(t3, newSession(t3), Command.LOGIN, { 1: Role.SO, 2: pin(SO) }).statusName).toBe('PIN_BLOCKED');
    expect(inSession(t3, newSession(t3), Command.LOGIN, { 1: Role.USER, 2: pin(NEW) }).status).toBe(Status.OK);
  });
});

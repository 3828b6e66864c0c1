// RESET on a device whose key slots are all used: the one transaction that deletes every key record, both PINs and the officers still fits the store (docs/quorum.md §4).
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role } from '../../firmware/protocol/codes.ts';
import { field, startTestDevice } from '../helpers/loopback.ts';
import { SO_PIN, USER_PIN, inSession, loggedIn, newSession, pin } from '../helpers/auth-cut.ts';

describe('RESET with every key slot used', () => {
  it('erases them all in one transaction, and the device takes keys again after INIT', () => {
    const t = startTestDevice({ autoAuth: false });
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).statusName).toBe('OK');
    const user = loggedIn(t, Role.USER, USER_PIN);
    let made = 0;
    for (;;) {
      const r = inSession(t, user, Command.KEY_GENERATE, { 1: made % 2 === 0 ? Alg.ED25519 : Alg.X25519, 2: 'key ' + made });
      if (r.statusName !== 'OK') {
        expect(r.statusName).toBe('STORAGE_FULL');
        break;
      }
      made++;
    }
    expect(made).toBeGreaterThan(8);
    expect(field<unknown[]>(inSession(t, user, Command.KEY_LIST), 1).length).toBe(made);
    const r = inSession(t, loggedIn(t, Role.SO, SO_PIN), Command.RESET);
    expect(r.statusName, r.message).toBe('OK');
    expect(t.callClear(Command.INFO).map.get(7)).toBe(0);
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).statusName).toBe('OK');
    const u2 = loggedIn(t, Role.USER, USER_PIN);
    expect(inSession(t, u2, Command.KEY_GENERATE, { 1: Alg.ED25519 }).statusName).toBe('OK');
  });
});

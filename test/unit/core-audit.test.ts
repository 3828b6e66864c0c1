// The audit log on a loopback device (docs/audit.md): entries per request, the chain and checkpoint (checked with host/audit.ts on node:crypto), the auditor role, forced audit and its reserve, and what survives a reboot.
import { describe, it, expect } from 'vitest';
import { Alg, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { TEST_SO_PIN_TEXT, TEST_USER_PIN_TEXT, field, startTestDevice, type Reply, type TestDevice } from '../helpers/loopback.ts';
import { inSession, loggedIn, newSession, pin } from '../helpers/auth-cut.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { auditEntries, storeState } from '../helpers/audit.ts';
import { checkChain, checkpointVerifies, decodeEntry, splitEntries, type AuditEntry } from '../../host/audit.ts';
import type { HostSession } from '../../host/session.ts';

const AUDITOR_PIN = 'audit-pin-Wq4z';

function boot(flash: NorFlash, auditCapacity?: number): TestDevice {
  return startTestDevice({ flash, auditCapacity });
}

/** Every entry the device holds, read through AUDIT_READ in a session `s`. */
function readAll(t: TestDevice, s: HostSession): AuditEntry[] {
  const out: AuditEntry[] = [];
  let from = 0;
  for (;;) {
    const r = inSession(t, s, Command.AUDIT_READ, { 1: from });
    expect(r.statusName, r.message).toBe('OK');
    const got = splitEntries(field<Uint8Array>(r, 1));
    out.push(...got);
    const next = field<number>(r, 2);
    if (got.length === 0 || got[got.length - 1].index + 1 >= next) return out;
    from = got[got.length - 1].index + 1;
  }
}

function checkpoint(t: TestDevice, s: HostSession): { next: number; head: Uint8Array; ok: boolean; r: Reply } {
  const nonce = new Uint8Array(32).fill(7);
  const r = inSession(t, s, Command.AUDIT_CHECKPOINT, { 1: nonce });
  expect(r.statusName, r.message).toBe('OK');
  const next = field<number>(r, 1);
  const head = field<Uint8Array>(r, 2);
  const ok = checkpointVerifies(t.device.identityPublicKey!, t.device.deviceId, next, head, nonce, field<Uint8Array>(r, 3));
  return { next, head, ok, r };
}

function setAuditor(t: TestDevice, so: HostSession, extra: object = {}): Reply {
  return inSession(t, so, Command.AUDIT_SET, { 3: pin(AUDITOR_PIN), ...extra });
}

describe('the audit log', () => {
  it('records boot, keygen, sign, a wrong PIN and delete as a chain the signed checkpoint closes', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 16 });
    const t = boot(flash);
    const made = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'audited' });
    const keyId = field<number>(made, 1);
    expect(t.call(Command.SIGN, { 1: keyId, 2: new Uint8Array([1, 2, 3]) }).status).toBe(Status.OK);
    const wrong = inSession(t, newSession(t), Command.LOGIN, { 1: Role.USER, 2: pin('not-the-pin-1') });
    expect(wrong.statusName).toBe('PIN_INCORRECT');
    expect(t.call(Command.KEY_DELETE, { 1: keyId }).status).toBe(Status.OK);
    const s = loggedIn(t, Role.USER, TEST_USER_PIN_TEXT);
    const entries = readAll(t, s);
    const cp = checkpoint(t, s);
    expect(cp.ok).toBe(true);
    expect(cp.next).toBe(entries.length);
    const chain = checkChain(entries, undefined);
    expect(chain.problems).toEqual([]);
    expect(chain.tip!.digest).toBe(Buffer.from(cp.head).toString('hex'));
    const summary = entries.map((e) => [e.event, e.command, e.status, e.keyId]);
    expect(summary[0]).toEqual(['boot', undefined, 'OK', 0]);
    expect(summary).toContainEqual(['request', 'KEY_GENERATE', 'OK', keyId]);
    expect(summary).toContainEqual(['request', 'SIGN', 'OK', keyId]);
    expect(summary).toContainEqual(['request', 'KEY_DELETE', 'OK', keyId]);
    // the wrong PIN: the try spent, then its outcome
    const i = entries.findIndex((e) => e.command === 'LOGIN' && e.status === 'PIN_INCORRECT');
    expect(i).toBeGreaterThan(0);
    expect([entries[i - 1].event, entries[i - 1].command, entries[i].role]).toEqual(['pin-try', 'LOGIN', 'user']);
    // no request that carries a PIN is hashed: a PIN's hash could be guessed offline
    for (const e of entries.filter((x) => x.command === 'LOGIN' || x.command === 'INIT')) expect(e.requestHash).toBe('0'.repeat(64));
    // the SIGN's request hash is SHA-256 of its body
    const sign = entries.find((e) => e.command === 'SIGN')!;
    expect(sign.requestHash).not.toBe('0'.repeat(64));
  });

  it('a refused request is recorded and changes nothing else; reading the log is not recorded', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 16 });
    const t = boot(flash);
    t.call(Command.KEY_LIST);
    const before = storeState(flash);
    const n0 = auditEntries(flash).length;
    const r = t.call(Command.SIGN, { 1: 99, 2: new Uint8Array(1) });
    expect(r.statusName).toBe('KEY_NOT_FOUND');
    expect(storeState(flash)).toBe(before);
    const after = auditEntries(flash).map(decodeEntry);
    expect(after.length).toBe(n0 + 1);
    expect([after[after.length - 1].command, after[after.length - 1].status, after[after.length - 1].keyId]).toEqual(['SIGN', 'KEY_NOT_FOUND', 99]);
    // AUDIT_READ and AUDIT_CHECKPOINT add nothing
    const s = t.session!;
    readAll(t, s);
    checkpoint(t, s);
    expect(auditEntries(flash).length).toBe(n0 + 1);
  });

  it('the log, its head and its capacity survive a reboot, and the new boot chains on', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 16 });
    const t = boot(flash, 64);
    t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 });
    const s = t.session!;
    const first = checkpoint(t, s);
    const t2 = boot(flash, 200); // a new capacity asked for later does not move the slots
    const s2 = loggedIn(t2, Role.USER, TEST_USER_PIN_TEXT);
    const entries = readAll(t2, s2);
    expect(checkChain(entries, undefined).problems).toEqual([]);
    const cp = checkpoint(t2, s2);
    expect(field(cp.r, 6)).toBe(64);
    expect(entries[first.next].event).toBe('boot');
    expect(entries[first.next].prev).toBe(Buffer.from(first.head).toString('hex'));
  });

  it('the ring overwrites its oldest entries when full (no forced audit); AUDIT_READ starts at the oldest held', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 16 });
    const t = boot(flash, 8);
    for (let i = 0; i < 12; i++) t.call(Command.KEY_LIST);
    const s = t.session!;
    const r = inSession(t, s, Command.AUDIT_READ, { 1: 0 });
    const got = splitEntries(field<Uint8Array>(r, 1));
    const next = field<number>(r, 2);
    expect(field<number>(r, 3)).toBe(next - 8);
    expect(got.length).toBe(8);
    expect(got[0].index).toBe(next - 8);
    expect(checkChain(got, undefined).problems).toEqual([]);
    expect(auditEntries(flash).length).toBe(8);
  });

  it('the auditor: set by the SO, reads and acknowledges, opens no key, refused everything else', () => {
    const t = boot(new NorFlash({ pageSize: 4096, pageCount: 16 }));
    t.call(Command.KEY_LIST);
    const user = t.session!; // the user session KEY_LIST logged in
    // no auditor PIN yet
    const idle = newSession(t);
    const none = inSession(t, idle, Command.LOGIN, { 1: Role.AUDITOR, 2: pin(AUDITOR_PIN) });
    expect([none.statusName, none.reason]).toEqual(['OPERATION_NOT_PERMITTED', Reason.NO_AUDITOR]);
    const so = loggedIn(t, Role.SO, TEST_SO_PIN_TEXT);
    expect(inSession(t, so, Command.AUDIT_ACK, { 1: 0 }).statusName).toBe('WRONG_ROLE');
    const weak = inSession(t, so, Command.AUDIT_SET, { 3: pin('aaaaaa') });
    expect(weak.reason).toBe(Reason.PIN_TOO_WEAK);
    expect(setAuditor(t, so).statusName).toBe('OK');
    expect(inSession(t, user, Command.AUDIT_ACK, { 1: 0 }).statusName).toBe('WRONG_ROLE');
    expect(inSession(t, user, Command.AUDIT_SET, { 1: false }).statusName).toBe('WRONG_ROLE');
    expect(inSession(t, so, Command.LOGOUT, {}).statusName).toBe('OK');
    expect(inSession(t, so, Command.LOGIN, { 1: Role.AUDITOR, 2: pin(AUDITOR_PIN) }).statusName).toBe('OK');
    const a = so;
    for (const c of [Command.KEY_LIST, Command.SIGN, Command.KEY_PUBLIC, Command.CHANGE_PIN, Command.AUDIT_SET]) {
      const r = inSession(
        t,
        a,
        c,
        c === Command.SIGN || c === Command.KEY_PUBLIC
          ? { 1: 1, 2: new Uint8Array(1) }
          : c === Command.CHANGE_PIN
            ? { 1: pin(AUDITOR_PIN), 2: pin('Zz9-new-pin-x') }
            : {},
      );
      expect([c, r.statusName]).toEqual([c, 'WRONG_ROLE']);
    }
    const entries = readAll(t, a);
    const last = entries[entries.length - 1].index;
    const ack = inSession(t, a, Command.AUDIT_ACK, { 1: last });
    expect(field(ack, 1)).toBe(last + 1);
    const ahead = inSession(t, a, Command.AUDIT_ACK, { 1: last + 100 });
    expect([ahead.statusName, ahead.reason]).toEqual(['INVALID_PARAMETER', Reason.ACK_AHEAD]);
    // acknowledging less than already acknowledged keeps the mark
    expect(field(inSession(t, a, Command.AUDIT_ACK, { 1: 0 }), 1)).toBe(last + 1);
    expect(field(checkpoint(t, a).r, 5)).toBe(last + 1);
    // a wrong auditor PIN spends one of its tries
    const w = inSession(t, idle, Command.LOGIN, { 1: Role.AUDITOR, 2: pin('wrong-auditor-1') });
    expect([w.statusName, w.args]).toEqual(['PIN_INCORRECT', [Role.AUDITOR, 7]]);
  });

  it('forced audit: with the ring full of unacknowledged entries SIGN is refused; the auditor drains it and SIGN works again', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 16 });
    const t = boot(flash, 24);
    const keyId = field<number>(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1);
    const so = loggedIn(t, Role.SO, TEST_SO_PIN_TEXT);
    // forced audit needs someone who can acknowledge
    expect(inSession(t, so, Command.AUDIT_SET, { 1: true }).reason).toBe(Reason.NO_AUDITOR);
    expect(inSession(t, so, Command.AUDIT_SET, { 2: true }).reason).toBe(Reason.LOCK_NEEDS_FORCED);
    expect(setAuditor(t, so, { 1: true }).statusName).toBe('OK');
    const msg = new Uint8Array([9]);
    let refused: Reply | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = t.call(Command.SIGN, { 1: keyId, 2: msg });
      if (r.status !== Status.OK) refused = r;
    }
    expect(refused, 'SIGN was never refused').toBeDefined();
    expect([refused!.statusName, refused!.reason]).toEqual(['AUDIT_FULL', Reason.AUDIT_LOG_FULL]);
    expect(refused!.args![1]).toBe(24);
    expect(refused!.message).toMatch(/audit pull --ack/);
    const before = auditEntries(flash).map(decodeEntry);
    // the refusal itself has no room, and nothing was overwritten
    expect(t.call(Command.SIGN, { 1: keyId, 2: msg }).statusName).toBe('AUDIT_FULL');
    expect(auditEntries(flash).map(decodeEntry)).toEqual(before);
    // the SO cannot turn it off once locked
    expect(inSession(t, so, Command.AUDIT_SET, { 2: true }).statusName).toBe('OK');
    expect(inSession(t, so, Command.AUDIT_SET, { 1: false }).reason).toBe(Reason.AUDIT_LOCKED);
    // the auditor logs in from the reserve, reads, acknowledges
    const a = loggedIn(t, Role.AUDITOR, AUDITOR_PIN);
    const entries = readAll(t, a);
    expect(checkChain(entries, undefined).problems).toEqual([]);
    expect(entries[0].index).toBe(0); // nothing was overwritten: the oldest entry is still there
    expect(inSession(t, a, Command.AUDIT_ACK, { 1: entries[entries.length - 1].index }).statusName).toBe('OK');
    expect(t.call(Command.SIGN, { 1: keyId, 2: msg }).statusName).toBe('OK');
  });

  it('RESET turns forced audit off and removes the auditor PIN, and the log keeps the RESET', () => {
    const t = boot(new NorFlash({ pageSize: 4096, pageCount: 16 }));
    t.call(Command.KEY_LIST); // INIT
    const so = loggedIn(t, Role.SO, TEST_SO_PIN_TEXT);
    expect(setAuditor(t, so, { 1: true, 2: true }).statusName).toBe('OK');
    expect(inSession(t, so, Command.RESET, {}).statusName).toBe('OK');
    const s = newSession(t);
    expect(inSession(t, s, Command.INIT, { 1: pin(TEST_USER_PIN_TEXT), 2: pin(TEST_SO_PIN_TEXT) }).statusName).toBe('OK');
    const u = loggedIn(t, Role.USER, TEST_USER_PIN_TEXT);
    const cp = checkpoint(t, u);
    expect([field(cp.r, 7), field(cp.r, 8), field(cp.r, 9)]).toEqual([false, false, false]);
    const entries = readAll(t, u);
    expect(checkChain(entries, undefined).problems).toEqual([]);
    expect(entries.some((e) => e.command === 'RESET' && e.status === 'OK')).toBe(true);
  });
});

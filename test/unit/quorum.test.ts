// Officers and approvals on the device (docs/quorum.md): OFFICERS_SET, APPROVAL_CHALLENGE, RESET and loosening KEY_SET_POLICY, each refusal changing nothing; approvals are signed by node:crypto's Ed25519 (an independent implementation).
import { describe, it, expect } from 'vitest';
import { createHash, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import golden from '../vectors/golden-frames.json' with { type: 'json' };
import { Alg, Capability, Command, Role } from '../../firmware/protocol/codes.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import { COMMANDS, MAX_ENVELOPE, MAX_OFFICERS, MAX_OFFICER_LABEL, approvalMessage, approvalParams } from '../../firmware/protocol/commands/index.ts';
import { encodeMessage } from '../../firmware/protocol/schema.ts';
import { renderReason } from '../../host/render.ts';
import { field, startTestDevice, type Reply, type TestDevice } from '../helpers/loopback.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { handlerContext, okOf } from '../helpers/devices.ts';
import { keyGenerate } from '../../firmware/core/commands/key_generate.ts';
import { decodeKey, encodeKeyClear, keyRecordKey } from '../../firmware/core/records.ts';
import { openKeyRecord } from '../../firmware/core/auth/key_seal.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { Officers } from '../../firmware/core/officers.ts';
import { RamFlash } from '../../firmware/core/ram_flash.ts';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { seededRng } from '../helpers/loopback.ts';
import { RecordKind, recordKey } from '../../firmware/core/store/record_keys.ts';
import { SO_PIN, USER_PIN, WRONG_PIN, inSession, loggedIn, newSession, pin } from '../helpers/auth-cut.ts';
import type { HostSession } from '../../host/session.ts';

interface OfficerKey {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

function officerKey(): OfficerKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return { publicKey: new Uint8Array(spki.subarray(spki.length - 32)), privateKey };
}

const OFFICERS = [officerKey(), officerKey(), officerKey()];
/** RFC 8032 §7.1 TEST 1 public key (the golden frames' officer 0). */
const RFC8032_TEST1_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

/** An initialized device with an SO session and a user session, its host doing nothing by itself. */
function device(flash?: NorFlash): { t: TestDevice; so: HostSession; user: HostSession } {
  const t = startTestDevice({ autoAuth: false, flash });
  const s = newSession(t);
  expect(inSession(t, s, Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).statusName).toBe('OK');
  return { t, so: loggedIn(t, Role.SO, SO_PIN), user: loggedIn(t, Role.USER, USER_PIN) };
}

const officerList = (keys: OfficerKey[]) => keys.map((k, i) => ({ publicKey: k.publicKey, label: 'officer-' + i }));

/** Wire params of an OFFICERS_SET for `keys` with threshold m (CBOR keys as the schema gives them). */
function officersParams(m: number, keys: OfficerKey[]): Map<number, unknown> {
  return encodeMessage(COMMANDS[Command.OFFICERS_SET].request, { threshold: m, officers: officerList(keys) }) as Map<number, unknown>;
}

/**
 * Approvals as docs/quorum.md §2 defines them, made here with node:crypto: each signer signs "tinyhsm approval v1" 0x00
 * ‖ device id ‖ challenge ‖ command ‖ SHA-256(params). `request` is the message object (field names) without approvals.
 */
function approve(deviceId: Uint8Array, challenge: Uint8Array, command: number, request: object, signers: [number, OfficerKey][]) {
  const digest = new Uint8Array(createHash('sha256').update(approvalParams(COMMANDS[command].request, request)).digest());
  const msg = approvalMessage(deviceId, challenge, command, digest);
  return signers.map(([officer, k]) => ({ officer, signature: new Uint8Array(nodeSign(null, msg, k.privateKey)) }));
}

/** The request map with challenge and approvals added at their keys. */
function withApprovals(command: number, request: object, challenge: Uint8Array, approvals: { officer: number; signature: Uint8Array }[]): Map<number, unknown> {
  return encodeMessage(COMMANDS[command].request, { ...request, challenge, approvals }) as Map<number, unknown>;
}

function challenge(t: TestDevice, s: HostSession): Uint8Array {
  const r = inSession(t, s, Command.APPROVAL_CHALLENGE);
  expect(r.statusName).toBe('OK');
  return field<Uint8Array>(r, 1);
}

const info = (t: TestDevice) => t.callClear(Command.INFO);
const officersOf = (t: TestDevice) => {
  const r = info(t);
  const list = r.map.get(28) as Map<number, unknown>[] | undefined;
  return { threshold: r.map.get(27), officers: list ? list.map((o) => [Buffer.from(o.get(1) as Uint8Array).toString('hex'), o.get(2)]) : undefined };
};
const refused = (r: Reply, status: string, reason: number) => {
  expect([r.statusName, r.reason], r.message).toEqual([status, reason]);
  expect(renderReason(r.reason, r.args || [])).not.toMatch(/does not know/);
};

/** Enrol OFFICERS[0..n) with threshold m as the first enrolment (the SO alone). */
function enrol(t: TestDevice, so: HostSession, m: number, n = OFFICERS.length) {
  expect(inSession(t, so, Command.OFFICERS_SET, officersParams(m, OFFICERS.slice(0, n))).statusName).toBe('OK');
}

describe('OFFICERS_SET and INFO', () => {
  it('the first enrolment is the SO alone; INFO then shows M and each officer as SHA-256(public key)[0..8] and label', () => {
    const { t, so } = device();
    expect(officersOf(t)).toEqual({ threshold: undefined, officers: undefined });
    enrol(t, so, 2);
    expect(officersOf(t)).toEqual({
      threshold: 2,
      officers: OFFICERS.map((k, i) => [createHash('sha256').update(k.publicKey).digest().subarray(0, 8).toString('hex'), 'officer-' + i]),
    });
  });

  it('refuses a threshold above the officers, a repeated key, the user role and a 17th officer, and changes nothing', () => {
    const { t, so, user } = device();
    refused(inSession(t, so, Command.OFFICERS_SET, officersParams(4, OFFICERS)), 'INVALID_PARAMETER', Reason.THRESHOLD_OUT_OF_RANGE);
    refused(
      inSession(t, so, Command.OFFICERS_SET, officersParams(1, [OFFICERS[0], OFFICERS[1], OFFICERS[0]])),
      'INVALID_PARAMETER',
      Reason.OFFICER_KEY_REPEATED,
    );
    expect(inSession(t, user, Command.OFFICERS_SET, officersParams(1, OFFICERS)).statusName).toBe('WRONG_ROLE');
    const many = Array.from({ length: MAX_OFFICERS + 1 }, () => OFFICERS[0]);
    expect(inSession(t, so, Command.OFFICERS_SET, officersParams(1, many)).statusName).toBe('INVALID_PARAMETER');
    expect(inSession(t, so, Command.OFFICERS_SET, { 1: 0, 2: [] }).statusName).toBe('INVALID_PARAMETER');
    expect(officersOf(t)).toEqual({ threshold: undefined, officers: undefined });
  });

  it('INIT may enrol the officers with the PINs, in one transaction: both fields or neither, checked like OFFICERS_SET, and a refused INIT leaves the device factory-new', () => {
    const t = startTestDevice({ autoAuth: false });
    const s = newSession(t);
    const pins = { 1: pin(USER_PIN), 2: pin(SO_PIN) };
    const list = officerList(OFFICERS).map(
      (o) =>
        new Map<number, unknown>([
          [1, o.publicKey],
          [2, o.label],
        ]),
    );
    const missing = inSession(t, s, Command.INIT, { ...pins, 5: list });
    expect([missing.statusName, missing.args]).toEqual(['MISSING_PARAMETER', [4]]);
    expect(inSession(t, s, Command.INIT, { ...pins, 4: 2 }).args).toEqual([5]);
    refused(inSession(t, s, Command.INIT, { ...pins, 4: 4, 5: list }), 'INVALID_PARAMETER', Reason.THRESHOLD_OUT_OF_RANGE);
    refused(inSession(t, s, Command.INIT, { ...pins, 4: 1, 5: [list[0], list[0]] }), 'INVALID_PARAMETER', Reason.OFFICER_KEY_REPEATED);
    expect([info(t).map.get(17), officersOf(t).threshold]).toEqual([false, undefined]);
    expect(inSession(t, s, Command.INIT, { ...pins, 4: 2, 5: list }).statusName).toBe('OK');
    expect([info(t).map.get(17), officersOf(t).threshold, officersOf(t).officers!.length]).toEqual([true, 2, 3]);
    // no SO-alone change: the officers were there from the start
    refused(inSession(t, loggedIn(t, Role.SO, SO_PIN), Command.OFFICERS_SET, officersParams(1, [OFFICERS[0]])), 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
  });

  it('the largest request (16 officers with 12-byte labels, 16 approvals) fits the smallest packet', () => {
    const keys = Array.from({ length: MAX_OFFICERS }, (_, i) => ({ publicKey: new Uint8Array(32).fill(i + 1), label: 'x'.repeat(MAX_OFFICER_LABEL) }));
    const approvals = keys.map((_, i) => ({ officer: i, signature: new Uint8Array(64).fill(0xee) }));
    const body = cborEncode(encodeMessage(COMMANDS[Command.OFFICERS_SET].request, { threshold: 16, officers: keys, challenge: new Uint8Array(16), approvals }));
    // the inner request (command byte + body) sealed in a SESSION_MESSAGE: MAX_ENVELOPE less the 16-byte tag
    expect(1 + body.length).toBeLessThanOrEqual(MAX_ENVELOPE - 16);
  });
});

describe('approvals (docs/quorum.md §2)', () => {
  it('a change of officers needs M of the current ones: none, fewer than M, then M over a fresh challenge', () => {
    const { t, so } = device();
    enrol(t, so, 2);
    const next = { threshold: 1, officers: officerList([OFFICERS[1]]) };
    const params = officersParams(1, [OFFICERS[1]]);
    refused(inSession(t, so, Command.OFFICERS_SET, params), 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
    const c = challenge(t, so);
    const one = approve(t.device.deviceId, c, Command.OFFICERS_SET, next, [[0, OFFICERS[0]]]);
    const short = inSession(t, so, Command.OFFICERS_SET, withApprovals(Command.OFFICERS_SET, next, c, one));
    refused(short, 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
    expect(short.args).toEqual([Command.OFFICERS_SET, 1, 2]);
    // fewer than M does not use the challenge up: a second officer signs over the same one
    const two = approve(t.device.deviceId, c, Command.OFFICERS_SET, next, [
      [0, OFFICERS[0]],
      [2, OFFICERS[2]],
    ]);
    expect(inSession(t, so, Command.OFFICERS_SET, withApprovals(Command.OFFICERS_SET, next, c, two)).statusName).toBe('OK');
    expect(officersOf(t).threshold).toBe(1);
    expect(officersOf(t).officers!.map((o) => o[1])).toEqual(['officer-0']);
  });

  it('refuses a replayed, duplicated, unknown, wrong-command, wrong-parameters and wrong-device approval, each with its reason, and nothing changes', () => {
    const { t, so } = device();
    enrol(t, so, 2);
    const before = officersOf(t);
    const next = { threshold: 1, officers: officerList([OFFICERS[2]]) };
    const send = (c: Uint8Array, a: { officer: number; signature: Uint8Array }[], req: object = next) =>
      inSession(t, so, Command.OFFICERS_SET, withApprovals(Command.OFFICERS_SET, req, c, a));
    const id = t.device.deviceId;
    const both = (c: Uint8Array, command: number = Command.OFFICERS_SET, req: object = next, dev = id) =>
      approve(dev, c, command, req, [
        [0, OFFICERS[0]],
        [1, OFFICERS[1]],
      ]);

    // no challenge asked for yet
    refused(send(new Uint8Array(16), both(new Uint8Array(16))), 'APPROVAL_INVALID', Reason.NO_CHALLENGE);
    // a challenge that is not the current one: an older one (a new one replaced it), or a replay of a used one
    const old = challenge(t, so);
    challenge(t, so);
    refused(send(old, both(old)), 'APPROVAL_INVALID', Reason.CHALLENGE_MISMATCH);
    // the mismatch used the current challenge up
    refused(send(old, both(old)), 'APPROVAL_INVALID', Reason.NO_CHALLENGE);
    // one officer twice
    let c = challenge(t, so);
    const twice = approve(id, c, Command.OFFICERS_SET, next, [
      [0, OFFICERS[0]],
      [0, OFFICERS[0]],
    ]);
    refused(send(c, twice), 'APPROVAL_INVALID', Reason.OFFICER_TWICE);
    // an officer index the device does not have
    c = challenge(t, so);
    refused(
      send(
        c,
        approve(id, c, Command.OFFICERS_SET, next, [
          [0, OFFICERS[0]],
          [5, OFFICERS[1]],
        ]),
      ),
      'APPROVAL_INVALID',
      Reason.OFFICER_UNKNOWN,
    );
    // signed for RESET, sent with OFFICERS_SET
    c = challenge(t, so);
    const wrongCmd = send(c, both(c, Command.RESET, {}));
    refused(wrongCmd, 'APPROVAL_INVALID', Reason.APPROVAL_BAD_SIGNATURE);
    expect(wrongCmd.args).toEqual([0, Command.OFFICERS_SET]);
    // signed for other parameters (threshold 2), sent with threshold 1
    c = challenge(t, so);
    refused(send(c, both(c, Command.OFFICERS_SET, { ...next, threshold: 2 })), 'APPROVAL_INVALID', Reason.APPROVAL_BAD_SIGNATURE);
    // signed for another device id
    c = challenge(t, so);
    refused(send(c, both(c, Command.OFFICERS_SET, next, new Uint8Array(16).fill(9))), 'APPROVAL_INVALID', Reason.APPROVAL_BAD_SIGNATURE);
    // a signature by a key that is not the officer's, and a malleated one (S + L, which strict verification refuses)
    c = challenge(t, so);
    const forged = approve(id, c, Command.OFFICERS_SET, next, [
      [0, OFFICERS[0]],
      [1, OFFICERS[2]],
    ]);
    refused(send(c, forged), 'APPROVAL_INVALID', Reason.APPROVAL_BAD_SIGNATURE);
    c = challenge(t, so);
    const good = both(c);
    good[1] = { officer: 1, signature: addL(good[1].signature) };
    refused(send(c, good), 'APPROVAL_INVALID', Reason.APPROVAL_BAD_SIGNATURE);
    expect(officersOf(t)).toEqual(before);
    // and the same, honest, goes through
    c = challenge(t, so);
    expect(send(c, both(c)).statusName).toBe('OK');
    expect(officersOf(t).threshold).toBe(1);
  });
});

/** S + L (RFC 8032 §5.1.7: a verifier must refuse S ≥ L); the signature stays 64 bytes because S < 2^253. */
function addL(sig: Uint8Array): Uint8Array<ArrayBuffer> {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  s += L;
  const out = new Uint8Array(sig);
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

describe('RESET (docs/quorum.md §4)', () => {
  it('without officers: refused to the user and to no login; the SO erases keys, PINs and label, and the device is factory-new with its id and identity', () => {
    const { t, so, user } = device();
    const key = field<number>(inSession(t, user, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1);
    refused(inSession(t, user, Command.RESET), 'WRONG_ROLE', Reason.RESET_NEEDS_SO);
    refused(inSession(t, newSession(t), Command.RESET), 'LOGIN_REQUIRED', Reason.RESET_NEEDS_SO);
    expect(info(t).map.get(17)).toBe(true);
    const identity = t.device.identityPublicKey;
    expect(inSession(t, so, Command.RESET).statusName).toBe('OK');
    const after = info(t);
    expect([after.map.get(17), after.map.get(3), after.map.get(10)]).toEqual([false, t.device.deviceId, identity]);
    // every session was logged out: the user session now needs a login, and there is none to have
    expect(inSession(t, user, Command.KEY_LIST).statusName).toBe('NOT_INITIALIZED');
    // it can be initialized again, with new PINs; the old key is gone and its id is not handed out again
    expect(inSession(t, newSession(t), Command.INIT, { 1: pin(USER_PIN), 2: pin(SO_PIN) }).statusName).toBe('OK');
    const u2 = loggedIn(t, Role.USER, USER_PIN);
    expect(field<unknown[]>(inSession(t, u2, Command.KEY_LIST), 1)).toEqual([]);
    expect(field<number>(inSession(t, u2, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1)).toBeGreaterThan(key);
  });

  it('with officers: the SO alone is refused; M approvals with no login reset it, also with a blocked SO PIN; officers are erased too', () => {
    const { t, so, user } = device();
    inSession(t, user, Command.KEY_GENERATE, { 1: Alg.ED25519 });
    enrol(t, so, 2);
    refused(inSession(t, so, Command.RESET), 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
    // the SO PIN runs out
    for (let i = 0; i < 8; i++) {
      const r = inSession(t, newSession(t), Command.LOGIN, { 1: Role.SO, 2: pin(WRONG_PIN) });
      if (r.statusName === 'PIN_LOCKED_UNTIL_POWER_CYCLE') break;
    }
    const anon = newSession(t);
    const c = challenge(t, anon);
    const a = approve(t.device.deviceId, c, Command.RESET, {}, [
      [1, OFFICERS[1]],
      [2, OFFICERS[2]],
    ]);
    expect(inSession(t, anon, Command.RESET, withApprovals(Command.RESET, {}, c, a)).statusName).toBe('OK');
    expect(info(t).map.get(17)).toBe(false);
    expect(officersOf(t)).toEqual({ threshold: undefined, officers: undefined });
  });

  it('a power cut at every word of RESET leaves the old device (PINs and key) or the factory-new one, and no key bytes in flash', () => {
    const flash = new NorFlash({ pageSize: 2048, pageCount: 16 });
    const { t, so } = device(flash);
    const imported = new Uint8Array(32).fill(0x3c);
    expect(inSession(t, so, Command.KEY_IMPORT, { 1: Alg.ED25519, 3: imported }).statusName).toBe('OK');
    const image = flash.snapshot();
    // the sealed key record and both role records (each holds the master key sealed to its PIN) as they sit in flash
    const old = Store.open(NorFlash.fromBytes(image, { pageSize: 2048 }));
    const secrets = [recordKey(RecordKind.ROLE, Role.USER), recordKey(RecordKind.ROLE, Role.SO), ...old.list(RecordKind.KEY)].map((k) =>
      Buffer.from(old.get(k)!),
    );
    expect(secrets.length).toBe(3);
    const seen = cutEveryWord(
      flash,
      image,
      (d, s) => () => inSession(d, s, Command.RESET),
      (t2, n) => {
        if (info(t2).map.get(17)) {
          const u = loggedIn(t2, Role.USER, USER_PIN);
          expect(field<unknown[]>(inSession(t2, u, Command.KEY_LIST), 1).length, `cut ${n}`).toBe(1);
          return 'old';
        }
        const raw = Buffer.from(flash.snapshot());
        for (const v of secrets) expect(raw.indexOf(v), `cut ${n}: a sealed record is still in flash`).toBe(-1);
        return 'new';
      },
    );
    // the commit marker comes before the old records are overwritten with zeros: cuts there leave the new device
    expect([...seen].sort()).toEqual(['new', 'old']);
  });
});

/**
 * Boot `image`, log in as SO, let `prepare` make the request (a challenge and approvals may be asked for first), and
 * run it once whole to count the words it writes; then, for every word n, boot `image` again, prepare, cut the power
 * at word n of the request, boot once more and hand that device to `check`, which names the state it found.
 */
function cutEveryWord(
  flash: NorFlash,
  image: Uint8Array,
  prepare: (t: TestDevice, so: HostSession) => () => Reply,
  check: (t: TestDevice, n: number) => string,
): Set<string> {
  const boot = () => {
    flash.restore(image);
    flash.powerOn();
    const t = startTestDevice({ autoAuth: false, flash });
    return prepare(t, loggedIn(t, Role.SO, SO_PIN));
  };
  const whole = boot();
  const w0 = flash.wordWrites;
  expect(whole().statusName).toBe('OK');
  const words = flash.wordWrites - w0;
  expect(words).toBeGreaterThan(0);
  const seen = new Set<string>();
  for (let n = 1; n <= words; n++) {
    const send = boot();
    flash.cutAfterWords(n);
    try {
      send();
    } catch {
      // the board lost power mid-write
    }
    flash.powerOn();
    const t2 = startTestDevice({ autoAuth: false, flash });
    expect(t2.device.skippedRecords, `cut ${n}`).toBe(0);
    seen.add(check(t2, n));
  }
  return seen;
}

describe('a power cut during an officer change', () => {
  it('at every word of an approved OFFICERS_SET leaves the old officers or the new ones, never a mix or none', () => {
    const flash = new NorFlash({ pageSize: 2048, pageCount: 16 });
    const { t, so } = device(flash);
    enrol(t, so, 2);
    const oldView = officersOf(t);
    const image = flash.snapshot();
    const next = { threshold: 1, officers: officerList([OFFICERS[2]]) };
    const newView = { threshold: 1, officers: [oldView.officers![2]] };
    const seen = cutEveryWord(
      flash,
      image,
      (d, s) => {
        const c = challenge(d, s);
        const a = approve(d.device.deviceId, c, Command.OFFICERS_SET, next, [
          [0, OFFICERS[0]],
          [1, OFFICERS[1]],
        ]);
        return () => inSession(d, s, Command.OFFICERS_SET, withApprovals(Command.OFFICERS_SET, next, c, a));
      },
      (t2, n) => {
        const view = officersOf(t2);
        if (JSON.stringify(view) === JSON.stringify(oldView)) return 'old';
        expect(view, `cut ${n}`).toEqual({ ...newView, officers: newView.officers.map((o) => [o[0], 'officer-0']) });
        return 'new';
      },
    );
    // the commit marker is the transaction's last word: a cut at any word, that one included, leaves the old officers
    expect([...seen]).toEqual(['old']);
  });
});

describe('loosening a policy (docs/quorum.md §3)', () => {
  it('without officers it is refused; with officers it needs M approvals over the exact change, and then it is done', () => {
    const { t, so, user } = device();
    const id = field<number>(inSession(t, user, Command.KEY_GENERATE, { 1: Alg.ED25519, 3: Capability.SIGN }), 1);
    expect(inSession(t, user, Command.KEY_SET_POLICY, { 1: id, 2: 0 }).statusName).toBe('OK');
    const back = { keyId: id, capabilities: Capability.SIGN };
    refused(inSession(t, user, Command.KEY_SET_POLICY, { 1: id, 2: Capability.SIGN }), 'POLICY_LOOSENING', Reason.POLICY_LOOSENS);
    enrol(t, so, 2);
    refused(inSession(t, user, Command.KEY_SET_POLICY, { 1: id, 2: Capability.SIGN }), 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
    // approvals for another key id do not loosen this one
    let c = challenge(t, user);
    const other = approve(t.device.deviceId, c, Command.KEY_SET_POLICY, { ...back, keyId: id + 1 }, [
      [0, OFFICERS[0]],
      [1, OFFICERS[1]],
    ]);
    refused(
      inSession(t, user, Command.KEY_SET_POLICY, withApprovals(Command.KEY_SET_POLICY, back, c, other)),
      'APPROVAL_INVALID',
      Reason.APPROVAL_BAD_SIGNATURE,
    );
    expect(inSession(t, user, Command.SIGN, { 1: id, 2: new Uint8Array([1]) }).statusName).toBe('POLICY_DENIED');
    c = challenge(t, user);
    const a = approve(t.device.deviceId, c, Command.KEY_SET_POLICY, back, [
      [0, OFFICERS[0]],
      [1, OFFICERS[1]],
    ]);
    const r = inSession(t, user, Command.KEY_SET_POLICY, withApprovals(Command.KEY_SET_POLICY, back, c, a));
    expect(r.statusName, r.message).toBe('OK');
    expect(inSession(t, user, Command.SIGN, { 1: id, 2: new Uint8Array([1]) }).statusName).toBe('OK');
    // a capability the algorithm cannot have is refused even with approvals
    c = challenge(t, user);
    const bad = { keyId: id, capabilities: Capability.DERIVE };
    const b = approve(t.device.deviceId, c, Command.KEY_SET_POLICY, bad, [
      [0, OFFICERS[0]],
      [1, OFFICERS[1]],
    ]);
    expect(inSession(t, user, Command.KEY_SET_POLICY, withApprovals(Command.KEY_SET_POLICY, bad, c, b)).statusName).toBe('INVALID_PARAMETER');
  });
});

describe('protected keys (docs/quorum.md §3)', () => {
  it('a protected key: listed as such; without officers it cannot be deleted or unprotected; with them, only by M approvals over its id', () => {
    const { t, so, user } = device();
    const id = field<number>(inSession(t, user, Command.KEY_GENERATE, { 1: Alg.ED25519, 6: true }), 1);
    const plain = field<number>(inSession(t, user, Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1);
    const listed = new Map(field<Map<number, unknown>[]>(inSession(t, user, Command.KEY_LIST), 1).map((e) => [e.get(1), e.get(11)]));
    expect([listed.get(id), listed.get(plain)]).toEqual([true, undefined]);
    expect([inSession(t, user, Command.KEY_PUBLIC, { 1: id }).map.get(10), inSession(t, user, Command.KEY_PUBLIC, { 1: plain }).map.get(10)]).toEqual([
      true,
      undefined,
    ]);
    refused(inSession(t, user, Command.KEY_DELETE, { 1: id }), 'POLICY_DENIED', Reason.KEY_PROTECTED);
    const loose = inSession(t, user, Command.KEY_SET_POLICY, { 1: id, 7: false });
    refused(loose, 'POLICY_LOOSENING', Reason.POLICY_LOOSENS);
    expect(loose.args).toEqual([id, 0, 4]);
    // protecting is a tightening: the user alone
    const tightened = inSession(t, user, Command.KEY_SET_POLICY, { 1: plain, 7: true });
    expect([tightened.statusName, tightened.map.get(6)]).toEqual(['OK', true]);
    enrol(t, so, 2);
    refused(inSession(t, user, Command.KEY_DELETE, { 1: id }), 'APPROVAL_REQUIRED', Reason.APPROVALS_SHORT);
    // approvals to delete the other protected key do not delete this one
    let c = challenge(t, user);
    const other = approve(t.device.deviceId, c, Command.KEY_DELETE, { keyId: plain }, [
      [0, OFFICERS[0]],
      [1, OFFICERS[1]],
    ]);
    refused(
      inSession(t, user, Command.KEY_DELETE, withApprovals(Command.KEY_DELETE, { keyId: id }, c, other)),
      'APPROVAL_INVALID',
      Reason.APPROVAL_BAD_SIGNATURE,
    );
    expect(inSession(t, user, Command.KEY_PUBLIC, { 1: id }).statusName).toBe('OK');
    c = challenge(t, user);
    const a = approve(t.device.deviceId, c, Command.KEY_DELETE, { keyId: id }, [
      [1, OFFICERS[1]],
      [2, OFFICERS[2]],
    ]);
    expect(inSession(t, user, Command.KEY_DELETE, withApprovals(Command.KEY_DELETE, { keyId: id }, c, a)).statusName).toBe('OK');
    expect(inSession(t, user, Command.KEY_PUBLIC, { 1: id }).statusName).toBe('KEY_NOT_FOUND');
    // and unprotecting the other with approvals makes it an ordinary key again
    c = challenge(t, user);
    const un = approve(t.device.deviceId, c, Command.KEY_SET_POLICY, { keyId: plain, protected: false }, [
      [0, OFFICERS[0]],
      [2, OFFICERS[2]],
    ]);
    const r = inSession(t, user, Command.KEY_SET_POLICY, withApprovals(Command.KEY_SET_POLICY, { keyId: plain, protected: false }, c, un));
    expect([r.statusName, r.map.get(6)]).toEqual(['OK', undefined]);
    expect(inSession(t, user, Command.KEY_DELETE, { 1: plain }).statusName).toBe('OK');
  });

  it('the flag is part of what the sealed private key is bound to: a record with it removed in flash does not open', () => {
    const h = handlerContext({ login: true });
    const k = okOf(keyGenerate(h.ctx, { alg: Alg.ED25519, protected: true }));
    const rec = decodeKey(h.ctx.store.get(keyRecordKey(k.keyId))!, k.keyId)!;
    expect(rec.policy.protected).toBe(true);
    const open = (meta: typeof rec) =>
      openKeyRecord(h.ctx.env.crypto, h.masterKey!, { deviceId: h.ctx.deviceId, keyId: meta.id, alg: meta.alg, bound: encodeKeyClear(meta) }, meta.sealed);
    expect(open(rec)).toBeDefined();
    expect(open({ ...rec, policy: { ...rec.policy, protected: undefined } })).toBeUndefined();
  });
});

describe('the approval format (docs/quorum.md §2 worked example)', () => {
  it('is 85 bytes: domain, zero, device id, challenge, command, SHA-256 of the parameters without challenge and approvals', () => {
    const params = approvalParams(COMMANDS[Command.RESET].request, { challenge: new Uint8Array(16), approvals: [] });
    expect(Buffer.from(params).toString('hex')).toBe('a0');
    // docs/quorum.md §5's second example
    const policy = approvalParams(COMMANDS[Command.KEY_SET_POLICY].request, { keyId: 7, capabilities: 0x11 });
    expect(Buffer.from(policy).toString('hex')).toBe('a201070211');
    expect(createHash('sha256').update(policy).digest('hex')).toBe('da072d6c0b1bc8ad1d5bd0944064c93429bc7b8073967c53c9da96513fb3a294');
    const msg = approvalMessage(new Uint8Array(16).fill(0x11), new Uint8Array(16).fill(0x22), Command.RESET, new Uint8Array(32).fill(0x33));
    expect(msg.length).toBe(85);
    expect(Buffer.from(msg.subarray(0, 20)).toString()).toBe('tinyhsm approval v1\0');
    expect([msg[20], msg[36], msg[52], msg[53]]).toEqual([0x11, 0x22, Command.RESET, 0x33]);
  });

  it('the golden RESET request carries an approval that node:crypto verifies with the RFC 8032 TEST 1 public key over the documented message', () => {
    const g = golden.frames.find((f) => f.name === 'RESET request (approved by officer 0)')!;
    const fields = g.fields as { challenge: { hex: string }; approvals: { officer: number; signature: { hex: string } }[] };
    // docs/quorum.md §5: device id 00..0f (the attestation example's), the challenge of the APPROVAL_CHALLENGE example, RESET, SHA-256(a0)
    const msg = Buffer.concat([
      Buffer.from('tinyhsm approval v1\0'),
      Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'),
      Buffer.from(fields.challenge.hex, 'hex'),
      Buffer.from([0x17]),
      createHash('sha256').update(Buffer.from('a0', 'hex')).digest(),
    ]);
    expect(msg.length).toBe(85);
    const pub = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(RFC8032_TEST1_PUB, 'hex')]),
      format: 'der',
      type: 'spki',
    });
    expect(nodeVerify(null, msg, pub, Buffer.from(fields.approvals[0].signature.hex, 'hex'))).toBe(true);
    expect(fields.approvals[0].officer).toBe(0);
  });

  it('with no officers enrolled, check() approves nothing, not even an empty list over the current challenge', () => {
    const o = Officers.load(Store.open(new RamFlash()));
    const challenge = o.newChallenge(seededRng('no officers'));
    const r = o.check(createNobleCrypto(), new Uint8Array(16), Command.BACKUP_EXPORT, COMMANDS[Command.BACKUP_EXPORT].request, { challenge, approvals: [] });
    expect(r).toEqual({ ok: false, status: Status.OPERATION_NOT_PERMITTED, reason: Reason.NO_OFFICERS, args: [Command.BACKUP_EXPORT] });
  });
});

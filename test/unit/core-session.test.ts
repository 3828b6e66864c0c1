// The secure session from the negative side (docs/protocol.md §6): the gate, replay, tampering, limits, close, nesting; the host side is node:crypto (host/session.ts).
import { describe, it, expect } from 'vitest';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { Alg, Command, FrameType, Status } from '../../firmware/protocol/codes.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { encodeFrame } from '../../firmware/protocol/frame.ts';
import type { Crypto } from '../../firmware/hal/index.ts';
import { SessionHandshake, sessionTranscript, type HostSession } from '../../host/session.ts';
import { TEST_USER_PIN, field, hex, nobleCrypto, requestBodyOf, startTestDevice, type Reply, type TestDevice } from '../helpers/loopback.ts';

const ED_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const edKey = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([ED_SPKI, pub]), format: 'der', type: 'spki' });

/** Every command except the four that may come in the clear, with parameters that would succeed inside a session. */
const GATED: [string, number, object][] = [
  ['RANDOM', Command.RANDOM, { 1: 16 }],
  ['KEY_GENERATE', Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'x' }],
  ['KEY_IMPORT', Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(7) }],
  ['KEY_LIST', Command.KEY_LIST, {}],
  ['KEY_PUBLIC', Command.KEY_PUBLIC, { 1: 1 }],
  ['KEY_DELETE', Command.KEY_DELETE, { 1: 1 }],
  ['SIGN', Command.SIGN, { 1: 1, 2: new Uint8Array([1, 2, 3]) }],
  ['ECDH', Command.ECDH, { 1: 1, 2: new Uint8Array(32).fill(9) }],
  ['SESSION_CLOSE', Command.SESSION_CLOSE, {}],
  // docs/security.md §2: the PIN commands need a session too (a PIN never travels in the clear)
  ['INIT', Command.INIT, { 1: new Uint8Array(Buffer.from('user-pin-1')), 2: new Uint8Array(Buffer.from('so-pin-22')) }],
  ['LOGIN', Command.LOGIN, { 1: 1, 2: new Uint8Array(Buffer.from('test-user-pin-0001')) }],
  ['LOGOUT', Command.LOGOUT, {}],
  ['CHANGE_PIN', Command.CHANGE_PIN, { 1: 1, 2: new Uint8Array(Buffer.from('test-user-pin-0001')), 3: new Uint8Array(Buffer.from('new-pin-1')) }],
  ['UNBLOCK', Command.UNBLOCK, { 1: new Uint8Array(Buffer.from('new-pin-1')) }],
  ['KEY_ATTEST', Command.KEY_ATTEST, { 1: 1, 2: new Uint8Array(16).fill(1) }],
  ['KEY_SET_POLICY', Command.KEY_SET_POLICY, { 1: 1, 4: true }],
];

function keyCount(t: TestDevice): number {
  return field<number>(t.callClear(Command.INFO), 7);
}

/**
 * Seal `body` in the test host's session without sending it. The session is one the command may run in (docs/security.md
 * §2): t.ready() INITs the device and logs the session in as the command's gate needs, as call() would.
 */
function seal(t: TestDevice, command: number, params?: object): { sessionId: number; counter: number; ciphertext: Uint8Array } {
  t.ready(command);
  return (t.session as HostSession).seal(requestBodyOf(command, params), 0);
}

function sendEnvelope(t: TestDevice, e: { sessionId: number; counter: number; ciphertext: Uint8Array }): Reply {
  return t.callClear(Command.SESSION_MESSAGE, { 1: e.sessionId, 2: e.counter, 3: e.ciphertext });
}

/** Send a command in the given session; the inner status, or the outer one when the envelope was refused. */
function inSession(t: TestDevice, s: HostSession, command: number, params: object): number {
  const r = sendEnvelope(t, s.seal(requestBodyOf(command, params), 0));
  if (r.status !== Status.OK) return r.status;
  return s.open(field<number>(r, 1), field<Uint8Array>(r, 2))[0];
}

describe('the gate: everything except INFO, ECHO and SESSION_OPEN needs a session', () => {
  it.each(GATED)('%s in the clear → SESSION_REQUIRED, and it does not execute', (_name, code, params) => {
    const t = startTestDevice();
    // a key to act on, made inside a session
    const k = t.call(Command.KEY_GENERATE, { 1: Alg.X25519, 2: 'target' });
    expect(k.status).toBe(Status.OK);
    const list = hex(t.call(Command.KEY_LIST).frame.body);
    const rngCalls = (t.link.env.rng as unknown as { calls: number }).calls;
    const r = t.callClear(code, params);
    expect(r.statusName).toBe('SESSION_REQUIRED');
    expect(r.message).toMatch(/needs a secure session.*SESSION_OPEN/);
    // nothing happened: same keys, no random bytes drawn, and the session still works
    expect((t.link.env.rng as unknown as { calls: number }).calls).toBe(rngCalls);
    expect(keyCount(t)).toBe(1);
    expect(hex(t.call(Command.KEY_LIST).frame.body)).toBe(list);
  });

  it('KEY_GENERATE in the clear makes no key on a fresh device; INFO and ECHO work in the clear', () => {
    const t = startTestDevice();
    expect(t.callClear(Command.KEY_GENERATE, { 1: Alg.ED25519 }).statusName).toBe('SESSION_REQUIRED');
    expect(keyCount(t)).toBe(0);
    expect(t.callClear(Command.INFO).status).toBe(Status.OK);
    expect(hex(field<Uint8Array>(t.callClear(Command.ECHO, { 1: new Uint8Array([5]) }), 1))).toBe('05');
  });

  it('INFO and ECHO also work inside a session, and an inner error is an outer OK carrying the inner status', () => {
    const t = startTestDevice();
    t.ready(Command.KEY_PUBLIC); // a session logged in as user, so that KEY_PUBLIC passes the gate and reaches its handler
    expect(t.session).toBeDefined();
    const echo = t.openReply(t.raw(t.sealedFrame(Command.ECHO, { 1: new Uint8Array([1, 2]) }))[0]);
    expect(echo.status).toBe(Status.OK);
    expect(hex(field<Uint8Array>(echo, 1))).toBe('0102');
    const info = t.openReply(t.raw(t.sealedFrame(Command.INFO))[0]);
    expect(hex(field<Uint8Array>(info, 3))).toBe(hex(t.device.deviceId));
    const outer = t.raw(t.sealedFrame(Command.KEY_PUBLIC, { 1: 99 }))[0];
    expect(outer.status).toBe(Status.OK);
    const inner = t.openReply(outer);
    expect(inner.statusName).toBe('KEY_NOT_FOUND');
  });
});

describe('SESSION_OPEN', () => {
  it('the identity signature over the transcript verifies with node:crypto against the identityPublicKey INFO reports', () => {
    const t = startTestDevice();
    const info = t.callClear(Command.INFO);
    const identity = field<Uint8Array>(info, 10);
    const deviceId = field<Uint8Array>(info, 3);
    const hs = SessionHandshake.create();
    const r = t.callClear(Command.SESSION_OPEN, { 1: hs.hostEphemeral });
    expect(r.status).toBe(Status.OK);
    const sessionId = field<number>(r, 1);
    const deviceEph = field<Uint8Array>(r, 2);
    expect(hex(field<Uint8Array>(r, 4))).toBe(hex(deviceId));
    expect(hex(field<Uint8Array>(r, 5))).toBe(hex(identity));
    // the transcript built by hand (docs/session.md §2), not by any of our session code
    const transcript = Buffer.concat([Buffer.from('tinyhsm/session/v1'), deviceId, hs.hostEphemeral, deviceEph, Buffer.from([sessionId])]);
    expect(transcript.length).toBe(99);
    expect(hex(transcript)).toBe(hex(sessionTranscript(deviceId, hs.hostEphemeral, deviceEph, sessionId)));
    expect(nodeVerify(null, transcript, edKey(identity), field<Uint8Array>(r, 3))).toBe(true);
    // a flipped transcript byte does not verify: the check above can fail
    transcript[98] ^= 1;
    expect(nodeVerify(null, transcript, edKey(identity), field<Uint8Array>(r, 3))).toBe(false);
    // and the keys agree: the host session carries a request
    const s = hs.finish(deviceId, identity, { sessionId, deviceEphemeral: deviceEph, signature: field<Uint8Array>(r, 3) }, { now: 0 });
    const e = s.seal(requestBodyOf(Command.RANDOM, { 1: 8 }), 0);
    const out = sendEnvelope(t, e);
    expect(out.status).toBe(Status.OK);
    const inner = s.open(field<number>(out, 1), field<Uint8Array>(out, 2));
    expect(inner[0]).toBe(Status.OK);
  });

  it('a low-order host key is refused with INVALID_PARAMETER and opens nothing', () => {
    const t = startTestDevice({ sessionLimits: { maxSessions: 1 } });
    const r = t.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32) }); // u = 0: the all-zero result (RFC 7748 §6.1)
    expect(r.statusName).toBe('INVALID_PARAMETER');
    expect(r.message).toMatch(/low-order/);
    expect(t.openSession().status).toBe(Status.OK); // the one slot is still free
  });

  it('a 5th session while 4 logged-in sessions are live → SESSION_LIMIT; closing one frees its slot', () => {
    const t = startTestDevice();
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK); // INIT, and a first session logged in as the user
    const ids = [(t.session as HostSession).sessionId];
    for (let i = 0; i < 3; i++) {
      const r = t.openSession();
      expect(r.status).toBe(Status.OK);
      ids.push(field<number>(r, 1));
      expect(inSession(t, t.session as HostSession, Command.LOGIN, { 1: 1, 2: new Uint8Array(TEST_USER_PIN) })).toBe(Status.OK);
    }
    expect(new Set(ids).size).toBe(4);
    const fifth = t.callClear(Command.SESSION_OPEN, { 1: SessionHandshake.create().hostEphemeral });
    expect(fifth.statusName).toBe('SESSION_LIMIT');
    expect(fifth.message).toMatch(/all 4 sessions are in use/);
    // the last opened session (t.session) is still usable and closes
    expect(t.call(Command.SESSION_CLOSE).status).toBe(Status.OK);
    expect(t.openSession().status).toBe(Status.OK);
  });

  it('sessions that never log in cannot lock the owner out: a full table gives the oldest not-logged-in slot to a new session, never a logged-in one', () => {
    const t = startTestDevice();
    // the owner's session, logged in
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK);
    const owner = t.session as HostSession;
    // an attacker on the link fills the other three slots and keeps them alive with a sealed ECHO
    const attacker: HostSession[] = [];
    for (let i = 0; i < 3; i++) {
      expect(t.openSession().status).toBe(Status.OK);
      attacker.push(t.session as HostSession);
      expect(inSession(t, t.session as HostSession, Command.ECHO, { 1: new Uint8Array([i]) })).toBe(Status.OK);
    }
    // a bad SESSION_OPEN (low-order key) evicts nobody
    expect(t.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32) }).statusName).toBe('INVALID_PARAMETER');
    for (const a of attacker) expect(inSession(t, a, Command.ECHO, { 1: new Uint8Array([9]) }), `session ${a.sessionId} still there`).toBe(Status.OK);
    // a new session (the owner's second host) takes the slot of the oldest session that has not logged in
    expect(t.openSession().status).toBe(Status.OK);
    const gone = sendEnvelope(t, attacker[0].seal(requestBodyOf(Command.ECHO, { 1: new Uint8Array([1]) }), 0));
    expect(gone.statusName).toBe('SESSION_INVALID');
    expect(gone.message).toMatch(/ended to make room for a new session because it had not logged in/);
    for (const a of attacker.slice(1)) expect(inSession(t, a, Command.ECHO, { 1: new Uint8Array([2]) })).toBe(Status.OK);
    // more opens take the other slots that are not logged in, never the owner's
    for (let i = 0; i < 4; i++) expect(t.openSession().status).toBe(Status.OK);
    expect(inSession(t, owner, Command.KEY_LIST, {})).toBe(Status.OK);
  });

  it('a device without Ed25519 (as on Espruino) refuses SESSION_OPEN with UNSUPPORTED_ALGORITHM, so gated commands stay refused', () => {
    const c = nobleCrypto();
    const broken: Crypto = {
      ...c,
      ed25519Sign: (m: Uint8Array, s: Uint8Array) => {
        const sig = c.ed25519Sign(m, s);
        sig[0] ^= 1; // the self-test fails: Ed25519 is not offered, no identity is made
        return sig;
      },
    };
    const t = startTestDevice({ crypto: broken });
    expect(t.device.identityPublicKey).toBeUndefined();
    const r = t.callClear(Command.SESSION_OPEN, { 1: SessionHandshake.create().hostEphemeral });
    expect(r.statusName).toBe('UNSUPPORTED_ALGORITHM');
    expect(r.message).toMatch(/Ed25519 is not offered.*only INFO, ECHO and RANDOM/);
    expect(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256 }).statusName).toBe('SESSION_REQUIRED');
    expect(t.call(Command.ECHO, { 1: new Uint8Array([1]) }).status).toBe(Status.OK);
  });

  it('SESSION_OPEN or SESSION_MESSAGE inside a session → INVALID_COMMAND (no nesting), sealed', () => {
    const t = startTestDevice();
    const a = t.call(Command.SESSION_OPEN, { 1: SessionHandshake.create().hostEphemeral }); // call() sends it in the clear
    expect(a.status).toBe(Status.OK);
    expect(t.openSession().status).toBe(Status.OK);
    for (const [code, params] of [
      [Command.SESSION_OPEN, { 1: SessionHandshake.create().hostEphemeral }],
      [Command.SESSION_MESSAGE, { 1: 1, 2: 1, 3: new Uint8Array(16) }],
    ] as const) {
      const outer = t.raw(t.sealedFrame(code, params))[0];
      expect(outer.status).toBe(Status.OK);
      const inner = t.openReply(outer);
      expect(inner.statusName).toBe('INVALID_COMMAND');
      expect(inner.message).toMatch(/no nesting/);
    }
  });
});

describe('envelopes: replay, reorder, tampering', () => {
  it('the same envelope under a new seq is a replay → SESSION_AUTH_FAILED and does not execute; the same frame again gets the cached answer', () => {
    const t = startTestDevice();
    const e = seal(t, Command.KEY_GENERATE, { 1: Alg.ED25519 });
    const q = t.nextSeq();
    const first = t.raw(t.requestFrame(Command.SESSION_MESSAGE, { 1: e.sessionId, 2: e.counter, 3: e.ciphertext }, q));
    expect(t.openReply(first[0]).status).toBe(Status.OK);
    // retransmission: same seq, same bytes → the very same answer, not SESSION_AUTH_FAILED
    const again = t.raw(t.requestFrame(Command.SESSION_MESSAGE, { 1: e.sessionId, 2: e.counter, 3: e.ciphertext }, q));
    expect(hex(again[0].frame.body)).toBe(hex(first[0].frame.body));
    // replay: new seq
    const replay = sendEnvelope(t, e);
    expect(replay.statusName).toBe('SESSION_AUTH_FAILED');
    expect(replay.message).toMatch(/already used.*not executed/);
    expect(keyCount(t)).toBe(1);
    // the session goes on
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK);
  });

  it('reordered counters: after counter 2 is accepted, counter 1 → SESSION_AUTH_FAILED and does not execute', () => {
    const t = startTestDevice();
    const e1 = seal(t, Command.KEY_GENERATE, { 1: Alg.X25519, 2: 'one' });
    const e2 = seal(t, Command.KEY_GENERATE, { 1: Alg.X25519, 2: 'two' });
    const r2 = sendEnvelope(t, e2);
    expect(t.openReply(r2).status).toBe(Status.OK);
    const r1 = sendEnvelope(t, e1);
    expect(r1.statusName).toBe('SESSION_AUTH_FAILED');
    expect(r1.message).toContain('below the last accepted counter ' + e2.counter + ' ');
    expect(keyCount(t)).toBe(1);
  });

  it('tampered ciphertext, counter or session id → refused, nothing runs, and the session state is unchanged', () => {
    const t = startTestDevice();
    expect(t.openSession().status).toBe(Status.OK);
    const other = t.session as HostSession; // a second live session to move envelopes into
    expect(t.openSession().status).toBe(Status.OK);
    const e = seal(t, Command.KEY_GENERATE, { 1: Alg.ED25519 });
    for (let i = 0; i < e.ciphertext.length; i += 5) {
      const c = e.ciphertext.slice();
      c[i] ^= 0x40;
      const r = sendEnvelope(t, { ...e, ciphertext: c });
      expect(r.statusName, 'byte ' + i).toBe('SESSION_AUTH_FAILED');
      expect(r.message).toMatch(/does not authenticate/);
    }
    // a higher counter with the same ciphertext: the nonce and AAD differ, the tag fails, and the counter does not move
    const bumped = sendEnvelope(t, { ...e, counter: e.counter + 5 });
    expect(bumped.statusName).toBe('SESSION_AUTH_FAILED');
    // moved to the other live session: its keys and AAD differ
    expect(sendEnvelope(t, { ...e, sessionId: other.sessionId }).statusName).toBe('SESSION_AUTH_FAILED');
    // to a session id nobody has
    const unknown = sendEnvelope(t, { ...e, sessionId: 200 });
    expect(unknown.statusName).toBe('SESSION_INVALID');
    expect(unknown.message).toMatch(/no session 200/);
    // a truncated envelope
    expect(sendEnvelope(t, { ...e, ciphertext: e.ciphertext.subarray(0, 16) }).statusName).toBe('SESSION_AUTH_FAILED');
    expect(keyCount(t)).toBe(0);
    // none of that moved the counter: the genuine envelope, with the counter it was sealed with, still runs once
    expect(t.openReply(sendEnvelope(t, e)).status).toBe(Status.OK);
    expect(keyCount(t)).toBe(1);
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK);
  });

  it('random garbage as SESSION_MESSAGE fields is refused with a status, never executed', () => {
    const t = startTestDevice();
    expect(t.openSession().status).toBe(Status.OK);
    const id = (t.session as HostSession).sessionId;
    expect(t.callClear(Command.SESSION_MESSAGE, { 1: id, 2: 1, 3: new Uint8Array(15) }).statusName).toBe('INVALID_PARAMETER');
    expect(t.callClear(Command.SESSION_MESSAGE, { 1: id, 2: 0, 3: new Uint8Array(40) }).statusName).toBe('INVALID_PARAMETER');
    expect(t.callClear(Command.SESSION_MESSAGE, { 1: 0, 2: 1, 3: new Uint8Array(40) }).statusName).toBe('INVALID_PARAMETER');
    expect(t.callClear(Command.SESSION_MESSAGE, { 1: id, 2: 1 }).statusName).toBe('MISSING_PARAMETER');
    expect(t.callClear(Command.SESSION_MESSAGE, { 1: id, 2: 1, 3: new Uint8Array(40) }).statusName).toBe('SESSION_AUTH_FAILED');
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK); // counter 1 was not consumed by the garbage
  });
});

describe('which status each envelope refusal gets, and in which order (docs/protocol.md §6, docs/session.md §5)', () => {
  it('the SESSION_MESSAGE schema comes first: counter 0 and a ciphertext shorter than its tag are INVALID_PARAMETER, never SESSION_AUTH_FAILED', () => {
    const t = startTestDevice();
    expect(t.openSession().status).toBe(Status.OK);
    const id = (t.session as HostSession).sessionId;
    const refused = (params: object) => {
      const r = t.callClear(Command.SESSION_MESSAGE, params);
      return [r.statusName, r.reason, r.args];
    };
    expect(refused({ 1: id, 2: 0, 3: new Uint8Array(40) })).toEqual(['INVALID_PARAMETER', Reason.VALUE_OUT_OF_RANGE, [2, 0, 1]]);
    // checked before the session is looked up: the same for a session id nobody has
    expect(refused({ 1: 200, 2: 0, 3: new Uint8Array(40) })).toEqual(['INVALID_PARAMETER', Reason.VALUE_OUT_OF_RANGE, [2, 0, 1]]);
    expect(refused({ 1: id, 2: 1, 3: new Uint8Array(15) })).toEqual(['INVALID_PARAMETER', Reason.LENGTH_OUT_OF_RANGE, [3, 15, 16, 2021]]);
    expect(refused({ 1: id, 2: 1, 3: new Uint8Array(2022) })).toEqual(['INVALID_PARAMETER', Reason.LENGTH_OUT_OF_RANGE, [3, 2022, 16, 2021]]);
    expect(refused({ 1: 256, 2: 1, 3: new Uint8Array(40) })).toEqual(['INVALID_PARAMETER', Reason.VALUE_OUT_OF_RANGE, [1, 256, 1, 255]]);
    // a counter above 2^53 - 1 cannot be in a body at all (docs/protocol.md §2)
    const big = Uint8Array.from([Command.SESSION_MESSAGE, 0xa3, 0x01, id, 0x02, 0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0, 0x03, 0x50, ...new Uint8Array(16)]);
    const [r] = t.raw(encodeFrame(FrameType.REQUEST, t.nextSeq(), big));
    expect([r.statusName, r.reason]).toEqual(['INVALID_CBOR', Reason.CBOR_INTEGER_RANGE]);
    // the largest counter passes the schema and the counter check, and fails at the tag
    const max = refused({ 1: id, 2: Number.MAX_SAFE_INTEGER, 3: new Uint8Array(16) });
    expect(max).toEqual(['SESSION_AUTH_FAILED', Reason.ENVELOPE_NOT_AUTHENTIC, [id]]);
    // so COUNTER_INVALID and ENVELOPE_SHORT never reach the wire; and none of this moved the counter: 1 still runs
    const e = seal(t, Command.ECHO, { 1: new Uint8Array([2]) });
    expect(e.counter).toBe(1);
    expect(t.openReply(sendEnvelope(t, e)).status).toBe(Status.OK);
  });

  it('a hostEphemeral that is not 32 bytes is refused by the SESSION_OPEN schema (INVALID_PARAMETER, LENGTH_OUT_OF_RANGE), not EPHEMERAL_LENGTH', () => {
    const t = startTestDevice();
    for (const n of [31, 33]) {
      const r = t.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(n).fill(9) });
      expect([r.statusName, r.reason, r.args]).toEqual(['INVALID_PARAMETER', Reason.LENGTH_OUT_OF_RANGE, [1, n, 32, 32]]);
    }
  });

  it('then the session, then the counter, then the tag: a replayed counter is COUNTER_REPLAYED whatever its ciphertext; a closed session SESSION_INVALID whatever its counter', () => {
    const t = startTestDevice();
    expect(t.openSession().status).toBe(Status.OK);
    const s = t.session as HostSession;
    const e = seal(t, Command.ECHO, { 1: new Uint8Array([3]) });
    expect(t.openReply(sendEnvelope(t, e)).status).toBe(Status.OK);
    const spoiled = e.ciphertext.slice();
    spoiled[0] ^= 1;
    const replay = sendEnvelope(t, { ...e, ciphertext: spoiled });
    expect([replay.statusName, replay.reason, replay.args]).toEqual(['SESSION_AUTH_FAILED', Reason.COUNTER_REPLAYED, [s.sessionId, e.counter]]);
    expect(t.openReply(sendEnvelope(t, s.seal(requestBodyOf(Command.SESSION_CLOSE, {}), 0))).status).toBe(Status.OK);
    const closed = sendEnvelope(t, { ...e, ciphertext: spoiled });
    expect([closed.statusName, closed.reason, closed.args]).toEqual(['SESSION_INVALID', Reason.SESSION_CLOSED, [s.sessionId]]);
  });
});

describe('session end: close, idle timeout, message cap', () => {
  it('SESSION_CLOSE answers OK (sealed), then every envelope of that session → SESSION_INVALID', () => {
    const t = startTestDevice();
    expect(t.openSession().status).toBe(Status.OK);
    const s = t.session as HostSession;
    const close = s.seal(requestBodyOf(Command.SESSION_CLOSE, {}), 0);
    const out = sendEnvelope(t, close);
    expect(out.status).toBe(Status.OK);
    expect(s.open(field<number>(out, 1), field<Uint8Array>(out, 2))[0]).toBe(Status.OK);
    const after = sendEnvelope(t, s.seal(requestBodyOf(Command.KEY_LIST, {}), 0));
    expect(after.statusName).toBe('SESSION_INVALID');
    expect(after.message).toMatch(/closed/);
    // the retransmitted close (new seq) is also refused, not answered again
    expect(sendEnvelope(t, close).statusName).toBe('SESSION_INVALID');
  });

  it('idle timeout: no request for longer than the timeout (device clock) → SESSION_INVALID; the slot frees itself', () => {
    let now = 1000;
    const t = startTestDevice({ now: () => now, sessionLimits: { maxSessions: 1, idleTimeoutMs: 60000 } });
    expect(t.openSession().status).toBe(Status.OK);
    const s = t.session as HostSession;
    now += 60000; // exactly the timeout: still alive
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK);
    now += 60001;
    const r = sendEnvelope(t, s.seal(requestBodyOf(Command.KEY_GENERATE, { 1: Alg.ED25519 }), 0));
    expect(r.statusName).toBe('SESSION_INVALID');
    expect(r.message).toMatch(/expired.*60000 ms/);
    expect(keyCount(t)).toBe(0);
    // the only slot is free again
    expect(t.openSession().status).toBe(Status.OK);
  });

  it('a refused envelope does not keep a session alive (the idle clock moves only on an authenticated request)', () => {
    let now = 0;
    const t = startTestDevice({ now: () => now, sessionLimits: { idleTimeoutMs: 1000 } });
    expect(t.openSession().status).toBe(Status.OK);
    const e = seal(t, Command.KEY_LIST);
    for (let i = 0; i < 3; i++) {
      now += 300; // 900 ms after the handshake: still inside the timeout
      const c = e.ciphertext.slice();
      c[0] ^= 1;
      expect(sendEnvelope(t, { ...e, ciphertext: c }).statusName).toBe('SESSION_AUTH_FAILED');
    }
    now += 300; // 1200 ms since the last *authenticated* activity (the handshake)
    expect(sendEnvelope(t, e).statusName).toBe('SESSION_INVALID');
  });

  it('message cap: after maxMessages requests the session → SESSION_INVALID; a new session works', () => {
    const t = startTestDevice({ sessionLimits: { maxMessages: 3 } });
    for (let i = 0; i < 3; i++) expect(t.call(Command.RANDOM, { 1: 4 }).status).toBe(Status.OK);
    const s = t.session as HostSession;
    const r = sendEnvelope(t, s.seal(requestBodyOf(Command.RANDOM, { 1: 4 }), 0));
    expect(r.statusName).toBe('SESSION_INVALID');
    expect(r.message).toMatch(/maximum of 3 requests/);
    expect(t.openSession().status).toBe(Status.OK);
    expect(t.call(Command.RANDOM, { 1: 4 }).status).toBe(Status.OK);
  });

  it('a restarted device knows no session: the old envelope → SESSION_INVALID', () => {
    const a = startTestDevice({ seed: 'restart' });
    const e = seal(a, Command.KEY_LIST);
    const b = startTestDevice({ seed: 'restart' });
    const r = sendEnvelope(b, e);
    expect(r.statusName).toBe('SESSION_INVALID');
    expect(r.message).toMatch(/restarted/);
  });
});

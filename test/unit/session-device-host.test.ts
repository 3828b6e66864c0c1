// The device session module (noble) and host/session.ts (OpenSSL) talk to each other; every attack on the envelopes is refused with its own reason and changes nothing.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { randomBytes, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { createNoBigIntCrypto } from '../../firmware/platform/espruino/crypto.ts';
import type { Rng } from '../../firmware/hal/index.ts';
import {
  SessionTable,
  closeSession,
  openEnvelope,
  openSession,
  sealResponse,
  type SessionRefusal,
  type SessionResult,
  type SessionState,
} from '../../firmware/core/session/index.ts';
import { HostSession, SessionError, SessionHandshake, type HostSessionRefusal } from '../../host/session.ts';

const crypto = createNobleCrypto();
const osRng: Rng = { fill: (b) => void randomFillSync(b) };
/** When the device answers in these tests (sealResponse restarts the idle clock there; docs/session.md §6). */
const ANSWER_AT = 1000;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function identity() {
  const seed = new Uint8Array(randomBytes(32));
  return { seed, pub: crypto.ed25519PublicKey(seed), deviceId: new Uint8Array(randomBytes(16)) };
}

function value<T>(r: SessionResult<T>): T {
  if (!r.ok) throw new Error(`refused: ${r.reason}: ${msgOf(r)}`);
  return r.value;
}

function refusal<T>(r: SessionResult<T>): SessionRefusal {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error('unreachable');
  expect(msgOf(r).length).toBeGreaterThan(20);
  return r.reason;
}

function hostRefusal(f: () => unknown): HostSessionRefusal {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SessionError);
    return (e as SessionError).reason;
  }
  throw new Error('expected a SessionError');
}

/** A device table and a host session joined by a handshake. */
type Limits = { maxSessions?: number; idleTimeoutMs?: number; maxMessages?: number };
function pair(opts: { limits?: Limits; hostLimits?: Limits; table?: SessionTable; id?: ReturnType<typeof identity>; now?: number } = {}) {
  const id = opts.id || identity();
  const table = opts.table || new SessionTable(opts.limits);
  const now = opts.now || 1000;
  const hs = SessionHandshake.create();
  const reply = value(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, now));
  const host = hs.finish(id.deviceId, id.pub, reply, { limits: opts.hostLimits || opts.limits, now });
  return { id, table, host, reply, now };
}

/** Snapshot of what a refusal must not change. */
function snap(s: SessionState) {
  return JSON.stringify({ r: s.lastRequest, p: s.lastResponse, a: s.accepted, t: s.lastActivity, e: s.ended, ki: hex(s.keyIn), ko: hex(s.keyOut) });
}

describe('device ↔ host', () => {
  it('carry 500 requests and responses of random sizes both ways; each side refuses nothing', () => {
    const { table, host, reply, now } = pair();
    for (let i = 0; i < 500; i++) {
      const req = new Uint8Array(randomBytes(i % 97 === 0 ? 1500 : i % 41));
      const env = host.seal(req, now + i);
      expect(env.counter).toBe(i + 1);
      expect(env.ciphertext.length).toBe(req.length + 16);
      expect(hex(value(table.openEnvelope(reply.sessionId, env.counter, env.ciphertext, now + i)))).toBe(hex(req));
      const resp = new Uint8Array(randomBytes((i * 7) % 300));
      const sealed = value(table.sealResponse(reply.sessionId, env.counter, resp, ANSWER_AT));
      expect(hex(host.open(env.counter, sealed))).toBe(hex(resp));
    }
    expect(table.get(reply.sessionId)!.accepted).toBe(500);
  });

  it('the ciphertext is not the plaintext, and the two directions use different keys', () => {
    const { table, host, reply, now } = pair();
    const msg = new Uint8Array(64).fill(0x41);
    const env = host.seal(msg, now);
    expect(hex(env.ciphertext)).not.toContain(hex(msg).slice(0, 16));
    value(table.openEnvelope(reply.sessionId, 1, env.ciphertext, now));
    const resp = value(table.sealResponse(reply.sessionId, 1, msg, ANSWER_AT));
    // same counter, same plaintext, other direction: a different ciphertext (different key, different AAD)
    expect(hex(resp)).not.toBe(hex(env.ciphertext));
    const s = table.get(reply.sessionId)!;
    expect(hex(s.keyIn)).not.toBe(hex(s.keyOut));
  });

  it('the device answers request counter c with response counter c, also when the host skips counters', () => {
    const id = identity();
    const hs = SessionHandshake.create();
    const r = value(openSession(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 9, 0));
    const host = hs.finish(id.deviceId, id.pub, r.reply, { now: 0 });
    const s = r.state;
    const a = host.seal(new Uint8Array([1]), 0);
    const b = host.seal(new Uint8Array([2]), 0); // a was "lost": the device sees only b
    expect(hex(value(openEnvelope(s, b.counter, b.ciphertext, 0)))).toBe('02');
    expect(refusal(openEnvelope(s, a.counter, a.ciphertext, 0))).toBe('counter-behind');
    expect(refusal(sealResponse(s, a.counter, new Uint8Array([9]), ANSWER_AT))).toBe('not-pending');
    const resp = value(sealResponse(s, b.counter, new Uint8Array([7]), ANSWER_AT));
    expect(hex(host.open(b.counter, resp))).toBe('07');
  });
});

describe('refusals on the device: each attack has its own reason and leaves the session as it was', () => {
  it('tampering, replay, reorder, reflection, bad counters, cap, idle timeout, close: distinct reasons, no state change', () => {
    const seen = new Map<string, SessionRefusal>();
    const limits = { maxMessages: 6, idleTimeoutMs: 5000 };
    // the host may send more than the device accepts here: its own cap is checked below with a host of the same limits
    const { table, host, reply, now } = pair({ limits, hostLimits: { maxMessages: 100 } });
    const sid = reply.sessionId;
    const s = table.get(sid)!;

    const e1 = host.seal(new Uint8Array(randomBytes(40)), now);
    value(table.openEnvelope(sid, e1.counter, e1.ciphertext, now));
    value(table.sealResponse(sid, e1.counter, new Uint8Array([0]), ANSWER_AT));

    const e2 = host.seal(new Uint8Array(randomBytes(40)), now);
    const before = snap(s);
    // every single-bit flip anywhere in the envelope (ciphertext and tag)
    for (let bit = 0; bit < e2.ciphertext.length * 8; bit++) {
      const t = e2.ciphertext.slice();
      t[bit >> 3] ^= 1 << (bit & 7);
      expect(refusal(table.openEnvelope(sid, e2.counter, t, now)), 'bit ' + bit).toBe('auth-failed');
    }
    seen.set('bit flip in the ciphertext', 'auth-failed');
    // a bit flip in the counter: upward fails the tag (nonce and AAD differ), downward is behind the last counter
    for (let bit = 0; bit < 53; bit++) {
      const c = e2.counter + 2 ** bit;
      if (c > Number.MAX_SAFE_INTEGER) break;
      expect(refusal(table.openEnvelope(sid, c, e2.ciphertext, now))).toBe('auth-failed');
    }
    expect(refusal(table.openEnvelope(sid, 0, e2.ciphertext, now))).toBe('bad-counter');
    seen.set('counter 0 / not an integer', 'bad-counter');
    for (const c of [-1, 1.5, NaN, Infinity, 2 ** 53]) expect(refusal(table.openEnvelope(sid, c, e2.ciphertext, now))).toBe('bad-counter');
    // a bit flip in the session id: no such session
    expect(refusal(table.openEnvelope(sid ^ 0x40, e2.counter, e2.ciphertext, now))).toBe('unknown-session');
    seen.set('bit flip in the session id', 'unknown-session');
    // shorter than a tag
    expect(refusal(table.openEnvelope(sid, e2.counter, e2.ciphertext.subarray(0, 15), now))).toBe('malformed');
    seen.set('truncated', 'malformed');
    // reflection: the device's own response to counter 1 fed back as request 2 (other key, other direction byte)
    const reflected = value(sealResponse({ ...s, lastRequest: 2, lastResponse: 1, keyOut: s.keyOut } as SessionState, 2, new Uint8Array(40), ANSWER_AT));
    expect(refusal(table.openEnvelope(sid, 2, reflected, now))).toBe('auth-failed');
    expect(snap(s)).toBe(before);
    // the genuine envelope still opens after all that: nothing advanced
    value(table.openEnvelope(sid, e2.counter, e2.ciphertext, now));
    value(table.sealResponse(sid, e2.counter, new Uint8Array(0), ANSWER_AT));

    // replay of the last request, and of an older one
    const afterTwo = snap(s);
    expect(refusal(table.openEnvelope(sid, e2.counter, e2.ciphertext, now))).toBe('counter-replayed');
    seen.set('replay', 'counter-replayed');
    expect(refusal(table.openEnvelope(sid, e1.counter, e1.ciphertext, now))).toBe('counter-behind');
    // reorder: 4 arrives before 3, so 3 is refused
    const e3 = host.seal(new Uint8Array([3]), now);
    const e4 = host.seal(new Uint8Array([4]), now);
    value(table.openEnvelope(sid, e4.counter, e4.ciphertext, now));
    expect(refusal(table.openEnvelope(sid, e3.counter, e3.ciphertext, now))).toBe('counter-behind');
    seen.set('reorder', 'counter-behind');
    expect(afterTwo).not.toBe(snap(s));
    // responses: only the request just accepted, only once
    expect(refusal(table.sealResponse(sid, e3.counter, new Uint8Array(1), ANSWER_AT))).toBe('not-pending');
    value(table.sealResponse(sid, e4.counter, new Uint8Array(1), ANSWER_AT));
    expect(refusal(table.sealResponse(sid, e4.counter, new Uint8Array(1), ANSWER_AT))).toBe('not-pending');
    seen.set('second response to one request', 'not-pending');

    // message cap: 6 requests per session (1, 2, 4 accepted so far)
    for (let i = 0; i < 3; i++) {
      const e = host.seal(new Uint8Array([i]), now);
      value(table.openEnvelope(sid, e.counter, e.ciphertext, now));
      value(table.sealResponse(sid, e.counter, new Uint8Array(0), ANSWER_AT));
    }
    expect(s.accepted).toBe(6);
    const over = host.seal(new Uint8Array(1), now);
    const capBefore = snap(s);
    expect(refusal(openEnvelope(s, over.counter, over.ciphertext, now))).toBe('message-cap'); // the pure function: no change
    expect(snap(s)).toBe(capBefore);
    expect(refusal(table.openEnvelope(sid, over.counter, over.ciphertext, now))).toBe('message-cap');
    seen.set('message cap', 'message-cap');
    expect(hex(s.keyIn)).toBe('00'.repeat(32)); // the table ended the spent session and wiped its keys

    // the host's own cap: a host with the device's limits refuses the 7th seal itself
    const hc = pair({ limits });
    for (let i = 0; i < 6; i++) hc.host.seal(new Uint8Array(1), hc.now);
    expect(hostRefusal(() => hc.host.seal(new Uint8Array(1), hc.now))).toBe('message-cap');

    // idle timeout: a fresh session, exactly at the limit it still works, one ms later it is over
    const p2 = pair({ limits, table: new SessionTable(limits) });
    const f1 = p2.host.seal(new Uint8Array([1]), p2.now);
    value(p2.table.openEnvelope(p2.reply.sessionId, f1.counter, f1.ciphertext, p2.now + 5000));
    value(p2.table.sealResponse(p2.reply.sessionId, f1.counter, new Uint8Array(0), ANSWER_AT));
    const f2 = p2.host.seal(new Uint8Array([2]), p2.now + 5000);
    const s2 = p2.table.get(p2.reply.sessionId)!;
    const idleBefore = snap(s2);
    expect(refusal(openEnvelope(s2, f2.counter, f2.ciphertext, p2.now + 10001))).toBe('idle-timeout'); // the pure function: no change
    expect(snap(s2)).toBe(idleBefore);
    expect(refusal(p2.table.openEnvelope(p2.reply.sessionId, f2.counter, f2.ciphertext, p2.now + 10001))).toBe('idle-timeout');
    expect(refusal(p2.table.openEnvelope(p2.reply.sessionId, f2.counter, f2.ciphertext, p2.now + 10002))).toBe('idle-timeout'); // still says why
    seen.set('idle timeout', 'idle-timeout');
    expect(hostRefusal(() => p2.host.seal(new Uint8Array(1), p2.now + 5000 + 5001))).toBe('idle-timeout');

    // closed
    const p3 = pair();
    value(p3.table.close(p3.reply.sessionId));
    const g = p3.host.seal(new Uint8Array([1]), p3.now);
    expect(refusal(p3.table.openEnvelope(p3.reply.sessionId, g.counter, g.ciphertext, p3.now))).toBe('closed');
    expect(refusal(p3.table.close(p3.reply.sessionId))).toBe('closed');
    seen.set('closed', 'closed');

    // one reason per attack class (seven kinds of attack, seven different reasons, plus the session-lifetime ones)
    const reasons = [...seen.values()];
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  it('an envelope of one session does not open in another (same device, same counter)', () => {
    const id = identity();
    const table = new SessionTable();
    const a = pair({ id, table });
    const b = pair({ id, table });
    expect(a.reply.sessionId).not.toBe(b.reply.sessionId);
    const e = a.host.seal(new Uint8Array([1, 2, 3]), a.now);
    expect(refusal(table.openEnvelope(b.reply.sessionId, e.counter, e.ciphertext, a.now))).toBe('auth-failed');
    expect(hex(value(table.openEnvelope(a.reply.sessionId, e.counter, e.ciphertext, a.now)))).toBe('010203');
  });
});

describe('refusals on the host', () => {
  it('a wrong identity key, a tampered answer and a low-order device key are refused before any key is derived', () => {
    const id = identity();
    const other = identity();
    const table = new SessionTable();
    let hs = SessionHandshake.create();
    let reply = value(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 0));
    expect(hostRefusal(() => hs.finish(id.deviceId, other.pub, reply))).toBe('bad-signature');
    expect(hostRefusal(() => hs.finish(id.deviceId, id.pub, reply))).toBe('closed'); // a handshake is used once

    const tampered = (f: (r: typeof reply) => typeof reply) => {
      hs = SessionHandshake.create();
      reply = value(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 0));
      return hostRefusal(() => hs.finish(id.deviceId, id.pub, f(reply)));
    };
    table.closeAll();
    expect(tampered((r) => ({ ...r, sessionId: r.sessionId ^ 1 }))).toBe('bad-signature');
    table.closeAll();
    expect(tampered((r) => ({ ...r, deviceEphemeral: r.deviceEphemeral.map((x, i) => (i === 5 ? x ^ 1 : x)) }))).toBe('bad-signature');
    table.closeAll();
    expect(tampered((r) => ({ ...r, signature: r.signature.map((x, i) => (i === 63 ? x ^ 0x10 : x)) }))).toBe('bad-signature');
    table.closeAll();
    // the same answer checked against another device id (another device's transcript)
    hs = SessionHandshake.create();
    reply = value(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 0));
    expect(hostRefusal(() => hs.finish(other.deviceId, id.pub, reply))).toBe('bad-signature');
    table.closeAll();
    expect(tampered((r) => ({ ...r, sessionId: 0 }))).toBe('bad-reply');
    table.closeAll();
    expect(tampered((r) => ({ ...r, signature: r.signature.subarray(0, 63) }))).toBe('bad-reply');

    // a device (or a man in the middle with the identity key) sending a low-order point: signature fine, key refused
    const low = new Uint8Array(32); // the zero point: order 1
    hs = SessionHandshake.create();
    const t = Buffer.concat([Buffer.from('tinyhsm/session/v1'), id.deviceId, hs.hostEphemeral, low, Buffer.from([7])]);
    const sig = crypto.ed25519Sign(new Uint8Array(t), id.seed);
    expect(hostRefusal(() => hs.finish(id.deviceId, id.pub, { sessionId: 7, deviceEphemeral: low, signature: sig }))).toBe('bad-device-ephemeral');
  });

  it('tampered, replayed, reordered and unrequested responses are refused with distinct reasons', () => {
    const { table, host, reply, now } = pair();
    const sid = reply.sessionId;
    const round = (n: number) => {
      const e = host.seal(new Uint8Array([n]), now);
      value(table.openEnvelope(sid, e.counter, e.ciphertext, now));
      return { counter: e.counter, resp: value(table.sealResponse(sid, e.counter, new Uint8Array([n, n]), ANSWER_AT)) };
    };
    const r1 = round(1);
    const flipped = r1.resp.slice();
    flipped[0] ^= 1;
    const reasons: HostSessionRefusal[] = [];
    reasons.push(hostRefusal(() => host.open(r1.counter, flipped)));
    expect(hex(host.open(r1.counter, r1.resp))).toBe('0101');
    reasons.push(hostRefusal(() => host.open(r1.counter, r1.resp)));
    const r2 = round(2);
    const r3 = round(3);
    expect(hex(host.open(r3.counter, r3.resp))).toBe('0303');
    reasons.push(hostRefusal(() => host.open(r2.counter, r2.resp)));
    reasons.push(hostRefusal(() => host.open(r3.counter + 1, r3.resp)));
    reasons.push(hostRefusal(() => host.open(0, r3.resp)));
    expect(reasons).toEqual(['auth-failed', 'counter-replayed', 'counter-behind', 'unexpected-counter', 'bad-counter']);
    // a request envelope reflected back as a response does not open (other key, other direction)
    const e = host.seal(new Uint8Array([4]), now);
    expect(hostRefusal(() => host.open(e.counter, e.ciphertext))).toBe('auth-failed');
    host.close();
    expect(hostRefusal(() => host.seal(new Uint8Array(1), now))).toBe('closed');
  });
});

describe('handshake and table', () => {
  it('the device wipes its ephemeral secret; closing wipes the session keys', () => {
    const id = identity();
    let filled: Uint8Array | undefined;
    const rng: Rng = {
      fill(b) {
        randomFillSync(b);
        filled = b;
      },
    };
    const hs = SessionHandshake.create();
    const r = value(openSession(crypto, rng, id.seed, id.deviceId, hs.hostEphemeral, 1, 0));
    expect(filled!.length).toBe(32);
    expect(hex(filled!)).toBe('00'.repeat(32));
    hs.finish(id.deviceId, id.pub, r.reply); // still a valid session: the secret was used before it was wiped
    closeSession(r.state);
    expect(hex(r.state.keyIn) + hex(r.state.keyOut)).toBe('00'.repeat(64));
    expect(refusal(sealResponse(r.state, 0, new Uint8Array(0), ANSWER_AT))).toBe('closed');
  });

  it('refuses a host ephemeral key of the wrong size or of low order (Wycheproof x25519 low-order public keys)', () => {
    const id = identity();
    const table = new SessionTable();
    expect(refusal(table.open(crypto, osRng, id.seed, id.deviceId, new Uint8Array(31), 0))).toBe('bad-host-ephemeral');
    expect(refusal(table.open(crypto, osRng, id.seed, id.deviceId, new Uint8Array(33), 0))).toBe('bad-host-ephemeral');
    const w = JSON.parse(readFileSync(new URL('../vectors/wycheproof/x25519_test.json', import.meta.url), 'utf8'));
    const lowOrder = new Set<string>();
    for (const g of w.testGroups) for (const t of g.tests) if (/^0+$/.test(t.shared)) lowOrder.add(t.public);
    expect(lowOrder.size).toBeGreaterThan(10);
    for (const pub of lowOrder)
      expect(refusal(table.open(crypto, osRng, id.seed, id.deviceId, new Uint8Array(Buffer.from(pub, 'hex')), 0)), pub).toBe('bad-host-ephemeral');
    expect(table.live(0)).toBe(0); // no refused open took a slot
  });

  it('with four logged-in sessions refuses a fifth without evicting any, frees a slot on close or idle timeout, and rolls ids', () => {
    const id = identity();
    const table = new SessionTable({ idleTimeoutMs: 1000 });
    const hosts = [0, 1, 2, 3].map(() => pair({ id, table, now: 0 }));
    // LOGIN sets the role (commands/login.ts); a logged-in session is never evicted (docs/session.md §6)
    const logIn = (sessionId: number) => ((table.get(sessionId) as SessionState).role = 1);
    for (const h of hosts) logIn(h.reply.sessionId);
    expect(new Set(hosts.map((h) => h.reply.sessionId)).size).toBe(4);
    expect(table.live(0)).toBe(4);
    const hs = SessionHandshake.create();
    expect(refusal(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 500))).toBe('table-full');
    // all four still work
    for (const h of hosts) {
      const e = h.host.seal(new Uint8Array([h.reply.sessionId]), 500);
      expect(value(table.openEnvelope(h.reply.sessionId, e.counter, e.ciphertext, 500))[0]).toBe(h.reply.sessionId);
      value(table.sealResponse(h.reply.sessionId, e.counter, new Uint8Array(0), 500));
    }
    value(table.close(hosts[1].reply.sessionId));
    const fifth = value(table.open(crypto, osRng, id.seed, id.deviceId, hs.hostEphemeral, 600));
    expect(hosts.map((h) => h.reply.sessionId)).not.toContain(fifth.sessionId);
    logIn(fifth.sessionId);
    expect(refusal(table.open(crypto, osRng, id.seed, id.deviceId, SessionHandshake.create().hostEphemeral, 700))).toBe('table-full');
    // at t = 1501 the three sessions last answered at 500 are idle past 1000 ms: their slots are reclaimed
    expect(table.live(1501)).toBe(1);
    value(table.open(crypto, osRng, id.seed, id.deviceId, SessionHandshake.create().hostEphemeral, 1501));
    expect(table.live(1501)).toBe(2);
  });

  it('ids roll through 1..255 and skip ids still in use', () => {
    const id = identity();
    const table = new SessionTable({ maxSessions: 2 });
    const keep = value(table.open(crypto, osRng, id.seed, id.deviceId, SessionHandshake.create().hostEphemeral, 0)).sessionId;
    expect(keep).toBe(1);
    const ids: number[] = [];
    for (let i = 0; i < 300; i++) {
      const r = value(table.open(crypto, osRng, id.seed, id.deviceId, SessionHandshake.create().hostEphemeral, 0));
      ids.push(r.sessionId);
      value(table.close(r.sessionId));
    }
    expect(ids.slice(0, 3)).toEqual([2, 3, 4]);
    expect(ids).not.toContain(keep);
    expect(ids).not.toContain(0);
    expect(Math.max(...ids)).toBe(255);
    expect(ids[253]).toBe(255);
    expect(ids[254]).toBe(2); // after 2..255 the id wraps to 1, which is still in use, so 2
  }, 60_000);

  it('an engine without X25519/Ed25519 (Espruino) refuses to open, with a reason that says so', () => {
    const id = identity();
    const r = openSession(createNoBigIntCrypto(), osRng, id.seed, id.deviceId, new Uint8Array(32).fill(9), 1, 0);
    expect(refusal(r)).toBe('unavailable');
    expect(JSON.stringify(r)).not.toContain(hex(id.seed));
  });
});

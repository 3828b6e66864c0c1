// The button wait (docs/security.md §7): keepalives on the device clock, press, timeout, CANCEL, BUSY, retransmits, no button, and the session around it.
import { describe, expect, it } from 'vitest';
import { createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { Alg, Command, FrameType, Status } from '../../firmware/protocol/codes.ts';
import { PresenceRig, cancelBody, countingCrypto, ed25519Verifies, isKeepalive, statusName, type Out } from '../helpers/presence.ts';
import { cborEncode, type CborValue } from '../../firmware/protocol/cbor.ts';
import type { HostSession } from '../../host/session.ts';
import type { Reply } from '../helpers/loopback.ts';

const MSG = new Uint8Array(Buffer.from('sign me only if a person touches the device'));

function onlyKeepalives(outs: Out[], seq: number): number {
  for (const o of outs) expect(isKeepalive(o, seq), 'frame type ' + o.type + ' seq ' + o.seq + (o.reply ? ' ' + o.reply.statusName : '')).toBe(true);
  return outs.length;
}

/** Hold the button for one 100 ms period and let go: the one frame that answers the waiting request, and its inner reply, which must be OK. */
function press(rig: PresenceRig): { frame: Out; r: Reply & { counter: number } } {
  rig.button!.down = true;
  const got = rig.advance(100);
  rig.button!.down = false;
  expect(got).toHaveLength(1);
  const r = rig.inner(got[0]);
  expect(r.statusName).toBe('OK');
  return { frame: got[0], r };
}

function x25519Peer() {
  const peer = generateKeyPairSync('x25519');
  const pub = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  return { peer, pub };
}

describe('user presence: the button wait', () => {
  it('sends a KEEPALIVE (body 02, same seq) at once and every 100 ms of the device clock; a press then signs, and node:crypto verifies', () => {
    const rig = new PresenceRig().setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    const first = rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    expect(first).toHaveLength(1);
    expect(isKeepalive(first[0], q)).toBe(true);
    const counter = rig.session!.sent;
    // 25 periods: exactly one keepalive each, nothing else
    for (let i = 0; i < 25; i++) expect(onlyKeepalives(rig.advance(100), q)).toBe(1);
    // between two ticks nothing is sent; the next one comes at the 100 ms mark
    expect(rig.advance(99)).toEqual([]);
    expect(onlyKeepalives(rig.advance(1), q)).toBe(1);
    // several periods at once: one keepalive per period
    expect(onlyKeepalives(rig.advance(1000), q)).toBe(10);

    const { frame, r } = press(rig);
    expect(frame.type).toBe(FrameType.RESPONSE);
    expect(frame.seq).toBe(q);
    expect(r.counter).toBe(counter); // sealed with the request's own counter
    const sig = r.map.get(1) as Uint8Array;
    expect(ed25519Verifies(publicKey, MSG, sig)).toBe(true);
    // the wait is over: no more keepalives, and the next request runs at once
    expect(rig.advance(1000)).toEqual([]);
    expect(rig.call(Command.KEY_LIST).statusName).toBe('OK');
  });

  it('does not count a press that began before the request: the button must be released and pressed again', () => {
    const rig = new PresenceRig().setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ED25519);
    rig.button!.down = true; // held (or stuck) before the request arrives
    const q = rig.nextSeq();
    expect(onlyKeepalives(rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q)), q)).toBe(1);
    expect(onlyKeepalives(rig.advance(500), q)).toBe(5);
    rig.button!.down = false;
    expect(onlyKeepalives(rig.advance(100), q)).toBe(1);
    const { r } = press(rig);
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
  });

  it('gives up after the default 30 s with PRESENCE_TIMEOUT, having signed nothing; the session goes on', () => {
    const cc = countingCrypto();
    const rig = new PresenceRig({ crypto: cc.crypto }).setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const before = cc.uses();
    const q = rig.nextSeq();
    const counter = rig.session!.sent + 1;
    expect(onlyKeepalives(rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q)), q)).toBe(1);
    // 29.999 s: 299 more keepalives, no answer
    expect(onlyKeepalives(rig.advance(29999), q)).toBe(299);
    const got = rig.advance(1);
    expect(got).toHaveLength(1);
    const r = rig.inner(got[0]);
    expect(r.counter).toBe(counter);
    expect(r.statusName).toBe('PRESENCE_TIMEOUT');
    expect(r.message).toMatch(/button/);
    expect(cc.uses()).toBe(before); // no private-key operation ran
    expect(rig.advance(1000)).toEqual([]);
    // a press now is too late and does nothing
    rig.button!.down = true;
    expect(rig.advance(500)).toEqual([]);
    rig.button!.down = false;
    // the same session signs with a key without touch, at once
    const plain = rig.call(Command.KEY_GENERATE, { 1: Alg.ED25519 });
    expect(plain.statusName).toBe('OK');
    const s = rig.call(Command.SIGN, { 1: plain.map.get(1), 2: MSG });
    expect(s.statusName).toBe('OK');
    expect(ed25519Verifies(plain.map.get(2) as Uint8Array, MSG, s.map.get(1) as Uint8Array)).toBe(true);
  });

  it('uses DeviceOptions.presenceTimeoutMs', () => {
    const rig = new PresenceRig({ presenceTimeoutMs: 1000 }).setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    expect(onlyKeepalives(rig.advance(999), q)).toBe(9);
    const got = rig.advance(1);
    expect(got).toHaveLength(1);
    expect(rig.inner(got[0]).statusName).toBe('PRESENCE_TIMEOUT');
    expect(() => new PresenceRig({ presenceTimeoutMs: 0 })).toThrow(/presenceTimeoutMs/);
  });

  it('ends the wait with CANCELLED on a CANCEL frame for the waiting seq (one for another seq is ignored); nothing is signed', () => {
    const cc = countingCrypto();
    const rig = new PresenceRig({ crypto: cc.crypto }).setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    // another host on the same link with a session of its own, opened before the wait (during it, it gets BUSY)
    const victim = rig.session as HostSession;
    rig.openSession();
    const attacker = rig.session as HostSession;
    rig.session = victim;
    const before = cc.uses();
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    expect(onlyKeepalives(rig.advance(300), q)).toBe(3);
    expect(rig.feed(rig.cancelFrame((q + 7) & 0xffff))).toEqual([]);
    expect(onlyKeepalives(rig.advance(100), q)).toBe(1);
    // CANCELs that do not come from the waiting request's session are ignored, with no answer (docs/session.md §4.1):
    // an empty body (anyone who saw the seq in a BUSY), another session's token, a token for another counter, a
    // token with one bit changed, and a body that is not a map
    const mine = victim;
    const token = mine.cancelToken(rig.lastCounter);
    const flipped = token.slice();
    flipped[0] ^= 1;
    for (const body of [
      new Uint8Array(0),
      cborEncode(
        new Map<number, CborValue>([
          [1, mine.sessionId],
          [2, rig.lastCounter],
          [3, attacker.cancelToken(rig.lastCounter)],
        ]),
      ),
      cancelBody(attacker, rig.lastCounter),
      cancelBody(mine, rig.lastCounter + 1),
      cborEncode(
        new Map<number, CborValue>([
          [1, mine.sessionId],
          [2, rig.lastCounter],
          [3, flipped],
        ]),
      ),
      cborEncode([1, 2, 3]),
    ]) {
      expect(rig.feed(rig.cancelFrame(q, body))).toEqual([]);
      expect(onlyKeepalives(rig.advance(100), q), 'still waiting').toBe(1);
    }
    const got = rig.feed(rig.cancelFrame(q));
    expect(got).toHaveLength(1);
    expect(got[0].seq).toBe(q);
    const r = rig.inner(got[0]);
    expect(r.statusName).toBe('CANCELLED');
    expect(cc.uses()).toBe(before);
    // over: no keepalives, a late press does nothing, a second CANCEL is ignored
    rig.button!.down = true;
    expect(rig.advance(1000)).toEqual([]);
    expect(rig.feed(rig.cancelFrame(q))).toEqual([]);
    rig.button!.down = false;
    expect(rig.call(Command.KEY_LIST).statusName).toBe('OK');
  });

  it('answers every other request BUSY (an ERROR frame naming the waiting seq) and never runs two waits', () => {
    const cc = countingCrypto();
    const rig = new PresenceRig({ crypto: cc.crypto }).setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ED25519);
    const other = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    const before = cc.uses();
    const tries: Uint8Array[] = [
      rig.clearFrame(Command.INFO, {}, rig.nextSeq()),
      rig.clearFrame(Command.ECHO, { 1: new Uint8Array([1, 2, 3]) }, rig.nextSeq()),
      rig.clearFrame(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) }, rig.nextSeq()),
      rig.sealedFrame(Command.KEY_LIST, {}, rig.nextSeq()),
      // a second touch request cannot start a second wait
      rig.sealedFrame(Command.SIGN, { 1: other.keyId, 2: MSG }, rig.nextSeq()),
    ];
    for (const t of tries) {
      const outs = rig.feed(t);
      expect(outs).toHaveLength(1);
      expect(outs[0].type).toBe(FrameType.ERROR);
      expect(outs[0].seq).not.toBe(q);
      expect(outs[0].reply!.statusName).toBe('BUSY');
      expect(outs[0].reply!.message).toContain('seq ' + q);
    }
    expect(cc.uses()).toBe(before);
    // the wait itself is untouched: keepalives go on, and the press answers it
    expect(onlyKeepalives(rig.advance(200), q)).toBe(2);
    const { r } = press(rig);
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
    // the counters of the refused envelopes were never used by the device: the session just goes on (gaps allowed)
    expect(rig.call(Command.KEY_LIST).statusName).toBe('OK');
  });

  it('answers a retransmit of the waiting request with a keepalive, runs it once, and serves a later retransmit from the reply cache', () => {
    const cc = countingCrypto();
    const rig = new PresenceRig({ crypto: cc.crypto }).setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    const frame = rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q);
    expect(onlyKeepalives(rig.feed(frame), q)).toBe(1);
    expect(onlyKeepalives(rig.advance(200), q)).toBe(2);
    const before = cc.uses();
    // the same bytes again (the host's timeout fired): still waiting, one keepalive, nothing else
    expect(onlyKeepalives(rig.feed(frame), q)).toBe(1);
    // the same seq with other bytes is another request: BUSY
    const clash = rig.feed(rig.clearFrame(Command.ECHO, { 1: new Uint8Array([7]) }, q));
    expect(clash).toHaveLength(1);
    expect(clash[0].type).toBe(FrameType.ERROR);
    expect(clash[0].reply!.statusName).toBe('BUSY');
    const answer = press(rig);
    expect(cc.uses()).toBe(before + 1); // one signature
    expect(ed25519Verifies(publicKey, MSG, answer.r.map.get(1) as Uint8Array)).toBe(true);
    // after the answer, a retransmit gets the very same sealed answer from the cache and signs nothing
    const again = rig.feed(frame);
    expect(again).toHaveLength(1);
    expect(Buffer.from(again[0].body).equals(Buffer.from(answer.frame.body))).toBe(true);
    expect(cc.uses()).toBe(before + 1);
  });

  it('refuses a touch key with POLICY_DENIED at once on a board without a button', () => {
    const rig = new PresenceRig({ button: false }).setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const r = rig.call(Command.SIGN, { 1: keyId, 2: MSG });
    expect(r.statusName).toBe('POLICY_DENIED');
    expect(r.message).toMatch(/button/);
    const x = rig.touchKey(Alg.X25519);
    const e = rig.call(Command.ECDH, { 1: x.keyId, 2: x25519Peer().pub });
    expect(e.statusName).toBe('POLICY_DENIED');
    expect(rig.advance(1000)).toEqual([]);
  });

  it('waits for ECDH with a touch key too; the shared secret matches node:crypto', () => {
    const rig = new PresenceRig().setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.X25519);
    const { peer, pub } = x25519Peer();
    const q = rig.nextSeq();
    expect(onlyKeepalives(rig.feed(rig.sealedFrame(Command.ECDH, { 1: keyId, 2: pub }, q)), q)).toBe(1);
    const { r } = press(rig);
    const mine = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), publicKey]), format: 'der', type: 'spki' });
    expect(Buffer.from(r.map.get(1) as Uint8Array).toString('hex')).toBe(diffieHellman({ privateKey: peer.privateKey, publicKey: mine }).toString('hex'));
  });

  it('keeps the session across a wait longer than its idle timeout, seals with the request counter, and idles out normally afterwards', () => {
    const rig = new PresenceRig({ sessionLimits: { idleTimeoutMs: 1000 } }).setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    const counter = rig.session!.sent;
    expect(onlyKeepalives(rig.advance(5000), q)).toBe(50);
    const { r } = press(rig);
    expect(r.counter).toBe(counter);
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
    // the wait counted as activity: half the idle timeout later the session (and its login) still work
    rig.clock.advance(500);
    const s = rig.call(Command.SIGN, { 1: rig.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }).map.get(1), 2: MSG });
    expect(s.statusName).toBe('OK');
    expect(s.counter).toBe(counter + 2);
    // and the idle timeout still applies once the device is idle
    rig.clock.advance(1001);
    const late = rig.feed(rig.sealedFrame(Command.KEY_LIST, {}, rig.nextSeq()));
    expect(late).toHaveLength(1);
    expect(statusName(late[0].reply!.status)).toBe('SESSION_INVALID');
  });

  it('waits again for each use: every SIGN with a touch key needs its own press (ECDSA P-256, verified by node:crypto)', () => {
    const rig = new PresenceRig().setUp();
    const { keyId, publicKey } = rig.touchKey(Alg.ECDSA_P256);
    const pub = Buffer.from(publicKey);
    const key = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
      format: 'jwk',
    });
    for (let i = 0; i < 3; i++) {
      const q = rig.nextSeq();
      expect(onlyKeepalives(rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q)), q)).toBe(1);
      expect(onlyKeepalives(rig.advance(200), q)).toBe(2);
      const { r } = press(rig);
      expect(nodeVerify('sha256', MSG, { key, dsaEncoding: 'ieee-p1363' }, r.map.get(1) as Uint8Array)).toBe(true);
    }
  });

  it('turns the LED on while it waits and off when the wait ends', () => {
    const rig = new PresenceRig({ led: true }).setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    expect(rig.leds).toEqual([true]);
    rig.feed(rig.cancelFrame(q));
    expect(rig.leds).toEqual([true, false]);
  });

  it('answers SESSION_CLOSE after a wait with the keys still right, then the session is gone', () => {
    const rig = new PresenceRig().setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: MSG }, q));
    rig.advance(1000);
    const t = rig.feed(rig.cancelFrame(q));
    expect(rig.inner(t[0]).statusName).toBe('CANCELLED');
    expect(rig.call(Command.SESSION_CLOSE).statusName).toBe('OK');
    const after = rig.feed(rig.sealedFrame(Command.KEY_LIST, {}, rig.nextSeq()));
    expect(after[0].reply!.status).toBe(Status.SESSION_INVALID);
  });
});

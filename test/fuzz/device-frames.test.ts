// Property test: 100,000 random and mutated frames and session envelopes at one device; nothing escapes, nothing hangs, a refused envelope never runs, INFO still answers right.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Alg, Command, FrameType, Status } from '../../firmware/protocol/codes.ts';
import { type CborValue, cborEncode } from '../../firmware/protocol/cbor.ts';
import { encodeFrame, encodePacket } from '../../firmware/protocol/frame.ts';
import { cobsEncode } from '../../firmware/protocol/cobs.ts';
import { utf8Encode } from '../../firmware/protocol/bytes.ts';
import { decodeReplies, field, hex, startTestDevice, type Reply } from '../helpers/loopback.ts';
import type { HostSession } from '../../host/session.ts';

const RUNS = 100_000;
// fixed so a failure reproduces; FUZZ_SEED=<n> explores other inputs
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 0x7ee5;

// ---- arbitraries -------------------------------------------------------------------------

const cheapCommands = [Command.INFO, Command.ECHO, Command.RANDOM, Command.KEY_LIST, Command.KEY_PUBLIC, Command.KEY_DELETE];
const costlyCommands = [Command.KEY_GENERATE, Command.KEY_IMPORT, Command.SIGN, Command.ECDH];

/** Any command byte, biased toward cheap commands (a key operation costs ~1 ms, a parse error ~µs). */
const commandArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...cheapCommands) },
  { weight: 1, arbitrary: fc.constantFrom(...costlyCommands) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

const leafArb: fc.Arbitrary<CborValue> = fc.oneof(
  fc.integer({ min: -1000, max: 70000 }),
  fc.constantFrom(0, 1, 2, 3, 4, 23, 24, 255, 256, 65535, 65536, Number.MAX_SAFE_INTEGER, -1, -25),
  fc.uint8Array({ maxLength: 70 }),
  fc.constantFrom(new Uint8Array(32), new Uint8Array(33).fill(2), new Uint8Array(65).fill(4)),
  fc.string({ maxLength: 40 }),
  fc.constantFrom(true, false, null),
);

/** Random CBOR maps: random small keys, values nested up to depth 5 (one deeper than allowed). */
const valueArb: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 6, arbitrary: leafArb },
    { weight: 1, arbitrary: fc.array(tie('v'), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(fc.integer({ min: -3, max: 12 }), tie('v')), { maxLength: 3 }).map((es) => new Map(es) as CborValue) },
  ),
})).v;

function safeEncode(v: CborValue): Uint8Array {
  try {
    return cborEncode(v);
  } catch (e) {
    return new Uint8Array([0xa0]); // too deep for our encoder: the raw-body arbitraries cover deep input
  }
}

const randomMapArb = fc.array(fc.tuple(fc.integer({ min: -2, max: 12 }), valueArb), { maxLength: 5 }).map((es) => safeEncode(new Map(es)));

/** Well-typed parameters per command, so that frames reach the handlers' guard clauses and successes. */
const keyIdArb = fc.integer({ min: 1, max: 8 });
const algArb = fc.oneof(fc.constantFrom(Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519), fc.integer({ min: 0, max: 255 }));
const typedParams: Record<number, fc.Arbitrary<Map<number, CborValue>>> = {
  [Command.INFO]: fc.constant(new Map()),
  [Command.ECHO]: fc.uint8Array({ maxLength: 64 }).map((d) => new Map([[1, d]])),
  [Command.RANDOM]: fc.integer({ min: 0, max: 64 }).map((n) => new Map([[1, n]])),
  [Command.KEY_LIST]: fc.constant(new Map()),
  [Command.KEY_PUBLIC]: keyIdArb.map((k) => new Map([[1, k]])),
  [Command.KEY_DELETE]: fc.integer({ min: 5, max: 40 }).map((k) => new Map([[1, k]])), // spare the four fixture keys
  [Command.KEY_GENERATE]: fc.tuple(algArb, fc.option(fc.string({ maxLength: 34 }), { nil: undefined })).map(
    ([a, l]) =>
      new Map<number, CborValue>(
        l === undefined
          ? [[1, a]]
          : [
              [1, a],
              [2, l],
            ],
      ),
  ),
  [Command.KEY_IMPORT]: fc.tuple(algArb, fc.uint8Array({ minLength: 31, maxLength: 33 })).map(
    ([a, k]) =>
      new Map<number, CborValue>([
        [1, a],
        [3, k],
      ]),
  ),
  [Command.SIGN]: fc
    .tuple(
      keyIdArb,
      fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
      fc.option(fc.uint8Array({ minLength: 31, maxLength: 33 }), { nil: undefined }),
    )
    .map(([k, m, d]) => {
      const p = new Map<number, CborValue>([[1, k]]);
      if (m !== undefined) p.set(2, m);
      if (d !== undefined) p.set(3, d);
      return p;
    }),
  [Command.ECDH]: fc.tuple(keyIdArb, fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 33 }), fc.uint8Array({ minLength: 65, maxLength: 65 }))).map(
    ([k, pk]) =>
      new Map<number, CborValue>([
        [1, k],
        [2, pk],
      ]),
  ),
};

const seqArb = fc.integer({ min: 0, max: 0xffff });

/** A well-formed REQUEST body: a command byte plus typed, random-map, empty or raw-garbage parameters. */
const requestBodyArb = commandArb.chain((cmd) =>
  fc
    .oneof(
      { weight: 4, arbitrary: (typedParams[cmd] || fc.constant(new Map())).map((m) => safeEncode(m)) },
      { weight: 3, arbitrary: randomMapArb },
      { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }) },
    )
    .map((params) => new Uint8Array([cmd, ...params])),
);

function flipBits(b: Uint8Array, positions: number[]): Uint8Array {
  const c = b.slice();
  if (c.length === 0) return c;
  for (const p of positions) c[p % c.length] ^= 1 << (p % 8);
  return c;
}

/**
 * Session envelopes (docs/protocol.md §6), sealed when the property runs so that counters rise in order: a genuine
 * envelope around a random inner body, the last genuine one replayed under a new seq, a genuine one with its
 * ciphertext, counter or session id mutated, or random envelope fields.
 */
type EnvelopeInput =
  | { kind: 'genuine'; seq: number; body: Uint8Array }
  | { kind: 'replay'; seq: number }
  | { kind: 'mutated'; seq: number; body: Uint8Array; field: 1 | 2 | 3; flips: number[] }
  | { kind: 'random'; seq: number; sessionId: number; counter: number; ciphertext: Uint8Array };

/** An input, and the seq of the one answer it must get when it is a whole frame the device must answer. */
interface Input {
  bytes: Uint8Array;
  answerSeq?: number;
  envelope?: EnvelopeInput;
}
const raw = (bytes: Uint8Array): Input => ({ bytes });
const answered = (seq: number, frame: Uint8Array): Input => ({ bytes: frame, answerSeq: seq });
const envelope = (e: EnvelopeInput): Input => ({ bytes: new Uint8Array(0), answerSeq: e.seq, envelope: e });

const envelopeArb: fc.Arbitrary<Input> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(seqArb, requestBodyArb).map(([seq, body]) => envelope({ kind: 'genuine', seq, body })) },
  { weight: 1, arbitrary: seqArb.map((seq) => envelope({ kind: 'replay', seq })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(seqArb, requestBodyArb, fc.constantFrom(1 as const, 2 as const, 3 as const), fc.array(fc.nat(), { minLength: 1, maxLength: 3 }))
      .map(([seq, body, f, flips]) => envelope({ kind: 'mutated', seq, body, field: f, flips })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        seqArb,
        fc.integer({ min: 1, max: 255 }),
        fc.oneof(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
        fc.uint8Array({ minLength: 16, maxLength: 80 }),
      )
      .map(([seq, sessionId, counter, ciphertext]) => envelope({ kind: 'random', seq, sessionId, counter, ciphertext })),
  },
);
const FLUSH = new Uint8Array([0]);

const frameArb: fc.Arbitrary<Input> = fc.oneof(
  // valid frames of every command
  { weight: 8, arbitrary: fc.tuple(seqArb, requestBodyArb).map(([s, b]) => answered(s, encodeFrame(FrameType.REQUEST, s, b))) },
  // valid frames with random bit flips (mostly caught by the CRC or COBS)
  {
    weight: 3,
    arbitrary: fc
      .tuple(seqArb, requestBodyArb, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }))
      .map(([s, b, ps]) => raw(flipBits(encodeFrame(FrameType.REQUEST, s, b), ps))),
  },
  // valid frames cut short, with the delimiter re-added or not
  {
    weight: 2,
    arbitrary: fc.tuple(seqArb, requestBodyArb, fc.nat(), fc.boolean()).map(([s, b, n, delim]) => {
      const f = encodeFrame(FrameType.REQUEST, s, b);
      const cut = f.subarray(0, n % f.length);
      return raw(delim ? new Uint8Array([...cut, 0]) : cut);
    }),
  },
  // a body mutated before framing: the CRC is valid around garbage
  {
    weight: 3,
    arbitrary: fc
      .tuple(seqArb, requestBodyArb, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }))
      .map(([s, b, ps]) => answered(s, encodeFrame(FrameType.REQUEST, s, flipBits(b, ps)))),
  },
  // random frame types, versions and bodies with a valid CRC
  {
    weight: 2,
    arbitrary: fc.tuple(fc.oneof(fc.constantFrom(0, 1, 2, 255), fc.nat(255)), fc.nat(255), seqArb, fc.uint8Array({ maxLength: 60 })).map(([v, t, s, b]) => {
      const bytes = new Uint8Array([...cobsEncode(encodePacket(t, s, b, v)), 0]);
      // every version/type pair is answered except a version-1 CANCEL (ignored for now)
      return v === 1 && t === FrameType.CANCEL ? raw(bytes) : answered(s, bytes);
    }),
  },
  // random bytes with and without 0x00
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 120 }).map(raw) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 120 }).map((b) => raw(new Uint8Array([...b.map((x) => x || 1), 0]))) },
  // now and then an oversize frame, or one long run without a delimiter
  {
    weight: 1,
    arbitrary: fc.integer({ min: 2050, max: 2400 }).map((n) => answered(n, encodeFrame(FrameType.REQUEST, n, new Uint8Array(n).fill(Command.ECHO)))),
  },
  // session envelopes: genuine, replayed, mutated, random
  { weight: 11, arbitrary: envelopeArb },
  // a SESSION_OPEN with a random key now and then (fills the session table: eviction of sessions that never logged in, idle expiry)
  {
    weight: 1,
    arbitrary: fc
      .tuple(seqArb, fc.uint8Array({ minLength: 32, maxLength: 32 }))
      .map(([s, k]) => answered(s, encodeFrame(FrameType.REQUEST, s, new Uint8Array([Command.SESSION_OPEN, ...cborEncode(new Map([[1, k]]))])))),
  },
);

// ---- the run ------------------------------------------------------------------------------

describe('fuzz: random and mutated frames at one device', () => {
  it(
    RUNS + ' inputs: no exception escapes, every answer is well-formed, and INFO still answers correctly',
    () => {
      // a device clock that moves 10 ms per input, so that sessions opened by random SESSION_OPENs expire
      let now = 0;
      const t = startTestDevice({ seed: 'fuzz', now: () => now });
      // fixture keys 1..4 so that typed SIGN/ECDH/KEY_PUBLIC frames reach real keys
      for (const alg of [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]) expect(t.call(Command.KEY_GENERATE, { 1: alg }).status).toBe(Status.OK);
      const statuses = new Map<string, number>();
      let answers = 0;
      let lastGenuine: Uint8Array | undefined; // the CBOR map of the last genuine envelope, for replays
      let lastGenuineSeq = -1;

      /** The test host's session, reopened when the device ended it (inner SESSION_CLOSE, expiry); waits out a full table. */
      const live = (): HostSession => {
        if (t.session && !t.session.closed) return t.session;
        let r = t.openSession();
        if (r.status === Status.SESSION_LIMIT) {
          now += 61_000; // random SESSION_OPENs filled the table: their sessions idle out
          r = t.openSession();
        }
        if (r.status !== Status.OK) throw new Error('cannot open a session: ' + r.statusName + ' ' + r.message);
        return t.session as HostSession;
      };
      const sessionFrame = (seq: number, m: Map<number, CborValue>) =>
        encodeFrame(FrameType.REQUEST, seq, new Uint8Array([Command.SESSION_MESSAGE, ...cborEncode(m)]));

      /** Send an envelope input; check what only a session can promise (a refused envelope is not OK, a genuine one is answered in kind). */
      const runEnvelope = (e: EnvelopeInput): Reply[] => {
        if (e.kind === 'replay' && lastGenuine === undefined) return [];
        t.link.feed(FLUSH);
        const before = decodeReplies(t.link.take());
        let frame: Uint8Array;
        let body: Uint8Array | undefined;
        // a replay comes under a new seq (the same seq and bytes would be a retransmission: the reply cache answers)
        const seq = e.kind === 'replay' && e.seq === lastGenuineSeq ? (e.seq + 1) & 0xffff : e.seq;
        if (e.kind === 'genuine' || e.kind === 'mutated') {
          const hs = live();
          body = e.body;
          const sealed = hs.seal(e.body, 0);
          const m = new Map<number, CborValue>([
            [1, sealed.sessionId],
            [2, sealed.counter],
            [3, sealed.ciphertext],
          ]);
          if (e.kind === 'mutated') {
            if (e.field === 3) {
              const c = flipBits(sealed.ciphertext, e.flips);
              if (hex(c) === hex(sealed.ciphertext)) c[0] ^= 1; // two flips of one bit cancel: keep it mutated
              m.set(3, c);
            } else {
              // a changed session id or counter, kept in its schema's range so the session layer judges it
              const v = m.get(e.field) as number;
              let w = v ^ (1 << (e.flips[0] % (e.field === 1 ? 8 : 20)));
              if (e.field === 1 && (w < 1 || w > 255)) w = v === 255 ? 254 : v + 1;
              if (w < 1) w = v + 1;
              m.set(e.field, w);
            }
          } else {
            lastGenuine = cborEncode(m);
            lastGenuineSeq = seq;
          }
          frame = sessionFrame(seq, m);
        } else if (e.kind === 'replay') frame = encodeFrame(FrameType.REQUEST, seq, new Uint8Array([Command.SESSION_MESSAGE, ...(lastGenuine as Uint8Array)]));
        else
          frame = sessionFrame(
            seq,
            new Map<number, CborValue>([
              [1, e.sessionId],
              [2, e.counter],
              [3, e.ciphertext],
            ]),
          );
        t.link.feed(frame);
        const own = decodeReplies(t.link.take());
        if (own.length !== 1 || own[0].frame.seq !== seq) throw new Error('expected one answer with seq ' + seq);
        const r = own[0];
        if (e.kind === 'genuine') {
          if (r.status !== Status.OK && r.status !== Status.SESSION_INVALID)
            throw new Error('a genuine envelope was refused: ' + r.statusName + ' ' + r.message);
          const inner = t.openReply(r); // throws unless the answer authenticates under the host's key (node:crypto)
          if (r.status === Status.OK) {
            statuses.set('inner:' + inner.statusName, (statuses.get('inner:' + inner.statusName) || 0) + 1);
            if (inner.statusName === 'undefined') throw new Error('unknown inner status ' + inner.status);
            if (inner.status === Status.INTERNAL_ERROR) throw new Error('handler crashed inside a session: ' + inner.message);
            if (inner.status !== Status.OK && (typeof inner.message !== 'string' || utf8Encode(inner.message).length > 160))
              throw new Error('bad inner error message');
            if (body && body[0] === Command.SESSION_CLOSE && inner.status === Status.OK) (t.session as HostSession).close();
          }
        } else if (r.status === Status.OK) throw new Error('a ' + e.kind + ' envelope was accepted: ' + hex(frame));
        return [...before, r];
      };

      fc.assert(
        fc.property(frameArb, (input) => {
          now += 10;
          const replies = [];
          if (input.envelope) replies.push(...runEnvelope(input.envelope));
          else {
            if (input.answerSeq !== undefined) {
              // a lone 0x00 ends whatever half-frame earlier inputs left behind, as a host does before a
              // request; its answer (e.g. PACKET_TOO_LARGE for a run that never ended) is checked below too
              t.link.feed(FLUSH);
              replies.push(...decodeReplies(t.link.take()));
            }
            t.link.feed(input.bytes); // throws → the property fails: nothing may escape the device
            const own = decodeReplies(t.link.take()); // throws on a malformed answer
            replies.push(...own);
            if (input.answerSeq !== undefined && (own.length !== 1 || own[0].frame.seq !== input.answerSeq))
              throw new Error('expected one answer with seq ' + input.answerSeq + ', got ' + own.map((r) => r.frame.seq).join(','));
          }
          for (const r of replies) {
            answers++;
            const key = (r.frame.type === FrameType.ERROR ? 'ERROR:' : '') + r.statusName;
            statuses.set(key, (statuses.get(key) || 0) + 1);
            if (r.statusName === 'undefined') throw new Error('unknown status ' + r.status);
            if (r.status === Status.INTERNAL_ERROR) throw new Error('handler crashed: ' + r.message);
            if (r.status !== Status.OK) {
              if (typeof r.message !== 'string' || utf8Encode(r.message).length > 160) throw new Error('bad error message');
            }
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
      // end any half-received frame the last input left in the reader
      t.link.feed(new Uint8Array([0]));
      t.link.take();
      const info = t.call(Command.INFO, {});
      expect(info.status).toBe(Status.OK);
      expect(field(info, 2)).toBe(1);
      expect(hex(field<Uint8Array>(info, 3))).toBe(hex(t.device.deviceId));
      expect(field(info, 4)).toBe(2048);
      expect(field(info, 5)).toEqual([1, 2, 3, 4]);
      expect(field<number>(info, 7) + field<number>(info, 8)).toBe(16);
      expect(field(info, 9)).toBe('test-loopback');
      // the inputs reached every layer, not just the CRC check
      for (const s of [
        'OK',
        'INVALID_COMMAND',
        'INVALID_CBOR',
        'INVALID_PARAMETER',
        'MISSING_PARAMETER',
        'UNKNOWN_PARAMETER',
        'ERROR:INVALID_FRAME',
        'ERROR:UNSUPPORTED_VERSION',
        'ERROR:PACKET_TOO_LARGE',
      ])
        expect(statuses.get(s) || 0, s + ' in ' + JSON.stringify([...statuses])).toBeGreaterThan(0);
      // the session layer refused what it must, and genuine envelopes reached every handler's guard clauses
      // (no SESSION_LIMIT: random SESSION_OPENs never log in, so a full table makes room by evicting the oldest of
      // them, docs/session.md §6; test/unit/core-session.test.ts covers the limit with logged-in sessions)
      for (const s of ['SESSION_REQUIRED', 'SESSION_AUTH_FAILED', 'SESSION_INVALID'])
        expect(statuses.get(s) || 0, s + ' in ' + JSON.stringify([...statuses])).toBeGreaterThan(0);
      for (const s of [
        'OK',
        'INVALID_COMMAND',
        'INVALID_CBOR',
        'INVALID_PARAMETER',
        'MISSING_PARAMETER',
        'UNKNOWN_PARAMETER',
        'KEY_NOT_FOUND',
        'UNSUPPORTED_ALGORITHM',
      ])
        expect(statuses.get('inner:' + s) || 0, 'inner ' + s + ' in ' + JSON.stringify([...statuses])).toBeGreaterThan(0);
      expect(answers).toBeGreaterThan(RUNS / 3);
    },
    240_000,
  );
});

// Fuzzing the wire decoders (cborDecode, cobsDecode, decodePacket, base64Decode, FrameReader.push, decodeMessage): arbitrary and mutated input never throws and always yields a Result with a table status.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { cborDecode, cborEncode, type CborValue } from '../../firmware/protocol/cbor.ts';
import { cobsDecode, cobsEncode } from '../../firmware/protocol/cobs.ts';
import { base64Decode, base64Encode } from '../../firmware/protocol/base64.ts';
import { decodePacket, encodePacket, encodeFrame, encodeArmorLine, FrameReader, DEFAULT_MAX_PACKET, type ReaderEvent } from '../../firmware/protocol/frame.ts';
import { decodeMessage, encodeMessage } from '../../firmware/protocol/schema.ts';
import { Command, FrameType } from '../../firmware/protocol/codes.ts';
import type { Result } from '../../firmware/protocol/result.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import { STATUS_CODES, valueArb, messageArb, mutate, mutationArb, hex } from '../protocol/support.ts';

const RUNS = 20_000;

/** The shape every decoder promises: {ok: true, value} or {ok: false, status from the table, message}. */
function expectResult<T>(r: Result<T>): void {
  expect(r !== null && typeof r === 'object').toBe(true);
  if (r.ok === true) {
    expect('value' in r).toBe(true);
  } else {
    expect(r.ok).toBe(false);
    expect(STATUS_CODES.has(r.status), 'status ' + r.status + ' is not in the table').toBe(true);
    expect(typeof msgOf(r)).toBe('string');
    expect(msgOf(r).length).toBeGreaterThan(0);
  }
}

const SCHEMAS = Object.values(Command).flatMap((c) => [COMMANDS[c].request, COMMANDS[c].response]);

/** Arbitrary bytes, biased towards short inputs and bytes that mean something to the decoders. */
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 600 }),
  fc
    .array(fc.constantFrom(0x00, 0x01, 0x18, 0x1b, 0x1f, 0x3b, 0x41, 0x5f, 0x61, 0x7f, 0x81, 0x9f, 0xa1, 0xbf, 0xc0, 0xf4, 0xf6, 0xf7, 0xfb, 0xff), {
      maxLength: 64,
    })
    .map((a) => Uint8Array.from(a)),
);

/** A valid encoding of some value, then mutated (bit flips, bytes set/inserted/deleted, truncation, duplication). */
const mutatedCborArb = fc.tuple(valueArb(1, 3), fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([v, m]) => mutate(cborEncode(v), m));

/** A valid request/response map for some schema, encoded, then mutated. */
const mutatedMessageArb = fc
  .constantFrom(...SCHEMAS)
  .chain((schema) => fc.tuple(fc.constant(schema), messageArb(schema), fc.array(mutationArb, { maxLength: 3 })))
  .map(([schema, msg, m]) => ({ schema, bytes: mutate(cborEncode(encodeMessage(schema, msg)), m) }));

describe('fuzz: decoders never throw and always return a Result', () => {
  it('cborDecode over arbitrary bytes; an accepted input is the canonical encoding of its value', () => {
    fc.assert(
      fc.property(fc.oneof(bytesArb, mutatedCborArb), (b) => {
        const r = cborDecode(b);
        expectResult(r);
        // determinism: the decoder accepts only the one deterministic encoding of a value
        if (r.ok) expect(hex(cborEncode(r.value))).toBe(hex(b));
      }),
      { numRuns: RUNS },
    );
  });

  it('cobsDecode over arbitrary and mutated encodings; output never longer than input', () => {
    const mutatedCobs = fc
      .tuple(fc.uint8Array({ maxLength: 600 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
      .map(([raw, m]) => mutate(cobsEncode(raw), m));
    fc.assert(
      fc.property(fc.oneof(bytesArb, mutatedCobs), (b) => {
        const r = cobsDecode(b);
        expectResult(r);
        if (r.ok) {
          expect(r.value.length).toBeLessThanOrEqual(b.length);
          // whatever decoded re-encodes to something that decodes to the same bytes
          const again = cobsDecode(cobsEncode(r.value));
          expect(again.ok && hex(again.value)).toBe(hex(r.value));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('decodePacket over arbitrary and mutated packets; only an intact CRC passes', () => {
    const mutatedPacket = fc
      .tuple(fc.nat(255), fc.nat(0xffff), fc.uint8Array({ maxLength: 300 }), fc.array(mutationArb, { maxLength: 3 }))
      .map(([t, s, body, m]) => mutate(encodePacket(t, s, body), m));
    fc.assert(
      fc.property(fc.oneof(bytesArb, mutatedPacket), (p) => {
        const r = decodePacket(p);
        expectResult(r);
        if (r.ok) {
          const f = r.value;
          expect(f.seq).toBeGreaterThanOrEqual(0);
          expect(f.seq).toBeLessThanOrEqual(0xffff);
          expect(hex(encodePacket(f.type, f.seq, f.body, f.version))).toBe(hex(p));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('base64Decode over arbitrary strings; an accepted string is the canonical encoding of its bytes', () => {
    const alphabet = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/='.split('')), maxLength: 40 });
    const mutated = fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.string({ minLength: 1, maxLength: 1, unit: 'binary' })).map(([b, at, c]) => {
      const s = base64Encode(b);
      const i = s.length ? at % s.length : 0;
      return s.slice(0, i) + c + s.slice(i + 1);
    });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), alphabet, mutated), (s) => {
        let r: Uint8Array | undefined;
        expect(() => (r = base64Decode(s))).not.toThrow();
        if (r !== undefined) {
          expect(r).toBeInstanceOf(Uint8Array);
          expect(base64Encode(r)).toBe(s);
        }
      }),
      { numRuns: RUNS },
    );
  });

  /** Events must be whole frames within the maximum, or oversize reports: nothing else, nothing malformed. */
  function expectEvents(evs: ReaderEvent[], max: number): void {
    expect(Array.isArray(evs)).toBe(true);
    for (const e of evs) {
      if (e.kind === 'frame') {
        expect(e.frame.body.length + 8).toBeLessThanOrEqual(max);
        expect(e.frame.seq >= 0 && e.frame.seq <= 0xffff).toBe(true);
      } else {
        expect(e.kind).toBe('oversize');
        if (e.seq !== undefined) expect(e.seq >= 0 && e.seq <= 0xffff).toBe(true);
      }
    }
  }

  for (const mode of ['binary', 'armor'] as const) {
    it('FrameReader.push (' + mode + ') over arbitrary chunks mixed with real and mutated frames', () => {
      const max = 300; // small, so that oversize paths are reached often
      const frameArb = fc
        .tuple(fc.constantFrom(...Object.values(FrameType)), fc.nat(0xffff), fc.uint8Array({ maxLength: 400 }), fc.array(mutationArb, { maxLength: 2 }))
        .map(([t, s, body, m]) => {
          const whole = mode === 'binary' ? encodeFrame(t, s, body) : new TextEncoder().encode(encodeArmorLine(t, s, body));
          return m.length ? mutate(whole, m) : whole;
        });
      const noise = mode === 'binary' ? bytesArb : fc.string({ maxLength: 80 }).map((s) => new TextEncoder().encode(s + (s.length % 2 ? '\n' : '')));
      const reader = new FrameReader(max, mode); // one reader for the whole run: state must survive anything
      fc.assert(
        fc.property(fc.array(fc.oneof(noise, frameArb), { maxLength: 4 }), (chunks) => {
          for (const c of chunks) expectEvents(reader.push(c), max);
        }),
        { numRuns: RUNS },
      );
      // and it still reads a good frame afterwards
      const good =
        mode === 'binary'
          ? encodeFrame(FrameType.REQUEST, 77, Uint8Array.of(1))
          : new TextEncoder().encode('\n' + encodeArmorLine(FrameType.REQUEST, 77, Uint8Array.of(1)));
      const evs = reader.push(mode === 'binary' ? Uint8Array.of(0, ...good) : good);
      expect(evs.filter((e) => e.kind === 'frame').map((e) => e.kind === 'frame' && e.frame.seq)).toEqual([77]);
    });
  }

  it('decodeMessage over arbitrary values and over mutated encodings of valid messages, for every schema', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.constantFrom(...SCHEMAS), valueArb()).map(([schema, v]) => ({ schema, v: v as CborValue | undefined })),
          mutatedMessageArb.map(({ schema, bytes }) => {
            const d = cborDecode(bytes);
            return { schema, v: d.ok ? d.value : undefined };
          }),
        ),
        ({ schema, v }) => {
          if (v === undefined) return;
          const r = decodeMessage(schema, v);
          expectResult(r);
          // whatever is accepted re-encodes to an equivalent map that is accepted again
          if (r.ok) {
            const again = decodeMessage(schema, encodeMessage(schema, r.value as object));
            expect(again.ok).toBe(true);
            expect(hex(cborEncode(encodeMessage(schema, (again as { value: object }).value)))).toBe(hex(cborEncode(encodeMessage(schema, r.value as object))));
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('a size-limited reader never holds more than its bound, whatever it is fed', () => {
    const r = new FrameReader(DEFAULT_MAX_PACKET);
    const internal = r as unknown as { buf: Uint8Array };
    const cap = internal.buf.length;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1000, maxLength: 5000 }), (b) => {
        r.push(b);
        expect(internal.buf.length).toBe(cap);
      }),
      { numRuns: 200 },
    );
  });
});

// Deterministic CBOR (firmware/protocol/cbor.ts): RFC 8949 Appendix A vectors, §4.2.1 rules enforced on decode, and a two-way cross-check with cbor-x.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { cborDecode, cborEncode, MAX_DEPTH, type CborValue } from '../../firmware/protocol/cbor.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import appendixA from '../vectors/cbor_rfc8949_appendix_a.json' with { type: 'json' };
import { hex, unhex, cborxEncoder, cborxDecoder, toCborX, fromCborX, picture, sortMapsDeep, valueArb, nested, EDGE_INTS } from './support.ts';

/** A JSON value of the vector file → a CborValue ({"$bytes": hex}, {"$map": [[k, v], …]}). */
function fromJson(j: unknown): CborValue {
  if (Array.isArray(j)) return j.map(fromJson);
  if (j !== null && typeof j === 'object') {
    const o = j as { $bytes?: string; $map?: [number, unknown][] };
    if (o.$bytes !== undefined) return unhex(o.$bytes);
    if (o.$map !== undefined) return new Map(o.$map.map(([k, v]) => [k, fromJson(v)]));
    throw new Error('bad vector value');
  }
  return j as CborValue;
}

function expectInvalid(hexIn: string, messagePart?: RegExp): void {
  const r = cborDecode(unhex(hexIn));
  expect(r.ok, hexIn + ' was accepted').toBe(false);
  if (r.ok) return;
  expect(r.status, hexIn).toBe(Status.INVALID_CBOR);
  expect(msgOf(r).length).toBeGreaterThan(0);
  if (messagePart) expect(msgOf(r), hexIn).toMatch(messagePart);
}

function expectValue(hexIn: string, want: CborValue): void {
  const r = cborDecode(unhex(hexIn));
  if (!r.ok) throw new Error(hexIn + ' rejected: ' + msgOf(r));
  expect(picture(r.value)).toEqual(picture(want));
}

describe('RFC 8949 Appendix A (test/vectors/cbor_rfc8949_appendix_a.json)', () => {
  const vectors = appendixA.vectors as { diagnostic: string; hex: string; expect: string; value?: unknown; why?: string }[];

  it('covers both outcomes', () => {
    expect(vectors.filter((v) => v.expect === 'accept').length).toBeGreaterThan(20);
    expect(vectors.filter((v) => v.expect === 'reject').length).toBeGreaterThan(40);
  });

  for (const v of vectors) {
    if (v.expect === 'accept') {
      it('accepts ' + v.diagnostic + ' = ' + v.hex + ' and encodes it to exactly those bytes', () => {
        const want = fromJson(v.value);
        expectValue(v.hex, want);
        expect(hex(cborEncode(want))).toBe(v.hex);
        // the independent codec reads the vector the same way (guards the transcription of the table)
        expect(picture(fromCborX(cborxDecoder.decode(unhex(v.hex))))).toEqual(picture(want));
      });
    } else {
      it('rejects ' + v.diagnostic + ' = ' + v.hex + ' (' + v.why + ')', () => expectInvalid(v.hex));
    }
  }
});

describe('decoder enforces deterministic encoding (RFC 8949 §4.2.1) with INVALID_CBOR', () => {
  it('rejects integers not in shortest form, at each width', () => {
    expectInvalid('1817', /shortest/); // 23 in 1 extra byte
    expectInvalid('1800', /shortest/);
    expectInvalid('1900ff', /shortest/); // 255 in 2 bytes
    expectInvalid('1a0000ffff', /shortest/); // 65535 in 4 bytes
    expectInvalid('1b00000000ffffffff', /shortest/); // 2^32-1 in 8 bytes
    expectInvalid('3800', /shortest/); // -1 in 1 extra byte
    expectInvalid('3900ff', /shortest/);
    expectInvalid('3a0000ffff', /shortest/);
    expectInvalid('3b00000000ffffffff', /shortest/);
    // and the smallest value of each width is accepted
    expectValue('1818', 24);
    expectValue('190100', 256);
    expectValue('1a00010000', 65536);
    expectValue('1b0000000100000000', 0x100000000);
    expectValue('3818', -25);
    expectValue('390100', -257);
    expectValue('3a00010000', -65537);
    expectValue('3b0000000100000000', -0x100000001);
  });

  it('rejects lengths and map keys not in shortest form', () => {
    expectInvalid('580161', /shortest/); // byte string of length 1 with a 1-byte length
    expectInvalid('780161', /shortest/); // text of length 1 with a 1-byte length
    expectInvalid('980101', /shortest/); // array of 1
    expectInvalid('b8010102', /shortest/); // map of 1
    expectInvalid('a1180102', /shortest/); // key 1 in 2 bytes
    expectInvalid('590001ff', /shortest/);
  });

  it('rejects indefinite lengths of every major type and a lone break', () => {
    for (const h of ['5f40ff', '7f60ff', '9fff', '9f01ff', 'bfff', 'bf0102ff']) expectInvalid(h, /indefinite/);
    expectInvalid('ff');
  });

  it('rejects reserved additional information 28..30', () => {
    for (const ib of [0x1c, 0x1d, 0x1e, 0x3c, 0x5c, 0x7d, 0x9e, 0xbc]) expectInvalid(ib.toString(16), /reserved/);
  });

  it('rejects unsorted keys, in every ordering class', () => {
    expectInvalid('a202000100', /order/); // {2, 1}
    expectInvalid('a220000100', /order/); // {-1, 1}: negatives sort after positives
    expectInvalid('a21818001700', /order/); // {24, 23}
    expectInvalid('a221002000', /order/); // {-2, -1}
    expectValue(
      'a20100200a',
      new Map([
        [1, 0],
        [-1, 10],
      ]),
    );
    expectValue(
      'a3170018180019010000',
      new Map([
        [23, 0],
        [24, 0],
        [256, 0],
      ]),
    );
    expectValue(
      'a220002100',
      new Map([
        [-1, 0],
        [-2, 0],
      ]),
    );
  });

  it('rejects duplicate keys', () => {
    expectInvalid('a201000101', /duplicate/);
    expectInvalid('a3010002000201', /duplicate/);
    expectInvalid('a2200020f6', /duplicate/);
  });

  it('rejects keys that are not integers', () => {
    for (const h of ['a1616101', 'a14001', 'a1f401', 'a1f601', 'a18001', 'a1a001', 'a1f93c0001', 'a1c00101']) expectInvalid(h, /keys must be integers/);
  });

  it('rejects floats, simple values other than false/true/null, undefined and tags', () => {
    for (const h of ['f90000', 'fa00000000', 'fb0000000000000000', 'f7', 'f0', 'f813', 'f8ff', 'f3']) expectInvalid(h);
    expectInvalid('f7', /simple values/);
    for (const h of ['c001', 'd81801', 'c24101', 'd9d9f701', 'db000000000000000001']) expectInvalid(h, /tags/);
    // inside containers too
    expectInvalid('8201f7');
    expectInvalid('a101f93c00');
  });

  it('rejects trailing bytes', () => {
    expectInvalid('0000', /trailing/);
    expectInvalid('a0a0', /trailing/);
    expectInvalid('8101ff', /trailing/);
    expectInvalid('f600', /trailing/);
  });

  it('rejects empty input and every kind of truncation', () => {
    expectInvalid('', /truncated/);
    for (const h of ['18', '19ff', '1aff', '1b00000000', '3b', '4201', '636162', '8201', 'a101', 'a1', '82', 'a20102']) expectInvalid(h);
  });

  it('rejects length fields larger than the input without allocating them', () => {
    // an array header claiming 2^32-1 items followed by 3 bytes must fail at once (a naive decoder would
    // allocate or loop 4 billion times); the same for maps, byte and text strings, up to 2^53-1
    expectInvalid('9affffffff010203', /length 4294967295 runs past the end/);
    expectInvalid('9b001fffffffffffff010203', /runs past the end/);
    expectInvalid('baffffffff010203', /length 4294967295 runs past the end/);
    expectInvalid('bb001fffffffffffff010203', /runs past the end/);
    expectInvalid('5affffffff010203', /length 4294967295 runs past the end/);
    expectInvalid('7b001fffffffffffff616263', /runs past the end/);
    // a map of n entries needs at least 2n bytes: n entries with only n bytes is refused up front
    expectInvalid('a3010203', /length 3 runs past the end/);
    // and lengths beyond 2^53-1 are refused as integers
    expectInvalid('5bffffffffffffffff00', /2\^53-1/);
  });

  it('rejects nesting deeper than MAX_DEPTH and accepts exactly MAX_DEPTH', () => {
    expect(MAX_DEPTH).toBe(4); // docs/protocol.md §2: nesting depth ≤ 4
    expectValue('8181818101', nested(4, 1));
    expectInvalid('818181818101', /nested deeper than 4/);
    expectValue('a101a101a101a10100', nested(4, 0, true));
    expectInvalid('a101a101a101a101a10100', /nested deeper than 4/);
    // a mix: map → array → map → array (4) holding an empty array (5)
    expectValue('a10181a10181f6', new Map([[1, [new Map([[1, [null]]])]]]));
    expectInvalid('a10181a1018180', /nested deeper than 4/);
    // leaves at depth 5 are fine: only containers count
    expectValue('818181814101', nested(4, unhex('01')));
  });

  it('rejects text that is not valid UTF-8 (RFC 3629): overlong, surrogates, truncated, out of range', () => {
    const bad = [
      'c080', // overlong NUL
      'c1bf', // overlong 2-byte
      'e08080', // overlong 3-byte
      'e09fbf', // overlong U+07FF
      'f0808080', // overlong 4-byte
      'f08fbfbf', // overlong U+FFFF
      'eda080', // U+D800 (surrogate)
      'edbfbf', // U+DFFF (surrogate)
      'eda0bdedb880', // CESU-8 surrogate pair for U+1F600
      'e282', // € truncated
      'f09f98', // 😀 truncated
      'c3', // ü truncated
      '80', // lone continuation byte
      'bf',
      'f4908080', // U+110000
      'f5808080',
      'ff',
      'fe',
      'e2282a', // second byte not a continuation
    ];
    for (const u of bad) {
      const len = u.length / 2;
      expectInvalid((0x60 + len).toString(16) + u, /UTF-8/);
    }
    // boundaries that are valid
    expectValue('63e282ac', '€');
    expectValue('64f48fbfbf', '\u{10FFFF}');
    expectValue('63efbfbf', '\uFFFF');
    expectValue('63ed9fbf', '\uD7FF');
    expectValue('63ee8080', '\uE000');
    expectValue('62c280', '\u0080');
    expectValue('6100', '\u0000');
  });

  it('accepts integers up to ±(2^53-1) and rejects anything beyond', () => {
    expectValue('1b001fffffffffffff', Number.MAX_SAFE_INTEGER);
    expectValue('3b001ffffffffffffe', -Number.MAX_SAFE_INTEGER);
    expectInvalid('1b0020000000000000', /2\^53-1/);
    expectInvalid('1bffffffffffffffff', /2\^53-1/);
    // -1 - (2^53-1) = -2^53: not a safe integer, and cborEncode refuses it, so the decoder must too
    expectInvalid('3b001fffffffffffff', /2\^53-1/);
    expectInvalid('3b0020000000000000', /2\^53-1/);
    expectInvalid('a11b0020000000000000f6', /2\^53-1/); // as a map key
  });

  it('a decoded byte string is a copy: reusing the input buffer (as FrameReader does) cannot change it', () => {
    const input = unhex('a201430102030243040506');
    const r = cborDecode(input);
    if (!r.ok) throw new Error(msgOf(r));
    input.fill(0xee);
    expect(picture(r.value)).toEqual(
      picture(
        new Map([
          [1, unhex('010203')],
          [2, unhex('040506')],
        ]),
      ),
    );
  });
});

describe('encoder', () => {
  it('sorts map keys deterministically whatever the insertion order', () => {
    const m = new Map<number, CborValue>([
      [-2, 0],
      [256, 0],
      [-1, 0],
      [24, 0],
      [0, 0],
      [23, 0],
    ]);
    expect(hex(cborEncode(m))).toBe('a6' + '0000' + '1700' + '181800' + '19010000' + '2000' + '2100');
  });

  it('writes every integer width boundary in shortest form (cross-checked with cbor-x)', () => {
    for (const n of EDGE_INTS) expect(hex(cborEncode(n)), String(n)).toBe(hex(cborxEncoder.encode(toCborX(n))));
  });

  it('writes a lone surrogate as U+FFFD (a JS string that is not Unicode text becomes valid UTF-8)', () => {
    expect(hex(cborEncode('a\uD800b'))).toBe('65' + '61efbfbd62');
    expect(hex(cborEncode('\uDC00'))).toBe('63efbfbd');
    expect(hex(cborEncode('\uD83D\uDE00'))).toBe('64f09f9880');
  });

  it('throws only for values outside the model (a programming error, never wire data)', () => {
    expect(() => cborEncode(1.5 as CborValue)).toThrow(/safe integers/);
    expect(() => cborEncode((2 ** 53) as CborValue)).toThrow(/safe integers/);
    expect(() => cborEncode(-(2 ** 53) as CborValue)).toThrow(/safe integers/);
    expect(() => cborEncode(NaN as CborValue)).toThrow(/safe integers/);
    expect(() => cborEncode(undefined as unknown as CborValue)).toThrow(/unsupported/);
    expect(() => cborEncode({} as unknown as CborValue)).toThrow(/unsupported/);
    expect(() => cborEncode(nested(5, 1))).toThrow(/nested deeper than 4/);
    expect(() => cborEncode(nested(5, 1, true))).toThrow(/nested deeper than 4/);
    expect(hex(cborEncode(nested(4, 1)))).toBe('8181818101');
  });
});

describe('cross-check with cbor-x (the independent codec), both ways', () => {
  it('(a) cbor-x decodes cborEncode(v) to v, and so do we, with map keys in deterministic order', () => {
    fc.assert(
      fc.property(valueArb(), (v) => {
        const bytes = cborEncode(v);
        const want = picture(sortMapsDeep(v));
        expect(picture(fromCborX(cborxDecoder.decode(bytes)))).toEqual(want);
      }),
      { numRuns: 400 },
    );
  });

  it('(b) bytes cbor-x writes for v (maps given in deterministic order) are accepted by cborDecode and give v', () => {
    fc.assert(
      fc.property(valueArb(), (v) => {
        const theirs = new Uint8Array(cborxEncoder.encode(toCborX(v)));
        const r = cborDecode(theirs);
        if (!r.ok) throw new Error('rejected cbor-x bytes ' + hex(theirs) + ': ' + msgOf(r));
        expect(picture(r.value)).toEqual(picture(sortMapsDeep(v)));
        // both encoders are deterministic here, so they agree byte for byte
        expect(hex(cborEncode(v))).toBe(hex(theirs));
      }),
      { numRuns: 400 },
    );
  });

  it('(b′) bytes cbor-x writes that are not deterministic are rejected', () => {
    // cbor-x writes an integer beyond 32 bits as float64 unless given a BigInt…
    expect(hex(cborxEncoder.encode(2 ** 32))).toMatch(/^fb/);
    expectInvalid(hex(cborxEncoder.encode(2 ** 32)), /floats/);
    // …and a small BigInt as a non-shortest 64-bit integer
    expectInvalid(hex(cborxEncoder.encode(5n)), /shortest/);
    // it keeps Map insertion order, which is not the deterministic order
    expectInvalid(
      hex(
        cborxEncoder.encode(
          new Map([
            [2, 0],
            [1, 0],
          ]),
        ),
      ),
      /order/,
    );
    expectInvalid(
      hex(
        cborxEncoder.encode(
          new Map([
            [-1, 0],
            [0, 0],
          ]),
        ),
      ),
      /order/,
    );
    // undefined, floats and (with default options) tagged typed arrays are outside the model
    expectInvalid(hex(cborxEncoder.encode(undefined)));
    expectInvalid(hex(cborxEncoder.encode(0.5)), /floats/);
    expectInvalid(hex(new Encoder({ tagUint8Array: true }).encode(new Uint8Array([1]))), /tags/);
  });

  it('(c) cborDecode(cborEncode(v)) = v and cborEncode is a fixpoint on it', () => {
    fc.assert(
      fc.property(valueArb(), (v) => {
        const bytes = cborEncode(v);
        const r = cborDecode(bytes);
        if (!r.ok) throw new Error('rejected our own encoding ' + hex(bytes) + ': ' + msgOf(r));
        expect(picture(r.value)).toEqual(picture(sortMapsDeep(v)));
        expect(hex(cborEncode(r.value))).toBe(hex(bytes));
      }),
      { numRuns: 400 },
    );
  });

  it('every proper prefix of an encoding is rejected as truncated, and any extra byte as trailing', () => {
    fc.assert(
      fc.property(valueArb(1, 3), fc.uint8Array({ minLength: 1, maxLength: 4 }), (v, extra) => {
        const bytes = cborEncode(v);
        for (let n = 0; n < bytes.length; n++) {
          const r = cborDecode(bytes.subarray(0, n));
          expect(r.ok).toBe(false);
          if (!r.ok) expect(r.status).toBe(Status.INVALID_CBOR);
        }
        const longer = new Uint8Array(bytes.length + extra.length);
        longer.set(bytes);
        longer.set(extra, bytes.length);
        const r = cborDecode(longer);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(msgOf(r)).toMatch(/trailing/);
      }),
      { numRuns: 200 },
    );
  });
});

// Shared test support for the wire contract: fast-check arbitraries for our CBOR value model and message schemas, cbor-x set-up, comparison helpers.
import fc from 'fast-check';
import { Encoder, Decoder } from 'cbor-x';
import { MAX_DEPTH, type CborValue, type CborMap } from '../../firmware/protocol/cbor.ts';
import type { Schema, FieldType, Message } from '../../firmware/protocol/schema.ts';
import { Status } from '../../firmware/protocol/codes.ts';
import { utf8Encode } from '../../firmware/protocol/bytes.ts';

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
export const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** Every status code of the table: a decoder's error must carry one of these. */
export const STATUS_CODES: ReadonlySet<number> = new Set(Object.values(Status));

// ------------------------------------------------------------------ cbor-x, the independent codec

/**
 * cbor-x configured to stay inside RFC 8949 plain CBOR: no records (tag 105), no packing, no tag 64 on
 * Uint8Array, no tag 259 on Map, floats only where a number is not an integer (we never give it one).
 */
const encoderOptions = {
  useRecords: false,
  mapsAsObjects: false,
  pack: false,
  tagUint8Array: false,
  useTag259ForMaps: false, // documented in the cbor-x README, missing from its .d.ts
  variableMapSize: true,
  useFloat32: 0,
};
export const cborxEncoder = new Encoder(encoderOptions);
/** Maps come back as Map; 64-bit integers as numbers (we only produce safe ones). */
const decoderOptions = { useRecords: false, mapsAsObjects: false, int64AsNumber: true };
export const cborxDecoder = new Decoder(decoderOptions);

/** Deterministic key order (RFC 8949 §4.2.1, bytewise order of the encoded keys): 0,1,2,… then -1,-2,… */
export function keyOrder(a: number, b: number): number {
  if (a >= 0 && b >= 0) return a - b;
  if (a < 0 && b < 0) return b - a;
  return a >= 0 ? -1 : 1;
}

/** Rebuild every Map with its keys in deterministic order (cbor-x writes Map entries in insertion order). */
export function sortMapsDeep(v: CborValue): CborValue {
  if (Array.isArray(v)) return v.map(sortMapsDeep);
  if (v instanceof Map) {
    const keys = Array.from(v.keys()).sort(keyOrder);
    return new Map(keys.map((k) => [k, sortMapsDeep(v.get(k) as CborValue)]));
  }
  return v;
}

/**
 * The value cbor-x must be given to produce the shortest encoding: cbor-x writes integers outside
 * [-2^32, 2^32-1] as float64, but a BigInt of that size as a (then shortest) 64-bit integer.
 */
export function toCborX(v: CborValue): unknown {
  if (typeof v === 'number') return v > 0xffffffff || v < -0x100000000 ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCborX);
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    const keys = Array.from(v.keys()).sort(keyOrder);
    for (const k of keys) m.set(toCborX(k), toCborX(v.get(k) as CborValue));
    return m;
  }
  return v;
}

/** Bring a cbor-x decoded value into our value model: Buffer → Uint8Array, bigint → number. */
export function fromCborX(x: unknown): unknown {
  if (typeof x === 'bigint') return Number(x);
  if (x instanceof Uint8Array) return new Uint8Array(x);
  if (Array.isArray(x)) return x.map(fromCborX);
  if (x instanceof Map) {
    const m = new Map<unknown, unknown>();
    x.forEach((v, k) => m.set(fromCborX(k), fromCborX(v)));
    return m;
  }
  return x;
}

/**
 * A plain, order-preserving picture of a value for deep comparison: Map order and the Uint8Array/Buffer
 * distinction are made explicit so that `toEqual` cannot gloss over them.
 */
export function picture(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return { array: v.map(picture) };
  if (v instanceof Map) {
    const entries: unknown[] = [];
    v.forEach((x, k) => entries.push([picture(k), picture(x)]));
    return { map: entries };
  }
  if (typeof v === 'number') return Object.is(v, -0) ? { negzero: true } : v;
  return v;
}

// ------------------------------------------------------------------ arbitraries for the value model

/** Integers at every encoding-width boundary plus random safe integers. */
export const EDGE_INTS = [
  0,
  1,
  23,
  24,
  255,
  256,
  65535,
  65536,
  0xffffffff,
  0x100000000,
  Number.MAX_SAFE_INTEGER,
  -1,
  -24,
  -25,
  -256,
  -257,
  -65536,
  -65537,
  -0x100000000,
  -0x100000001,
  -Number.MAX_SAFE_INTEGER,
];
export const intArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -30, max: 30 }),
  fc.constantFrom(...EDGE_INTS),
  fc.integer({ min: -70000, max: 70000 }),
  fc.maxSafeInteger(),
);
export const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(fc.uint8Array({ maxLength: 30 }), fc.uint8Array({ minLength: 20, maxLength: 300 }));
/** Text of any Unicode scalar values (unit 'binary' never yields a lone surrogate) and ASCII. */
export const textArb: fc.Arbitrary<string> = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'grapheme-ascii', maxLength: 40 }));
const leafArb: fc.Arbitrary<CborValue> = fc.oneof(intArb, bytesArb, textArb, fc.boolean(), fc.constant(null));

/**
 * A value at nesting level `level` (the top item is level 1). Containers appear only up to MAX_DEPTH,
 * so every generated value is one the protocol may carry. Maps come with keys in random insertion
 * order (the encoder must sort them).
 */
export function valueArb(level = 1, width = 4): fc.Arbitrary<CborValue> {
  if (level > MAX_DEPTH) return leafArb;
  const child = valueArb(level + 1, width);
  return fc.oneof(
    { arbitrary: leafArb, weight: 3 },
    { arbitrary: fc.array(child, { maxLength: width }), weight: 1 },
    { arbitrary: mapArb(child, width), weight: 1 },
  );
}

export function mapArb(child: fc.Arbitrary<CborValue>, width = 4): fc.Arbitrary<CborMap> {
  return fc.uniqueArray(fc.tuple(intArb, child), { selector: (e) => e[0], maxLength: width }).map((entries) => new Map(entries));
}

/** A value that is a container nested exactly `levels` deep: [[…[leaf]…]]. */
export function nested(levels: number, leaf: CborValue, asMap = false): CborValue {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = asMap ? new Map([[1, v]]) : [v];
  return v;
}

// ------------------------------------------------------------------ arbitraries for messages

const utf8Len = (s: string) => utf8Encode(s).length;

/** Text of at most `max` UTF-8 bytes, cut at a code point boundary so it stays valid. */
export function textUpTo(max: number): fc.Arbitrary<string> {
  return fc.oneof(fc.string({ unit: 'binary', maxLength: max }), fc.string({ unit: 'grapheme-ascii', maxLength: max })).map((s) => {
    const cps = Array.from(s);
    while (utf8Len(cps.join('')) > max) cps.pop();
    return cps.join('');
  });
}

/** A valid value for a field type, over its whole allowed range (boundaries included). */
export function fieldArb(type: FieldType): fc.Arbitrary<unknown> {
  switch (type.t) {
    case 'uint': {
      const min = type.min !== undefined ? type.min : 0;
      const max = type.max !== undefined ? type.max : Number.MAX_SAFE_INTEGER;
      return fc.oneof(fc.integer({ min, max }), fc.constantFrom(min, max));
    }
    case 'bytes': {
      const min = type.min !== undefined ? type.min : 0;
      const max = type.max !== undefined ? type.max : 4096;
      return fc.oneof(fc.uint8Array({ minLength: min, maxLength: max }), fc.uint8Array({ minLength: max, maxLength: max }));
    }
    case 'text':
      return textUpTo(type.max);
    case 'bool':
      return fc.boolean();
    case 'uintList':
      return fc.array(fc.oneof(fc.nat(300), fc.maxSafeNat()), { maxLength: type.max });
    case 'uintTextMap':
      return fc.uniqueArray(fc.tuple(fc.oneof(fc.nat(20), fc.maxSafeNat()), textUpTo(40)), { selector: (e) => e[0], maxLength: type.max }).map((entries) => {
        const o: { [k: number]: string } = {};
        for (const [k, v] of entries) o[k] = v;
        return o;
      });
    case 'list':
      // lists of nested messages are kept short: the nested fields get their own full-range coverage
      return fc.array(messageArb(type.of), { maxLength: Math.min(type.max, 4) });
  }
}

/** A valid message object for a schema: required fields always, optional ones sometimes. */
export function messageArb(schema: Schema): fc.Arbitrary<Message> {
  const model: { [name: string]: fc.Arbitrary<unknown> } = {};
  const required: string[] = [];
  for (const f of schema) {
    model[f.name] = fieldArb(f.type);
    if (!f.optional) required.push(f.name);
  }
  return fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Message>;
}

/** One deterministic valid example of a message (each field at its minimum), for the negative tests. */
export function minimalMessage(schema: Schema): Message {
  const out: Message = {};
  for (const f of schema) out[f.name] = minimalValue(f.type);
  return out;
}

function minimalValue(type: FieldType): unknown {
  switch (type.t) {
    case 'uint':
      return type.min !== undefined ? type.min : 0;
    case 'bytes':
      return new Uint8Array(type.min !== undefined ? type.min : 0).fill(0xa5);
    case 'text':
      return 'x';
    case 'bool':
      return true;
    case 'uintList':
      return [1];
    case 'uintTextMap':
      return { 1: 'why' };
    case 'list':
      return [minimalMessage(type.of)];
  }
}

// ------------------------------------------------------------------ byte mutations for fuzzing

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'set'; at: number; byte: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  | { op: 'truncate'; at: number }
  | { op: 'dup'; at: number; len: number };

/** Bytes that steer a CBOR/COBS decoder into its interesting paths: width markers, indefinite, break, delimiters. */
const INTERESTING = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x3b, 0x5b, 0x7f, 0x9b, 0x9f, 0xbb, 0xbf, 0xc0, 0xf7, 0xf9, 0xfb, 0xfe, 0xff];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
);

export function mutate(input: Uint8Array, muts: readonly Mutation[]): Uint8Array {
  let b = Array.from(input);
  for (const m of muts) {
    const n = b.length;
    const at = n === 0 ? 0 : m.at % n;
    switch (m.op) {
      case 'flip':
        if (n) b[at] ^= 1 << m.bit;
        break;
      case 'set':
        if (n) b[at] = m.byte;
        break;
      case 'insert':
        b.splice(m.at % (n + 1), 0, m.byte);
        break;
      case 'delete':
        if (n) b.splice(at, 1);
        break;
      case 'truncate':
        b = b.slice(0, m.at % (n + 1));
        break;
      case 'dup':
        if (n) b.splice(at, 0, ...b.slice(at, at + m.len));
        break;
    }
  }
  return Uint8Array.from(b);
}

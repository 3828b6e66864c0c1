// Small deterministic CBOR codec for the device (RFC 8949 §4.2.1 core deterministic encoding), integer-keyed maps only.
import { Status } from './codes.ts';
import { type Result, ok, err } from './result.ts';
import { Reason } from './reasons.ts';
import { utf8Decode, utf8Encode } from './bytes.ts';

/** The values our protocol carries. Maps have small integer keys (as CTAP2 does); no floats, no tags. */
export type CborValue = number | Uint8Array | string | boolean | null | CborValue[] | CborMap;
export type CborMap = Map<number, CborValue>;

/** Nesting limit (docs/protocol.md §2): at most 4 levels of arrays/maps; the top-level map is level 1. */
export const MAX_DEPTH = 4;

// ---------------------------------------------------------------- encoder

class Writer {
  buf: number[] = [];
  head(major: number, n: number): void {
    const m = major << 5;
    if (n < 24) this.buf.push(m | n);
    else if (n < 0x100) this.buf.push(m | 24, n);
    else if (n < 0x10000) this.buf.push(m | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) this.buf.push(m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    else {
      const hi = Math.floor(n / 0x100000000);
      const lo = n >>> 0;
      this.buf.push(m | 27, (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff);
      this.buf.push((lo >>> 24) & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
    }
  }
  bytes(b: Uint8Array): void {
    for (let i = 0; i < b.length; i++) this.buf.push(b[i]);
  }
}

/** Deterministic order of integer keys: the order of their encodings, i.e. 0,1,2,…, then -1,-2,… */
function keyOrder(a: number, b: number): number {
  if (a >= 0 && b >= 0) return a - b;
  if (a < 0 && b < 0) return b - a;
  return a >= 0 ? -1 : 1;
}

function encodeInto(w: Writer, v: CborValue, depth: number): void {
  if (depth > MAX_DEPTH && (Array.isArray(v) || v instanceof Map)) throw new Error('cbor: containers nested deeper than ' + MAX_DEPTH);
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new Error('cbor: only safe integers are encodable');
    if (v >= 0) w.head(0, v);
    else w.head(1, -1 - v);
  } else if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
  } else if (typeof v === 'string') {
    const b = utf8Encode(v);
    w.head(3, b.length);
    w.bytes(b);
  } else if (Array.isArray(v)) {
    w.head(4, v.length);
    for (let i = 0; i < v.length; i++) encodeInto(w, v[i], depth + 1);
  } else if (v instanceof Map) {
    const keys: number[] = [];
    v.forEach((_, k) => keys.push(k));
    keys.sort(keyOrder);
    w.head(5, keys.length);
    for (let i = 0; i < keys.length; i++) {
      encodeInto(w, keys[i], depth + 1);
      encodeInto(w, v.get(keys[i]) as CborValue, depth + 1);
    }
  } else if (v === false) w.buf.push(0xf4);
  else if (v === true) w.buf.push(0xf5);
  else if (v === null) w.buf.push(0xf6);
  else throw new Error('cbor: unsupported value');
}

/**
 * Encode deterministically. Throws only on a programming error (a value outside CborValue),
 * never on data that came from the wire.
 */
export function cborEncode(v: CborValue): Uint8Array {
  const w = new Writer();
  encodeInto(w, v, 1);
  return new Uint8Array(w.buf);
}

// ---------------------------------------------------------------- decoder

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
}

type R<T> = Result<T>;
const bad = (reason: Reason, args?: number[]) => err(Status.INVALID_CBOR, reason, args);

/** Read an item's argument. Enforces shortest form (§4.2.1) and rejects indefinite lengths. */
function readArg(r: Reader, info: number): R<number> {
  const b = r.b;
  if (info < 24) return ok(info);
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (size === 0) return info === 31 ? bad(Reason.CBOR_INDEFINITE) : bad(Reason.CBOR_RESERVED, [info]);
  if (r.pos + size > b.length) return bad(Reason.CBOR_TRUNCATED, [r.pos]);
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + b[r.pos + i];
  r.pos += size;
  if (n > Number.MAX_SAFE_INTEGER) return bad(Reason.CBOR_INTEGER_RANGE);
  const min = size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : 0x100000000;
  if (n < min) return bad(Reason.CBOR_NOT_SHORTEST);
  return ok(n);
}

function readItem(r: Reader, depth: number): R<CborValue> {
  const b = r.b;
  if (r.pos >= b.length) return bad(Reason.CBOR_TRUNCATED, [r.pos]);
  const ib = b[r.pos++];
  const major = ib >> 5;
  const info = ib & 31;
  if (major === 7) {
    if (ib === 0xf4) return ok(false);
    if (ib === 0xf5) return ok(true);
    if (ib === 0xf6) return ok(null);
    return bad(Reason.CBOR_FLOAT_OR_SIMPLE);
  }
  if (major === 6) return bad(Reason.CBOR_TAG);
  const a = readArg(r, info);
  if (!a.ok) return a;
  const n = a.value;
  switch (major) {
    case 0:
      return ok(n);
    case 1:
      // -1 - (2^53-1) = -2^53 is not a safe integer: the encoder refuses it, so the decoder must too
      if (n === Number.MAX_SAFE_INTEGER) return bad(Reason.CBOR_INTEGER_RANGE);
      return ok(-1 - n);
    case 2:
    case 3: {
      if (n > b.length - r.pos) return bad(Reason.CBOR_LENGTH_PAST_END, [n]);
      const s = b.slice(r.pos, r.pos + n);
      r.pos += n;
      if (major === 2) return ok(s);
      const t = utf8Decode(s);
      return t === undefined ? bad(Reason.CBOR_BAD_UTF8) : ok(t);
    }
    case 4: {
      if (depth > MAX_DEPTH) return bad(Reason.CBOR_TOO_DEEP, [MAX_DEPTH]);
      // every item takes at least one byte: a count larger than what is left is a lie, refuse before allocating
      if (n > b.length - r.pos) return bad(Reason.CBOR_LENGTH_PAST_END, [n]);
      const arr: CborValue[] = [];
      for (let i = 0; i < n; i++) {
        const it = readItem(r, depth + 1);
        if (!it.ok) return it;
        arr.push(it.value);
      }
      return ok(arr);
    }
    default: {
      // major 5: map
      if (depth > MAX_DEPTH) return bad(Reason.CBOR_TOO_DEEP, [MAX_DEPTH]);
      if (n * 2 > b.length - r.pos) return bad(Reason.CBOR_LENGTH_PAST_END, [n]);
      const m: CborMap = new Map();
      let prev: number | undefined;
      for (let i = 0; i < n; i++) {
        const kb = b[r.pos];
        if (kb >> 5 !== 0 && kb >> 5 !== 1) return bad(Reason.CBOR_KEY_NOT_INTEGER);
        const k = readItem(r, depth + 1);
        if (!k.ok) return k;
        const key = k.value as number;
        if (prev !== undefined) {
          const c = keyOrder(prev, key);
          if (c === 0) return bad(Reason.CBOR_DUPLICATE_KEY, [key]);
          if (c > 0) return bad(Reason.CBOR_KEY_ORDER, [key]);
        }
        prev = key;
        const v = readItem(r, depth + 1);
        if (!v.ok) return v;
        m.set(key, v.value);
      }
      return ok(m);
    }
  }
}

/** Decode exactly one deterministic CBOR item filling all of `bytes`. Never throws. */
export function cborDecode(bytes: Uint8Array): Result<CborValue> {
  const r = new Reader(bytes);
  const v = readItem(r, 1);
  if (!v.ok) return v;
  if (r.pos !== bytes.length) return bad(Reason.CBOR_TRAILING, [bytes.length - r.pos]);
  return v;
}

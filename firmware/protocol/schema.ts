// Message schemas: integer-keyed CBOR maps checked field by field at the boundary, with errors that name the field by its key.
import { Status } from './codes.ts';
import type { CborMap, CborValue } from './cbor.ts';
import { type Result, ok, err } from './result.ts';
import { Reason } from './reasons.ts';
import { utf8Encode } from './bytes.ts';

/**
 * A field's type. `uint` has an inclusive range [min, max]; `bytes`, `text` (length in UTF-8 bytes)
 * and lists have a length range. `list` holds maps of a nested schema; `uintList` holds uints;
 * `uintTextMap` maps uint keys (within [min, max]) to text.
 */
export type FieldType =
  | { t: 'uint'; min?: number; max?: number }
  | { t: 'bytes'; min?: number; max?: number }
  | { t: 'text'; max: number }
  | { t: 'bool' }
  | { t: 'uintList'; max: number }
  | { t: 'uintTextMap'; max: number }
  | { t: 'list'; max: number; of: Schema };

export interface Field {
  key: number;
  name: string;
  type: FieldType;
  optional?: boolean;
}

/** Fields in ascending key order. */
export type Schema = readonly Field[];

/** A decoded message: field name → value. MessageOf gives each schema's precise type. */
export type Message = { [name: string]: unknown };

/** The value a field type decodes to. */
type ValueOf<T> = T extends { t: 'uint' }
  ? number
  : T extends { t: 'bytes' }
    ? Uint8Array
    : T extends { t: 'text' }
      ? string
      : T extends { t: 'bool' }
        ? boolean
        : T extends { t: 'uintList' }
          ? number[]
          : T extends { t: 'uintTextMap' }
            ? { [k: number]: string }
            : T extends { t: 'list'; of: infer S extends Schema }
              ? MessageOf<S>[]
              : never;

type Flat<T> = { [K in keyof T]: T[K] };

/**
 * The message type a schema describes, derived from the schema itself (declared `as const satisfies Schema`), so a
 * command's TypeScript types and its wire checks cannot disagree: required fields as they are, optional ones with `?`.
 */
export type MessageOf<S extends Schema> = Flat<
  { -readonly [F in S[number] as F extends { optional: true } ? never : F['name']]: ValueOf<F['type']> } & {
    -readonly [F in S[number] as F extends { optional: true } ? F['name'] : never]?: ValueOf<F['type']>;
  }
>;

const P = Status.INVALID_PARAMETER;

// Errors name the field by its CBOR key (docs/protocol.md "Error details"); the host finds its name in the schema.
function checkValue(f: Field, type: FieldType, v: CborValue): Result<unknown> {
  const k = f.key;
  switch (type.t) {
    case 'uint': {
      if (typeof v !== 'number' || v < 0) return err(P, Reason.EXPECTED_UINT, [k]);
      const lo = type.min !== undefined ? type.min : 0;
      if (v < lo || (type.max !== undefined && v > type.max)) return err(P, Reason.VALUE_OUT_OF_RANGE, range(k, v, lo, type.max));
      return ok(v);
    }
    case 'bytes': {
      if (!(v instanceof Uint8Array)) return err(P, Reason.EXPECTED_BYTES, [k]);
      const lo = type.min !== undefined ? type.min : 0;
      if (v.length < lo || (type.max !== undefined && v.length > type.max)) return err(P, Reason.LENGTH_OUT_OF_RANGE, range(k, v.length, lo, type.max));
      return ok(v);
    }
    case 'text': {
      if (typeof v !== 'string') return err(P, Reason.EXPECTED_TEXT, [k]);
      const n = utf8Encode(v).length;
      if (n > type.max) return err(P, Reason.TEXT_TOO_LONG, [k, n, type.max]);
      return ok(v);
    }
    case 'bool':
      return typeof v === 'boolean' ? ok(v) : err(P, Reason.EXPECTED_BOOL, [k]);
    case 'uintList': {
      if (!Array.isArray(v)) return err(P, Reason.EXPECTED_ARRAY, [k]);
      if (v.length > type.max) return err(P, Reason.TOO_MANY_ENTRIES, [k, v.length, type.max]);
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x !== 'number' || x < 0) return err(P, Reason.ENTRY_NOT_UINT, [k, i]);
      }
      return ok(v.slice());
    }
    case 'uintTextMap': {
      if (!(v instanceof Map)) return err(P, Reason.EXPECTED_MAP, [k]);
      if (v.size > type.max) return err(P, Reason.TOO_MANY_ENTRIES, [k, v.size, type.max]);
      const out: { [k: number]: string } = {};
      let bad = false;
      v.forEach((x, key) => {
        if (key < 0 || typeof x !== 'string') bad = true;
        else out[key] = x as string;
      });
      return bad ? err(P, Reason.ENTRY_TYPES, [k]) : ok(out);
    }
    case 'list': {
      if (!Array.isArray(v)) return err(P, Reason.EXPECTED_ARRAY, [k]);
      if (v.length > type.max) return err(P, Reason.TOO_MANY_ENTRIES, [k, v.length, type.max]);
      const out: Message[] = [];
      for (let i = 0; i < v.length; i++) {
        // an entry that is not a map names the list and its index; an entry's own errors name its field's key
        // (lists occur in responses only, which the host checks)
        if (!(v[i] instanceof Map)) return err(P, Reason.EXPECTED_MAP, [k, i]);
        const m = decodeFields(type.of, v[i]);
        if (!m.ok) return m;
        out.push(m.value);
      }
      return ok(out);
    }
  }
}

/** VALUE_OUT_OF_RANGE / LENGTH_OUT_OF_RANGE arguments: [field, got, min, max]; max left out when there is none. */
function range(k: number, got: number, lo: number, hi: number | undefined): number[] {
  return hi === undefined ? [k, got, lo] : [k, got, lo, hi];
}

function decodeFields(schema: Schema, v: CborValue): Result<Message> {
  if (!(v instanceof Map)) return err(Status.INVALID_PARAMETER, Reason.EXPECTED_MAP);
  const out: Message = {};
  let unknown: number | undefined;
  v.forEach((_, k) => {
    if (unknown === undefined && !fieldByKey(schema, k)) unknown = k;
  });
  if (unknown !== undefined) return err(Status.UNKNOWN_PARAMETER, Reason.UNKNOWN_FIELD, [unknown]);
  for (let i = 0; i < schema.length; i++) {
    const f = schema[i];
    const x = v.get(f.key);
    if (x === undefined) {
      if (!f.optional) return err(Status.MISSING_PARAMETER, Reason.MISSING_FIELD, [f.key]);
      continue;
    }
    const r = checkValue(f, f.type, x);
    if (!r.ok) return r;
    out[f.name] = r.value;
  }
  return ok(out);
}

function fieldByKey(schema: Schema, k: number): Field | undefined {
  for (let i = 0; i < schema.length; i++) if (schema[i].key === k) return schema[i];
  return undefined;
}

/** Check a decoded CBOR value against a schema. Never throws. */
export function decodeMessage<T>(schema: Schema, v: CborValue): Result<T> {
  return decodeFields(schema, v) as Result<T>;
}

/** Build the CBOR map for a message object. Fields that are undefined are left out. */
export function encodeMessage(schema: Schema, msg: object): CborMap {
  const m: CborMap = new Map();
  const o = msg as Message;
  for (let i = 0; i < schema.length; i++) {
    const f = schema[i];
    const x = o[f.name];
    if (x === undefined) continue;
    m.set(f.key, encodeValue(f.type, x));
  }
  return m;
}

function encodeValue(type: FieldType, x: unknown): CborValue {
  if (type.t === 'list') return (x as object[]).map((e) => encodeMessage(type.of, e));
  if (type.t === 'uintTextMap') {
    const m: CborMap = new Map();
    const o = x as { [k: string]: string };
    for (const k in o) m.set(Number(k), o[k]);
    return m;
  }
  return x as CborValue;
}

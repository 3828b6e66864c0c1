// Message schemas: integer-keyed CBOR maps checked field by field at the boundary, with messages that name the field.
import { Status } from './codes.ts';
import type { CborMap, CborValue } from './cbor.ts';
import { type Result, ok, err } from './result.ts';
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

/** A decoded message: field name → value. Each messages/*.ts file gives the precise interface. */
export type Message = { [name: string]: unknown };

const P = Status.INVALID_PARAMETER;

function checkValue(f: Field, type: FieldType, v: CborValue, where: string): Result<unknown> {
  switch (type.t) {
    case 'uint': {
      if (typeof v !== 'number' || v < 0) return err(P, where + ': expected an unsigned integer');
      const lo = type.min !== undefined ? type.min : 0;
      if (v < lo || (type.max !== undefined && v > type.max))
        return err(P, where + ': ' + v + ' is outside ' + lo + '..' + (type.max !== undefined ? type.max : 'any'));
      return ok(v);
    }
    case 'bytes': {
      if (!(v instanceof Uint8Array)) return err(P, where + ': expected a byte string');
      const lo = type.min !== undefined ? type.min : 0;
      if (v.length < lo || (type.max !== undefined && v.length > type.max)) {
        const want = type.min === type.max ? 'exactly ' + lo : lo + '..' + (type.max !== undefined ? type.max : 'any');
        return err(P, where + ': expected ' + want + ' bytes, got ' + v.length);
      }
      return ok(v);
    }
    case 'text': {
      if (typeof v !== 'string') return err(P, where + ': expected a text string');
      const n = utf8Encode(v).length;
      if (n > type.max) return err(P, where + ': at most ' + type.max + ' bytes of UTF-8, got ' + n);
      return ok(v);
    }
    case 'bool':
      return typeof v === 'boolean' ? ok(v) : err(P, where + ': expected true or false');
    case 'uintList': {
      if (!Array.isArray(v)) return err(P, where + ': expected an array');
      if (v.length > type.max) return err(P, where + ': at most ' + type.max + ' entries, got ' + v.length);
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x !== 'number' || x < 0) return err(P, where + '[' + i + ']: expected an unsigned integer');
      }
      return ok(v.slice());
    }
    case 'uintTextMap': {
      if (!(v instanceof Map)) return err(P, where + ': expected a map');
      if (v.size > type.max) return err(P, where + ': at most ' + type.max + ' entries');
      const out: { [k: number]: string } = {};
      let bad: string | undefined;
      v.forEach((x, k) => {
        if (bad === undefined && (k < 0 || typeof x !== 'string')) bad = where + ': expected unsigned keys and text values';
        else out[k] = x as string;
      });
      return bad === undefined ? ok(out) : err(P, bad);
    }
    case 'list': {
      if (!Array.isArray(v)) return err(P, where + ': expected an array');
      if (v.length > type.max) return err(P, where + ': at most ' + type.max + ' entries, got ' + v.length);
      const out: Message[] = [];
      for (let i = 0; i < v.length; i++) {
        const m = decodeFields(type.of, v[i], where + '[' + i + ']');
        if (!m.ok) return m;
        out.push(m.value);
      }
      return ok(out);
    }
  }
}

function decodeFields(schema: Schema, v: CborValue, where: string): Result<Message> {
  if (!(v instanceof Map)) return err(Status.INVALID_PARAMETER, (where || 'message') + ': expected a map');
  const out: Message = {};
  let unknown: number | undefined;
  v.forEach((_, k) => {
    if (unknown === undefined && !fieldByKey(schema, k)) unknown = k;
  });
  if (unknown !== undefined)
    return err(Status.UNKNOWN_PARAMETER, (where ? where + ': ' : '') + 'unknown parameter key ' + unknown);
  for (let i = 0; i < schema.length; i++) {
    const f = schema[i];
    const name = (where ? where + '.' : '') + f.name;
    const x = v.get(f.key);
    if (x === undefined) {
      if (!f.optional) return err(Status.MISSING_PARAMETER, name + ' (key ' + f.key + ') is required');
      continue;
    }
    const r = checkValue(f, f.type, x, name);
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
  return decodeFields(schema, v, '') as Result<T>;
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

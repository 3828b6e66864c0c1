// Message schemas (firmware/protocol/schema.ts, protocol/commands/*): every schema round-trips random valid messages, and each kind of bad field gets its status and names the field.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, type Schema, type Field, type Message } from '../../firmware/protocol/schema.ts';
import { cborDecode, cborEncode, type CborValue, type CborMap } from '../../firmware/protocol/cbor.ts';
import { Command, Status, nameOf } from '../../firmware/protocol/codes.ts';
import { COMMANDS } from '../../firmware/protocol/commands/index.ts';
import { AttestationStatementSchema } from '../../firmware/protocol/commands/attestation.ts';
import { hex, picture, messageArb, minimalMessage, cborxDecoder, cborxEncoder, fromCborX, toCborX } from './support.ts';

/** Every schema of the table, named like "KEY_LIST.response". */
const SCHEMAS: [string, Schema][] = [];
for (const [name, code] of Object.entries(Command)) {
  SCHEMAS.push([name + '.request', COMMANDS[code].request]);
  SCHEMAS.push([name + '.response', COMMANDS[code].response]);
}

/** Typed arrays and plain objects compared by content, whatever their class. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: hex(v) };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const o: { [k: string]: unknown } = {};
    for (const k of Object.keys(v).sort()) o[k] = plain((v as { [k: string]: unknown })[k]);
    return o;
  }
  return v;
}

function expectError(r: ReturnType<typeof decodeMessage>, status: number, ...nameParts: (string | RegExp)[]): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(nameOf(Status, r.status)).toBe(nameOf(Status, status));
  // the device names a field by its CBOR key (docs/protocol.md §2.1): the error's first argument is the key of a
  // field with that name (for a nested path, its last name); a RegExp is matched against the host's rendering
  for (const p of nameParts) {
    if (typeof p !== 'string') {
      expect(msgOf(r)).toMatch(p);
      continue;
    }
    if (p === 'message' && r.args.length === 0) continue; // the parameters themselves (EXPECTED_MAP without a field)
    expect(r.args.length, msgOf(r)).toBeGreaterThan(0);
    const k = /^key (-?\d+)$/.exec(p);
    if (k) {
      expect(r.args[0], msgOf(r)).toBe(Number(k[1]));
      continue;
    }
    const last = p
      .split(/[.[\]]/)
      .filter((x) => x !== '' && !/^\d+$/.test(x))
      .pop();
    if (last !== undefined) expect(namesOfKey(r.args[0]), msgOf(r)).toContain(last);
  }
}

/** Every field name any message schema (nested ones too) gives to CBOR key `k`. */
function namesOfKey(k: number): string[] {
  const out: string[] = [];
  const walk = (schema: Schema) => {
    for (const f of schema) {
      if (f.key === k) out.push(f.name);
      if (f.type.t === 'list') walk(f.type.of);
    }
  };
  for (const code of Object.keys(COMMANDS)) {
    walk(COMMANDS[Number(code)].request);
    walk(COMMANDS[Number(code)].response);
  }
  walk(AttestationStatementSchema);
  return out;
}

/** A schema's map with one entry replaced. */
function withEntry(m: CborMap, key: number, v: CborValue | undefined): CborMap {
  const out = new Map(m);
  if (v === undefined) out.delete(key);
  else out.set(key, v);
  return out;
}

describe('round trip of random valid messages through both codecs', () => {
  for (const [name, schema] of SCHEMAS) {
    it(name + ': encodeMessage → cborEncode → cborDecode → decodeMessage gives the message back; cbor-x agrees both ways', () => {
      fc.assert(
        fc.property(messageArb(schema), (msg) => {
          const map = encodeMessage(schema, msg);
          const bytes = cborEncode(map);
          const back = cborDecode(bytes);
          if (!back.ok) throw new Error(msgOf(back));
          const dec = decodeMessage<Message>(schema, back.value);
          if (!dec.ok) throw new Error(name + ': ' + msgOf(dec));
          expect(plain(dec.value)).toEqual(plain(msg));
          // the independent codec reads the same map from our bytes…
          expect(picture(fromCborX(cborxDecoder.decode(bytes)))).toEqual(picture(back.value));
          // …and writes the very same bytes for it, which we accept
          const theirs = new Uint8Array(cborxEncoder.encode(toCborX(map)));
          expect(hex(theirs)).toBe(hex(bytes));
        }),
        { numRuns: 60 },
      );
    });
  }

  it('optional fields that are absent stay absent, and required ones are always present on the wire', () => {
    const sign = COMMANDS[Command.SIGN].request;
    const m = encodeMessage(sign, { keyId: 7, message: new Uint8Array([1]) });
    expect(Array.from(m.keys())).toEqual([1, 2]);
    expect(hex(cborEncode(m))).toBe('a20107024101');
  });

  it('an INFO response with self-test failures round trips (uintTextMap)', () => {
    const schema = COMMANDS[Command.INFO].response;
    const info = {
      firmwareVersion: '0.1.0',
      protocolVersion: 1,
      deviceId: new Uint8Array(16).fill(0xab),
      maxPacket: 2048,
      algorithms: [1, 3, 4],
      selftestFailures: { 2: 'P-256 known answer mismatch' },
      slotsUsed: 0,
      slotsFree: 16,
      platform: 'kaluma',
      flashPageSize: 4096,
      flashPages: 4,
      flashBytesUsed: 120,
      flashBytesFree: 12000,
      flashEraseCounts: [1, 1, 2, 0],
      initialized: true,
      label: 'bench board',
      userPinTries: 7,
      soPinTries: 8,
      pinIterations: 1000,
      presence: false,
      pinMinBits: 48,
      rollbackProtection: true,
    };
    const r = cborDecode(cborEncode(encodeMessage(schema, info)));
    if (!r.ok) throw new Error(msgOf(r));
    const d = decodeMessage(schema, r.value);
    expect(d.ok && plain(d.value)).toEqual(plain(info));
  });
});

describe('bad messages: the right status, a message that names the field, nothing accepted', () => {
  for (const [name, schema] of SCHEMAS) {
    describe(name, () => {
      const valid = encodeMessage(schema, minimalMessage(schema));

      it('the minimal message is valid', () => {
        const r = decodeMessage(schema, valid);
        if (!r.ok) throw new Error(msgOf(r));
      });

      it('an unknown key → UNKNOWN_PARAMETER naming the key', () => {
        const maxKey = schema.reduce((m, f) => Math.max(m, f.key), 0);
        for (const k of [maxKey + 1, 0x7fff, -1, schema.length ? 0 : 1]) {
          if (schema.some((f) => f.key === k)) continue;
          expectError(decodeMessage(schema, withEntry(valid, k, 1)), Status.UNKNOWN_PARAMETER, 'key ' + k);
        }
      });

      it('not a map → INVALID_PARAMETER', () => {
        for (const v of [[], 1, 'x', new Uint8Array(1), null, true] as CborValue[])
          expectError(decodeMessage(schema, v), Status.INVALID_PARAMETER, /expected a map/);
      });

      for (const f of schema) {
        describe('field ' + f.name + ' (key ' + f.key + ')', () => fieldCases(schema, valid, f, ''));
      }
    });
  }
});

/** Negative cases derived from the field's type and limits. `prefix` names the enclosing list entry. */
function fieldCases(schema: Schema, valid: CborMap, f: Field, prefix: string): void {
  const name = prefix + f.name;
  const bad = (v: CborValue | undefined) => decodeMessage(schema, withEntry(valid, f.key, v));

  if (!f.optional) it('missing → MISSING_PARAMETER naming it', () => expectError(bad(undefined), Status.MISSING_PARAMETER, name, 'key ' + f.key));
  else
    it('optional: may be left out', () => {
      const r = bad(undefined);
      expect(r.ok).toBe(true);
      expect(r.ok && f.name in (r.value as object)).toBe(false);
    });

  it('wrong type → INVALID_PARAMETER naming it', () => {
    const wrong: CborValue[] = {
      uint: ['1', new Uint8Array([1]), true, null, [1], new Map<number, CborValue>()],
      bytes: [0, 'ab', [1, 2], true, null],
      text: [0, new Uint8Array([0x61]), ['a'], false, null],
      bool: [0, 1, 'true', null, new Uint8Array([1])],
      uintList: [1, 'x', new Map<number, CborValue>(), new Uint8Array(1), null],
      uintTextMap: [[], 'x', 1, null, new Uint8Array(1)],
      list: [new Map<number, CborValue>(), 1, 'x', null],
    }[f.type.t];
    for (const w of wrong) expectError(bad(w), Status.INVALID_PARAMETER, name);
  });

  const t = f.type;
  switch (t.t) {
    case 'uint':
      it('out of range → INVALID_PARAMETER naming it and the range', () => {
        const min = t.min !== undefined ? t.min : 0;
        expectError(bad(-1), Status.INVALID_PARAMETER, name);
        if (min > 0) expectError(bad(min - 1), Status.INVALID_PARAMETER, name, String(min - 1), /outside/);
        if (t.max !== undefined) {
          expectError(bad(t.max + 1), Status.INVALID_PARAMETER, name, String(t.max + 1), /outside/);
          expectError(bad(Number.MAX_SAFE_INTEGER), Status.INVALID_PARAMETER, name);
          expect(bad(t.max).ok).toBe(true);
        }
        expect(bad(min).ok).toBe(true);
      });
      break;
    case 'bytes':
      it('too long or too short → INVALID_PARAMETER naming it and the length', () => {
        const min = t.min !== undefined ? t.min : 0;
        if (t.max !== undefined) {
          expectError(bad(new Uint8Array(t.max + 1)), Status.INVALID_PARAMETER, name, String(t.max + 1));
          expect(bad(new Uint8Array(t.max)).ok).toBe(true);
        }
        if (min > 0) expectError(bad(new Uint8Array(min - 1)), Status.INVALID_PARAMETER, name, String(min - 1));
        expect(bad(new Uint8Array(min)).ok).toBe(true);
      });
      break;
    case 'text':
      it('too long (counted in UTF-8 bytes) → INVALID_PARAMETER naming it', () => {
        expectError(bad('a'.repeat(t.max + 1)), Status.INVALID_PARAMETER, name, String(t.max + 1));
        expect(bad('a'.repeat(t.max)).ok).toBe(true);
        // max/2 + 1 two-byte characters: fewer characters than max, more bytes
        const n = Math.floor(t.max / 2) + 1;
        expectError(bad('é'.repeat(n)), Status.INVALID_PARAMETER, name, String(2 * n));
        expect(bad('é'.repeat(Math.floor(t.max / 2))).ok).toBe(true);
      });
      break;
    case 'uintList':
      it('too many entries or a bad entry → INVALID_PARAMETER naming it', () => {
        expectError(bad(new Array(t.max + 1).fill(1)), Status.INVALID_PARAMETER, name, String(t.max + 1));
        expect(bad(new Array(t.max).fill(1)).ok).toBe(true);
        expectError(bad([1, -1]), Status.INVALID_PARAMETER, name + '[1]');
        expectError(bad([1, 2, 'x']), Status.INVALID_PARAMETER, name + '[2]');
      });
      break;
    case 'uintTextMap':
      it('too many entries or a bad entry → INVALID_PARAMETER naming it', () => {
        const big = new Map<number, CborValue>();
        for (let i = 0; i <= t.max; i++) big.set(i, 'x');
        expectError(bad(big), Status.INVALID_PARAMETER, name, String(t.max));
        big.delete(0);
        expect(bad(big).ok).toBe(true);
        expectError(bad(new Map<number, CborValue>([[-1, 'x']])), Status.INVALID_PARAMETER, name);
        expectError(bad(new Map<number, CborValue>([[1, 2]])), Status.INVALID_PARAMETER, name);
      });
      break;
    case 'list': {
      const entry = encodeMessage(t.of, minimalMessage(t.of));
      it('too many entries → INVALID_PARAMETER naming it', () => {
        expectError(bad(new Array(t.max + 1).fill(entry)), Status.INVALID_PARAMETER, name, String(t.max + 1));
        expect(bad(new Array(t.max).fill(entry)).ok).toBe(true);
      });
      it('a bad entry → its status; an entry that is not a map names the list and its index, a bad field names the field', () => {
        const notMap = bad([entry, 5]);
        expectError(notMap, Status.INVALID_PARAMETER, name, /\[1\]: expected a map/);
        if (!notMap.ok) expect(notMap.args[1]).toBe(1);
        // an entry's own errors carry the entry's field key (lists occur in responses, which the host checks)
        expectError(bad([withEntry(entry, 99, 1)]), Status.UNKNOWN_PARAMETER, 'key 99');
        for (const g of t.of) {
          if (!g.optional) expectError(bad([withEntry(entry, g.key, undefined)]), Status.MISSING_PARAMETER, g.name);
          expectError(bad([withEntry(entry, g.key, g.type.t === 'text' ? 1 : 'x')]), Status.INVALID_PARAMETER, g.name);
        }
      });
      break;
    }
    case 'bool':
      it('true and false both pass', () => {
        expect(bad(true).ok).toBe(true);
        expect(bad(false).ok).toBe(true);
      });
      break;
  }
}

describe('decodeMessage changes nothing and never throws', () => {
  it('leaves its input map untouched', () => {
    for (const [, schema] of SCHEMAS) {
      const m = encodeMessage(schema, minimalMessage(schema));
      m.set(0x7fff, 1);
      const before = hex(cborEncode(m));
      decodeMessage(schema, m);
      expect(hex(cborEncode(m))).toBe(before);
    }
  });

  it('reports the unknown key before a missing one (a newer host talking to an older device learns the real cause)', () => {
    const schema = COMMANDS[Command.KEY_PUBLIC].request;
    expectError(decodeMessage(schema, new Map([[9, 1]])), Status.UNKNOWN_PARAMETER, 'key 9');
  });
});

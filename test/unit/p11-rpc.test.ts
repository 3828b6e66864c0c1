// The p11-kit RPC codec (host/pkcs11/rpc.ts), the object model's label encoding and key-pair templates (objects.ts) and the CK_RV of each device error (errors.ts): byte forms pinned to p11-kit 0.24.1, every refusal with its reason, and fuzzing (docs/pkcs11.md §3–§6).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Alg, Status } from '../../firmware/protocol/index.ts';
import { HsmError } from '../../host/errors.ts';
import { CKA, CKM, CKR, RPC_CALLS, RPC_PROTOCOL_VERSION, callId } from '../../host/pkcs11/constants.ts';
import { CKR_OF, ckrOf } from '../../host/pkcs11/errors.ts';
import { decodeDeviceLabel, encodeDeviceLabel, objectOf, planKeygen } from '../../host/pkcs11/objects.ts';
import {
  FrameReader,
  MAX_RPC_BODY,
  decodeRequest,
  decodeResponse,
  encodeError,
  encodeFrame,
  encodeRequest,
  encodeResponse,
  negotiateVersion,
  type InArg,
} from '../../host/pkcs11/rpc.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('protocol version and call table', () => {
  it('answers version 0 whatever the client offers: p11-kit-client 0.24 offers 0, a newer one is brought down to 0', () => {
    expect(RPC_PROTOCOL_VERSION).toBe(0);
    expect(negotiateVersion(0)).toBe(0);
    expect(negotiateVersion(1)).toBe(0);
    expect(negotiateVersion(255)).toBe(0);
  });

  it('has p11-kit 0.24.1 call ids (rpc-message.h) and nothing past C_WaitForSlotEvent', () => {
    expect(RPC_CALLS).toHaveLength(66);
    const ids: [string, number][] = [
      ['C_Initialize', 1],
      ['C_GetTokenInfo', 6],
      ['C_OpenSession', 10],
      ['C_Login', 18],
      ['C_DestroyObject', 22],
      ['C_GetAttributeValue', 24],
      ['C_FindObjectsInit', 26],
      ['C_SignInit', 42],
      ['C_Sign', 43],
      ['C_GenerateKeyPair', 59],
      ['C_GenerateRandom', 64],
      ['C_WaitForSlotEvent', 65],
    ];
    for (const [name, id] of ids) expect(callId(name), name).toBe(id);
    expect(RPC_CALLS[callId('C_GetTokenInfo')].response).toBe('ssssuuuuuuuuuuuvvs');
    expect(RPC_CALLS[callId('C_GetAttributeValue')].request).toBe('uufA');
  });
});

describe('encoding, byte for byte as p11-kit writes it', () => {
  it('C_Login request: call id, signature, ulong as 8 bytes, byte array with its valid flag', () => {
    const b = encodeRequest(callId('C_Login'), [
      { t: 'u', v: 1 },
      { t: 'u', v: 1 },
      { t: 'ay', v: Buffer.from('123456') },
    ]);
    expect(hex(b)).toBe(
      '00000012' +
        '00000004' +
        Buffer.from('uuay').toString('hex') +
        '0000000000000001' +
        '0000000000000001' +
        '01' +
        '00000006' +
        Buffer.from('123456').toString('hex'),
    );
    const d = decodeRequest(b);
    expect(d.ok && d.value.args).toEqual([
      { t: 'u', v: 1n },
      { t: 'u', v: 1n },
      { t: 'ay', v: new Uint8Array(Buffer.from('123456')) },
    ]);
  });

  it('the error reply is call 0, signature "u", the CK_RV as a ulong', () => {
    expect(hex(encodeError(CKR.PIN_INCORRECT))).toBe('00000000' + '00000001' + '75' + '00000000000000a0');
  });

  it('a byte array answer without data (length only, too small) is valid 0 and the length', () => {
    const b = encodeResponse(callId('C_Sign'), [{ t: 'ay', v: null, length: 64 }]);
    expect(hex(b)).toBe('0000002b' + '00000002' + Buffer.from('ay').toString('hex') + '00' + '00000040');
  });

  it('C_GetAttributeValue answers: bool, ulong, bytes, length only, unavailable; then the CK_RV', () => {
    const b = encodeResponse(callId('C_GetAttributeValue'), [
      {
        t: 'aA',
        v: [
          { type: CKA.TOKEN, value: true },
          { type: CKA.CLASS, value: 3n },
          { type: CKA.ID, value: Uint8Array.of(0xab) },
          { type: CKA.LABEL, value: Uint8Array.of(1, 2, 3), lengthOnly: true },
          { type: CKA.VALUE, unavailable: true },
        ],
      },
      { t: 'u', v: CKR.ATTRIBUTE_SENSITIVE },
    ]);
    expect(hex(b)).toBe(
      '00000018' +
        '00000003' +
        Buffer.from('aAu').toString('hex') +
        '00000005' +
        ('00000001' + '01' + '00000001' + '01') +
        ('00000000' + '01' + '00000008' + '0000000000000003') +
        ('00000102' + '01' + '00000001' + '00000001ab') +
        // length only: the length, then p11-kit's NULL byte array
        ('00000003' + '01' + '00000003' + 'ffffffff') +
        ('00000011' + '00') +
        '0000000000000011',
    );
    const d = decodeResponse(b);
    expect(d.ok).toBe(true);
  });

  it('a frame is code, options length, body length, body', () => {
    expect(hex(encodeFrame(0x10, Uint8Array.of(9, 9)))).toBe('00000010' + '00000000' + '00000002' + '0909');
  });
});

describe('decoding refuses what p11-kit would not send, saying why', () => {
  const good = encodeRequest(callId('C_FindObjectsInit'), [
    { t: 'u', v: 1 },
    { t: 'aA', v: [{ type: CKA.CLASS, value: 3n }] },
  ]);
  const cases: [string, Uint8Array, RegExp, boolean][] = [
    ['empty', new Uint8Array(0), /call id: needs 4 bytes/, true],
    ['call id 0', Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0), /call id 0 is not a request/, true],
    [
      'call id past the table (protocol version 1)',
      encodeError(0).map((x, i) => (i === 3 ? 66 : x)),
      /call id 66 is not a request of protocol version 0/,
      true,
    ],
    [
      'another signature',
      Uint8Array.from([...good.subarray(0, 8), ...Buffer.from('uaB'), ...good.subarray(11)]),
      /signature "uaB" where "uaA" is expected/,
      true,
    ],
    ['truncated', good.subarray(0, good.length - 3), /C_FindObjectsInit: attribute 0 \(0x0\): needs 4 bytes at offset 36, the message has 1 left/, false],
    ['trailing bytes', Uint8Array.from([...good, 0]), /1 bytes after the last argument/, false],
  ];
  for (const [name, body, why, fatal] of cases)
    it(name, () => {
      const d = decodeRequest(body);
      expect(d.ok).toBe(false);
      if (!d.ok) {
        expect(d.error).toMatch(why);
        expect(d.fatal).toBe(fatal);
      }
    });

  it('a template of more attributes than the message can hold, a byte array of 2^31 bytes, a nested template', () => {
    const w = (sigArgs: number[]) =>
      Uint8Array.from([
        ...encodeRequest(callId('C_FindObjectsInit'), [
          { t: 'u', v: 1 },
          { t: 'aA', v: [] },
        ]).subarray(0, 19),
        ...sigArgs,
      ]);
    const many = decodeRequest(w([0, 0, 0, 200, 0, 0, 0, 1, 0]));
    expect(!many.ok && many.error).toMatch(/200 attributes announced, the message holds at most 1/);
    const tooMany = decodeRequest(w([0, 0, 1, 1]));
    expect(!tooMany.ok && tooMany.error).toMatch(/257 attributes, at most 256 are accepted/);
    const big = decodeRequest(w([0, 0, 0, 1, 0, 0, 0, 3, 1, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]));
    expect(!big.ok && big.error).toMatch(/length 2147483647 is not allowed/);
    const nested = decodeRequest(w([0, 0, 0, 1, 0x40, 0, 0x02, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0]));
    expect(!nested.ok && nested.error).toMatch(/an attribute array inside a template is not supported/);
  });

  it('frames: an oversized or zero-code header ends the stream before anything is buffered', () => {
    const f = new FrameReader();
    const head = new Uint8Array(12);
    new DataView(head.buffer).setUint32(0, 0x10);
    new DataView(head.buffer).setUint32(8, MAX_RPC_BODY + 1);
    expect(f.push(head)).toEqual([]);
    expect(f.error).toMatch(/a frame announces a 1048577-byte message; at most 1048576 are accepted/);
    expect(f.pending).toBe(0);
    const z = new FrameReader();
    z.push(new Uint8Array(12));
    expect(z.error).toMatch(/code 0/);
    // split anywhere, frames come out whole
    const g = new FrameReader();
    const two = Uint8Array.from([...encodeFrame(0x10, Uint8Array.of(1, 2, 3)), ...encodeFrame(0x11, Uint8Array.of(4))]);
    const out = [...g.push(two.subarray(0, 5)), ...g.push(two.subarray(5, 16)), ...g.push(two.subarray(16))];
    expect(out.map((x) => [x.code, [...x.body]])).toEqual([
      [0x10, [1, 2, 3]],
      [0x11, [4]],
    ]);
  });
});

/** Arbitrary request arguments for a call's signature. */
function argsFor(sig: string): fc.Arbitrary<InArg[]> {
  const codes: fc.Arbitrary<InArg>[] = [];
  const bytes = fc.uint8Array({ maxLength: 40 });
  const attr = fc.record({
    type: fc.constantFrom(CKA.CLASS, CKA.TOKEN, CKA.ID, CKA.LABEL, CKA.EC_PARAMS, 0x1234),
    value: fc.option(bytes, { nil: null }),
  });
  for (let i = 0; i < sig.length; i++) {
    const c = sig[i] === 'a' || sig[i] === 'f' ? sig.slice(i, ++i + 1) : sig[i];
    if (c === 'u') codes.push(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v): InArg => ({ t: 'u', v })));
    else if (c === 'y') codes.push(fc.integer({ min: 0, max: 255 }).map((v): InArg => ({ t: 'y', v })));
    else if (c === 'ay') codes.push(fc.option(bytes, { nil: null }).map((v): InArg => ({ t: 'ay', v })));
    else if (c === 'fy' || c === 'fu') codes.push(fc.nat().map((v): InArg => ({ t: c, v })));
    else if (c === 'z') codes.push(bytes.map((v): InArg => ({ t: 'z', v })));
    else if (c === 'M') codes.push(fc.record({ type: fc.nat(), param: fc.option(bytes, { nil: null }) }).map((m): InArg => ({ t: 'M', ...m })));
    else if (c === 'fA') codes.push(fc.array(fc.record({ type: fc.nat(), length: fc.nat() }), { maxLength: 5 }).map((v): InArg => ({ t: 'fA', v })));
    else if (c === 'aA')
      codes.push(
        fc.array(attr, { maxLength: 5 }).map((v): InArg => ({
          t: 'aA',
          v: v.map((a) => ({
            type: a.type,
            value: a.value === null ? null : a.type === CKA.CLASS ? 3n : a.type === CKA.TOKEN ? a.value.length > 0 : a.value,
          })),
        })),
      );
  }
  return fc.tuple(...codes);
}

/** How many values a decoded request holds: it may never exceed the message's length (no amplification). */
function weight(v: unknown): number {
  if (v instanceof Uint8Array) return 1;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + weight(x), 1);
  if (v && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + weight(x), 1);
  return 1;
}

describe('fuzzing (fast-check)', () => {
  it('every call round-trips through encodeRequest and decodeRequest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: RPC_CALLS.length - 1 }).chain((id) => fc.tuple(fc.constant(id), argsFor(RPC_CALLS[id].request))),
        ([id, args]) => {
          const d = decodeRequest(encodeRequest(id, args));
          expect(d.ok, d.ok ? '' : d.error).toBe(true);
          if (d.ok) expect(d.value.name).toBe(RPC_CALLS[id].name);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random and mutated messages never throw, and decode to no more values than they have bytes', () => {
    const valid = fc.integer({ min: 1, max: RPC_CALLS.length - 1 }).chain((id) => argsFor(RPC_CALLS[id].request).map((args) => encodeRequest(id, args)));
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat()).map(([b, flips, cut]) => {
      const m = new Uint8Array(b);
      for (const [at, v] of flips) if (m.length) m[at % m.length] = v;
      return m.subarray(0, m.length - (cut % 4));
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated), (body) => {
        const d = decodeRequest(body);
        if (d.ok) expect(weight(d.value.args)).toBeLessThanOrEqual(body.length + 8);
        else expect(d.error.length).toBeGreaterThan(0);
        const r = decodeResponse(body);
        if (!r.ok) expect(r.error.length).toBeGreaterThan(0);
        const f = new FrameReader();
        f.push(body);
        expect(f.pending).toBeLessThanOrEqual(body.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('CKA_LABEL and CKA_ID in the device label (docs/pkcs11.md §4.1)', () => {
  it('label alone without CKA_ID; label ‖ U+001F ‖ base64url(id) with it; the 2-byte key id when none is stored', () => {
    expect(encodeDeviceLabel(Buffer.from('ca'), undefined)).toEqual({ ok: true, text: 'ca' });
    expect(encodeDeviceLabel(Buffer.from('ca'), Uint8Array.of(0xc0, 0xff, 0xee))).toEqual({ ok: true, text: 'ca\u001fwP_u' });
    expect(decodeDeviceLabel('ca\u001fwP_u', 7)).toEqual({ label: new Uint8Array(Buffer.from('ca')), id: Uint8Array.of(0xc0, 0xff, 0xee) });
    expect(decodeDeviceLabel('made by the CLI', 0x0102)).toEqual({ label: new Uint8Array(Buffer.from('made by the CLI')), id: Uint8Array.of(1, 2) });
    // a separator followed by something that is not canonical base64url: the label is all of it
    expect(decodeDeviceLabel('a\u001f!!', 3).label).toEqual(new Uint8Array(Buffer.from('a\u001f!!')));
  });

  it('refuses non-UTF-8 labels and labels holding U+001F, whatever the length; what does not fit takes the digest form (test/unit/p11-labels.test.ts)', () => {
    const r = encodeDeviceLabel(Buffer.from('teleport'), new Uint8Array(20));
    expect(r.ok && r.text).toMatch(/^\u001f[A-Za-z0-9_-]{12}\u001f[A-Za-z0-9_-]{12}$/);
    expect(encodeDeviceLabel(Buffer.from('x'.repeat(10)), new Uint8Array(15))).toEqual({ ok: true, text: 'x'.repeat(10) + '\u001f' + 'A'.repeat(20) });
    expect(encodeDeviceLabel(Uint8Array.of(0xff), undefined).ok).toBe(false);
    expect(encodeDeviceLabel(Buffer.from('a\u001fb'), undefined).ok).toBe(false);
    const long = encodeDeviceLabel(Buffer.from('a\u001f' + 'b'.repeat(40)), new Uint8Array(16));
    expect(!long.ok && long.why).toMatch(/holds U\+001F/);
    expect(encodeDeviceLabel(Uint8Array.from([...Buffer.from('x'.repeat(40)), 0xc3]), undefined)).toEqual({ ok: false, why: 'CKA_LABEL is not UTF-8 text' });
  });
});

describe('objects and key-pair templates (docs/pkcs11.md §4)', () => {
  const key = {
    keyId: 5,
    alg: Alg.ECDSA_P256,
    label: 'k',
    publicKey: new Uint8Array(65).fill(4),
    capabilities: 1,
    sensitive: true,
    neverExtractable: true,
    local: true,
  };
  it('a private object hides its value (sensitive) and says what the policy says', () => {
    const o = objectOf(key, true);
    expect(o.handle).toBe(11);
    expect(o.sensitive.has(CKA.VALUE)).toBe(true);
    expect(o.attrs.get(CKA.SIGN)).toBe(true);
    expect(o.attrs.get(CKA.DERIVE)).toBe(false);
    expect(o.attrs.get(CKA.ALWAYS_SENSITIVE)).toBe(true);
    expect(objectOf({ ...key, local: false, neverExtractable: false }, true).attrs.get(CKA.ALWAYS_SENSITIVE)).toBe(false);
    expect(hex(objectOf(key, false).attrs.get(CKA.EC_POINT) as Uint8Array)).toBe('0441' + '04'.repeat(65));
  });

  const t = (type: number, value: boolean | bigint | Uint8Array) => ({ type, value });
  const p256 = t(CKA.EC_PARAMS, Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07));
  const offered = [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1];
  it('what crypto11 asks for: a token, sensitive, non-extractable P-256 signing key with an id and a label', () => {
    const plan = planKeygen(
      CKM.EC_KEY_PAIR_GEN,
      [t(CKA.CLASS, 2n), t(CKA.KEY_TYPE, 3n), t(CKA.TOKEN, true), t(CKA.VERIFY, true), p256, t(CKA.ID, Uint8Array.of(1)), t(CKA.LABEL, Buffer.from('tp'))],
      [t(CKA.TOKEN, true), t(CKA.SIGN, true), t(CKA.SENSITIVE, true), t(CKA.EXTRACTABLE, false), t(CKA.ID, Uint8Array.of(1)), t(CKA.LABEL, Buffer.from('tp'))],
      offered,
    );
    expect(plan).toEqual({ ok: true, alg: Alg.ECDSA_P256, label: 'tp\u001fAQ', capabilities: ['sign'], sensitive: true });
  });

  const refusals: [string, number, Parameters<typeof planKeygen>, RegExp][] = [
    ['CKA_TOKEN false', CKR.ATTRIBUTE_VALUE_INVALID, [CKM.EC_KEY_PAIR_GEN, [p256], [t(CKA.TOKEN, false)], offered], /session objects are not supported/],
    ['no curve', CKR.TEMPLATE_INCOMPLETE, [CKM.EC_KEY_PAIR_GEN, [], [], offered], /needs CKA_EC_PARAMS/],
    [
      'an unknown curve',
      CKR.CURVE_NOT_SUPPORTED,
      [CKM.EC_KEY_PAIR_GEN, [t(CKA.EC_PARAMS, Uint8Array.of(6, 1, 0))], [], offered],
      /curve the device does not have/,
    ],
    ['CKA_DERIVE on Ed25519', CKR.ATTRIBUTE_VALUE_INVALID, [CKM.EC_EDWARDS_KEY_PAIR_GEN, [], [t(CKA.DERIVE, true)], offered], /only P-256 keys can derive/],
    ['CKA_DECRYPT true', CKR.ATTRIBUTE_VALUE_INVALID, [CKM.EC_KEY_PAIR_GEN, [p256], [t(CKA.DECRYPT, true)], offered], /cannot be honoured/],
    ['CKA_EC_POINT given', CKR.ATTRIBUTE_READ_ONLY, [CKM.EC_KEY_PAIR_GEN, [p256, t(CKA.EC_POINT, Uint8Array.of(4))], [], offered], /set by the device/],
    [
      'different labels',
      CKR.TEMPLATE_INCONSISTENT,
      [CKM.EC_KEY_PAIR_GEN, [p256, t(CKA.LABEL, Buffer.from('a'))], [t(CKA.LABEL, Buffer.from('b'))], offered],
      /CKA_LABEL differs/,
    ],
    [
      'a long label holding U+001F',
      CKR.ATTRIBUTE_VALUE_INVALID,
      [CKM.EC_KEY_PAIR_GEN, [p256], [t(CKA.LABEL, Buffer.from('x'.repeat(20) + '\u001f' + 'y'.repeat(20))), t(CKA.ID, new Uint8Array(16))], offered],
      /holds U\+001F/,
    ],
    ['Ed25519 hidden (--ecdsa-only)', CKR.MECHANISM_INVALID, [CKM.EC_EDWARDS_KEY_PAIR_GEN, [], [], [Alg.ECDSA_P256]], /does not offer/],
    ['an unknown attribute', CKR.ATTRIBUTE_TYPE_INVALID, [CKM.EC_KEY_PAIR_GEN, [p256, t(0x120, Uint8Array.of(1))], [], offered], /0x120 is not supported/],
  ];
  for (const [name, rv, args, why] of refusals)
    it(`refuses ${name}`, () => {
      const p = planKeygen(...args);
      expect(p.ok).toBe(false);
      if (!p.ok) {
        expect(p.rv).toBe(rv);
        expect(p.why).toMatch(why);
      }
    });
});

describe('device errors as CK_RV (docs/pkcs11.md §6)', () => {
  it('maps every device status', () => {
    for (const name of Object.keys(Status)) expect(CKR_OF[name as keyof typeof Status], name).toBeTypeOf('number');
  });
  const pairs: [string, number][] = [
    ['PIN_INCORRECT', CKR.PIN_INCORRECT],
    ['PIN_BLOCKED', CKR.PIN_LOCKED],
    ['PIN_LOCKED_UNTIL_POWER_CYCLE', CKR.PIN_LOCKED],
    ['LOGIN_REQUIRED', CKR.USER_NOT_LOGGED_IN],
    ['ALREADY_LOGGED_IN', CKR.USER_ALREADY_LOGGED_IN],
    ['POLICY_DENIED', CKR.KEY_FUNCTION_NOT_PERMITTED],
    ['STORAGE_FULL', CKR.DEVICE_MEMORY],
    ['PRESENCE_TIMEOUT', CKR.FUNCTION_CANCELED],
    ['APPROVAL_REQUIRED', CKR.ACTION_PROHIBITED],
    ['SESSION_LIMIT', CKR.SESSION_COUNT],
    ['TIMEOUT', CKR.DEVICE_REMOVED],
    ['IDENTITY_CHANGED', CKR.TOKEN_NOT_RECOGNIZED],
  ];
  for (const [code, rv] of pairs)
    it(`${code} → 0x${rv.toString(16)}`, () => {
      expect(ckrOf(new HsmError(code as never, 'x'))).toBe(rv);
    });
  it('KEY_NOT_FOUND is an object handle in general and a key handle when signing; anything else is CKR_GENERAL_ERROR', () => {
    expect(ckrOf(new HsmError('KEY_NOT_FOUND' as never, 'x'))).toBe(CKR.OBJECT_HANDLE_INVALID);
    expect(ckrOf(new HsmError('KEY_NOT_FOUND' as never, 'x'), 'key')).toBe(CKR.KEY_HANDLE_INVALID);
    expect(ckrOf(new Error('x'))).toBe(CKR.GENERAL_ERROR);
  });
});

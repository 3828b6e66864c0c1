// Record value encodings (firmware/core/records.ts): deterministic CBOR that an independent codec (cbor-x) reads the same, strict decoding at boot; key records hold the private key only sealed.
import { describe, it, expect } from 'vitest';
import { Alg, Capability, Origin } from '../../firmware/protocol/codes.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import {
  decodeCounter,
  decodeDeviceId,
  decodeIdentity,
  decodeKey,
  encodeCounter,
  encodeIdentity,
  encodeKey,
  encodeKeyClear,
  DEVICE_ID_RECORD,
  IDENTITY_RECORD,
  NEXT_KEY_ID_RECORD,
  SEALED_KEY_LENGTH,
  keyRecordKey,
  type StoredKey,
} from '../../firmware/core/records.ts';
import { RecordKind, kindOf, indexOf } from '../../firmware/core/store/index.ts';
import { cborxDecoder, cborxEncoder } from '../protocol/support.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const key = (over: Partial<StoredKey> = {}): StoredKey => ({
  id: 7,
  alg: Alg.ECDSA_P256,
  label: 'ca-root é',
  origin: Origin.IMPORTED,
  publicKey: new Uint8Array(65).fill(4),
  policy: { capabilities: Capability.SIGN | Capability.DERIVE, sensitive: true, touch: false, neverExtractable: true },
  sealed: new Uint8Array(SEALED_KEY_LENGTH).map((_, i) => i + 1),
  ...over,
});
const flat = (k: StoredKey) => ({ ...k, publicKey: hex(k.publicKey), sealed: hex(k.sealed) });

describe('record keys', () => {
  it('use the store table: one record each for device id, identity and the key-id counter; a key record per id', () => {
    expect([kindOf(DEVICE_ID_RECORD), indexOf(DEVICE_ID_RECORD)]).toEqual([RecordKind.DEVICE_ID, 0]);
    expect([kindOf(IDENTITY_RECORD), indexOf(IDENTITY_RECORD)]).toEqual([RecordKind.IDENTITY, 0]);
    expect([kindOf(NEXT_KEY_ID_RECORD), indexOf(NEXT_KEY_ID_RECORD)]).toEqual([RecordKind.COUNTERS, 0]);
    expect([kindOf(keyRecordKey(0xffff)), indexOf(keyRecordKey(0xffff))]).toEqual([RecordKind.KEY, 0xffff]);
  });
});

describe('key records', () => {
  it('are the deterministic CBOR map {1 id, 2 alg, 3 label, 4 origin, 5 public, 6 capabilities, 7 sensitive, 8 touch, 9 neverExtractable, 10 sealed}, byte-identical to cbor-x', () => {
    const k = key();
    const v = encodeKey(k);
    const clear: [number, unknown][] = [
      [1, k.id],
      [2, k.alg],
      [3, k.label],
      [4, k.origin],
      [5, k.publicKey],
      [6, k.policy.capabilities],
      [7, k.policy.sensitive],
      [8, k.policy.touch],
      [9, k.policy.neverExtractable],
    ];
    const m = new Map<number, unknown>([...clear, [10, k.sealed]]);
    expect(hex(v)).toBe(hex(cborxEncoder.encode(m)));
    expect(hex(v)).toBe(hex(cborEncode(m as never)));
    const back = cborxDecoder.decode(v) as Map<number, unknown>;
    expect([...back.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(back.get(3)).toBe('ca-root é');
    expect(back.get(7)).toBe(true);
    // the bound the sealed key is authenticated with is the clear part {1..9}, as cbor-x encodes it
    expect(hex(encodeKeyClear(k))).toBe(hex(cborxEncoder.encode(new Map<number, unknown>(clear))));
    expect(SEALED_KEY_LENGTH).toBe(12 + 32 + 16);
  });

  it('round-trip for every algorithm and policy; the decoded values are fresh buffers', () => {
    for (const [alg, len] of [
      [Alg.ED25519, 32],
      [Alg.ECDSA_P256, 65],
      [Alg.ECDSA_SECP256K1, 65],
      [Alg.X25519, 32],
    ] as const) {
      for (const policy of [
        { capabilities: 0, sensitive: false, touch: false, neverExtractable: false },
        { capabilities: 0x1f, sensitive: true, touch: true, neverExtractable: true },
      ]) {
        const k = key({ alg, id: 0xffff, label: '', origin: Origin.GENERATED, publicKey: new Uint8Array(len).fill(9), policy });
        const v = encodeKey(k);
        const d = decodeKey(v, 0xffff);
        expect(d).toBeDefined();
        expect(flat(d!)).toEqual(flat(k));
        v.fill(0);
        expect(hex(d!.sealed)).toBe(hex(k.sealed));
      }
    }
  });

  it('a record under the wrong id, of an unknown algorithm, with a wrong-size key or blob, a missing, extra or mistyped field, or not CBOR is refused', () => {
    const ok = encodeKey(key());
    expect(decodeKey(ok, 8)).toBeUndefined();
    expect(decodeKey(encodeKey(key({ alg: 9 as never })), 7)).toBeUndefined();
    expect(decodeKey(encodeKey(key({ alg: Alg.ED25519 })), 7)).toBeUndefined(); // 65-byte public key for ed25519
    expect(decodeKey(encodeKey(key({ origin: 5 as never })), 7)).toBeUndefined();
    const m = cborxDecoder.decode(ok) as Map<number, unknown>;
    for (const f of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
      const without = new Map(m);
      without.delete(f);
      expect(decodeKey(cborxEncoder.encode(without), 7), 'without field ' + f).toBeUndefined();
    }
    const extra = new Map(m);
    extra.set(11, 1);
    expect(decodeKey(cborxEncoder.encode(extra), 7)).toBeUndefined();
    const shortBlob = new Map(m);
    shortBlob.set(10, new Uint8Array(59));
    expect(decodeKey(cborxEncoder.encode(shortBlob), 7)).toBeUndefined();
    const boolAsInt = new Map(m);
    boolAsInt.set(7, 1);
    expect(decodeKey(cborxEncoder.encode(boolAsInt), 7)).toBeUndefined();
    const capsTooBig = new Map(m);
    capsTooBig.set(6, 0x20);
    expect(decodeKey(cborxEncoder.encode(capsTooBig), 7)).toBeUndefined();
    // the first layout, with a plaintext private key in field 6, is not a key record any more
    const old = new Map<number, unknown>([...[...m.entries()].filter(([k]) => k <= 5), [6, new Uint8Array(32).fill(1)]]);
    expect(decodeKey(cborxEncoder.encode(old), 7)).toBeUndefined();
    expect(decodeKey(ok.subarray(0, ok.length - 1), 7)).toBeUndefined();
    expect(decodeKey(new Uint8Array([0xff, 0x00]), 7)).toBeUndefined();
    expect(decodeKey(new Uint8Array(0), 7)).toBeUndefined();
  });
});

describe('device id, identity and counters', () => {
  it('device id: exactly 16 raw bytes', () => {
    const id = new Uint8Array(16).fill(0xab);
    expect(hex(decodeDeviceId(id)!)).toBe(hex(id));
    expect(decodeDeviceId(new Uint8Array(15))).toBeUndefined();
    expect(decodeDeviceId(new Uint8Array(17))).toBeUndefined();
  });

  it('identity: {1: ed25519, 2: seed}, read back; anything else is refused', () => {
    const seed = new Uint8Array(32).map((_, i) => 255 - i);
    const v = encodeIdentity(seed);
    expect(hex(v)).toBe(
      hex(
        cborxEncoder.encode(
          new Map<number, unknown>([
            [1, Alg.ED25519],
            [2, seed],
          ]),
        ),
      ),
    );
    expect(hex(decodeIdentity(v)!)).toBe(hex(seed));
    expect(
      decodeIdentity(
        cborxEncoder.encode(
          new Map<number, unknown>([
            [1, Alg.X25519],
            [2, seed],
          ]),
        ),
      ),
    ).toBeUndefined();
    expect(
      decodeIdentity(
        cborxEncoder.encode(
          new Map<number, unknown>([
            [1, Alg.ED25519],
            [2, seed.subarray(1)],
          ]),
        ),
      ),
    ).toBeUndefined();
  });

  it('counter: a CBOR unsigned integer within range', () => {
    expect(hex(encodeCounter(0x1234))).toBe(hex(cborxEncoder.encode(0x1234)));
    expect(decodeCounter(encodeCounter(0xffff), 0xffff)).toBe(0xffff);
    expect(decodeCounter(encodeCounter(0x10000), 0xffff)).toBeUndefined();
    expect(decodeCounter(cborxEncoder.encode(-1), 0xffff)).toBeUndefined();
    expect(decodeCounter(cborxEncoder.encode('1'), 0xffff)).toBeUndefined();
  });
});

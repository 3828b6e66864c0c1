// Record value encodings (firmware/core/records.ts): deterministic CBOR that an independent codec (cbor-x) reads the same, strict decoding at boot.
import { describe, it, expect } from 'vitest';
import { Alg, Origin } from '../../firmware/protocol/codes.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import {
  decodeCounter,
  decodeDeviceId,
  decodeIdentity,
  decodeKey,
  encodeCounter,
  encodeIdentity,
  encodeKey,
  DEVICE_ID_RECORD,
  IDENTITY_RECORD,
  NEXT_KEY_ID_RECORD,
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
  privateKey: new Uint8Array(32).map((_, i) => i + 1),
  ...over,
});

describe('record keys', () => {
  it('use the store table: one record each for device id, identity and the key-id counter; a key record per id', () => {
    expect([kindOf(DEVICE_ID_RECORD), indexOf(DEVICE_ID_RECORD)]).toEqual([RecordKind.DEVICE_ID, 0]);
    expect([kindOf(IDENTITY_RECORD), indexOf(IDENTITY_RECORD)]).toEqual([RecordKind.IDENTITY, 0]);
    expect([kindOf(NEXT_KEY_ID_RECORD), indexOf(NEXT_KEY_ID_RECORD)]).toEqual([RecordKind.COUNTERS, 0]);
    expect([kindOf(keyRecordKey(0xffff)), indexOf(keyRecordKey(0xffff))]).toEqual([RecordKind.KEY, 0xffff]);
  });
});

describe('key records', () => {
  it('are the deterministic CBOR map {1 id, 2 alg, 3 label, 4 origin, 5 public, 6 private}, byte-identical to cbor-x and our encoder', () => {
    const k = key();
    const v = encodeKey(k);
    const m = new Map<number, unknown>([
      [1, k.id],
      [2, k.alg],
      [3, k.label],
      [4, k.origin],
      [5, k.publicKey],
      [6, k.privateKey],
    ]);
    expect(hex(v)).toBe(hex(cborxEncoder.encode(m)));
    expect(hex(v)).toBe(hex(cborEncode(m as never)));
    const back = cborxDecoder.decode(v) as Map<number, unknown>;
    expect([...back.keys()]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.get(3)).toBe('ca-root é');
  });

  it('round-trip for every algorithm; the decoded private key is a fresh buffer', () => {
    for (const [alg, len] of [
      [Alg.ED25519, 32],
      [Alg.ECDSA_P256, 65],
      [Alg.ECDSA_SECP256K1, 65],
      [Alg.X25519, 32],
    ] as const) {
      const k = key({ alg, id: 0xffff, label: '', origin: Origin.GENERATED, publicKey: new Uint8Array(len).fill(9) });
      const v = encodeKey(k);
      const d = decodeKey(v, 0xffff);
      expect(d).toBeDefined();
      expect({ ...d!, publicKey: hex(d!.publicKey), privateKey: hex(d!.privateKey) }).toEqual({ ...k, publicKey: hex(k.publicKey), privateKey: hex(k.privateKey) });
      v.fill(0);
      expect(hex(d!.privateKey)).toBe(hex(k.privateKey));
    }
  });

  it('a record under the wrong id, of an unknown algorithm, with a wrong-size key, a missing or extra field, or not CBOR is refused', () => {
    const ok = encodeKey(key());
    expect(decodeKey(ok, 8)).toBeUndefined();
    expect(decodeKey(encodeKey(key({ alg: 9 as never })), 7)).toBeUndefined();
    expect(decodeKey(encodeKey(key({ alg: Alg.ED25519 })), 7)).toBeUndefined(); // 65-byte public key for ed25519
    expect(decodeKey(encodeKey(key({ origin: 3 as never })), 7)).toBeUndefined();
    const m = cborxDecoder.decode(ok) as Map<number, unknown>;
    const without = new Map(m);
    without.delete(6);
    expect(decodeKey(cborxEncoder.encode(without), 7)).toBeUndefined();
    const extra = new Map(m);
    extra.set(9, 1);
    expect(decodeKey(cborxEncoder.encode(extra), 7)).toBeUndefined();
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
    expect(hex(v)).toBe(hex(cborxEncoder.encode(new Map<number, unknown>([[1, Alg.ED25519], [2, seed]]))));
    expect(hex(decodeIdentity(v)!)).toBe(hex(seed));
    expect(decodeIdentity(cborxEncoder.encode(new Map<number, unknown>([[1, Alg.X25519], [2, seed]])))).toBeUndefined();
    expect(decodeIdentity(cborxEncoder.encode(new Map<number, unknown>([[1, Alg.ED25519], [2, seed.subarray(1)]])))).toBeUndefined();
  });

  it('counter: a CBOR unsigned integer within range', () => {
    expect(hex(encodeCounter(0x1234))).toBe(hex(cborxEncoder.encode(0x1234)));
    expect(decodeCounter(encodeCounter(0xffff), 0xffff)).toBe(0xffff);
    expect(decodeCounter(encodeCounter(0x10000), 0xffff)).toBeUndefined();
    expect(decodeCounter(cborxEncoder.encode(-1), 0xffff)).toBeUndefined();
    expect(decodeCounter(cborxEncoder.encode('1'), 0xffff)).toBeUndefined();
  });
});

// Keystore over the flash store: ids from a persisted counter, commit before RAM, STORAGE_FULL (slots or flash), private keys only sealed on flash and opened on first use, lock, tamper refusal, policy rewrite, wipe on delete, skip bad records at load.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { KeyStore, type KeyCrypto, type KeyRecord } from '../../firmware/core/keystore.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { NEXT_KEY_ID_RECORD, SEALED_KEY_LENGTH, decodeKey, encodeCounter, encodeKey, keyRecordKey } from '../../firmware/core/records.ts';
import type { StoredPolicy } from '../../firmware/core/policy.ts';
import { Alg, Capability, Origin, Status } from '../../firmware/protocol/codes.ts';
import type { Flash } from '../../firmware/hal/index.ts';
import { cborDecode, cborEncode, type CborMap } from '../../firmware/protocol/cbor.ts';
import { NorFlash, leftover, ramSizedFlash } from '../helpers/nor-flash.ts';
import { PowerCutError } from '../../sim/flash.ts';
import { nobleCrypto, seededRng } from '../helpers/loopback.ts';

const hex = (b: Uint8Array | undefined) => (b === undefined ? 'none' : Buffer.from(b).toString('hex'));
const k = (b: number) => new Uint8Array(32).fill(b);
const POLICY: StoredPolicy = { capabilities: Capability.SIGN, sensitive: true, touch: false, neverExtractable: true };
const DEVICE = new Uint8Array(16).fill(0xd1);
const kc = (masterKey = new Uint8Array(32).fill(0x33), deviceId = DEVICE): KeyCrypto => ({
  crypto: nobleCrypto(),
  rng: seededRng('keystore'),
  deviceId,
  masterKey,
});
const KC = kc();
const open = (flash: Flash, capacity = 4) => KeyStore.load(capacity, Store.open(flash));
/** The clear metadata of every key (what boot loads). */
const meta = (s: KeyStore) => s.list().map((r) => [r.id, r.alg, r.label, r.origin, hex(r.publicKey), JSON.stringify(r.policy), hex(r.sealed)]);
/** Every key's private key, opened with `c`. */
const secrets = (s: KeyStore, c: KeyCrypto = KC) =>
  s.list().map((r) => {
    const p = s.privateKeyOf(r, c);
    return p.ok ? hex(p.value) : 'refused';
  });

function add(s: KeyStore, b: number, label = 'k' + b, alg: (typeof Alg)[keyof typeof Alg] = Alg.ED25519) {
  const r = s.add(alg, label, Origin.GENERATED, POLICY, k(b), k(100 + b), KC);
  if (!r.ok) throw new Error(msgOf(r));
  return r.value.id;
}

describe('KeyStore', () => {
  it('hands out ids 1, 2, 3 … and does not reuse a deleted id, across a reload too', () => {
    const flash = ramSizedFlash();
    const s = open(flash, 3);
    expect([1, 2, 3].map((i) => add(s, i))).toEqual([1, 2, 3]);
    expect(s.remove(3).ok).toBe(true);
    // reload: the counter, not the highest id present, decides the next id
    const s2 = open(flash, 3);
    expect(s2.list().map((x) => x.id)).toEqual([1, 2]);
    expect(add(s2, 9)).toBe(4);
    expect(meta(open(flash, 3))).toEqual(meta(s2));
  });

  it('boot loads the clear metadata only; the private key opens with the master key on first use, equal to what was stored', () => {
    const flash = ramSizedFlash();
    const s = open(flash);
    add(s, 1, 'signing', Alg.ED25519);
    const p = s.add(
      Alg.ECDSA_P256,
      'é label',
      Origin.IMPORTED,
      { ...POLICY, capabilities: Capability.DERIVE, touch: true },
      k(2),
      new Uint8Array(65).fill(4),
      KC,
    );
    expect(p.ok).toBe(true);
    const back = open(flash);
    expect(meta(back)).toEqual(meta(s));
    expect(back.skipped).toBe(0);
    expect(back.list().map((r) => r.privateKey)).toEqual([undefined, undefined]);
    expect(back.list().map((r) => r.sealed.length)).toEqual([SEALED_KEY_LENGTH, SEALED_KEY_LENGTH]);
    expect(secrets(back)).toEqual([hex(k(1)), hex(k(2))]);
    // opened once, then served from RAM
    expect(hex(back.get(2)!.privateKey)).toBe(hex(k(2)));
  });

  it('the flash never holds a private key: after adds, a policy change and a delete, no 8-byte run of any key is in the NOR image', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    const keys = [1, 2, 3].map((i) => new Uint8Array(32).map((_, j) => (i * 37 + j * 11) & 0xff));
    for (let i = 0; i < keys.length; i++)
      expect(s.add(Alg.ECDSA_SECP256K1, 'k', Origin.IMPORTED, POLICY, keys[i].slice(), new Uint8Array(65).fill(4), KC).ok).toBe(true);
    expect(s.setPolicy(2, { ...POLICY, touch: true }, KC).ok).toBe(true);
    expect(s.remove(3).ok).toBe(true);
    for (const key of keys) expect(leftover(flash.bytes, key), hex(key)).toBe(-1);
    // … and yet they are all there, sealed: a reboot opens the two that remain
    expect(secrets(open(flash))).toEqual([hex(keys[0]), hex(keys[1])]);
  });

  it('lock() wipes every cached private key and signer; the keys open again with the master key', () => {
    const s = open(ramSizedFlash());
    add(s, 1);
    add(s, 2);
    const r = s.get(1)!;
    const cached = r.privateKey!;
    let wiped = 0;
    r.signer = { publicKey: k(101), sign: () => new Uint8Array(64), twoPass: () => expect.unreachable(), wipe: () => void wiped++ };
    s.lock();
    expect(cached.every((b) => b === 0)).toBe(true);
    expect(wiped).toBe(1);
    expect(s.list().map((x) => [x.privateKey, x.signer])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
    ]);
    expect(secrets(s)).toEqual([hex(k(1)), hex(k(2))]);
  });

  it('under another master key or device id the record does not open: INVALID_KEY, and nothing is cached', () => {
    const flash = ramSizedFlash();
    add(open(flash), 1);
    for (const other of [kc(new Uint8Array(32).fill(0x34)), kc(undefined, new Uint8Array(16).fill(0xd2))]) {
      const s = open(flash);
      const r = s.privateKeyOf(s.get(1)!, other);
      expect(r.ok === false && r.status).toBe(Status.INVALID_KEY);
      expect(r.ok === false && msgOf(r)).toMatch(/key 1 is damaged or was altered.*delete it/);
      expect(s.get(1)!.privateKey).toBeUndefined();
    }
  });

  describe('a record edited on flash (with valid store CRCs, as anyone with a programmer can write) loads but never opens', () => {
    type Edit = [string, (m: CborMap, raw: Uint8Array) => Uint8Array];
    const reencode = (f: (m: CborMap) => void) => (m: CborMap) => {
      f(m);
      return cborEncode(m);
    };
    const edits: Edit[] = [
      ['label', reencode((m) => m.set(3, 'renamed'))],
      ['origin imported → generated', reencode((m) => m.set(4, Origin.GENERATED))],
      ['public key', reencode((m) => m.set(5, k(0x77)))],
      ['capabilities (adds derive)', reencode((m) => m.set(6, Capability.SIGN | Capability.DERIVE))],
      ['touch cleared', reencode((m) => m.set(8, false))],
      ['neverExtractable', reencode((m) => m.set(9, false))],
      [
        'one policy byte (sensitive true → false)',
        (_m, raw) => {
          // key 7 then true: 07 f5 → 07 f4, in place
          const out = raw.slice();
          const at = Buffer.from(out).indexOf(Buffer.from([0x07, 0xf5]));
          expect(at).toBeGreaterThan(0);
          out[at + 1] = 0xf4;
          return out;
        },
      ],
      [
        'one bit of the sealed key',
        (_m, raw) => {
          const out = raw.slice();
          out[out.length - 20] ^= 1;
          return out;
        },
      ],
    ];
    it.each(edits)('%s', (_name, edit) => {
      const flash = ramSizedFlash();
      const s = open(flash);
      const r = s.add(Alg.ED25519, 'orig', Origin.IMPORTED, { ...POLICY, touch: true }, k(5), k(105), KC);
      expect(r.ok).toBe(true);
      const store = Store.open(flash);
      const raw = store.get(keyRecordKey(1))!;
      const d = cborDecode(raw);
      if (!d.ok || !(d.value instanceof Map)) throw new Error('record does not decode');
      const edited = edit(d.value, raw);
      expect(hex(edited)).not.toBe(hex(raw));
      expect(store.commit([{ key: keyRecordKey(1), value: edited }]).ok).toBe(true);
      const back = KeyStore.load(4, store);
      expect(back.skipped).toBe(0);
      const rec = back.get(1) as KeyRecord; // the clear part loads (KEY_LIST shows it) …
      expect(rec).toBeDefined();
      const o = back.privateKeyOf(rec, KC); // … but the private key does not open
      expect(o.ok === false && o.status).toBe(Status.INVALID_KEY);
      expect(o.ok === false && msgOf(o)).toMatch(/damaged or was altered/);
      // a policy rewrite of an unopenable key is refused too (it would launder the edit)
      const p = back.setPolicy(1, { ...rec.policy, capabilities: 0 }, KC);
      expect(p.ok === false && p.status).toBe(Status.INVALID_KEY);
    });
  });

  it('setPolicy seals again bound to the new policy, commits, and survives a reload; the superseded record is wiped; an unchanged policy writes nothing', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    add(s, 1);
    const oldSealed = s.get(1)!.sealed.slice();
    expect(leftover(flash.bytes, oldSealed)).toBeGreaterThanOrEqual(0);
    const tighter: StoredPolicy = { ...POLICY, touch: true, sensitive: true };
    const r = s.setPolicy(1, tighter, KC);
    expect(r.ok).toBe(true);
    expect(s.get(1)!.policy).toEqual(tighter);
    expect(hex(s.get(1)!.sealed)).not.toBe(hex(oldSealed));
    expect(hex(s.get(1)!.privateKey)).toBe(hex(k(1))); // the RAM cache carries over
    expect(leftover(flash.bytes, oldSealed)).toBe(-1);
    const back = open(flash);
    expect(back.get(1)!.policy).toEqual(tighter);
    expect(secrets(back)).toEqual([hex(k(1))]);
    const words = flash.wordWrites;
    expect(back.setPolicy(1, tighter, KC).ok).toBe(true);
    expect(flash.wordWrites).toBe(words);
    const missing = back.setPolicy(9, tighter, KC);
    expect(missing.ok === false && missing.status).toBe(Status.KEY_NOT_FOUND);
  });

  it('STORAGE_FULL when the slots are full leaves the store unchanged and says how many slots there are', () => {
    const s = open(ramSizedFlash(), 2);
    add(s, 1);
    add(s, 2);
    const before = meta(s);
    const r = s.add(Alg.ED25519, 'c', Origin.GENERATED, POLICY, k(5), k(6), KC);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(Status.STORAGE_FULL);
      expect(msgOf(r)).toMatch(/2 key slots/);
    }
    expect(meta(s)).toEqual(before);
    expect([s.used, s.free]).toEqual([2, 0]);
  });

  it('STORAGE_FULL when the flash is full (slots free): nothing changes in RAM or flash, and a delete makes room again', () => {
    const flash = ramSizedFlash(512, 2);
    const store = Store.open(flash);
    const s = KeyStore.load(16, store);
    let n = 0;
    for (;;) {
      const r = s.add(Alg.ECDSA_SECP256K1, 'x'.repeat(32), Origin.GENERATED, POLICY, k(n + 1), new Uint8Array(65).fill(n + 1), KC);
      if (!r.ok) {
        expect(r.status).toBe(Status.STORAGE_FULL);
        expect(msgOf(r)).toMatch(/flash store.*bytes free.*delete a key/);
        break;
      }
      n++;
    }
    expect(n).toBeGreaterThan(0);
    expect(s.free).toBeGreaterThan(0);
    const image = () => Buffer.concat([flash.read(0, 0, 512), flash.read(1, 0, 512)]);
    const bytes = image();
    const before = meta(s);
    const again = s.add(Alg.ECDSA_SECP256K1, 'y'.repeat(32), Origin.GENERATED, POLICY, k(77), new Uint8Array(65).fill(78), KC);
    expect(again.ok === false && again.status).toBe(Status.STORAGE_FULL);
    expect(meta(s)).toEqual(before);
    expect(image().equals(bytes)).toBe(true);
    expect(s.remove(1).ok).toBe(true);
    expect(s.add(Alg.ECDSA_SECP256K1, 'x'.repeat(32), Origin.GENERATED, POLICY, k(90), new Uint8Array(65).fill(90), KC).ok).toBe(true);
    expect(meta(KeyStore.load(16, Store.open(flash)))).toEqual(meta(s));
  });

  it('remove commits the deletion, wipes the cached private key in RAM and the sealed record on flash, and reports unknown ids', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    const secret = new Uint8Array(32).map((_, i) => 0x40 + i);
    const r = s.add(Alg.ECDSA_P256, '', Origin.IMPORTED, POLICY, secret, new Uint8Array(65).fill(4), KC);
    expect(r.ok).toBe(true);
    const sealed = s.get(1)!.sealed.slice();
    expect(leftover(flash.bytes, sealed)).toBeGreaterThanOrEqual(0);
    expect(s.remove(1).ok).toBe(true);
    expect(secret.every((b) => b === 0)).toBe(true);
    expect(leftover(flash.bytes, sealed)).toBe(-1);
    const again = s.remove(1);
    expect(again.ok === false && again.status).toBe(Status.KEY_NOT_FOUND);
    expect(s.get(1)).toBeUndefined();
    expect(open(flash).list()).toEqual([]);
  });

  it('the persisted counter wraps past 0xffff to 1, never 0, skipping ids still in use', () => {
    const flash = ramSizedFlash();
    const s = open(flash);
    expect(add(s, 1)).toBe(1);
    // jump the counter to the end of the id space, as 65534 generations would
    const store = Store.open(flash);
    expect(store.commit([{ key: NEXT_KEY_ID_RECORD, value: encodeCounter(0xffff) }]).ok).toBe(true);
    const s2 = KeyStore.load(4, store);
    expect(add(s2, 2)).toBe(0xffff);
    expect(add(s2, 3)).toBe(2); // 1 is still in use
    expect(
      open(flash)
        .list()
        .map((x) => x.id),
    ).toEqual([1, 2, 0xffff]);
    expect(add(open(flash), 4)).toBe(3);
  });

  it('a record that does not decode is skipped and counted; the others load; it is never a crash', () => {
    const flash = ramSizedFlash();
    const s = open(flash);
    add(s, 1);
    add(s, 2);
    const store = Store.open(flash);
    const good2 = decodeKey(store.get(keyRecordKey(2))!, 2)!;
    const sealed = new Uint8Array(SEALED_KEY_LENGTH);
    expect(
      store.commit([
        { key: keyRecordKey(5), value: new Uint8Array([0xa1, 0x01]) }, // truncated CBOR
        { key: keyRecordKey(6), value: encodeKey(good2) }, // a well-formed record under the wrong id
        { key: keyRecordKey(7), value: encodeKey({ id: 7, alg: 42 as never, label: '', origin: Origin.GENERATED, publicKey: k(1), policy: POLICY, sealed }) },
      ]).ok,
    ).toBe(true);
    const back = KeyStore.load(4, store);
    expect(back.list().map((x) => x.id)).toEqual([1, 2]);
    expect(back.skipped).toBe(3);
    // the counter is still ahead: ids of skipped records are not handed out again while they exist
    expect(add(back, 9)).toBe(3);
  });

  it('more records than RAM slots: the lowest ids load, the rest are counted as skipped and left on flash', () => {
    const flash = ramSizedFlash();
    const s = open(flash, 4);
    for (let i = 1; i <= 4; i++) add(s, i);
    const small = open(flash, 2);
    expect(small.list().map((x) => x.id)).toEqual([1, 2]);
    expect(small.skipped).toBe(2);
    expect(
      open(flash, 4)
        .list()
        .map((x) => x.id),
    ).toEqual([1, 2, 3, 4]);
  });

  it('a flash that throws mid-commit leaves RAM unchanged, wipes the new key, and refuses changes until a reboot', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    add(s, 1);
    const before = meta(s);
    const priv = k(0x55);
    flash.cutAfterWords(3);
    expect(() => s.add(Alg.ED25519, 'torn', Origin.GENERATED, POLICY, priv, k(0x56), KC)).toThrow(PowerCutError);
    expect(meta(s)).toEqual(before);
    expect(priv.every((b) => b === 0)).toBe(true);
    expect(s.storageFault).toBe(true);
    flash.powerOn(); // even with power back, this boot's RAM index may not match the flash: refuse
    const r = s.add(Alg.ED25519, 'next', Origin.GENERATED, POLICY, k(7), k(8), KC);
    expect(r.ok === false && r.status).toBe(Status.INTERNAL_ERROR);
    expect(r.ok === false && msgOf(r)).toMatch(/power-cycle/);
    const d = s.remove(1);
    expect(d.ok === false && d.status).toBe(Status.INTERNAL_ERROR);
    const p = s.setPolicy(1, { ...POLICY, touch: true }, KC);
    expect(p.ok === false && p.status).toBe(Status.INTERNAL_ERROR);
    // reboot: the torn transaction is discarded, the key from before is intact, and the store works
    const back = open(flash);
    expect(meta(back)).toEqual(before);
    expect(secrets(back)).toEqual([hex(k(1))]);
    expect(add(back, 3)).toBe(2);
  });
});

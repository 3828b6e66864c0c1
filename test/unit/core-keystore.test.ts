// Keystore over the flash store: ids from a persisted counter, commit before RAM, STORAGE_FULL (slots or flash), wipe on delete, skip bad records at load.
import { describe, it, expect } from 'vitest';
import { KeyStore } from '../../firmware/core/keystore.ts';
import { RamFlash } from '../../firmware/core/ram_flash.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { NEXT_KEY_ID_RECORD, encodeCounter, encodeKey, keyRecordKey } from '../../firmware/core/records.ts';
import { Alg, Origin, Status } from '../../firmware/protocol/codes.ts';
import type { Flash } from '../../firmware/hal/index.ts';
import { NorFlash, PowerCut, leftover } from '../helpers/nor-flash.ts';

const k = (b: number) => new Uint8Array(32).fill(b);
const open = (flash: Flash, capacity = 4) => KeyStore.load(capacity, Store.open(flash));
const view = (s: KeyStore) => s.list().map((r) => [r.id, r.alg, r.label, r.origin, Buffer.from(r.publicKey).toString('hex'), Buffer.from(r.privateKey).toString('hex')]);

function add(s: KeyStore, b: number, label = 'k' + b, alg: (typeof Alg)[keyof typeof Alg] = Alg.ED25519) {
  const r = s.add(alg, label, Origin.GENERATED, k(b), k(100 + b));
  if (!r.ok) throw new Error(r.message);
  return r.value.id;
}

describe('KeyStore', () => {
  it('hands out ids 1, 2, 3 … and does not reuse a deleted id, across a reload too', () => {
    const flash = new RamFlash();
    const s = open(flash, 3);
    expect([1, 2, 3].map((i) => add(s, i))).toEqual([1, 2, 3]);
    expect(s.remove(3).ok).toBe(true);
    // reload: the counter, not the highest id present, decides the next id
    const s2 = open(flash, 3);
    expect(s2.list().map((x) => x.id)).toEqual([1, 2]);
    expect(add(s2, 9)).toBe(4);
    expect(view(open(flash, 3))).toEqual(view(s2));
  });

  it('what is loaded equals what was stored: id, algorithm, label, origin, both keys', () => {
    const flash = new RamFlash();
    const s = open(flash);
    add(s, 1, 'signing', Alg.ED25519);
    const p = s.add(Alg.ECDSA_P256, 'é label', Origin.IMPORTED, k(2), new Uint8Array(65).fill(4));
    expect(p.ok).toBe(true);
    const back = open(flash);
    expect(view(back)).toEqual(view(s));
    expect(back.skipped).toBe(0);
  });

  it('STORAGE_FULL when the slots are full leaves the store unchanged and says how many slots there are', () => {
    const s = open(new RamFlash(), 2);
    add(s, 1);
    add(s, 2);
    const before = view(s);
    const r = s.add(Alg.ED25519, 'c', Origin.GENERATED, k(5), k(6));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.status).toBe(Status.STORAGE_FULL);
      expect(r.message).toMatch(/2 key slots/);
    }
    expect(view(s)).toEqual(before);
    expect([s.used, s.free]).toEqual([2, 0]);
  });

  it('STORAGE_FULL when the flash is full (slots free): nothing changes in RAM or flash, and a delete makes room again', () => {
    const flash = new RamFlash(512, 2);
    const store = Store.open(flash);
    const s = KeyStore.load(16, store);
    let n = 0;
    for (;;) {
      const r = s.add(Alg.ECDSA_SECP256K1, 'x'.repeat(32), Origin.GENERATED, k(n + 1), new Uint8Array(65).fill(n + 1));
      if (!r.ok) {
        expect(r.status).toBe(Status.STORAGE_FULL);
        expect(r.message).toMatch(/flash store.*bytes free.*delete a key/);
        break;
      }
      n++;
    }
    expect(n).toBeGreaterThan(0);
    expect(s.free).toBeGreaterThan(0);
    const image = () => Buffer.concat([flash.read(0, 0, 512), flash.read(1, 0, 512)]);
    const bytes = image();
    const before = view(s);
    const priv = k(77);
    const again = s.add(Alg.ECDSA_SECP256K1, 'y'.repeat(32), Origin.GENERATED, priv, new Uint8Array(65).fill(78));
    expect(again.ok === false && again.status).toBe(Status.STORAGE_FULL);
    expect(view(s)).toEqual(before);
    expect(image().equals(bytes)).toBe(true);
    expect(s.remove(1).ok).toBe(true);
    expect(s.add(Alg.ECDSA_SECP256K1, 'x'.repeat(32), Origin.GENERATED, k(90), new Uint8Array(65).fill(90)).ok).toBe(true);
    expect(view(KeyStore.load(16, Store.open(flash)))).toEqual(view(s));
  });

  it('remove commits the deletion, wipes the private bytes in RAM and on flash, and reports unknown ids', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    const secret = new Uint8Array(32).map((_, i) => 0x40 + i);
    const r = s.add(Alg.ECDSA_P256, '', Origin.IMPORTED, secret, new Uint8Array(65).fill(4));
    expect(r.ok).toBe(true);
    const copy = secret.slice();
    expect(leftover(flash.bytes, copy)).toBeGreaterThanOrEqual(0);
    expect(s.remove(1).ok).toBe(true);
    expect(secret.every((b) => b === 0)).toBe(true);
    expect(leftover(flash.bytes, copy)).toBe(-1);
    const again = s.remove(1);
    expect(again.ok === false && again.status).toBe(Status.KEY_NOT_FOUND);
    expect(s.get(1)).toBeUndefined();
    expect(open(flash).list()).toEqual([]);
  });

  it('the persisted counter wraps past 0xffff to 1, never 0, skipping ids still in use', () => {
    const flash = new RamFlash();
    const s = open(flash);
    expect(add(s, 1)).toBe(1);
    // jump the counter to the end of the id space, as 65534 generations would
    const store = Store.open(flash);
    expect(store.commit([{ key: NEXT_KEY_ID_RECORD, value: encodeCounter(0xffff) }]).ok).toBe(true);
    const s2 = KeyStore.load(4, store);
    expect(add(s2, 2)).toBe(0xffff);
    expect(add(s2, 3)).toBe(2); // 1 is still in use
    expect(open(flash).list().map((x) => x.id)).toEqual([1, 2, 0xffff]);
    expect(add(open(flash), 4)).toBe(3);
  });

  it('a record that does not decode is skipped and counted; the others load; it is never a crash', () => {
    const flash = new RamFlash();
    const s = open(flash);
    add(s, 1);
    add(s, 2);
    const store = Store.open(flash);
    const good3 = encodeKey({ id: 3, alg: Alg.ED25519, label: '', origin: Origin.GENERATED, publicKey: k(1), privateKey: k(2) });
    expect(
      store.commit([
        { key: keyRecordKey(5), value: new Uint8Array([0xa1, 0x01]) }, // truncated CBOR
        { key: keyRecordKey(6), value: good3 }, // a well-formed record under the wrong id
        { key: keyRecordKey(7), value: encodeKey({ id: 7, alg: 42 as never, label: '', origin: Origin.GENERATED, publicKey: k(1), privateKey: k(2) }) },
      ]).ok,
    ).toBe(true);
    const back = KeyStore.load(4, store);
    expect(back.list().map((x) => x.id)).toEqual([1, 2]);
    expect(back.skipped).toBe(3);
    // the counter is still ahead: ids of skipped records are not handed out again while they exist
    expect(add(back, 9)).toBe(3);
  });

  it('more records than RAM slots: the lowest ids load, the rest are counted as skipped and left on flash', () => {
    const flash = new RamFlash();
    const s = open(flash, 4);
    for (let i = 1; i <= 4; i++) add(s, i);
    const small = open(flash, 2);
    expect(small.list().map((x) => x.id)).toEqual([1, 2]);
    expect(small.skipped).toBe(2);
    expect(open(flash, 4).list().map((x) => x.id)).toEqual([1, 2, 3, 4]);
  });

  it('a flash that throws mid-commit leaves RAM unchanged, wipes the new key, and refuses changes until a reboot', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 4 });
    const s = open(flash);
    add(s, 1);
    const before = view(s);
    const priv = k(0x55);
    flash.cutAfterWords(3);
    expect(() => s.add(Alg.ED25519, 'torn', Origin.GENERATED, priv, k(0x56))).toThrow(PowerCut);
    expect(view(s)).toEqual(before);
    expect(priv.every((b) => b === 0)).toBe(true);
    expect(s.storageFault).toBe(true);
    flash.powerOn(); // even with power back, this boot's RAM index may not match the flash: refuse
    const r = s.add(Alg.ED25519, 'next', Origin.GENERATED, k(7), k(8));
    expect(r.ok === false && r.status).toBe(Status.INTERNAL_ERROR);
    expect(r.ok === false && r.message).toMatch(/power-cycle/);
    const d = s.remove(1);
    expect(d.ok === false && d.status).toBe(Status.INTERNAL_ERROR);
    // reboot: the torn transaction is discarded, the key from before is intact, and the store works
    const back = open(flash);
    expect(view(back)).toEqual(before);
    expect(add(back, 3)).toBe(2);
  });
});

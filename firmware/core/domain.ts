// The device's domain (docs/quorum.md §8): its id in RAM for INFO, its wrap key only sealed under the master key in the DOMAIN record, opened for one request and wiped.
//
// The record is {1: domain id, 2: nonce ‖ ChaCha20-Poly1305 of the wrap key under the master key} (auth/key_seal.ts,
// key id 0, which no key has, bound to the domain id). It changes with the master key in a PIN change's transaction
// (resealEntry), and RESET deletes it; the store wipes a superseded or deleted one (store/record_keys.ts isSecretKind).
import { Status } from '../protocol/codes.ts';
import { type Result, err, ok } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import { type CborValue, cborDecode, cborEncode } from '../protocol/cbor.ts';
import { DOMAIN_ID_BYTES, WRAP_KEY_BYTES } from '../protocol/commands/domain.ts';
import { KEY_RECORD_OVERHEAD, openKeyRecord, sealKeyRecord } from './auth/key_seal.ts';
import type { KeyCrypto } from './keystore.ts';
import type { Entry, Store } from './store/index.ts';
import { RecordKind, recordKey } from './store/record_keys.ts';

const DOMAIN_RECORD = recordKey(RecordKind.DOMAIN, 0);

export class Domain {
  /** The domain id, or undefined while the device is in no domain. */
  id: Uint8Array | undefined = undefined;
  private sealed: Uint8Array | undefined = undefined;
  /** A record is there but does not decode: the device is in some domain it cannot use (DOMAIN_DAMAGED). */
  private damaged = false;

  /** Read the record at boot (its clear part only). Never throws on any record content. */
  static load(store: Store): Domain {
    const d = new Domain();
    const v = store.get(DOMAIN_RECORD);
    if (v === undefined) return d;
    const m = cborDecode(v);
    const id = m.ok && m.value instanceof Map ? m.value.get(1) : undefined;
    const sealed = m.ok && m.value instanceof Map ? m.value.get(2) : undefined;
    if (
      !(id instanceof Uint8Array) ||
      id.length !== DOMAIN_ID_BYTES ||
      !(sealed instanceof Uint8Array) ||
      sealed.length !== KEY_RECORD_OVERHEAD + WRAP_KEY_BYTES
    ) {
      d.damaged = true;
      return d;
    }
    d.id = id;
    d.sealed = sealed;
    return d;
  }

  /** True when a domain record is there, usable or not: DOMAIN_CREATE and DOMAIN_JOIN are refused. */
  get present(): boolean {
    return this.id !== undefined || this.damaged;
  }

  /** The store entry for a domain whose wrap key is `wrapKey`, sealed under the master key in `kc`. */
  entry(kc: KeyCrypto, id: Uint8Array, wrapKey: Uint8Array): { entry: Entry; sealed: Uint8Array } {
    const sealed = sealKeyRecord(kc.crypto, kc.rng, kc.masterKey, { deviceId: kc.deviceId, keyId: 0, alg: 0, bound: id }, wrapKey);
    return {
      entry: {
        key: DOMAIN_RECORD,
        value: cborEncode(
          new Map<number, CborValue>([
            [1, id],
            [2, sealed],
          ]),
        ),
      },
      sealed,
    };
  }

  /** After entry() was committed: RAM follows flash. */
  apply(id: Uint8Array, sealed: Uint8Array): void {
    this.id = id;
    this.sealed = sealed;
    this.damaged = false;
  }

  /**
   * The wrap key, opened with the master key for one request (the caller wipes it). NO_DOMAIN for `command` when
   * the device is in no domain; DOMAIN_DAMAGED when the record does not decode or open.
   */
  open(kc: KeyCrypto, command: number): Result<Uint8Array> {
    if (this.damaged) return err(Status.INVALID_KEY, Reason.DOMAIN_DAMAGED);
    const { id, sealed } = this;
    if (id === undefined || sealed === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_DOMAIN, [command]);
    const k = openKeyRecord(kc.crypto, kc.masterKey, { deviceId: kc.deviceId, keyId: 0, alg: 0, bound: id }, sealed);
    return k === undefined ? err(Status.INVALID_KEY, Reason.DOMAIN_DAMAGED) : ok(k);
  }

  /**
   * A PIN change's part (docs/security.md §4): the record sealed under `next`, and what to apply after the commit;
   * nothing when the device is in no domain. A record that does not open refuses the change, as a key record does.
   */
  resealEntry(kc: KeyCrypto, next: Uint8Array): Result<{ entries: Entry[]; apply(): void }> {
    if (!this.present) return ok({ entries: [], apply: () => undefined });
    const k = this.open(kc, 0);
    if (!k.ok) return k;
    const id = this.id as Uint8Array;
    const e = this.entry({ crypto: kc.crypto, rng: kc.rng, deviceId: kc.deviceId, masterKey: next }, id, k.value);
    k.value.fill(0);
    return ok({ entries: [e.entry], apply: () => this.apply(id, e.sealed) });
  }

  /** RESET's entry: delete the record (the store overwrites its bytes). */
  eraseEntry(): Entry {
    return { key: DOMAIN_RECORD, value: null };
  }

  /** After eraseEntry() was committed. */
  forget(): void {
    this.id = undefined;
    this.sealed = undefined;
    this.damaged = false;
  }
}

// Keystore: key records persisted in the flash store, mirrored in a fixed number of RAM slots for fast use (DESIGN.md "Keys", "Storage").
//
// Rules (issue 3 §4, §6):
// - Every change is committed to flash first, in one atomic transaction, and RAM changes only after the
//   commit returned ok. A commit that throws (the flash failed, or power is going) leaves RAM as it was
//   and marks the keystore faulted: later changes are refused until a power cycle, when the store's boot
//   scan recovers the last committed state.
// - A new key and the next-key-id counter are committed together, so an id is never handed out twice,
//   across reboots too. Ids run 1..0xffff and wrap to 1, skipping ids in use.
// - SIGN and friends read RAM only: no flash access per use (issue 2 bench).
// - The RAM slot limit stays: a full KEY_LIST answer must fit one packet.
import { ALG_NAMES, Status, type AlgId, type Origin } from '../protocol/codes.ts';
import { type Result, ok, err } from '../protocol/result.ts';
import { MAX_KEY_ID } from '../protocol/messages/limits.ts';
import { RecordKind, indexOf, type Store } from './store/index.ts';
import type { Ed25519Signer } from '../hal/index.ts';
import { NEXT_KEY_ID_RECORD, decodeCounter, decodeKey, encodeCounter, encodeKey, keyRecordKey } from './records.ts';

export interface KeyRecord {
  /** 16-bit id, never 0 (DESIGN.md "Keys"). */
  readonly id: number;
  readonly alg: AlgId;
  readonly label: string;
  readonly origin: Origin;
  /** Secret: never leaves the device; wiped (fill(0)) when the key is deleted. */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
  /** Ed25519 only: the expanded key, made at the first SIGN (commands/sign.ts) and wiped with the key. */
  signer?: Ed25519Signer;
}

const FAULT_MESSAGE = 'the flash failed during an earlier write; power-cycle the device (it comes back with its last committed keys)';

function nextAfter(id: number): number {
  return id >= MAX_KEY_ID ? 1 : id + 1;
}

export class KeyStore {
  private readonly slots: (KeyRecord | undefined)[];
  private count = 0;
  /** Next id to hand out (persisted in the COUNTERS record): 1, 2, 3, …, wrapping past 0xffff to 1. */
  private nextId = 1;
  /** Key records found at boot that did not decode (or did not fit the RAM slots); left on flash untouched. */
  private skippedRecords = 0;
  private faulted = false;

  constructor(
    readonly capacity: number,
    private readonly store: Store,
  ) {
    this.slots = new Array(capacity);
    for (let i = 0; i < capacity; i++) this.slots[i] = undefined;
  }

  /**
   * Load every key record from the store (at boot). A record that fails to decode is skipped and counted,
   * never a crash; so are records beyond the RAM slots (lowest ids are kept).
   */
  static load(capacity: number, store: Store): KeyStore {
    const ks = new KeyStore(capacity, store);
    const keys = store.list(RecordKind.KEY).slice();
    keys.sort((a, b) => indexOf(a) - indexOf(b));
    let maxId = 0;
    for (let i = 0; i < keys.length; i++) {
      const id = indexOf(keys[i]);
      const v = store.get(keys[i]);
      const k = v === undefined ? undefined : decodeKey(v, id);
      if (v !== undefined) v.fill(0); // the record's bytes hold the private key; decodeKey made its own copy
      if (k === undefined || ks.count >= capacity) {
        if (k !== undefined) k.privateKey.fill(0);
        ks.skippedRecords++;
        continue;
      }
      ks.slots[ks.count++] = { id: k.id, alg: k.alg, label: k.label, origin: k.origin, privateKey: k.privateKey, publicKey: k.publicKey };
      if (id > maxId) maxId = id;
    }
    const c = store.get(NEXT_KEY_ID_RECORD);
    const saved = c === undefined ? undefined : decodeCounter(c, MAX_KEY_ID);
    // The counter is committed with every key, so it is present whenever a key is. Without it (a store
    // from before the counter, or a record that does not decode), continue after the highest id found.
    ks.nextId = saved !== undefined && saved >= 1 ? saved : nextAfter(maxId);
    return ks;
  }

  get used(): number {
    return this.count;
  }

  get free(): number {
    return this.capacity - this.count;
  }

  /** Key records on flash that did not load at boot (corrupt, unknown algorithm, or beyond the slots). */
  get skipped(): number {
    return this.skippedRecords;
  }

  /** True once a flash write threw: changes are refused until the device is power-cycled. */
  get storageFault(): boolean {
    return this.faulted;
  }

  get(id: number): KeyRecord | undefined {
    const s = this.slots;
    for (let i = 0; i < s.length; i++) {
      const r = s[i];
      if (r !== undefined && r.id === id) return r;
    }
    return undefined;
  }

  /** All keys in ascending id order. */
  list(): KeyRecord[] {
    const out: KeyRecord[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r !== undefined) out.push(r);
    }
    out.sort((a, b) => a.id - b.id);
    return out;
  }

  /**
   * Store a key under a fresh id: commit the key record and the advanced id counter in one transaction,
   * then take it into RAM. The keystore keeps the given buffers (no copy): the caller hands over
   * ownership of privateKey, and wipes it itself only if this returns an error (if the flash throws,
   * this wipes it before the exception goes on). STORAGE_FULL (no free
   * slot, or no room on flash) leaves everything unchanged.
   */
  add(alg: AlgId, label: string, origin: Origin, privateKey: Uint8Array, publicKey: Uint8Array): Result<KeyRecord> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, FAULT_MESSAGE);
    let slot = -1;
    for (let i = 0; i < this.slots.length; i++)
      if (this.slots[i] === undefined) {
        slot = i;
        break;
      }
    if (slot < 0) return err(Status.STORAGE_FULL, 'all ' + this.capacity + ' key slots are in use; delete a key first');
    const id = this.freeId();
    const after = nextAfter(id);
    const value = encodeKey({ id, alg, label, origin, publicKey, privateKey });
    const counter = encodeCounter(after);
    const entries = [
      { key: keyRecordKey(id), value },
      { key: NEXT_KEY_ID_RECORD, value: counter },
    ];
    if (!this.store.canFit([{ key: keyRecordKey(id), length: value.length }, { key: NEXT_KEY_ID_RECORD, length: counter.length }])) {
      value.fill(0);
      return err(Status.STORAGE_FULL, 'the flash store has no room for another ' + ALG_NAMES[alg] + ' key (' + this.store.stats().bytesFree + ' bytes free); delete a key first');
    }
    let done: Result<void>;
    try {
      done = this.commit(entries, value);
    } catch (e) {
      // the key was never answered for: it must not linger in RAM either
      privateKey.fill(0);
      throw e;
    }
    if (!done.ok) return done;
    const rec: KeyRecord = { id, alg, label, origin, privateKey, publicKey };
    this.slots[slot] = rec;
    this.count++;
    this.nextId = after;
    return ok(rec);
  }

  /**
   * Delete a key: commit the deletion (the store wipes the record's bytes on flash), then drop it from
   * RAM and wipe its private bytes. KEY_NOT_FOUND if no key has this id.
   */
  remove(id: number): Result<void> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, FAULT_MESSAGE);
    let slot = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r !== undefined && r.id === id) {
        slot = i;
        break;
      }
    }
    if (slot < 0) return err(Status.KEY_NOT_FOUND, 'no key with id ' + id);
    const done = this.commit([{ key: keyRecordKey(id), value: null }], undefined);
    if (!done.ok) return done;
    const r = this.slots[slot] as KeyRecord;
    r.privateKey.fill(0);
    if (r.signer) r.signer.wipe();
    this.slots[slot] = undefined;
    this.count--;
    return ok(undefined);
  }

  /** One atomic commit; `secret` (an encoded record holding a private key) is wiped whatever happens. */
  private commit(entries: { key: number; value: Uint8Array | null }[], secret: Uint8Array | undefined): Result<void> {
    let r: Result<void>;
    try {
      r = this.store.commit(entries);
    } catch (e) {
      // the flash threw mid-write: what landed is for the boot scan to judge; RAM stays as it was
      this.faulted = true;
      if (secret) secret.fill(0);
      throw e;
    }
    if (secret) secret.fill(0);
    return r;
  }

  /** The counter's next value that no stored key uses (there is always one: capacity < 65535). */
  private freeId(): number {
    let id = this.nextId;
    while (this.get(id) !== undefined) id = nextAfter(id);
    return id;
  }
}

// Keystore: key records persisted in the flash store, mirrored in a fixed number of RAM slots for fast use; private keys sealed under the master key (docs/security.md §5–§6, docs/storage.md).
//
// Rules (docs/storage.md §1, docs/security.md §5):
// - Every change is committed to flash first, in one atomic transaction, and RAM changes only after the
//   commit returned ok. A commit that throws (the flash failed, or power is going) leaves RAM as it was
//   and marks the keystore faulted: later changes are refused until a power cycle, when the store's boot
//   scan recovers the last committed state.
// - A new key and the next-key-id counter are committed together, so an id is never handed out twice,
//   across reboots too. Ids run 1..0xffff and wrap to 1, skipping ids in use.
// - At rest a key record holds its private key only sealed under the master key (auth/key_seal.ts, docs/security.md
//   §5): add() and setPolicy() seal before they commit, so the plaintext private key never reaches flash.
//   Boot loads the clear metadata only. A private key is opened at its first use with the master key, then
//   cached in RAM (with its Ed25519 signer) until lock(), which auth calls when the master key is wiped.
// - SIGN and friends read RAM only: no flash access per use.
// - The RAM slot limit stays: a full KEY_LIST answer must fit one packet.
import { Status, type AlgId, type Origin } from '../protocol/codes.ts';
import { type Result, ok, err } from '../protocol/result.ts';
import { MAX_KEY_ID } from '../protocol/commands/limits.ts';
import { Reason } from '../protocol/reasons.ts';
import { RecordKind, indexOf, type Entry, type Store } from './store/index.ts';
import type { Crypto, Ed25519Signer, Env, Rng } from '../hal/index.ts';
import { NEXT_KEY_ID_RECORD, decodeCounter, decodeKey, encodeCounter, encodeKey, encodeKeyClear, keyRecordKey, type KeyMeta } from './records.ts';
import { openKeyRecord, sealKeyRecord } from './auth/key_seal.ts';
import { checkUse, samePolicy, type StoredPolicy } from './policy.ts';
import { afterPress, type Outcome } from './presence.ts';
import type { DeviceContext } from './context.ts';

export interface KeyRecord {
  /** 16-bit id, never 0 (docs/protocol.md §4). */
  readonly id: number;
  readonly alg: AlgId;
  readonly label: string;
  readonly origin: Origin;
  readonly publicKey: Uint8Array;
  /** The stored policy (docs/security.md §6); changed only by setPolicy, after its commit. */
  readonly policy: StoredPolicy;
  /** The private key as on flash: nonce ‖ ChaCha20-Poly1305 under the master key (auth/key_seal.ts). Not secret. */
  readonly sealed: Uint8Array;
  /** Secret, a RAM cache: the opened private key, or undefined until its first use; wiped by lock() and delete. */
  privateKey: Uint8Array | undefined;
  /** Ed25519 only: the expanded key, made at the first SIGN (commands/sign.ts) and wiped with the cache. */
  signer?: Ed25519Signer;
}

/** A key BACKUP_IMPORT restores (docs/quorum.md §9.2): checked by the caller, who keeps and wipes `privateKey`. */
export interface RestoredKey {
  readonly id: number;
  readonly alg: AlgId;
  readonly label: string;
  readonly origin: Origin;
  readonly policy: StoredPolicy;
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/** What sealing and opening a private key needs: the crypto HAL, the RNG (nonces), the device id (AAD) and the master key. */
export interface KeyCrypto {
  readonly crypto: Crypto;
  readonly rng: Rng;
  readonly deviceId: Uint8Array;
  /** Owned by auth (core/auth/state.ts): used, never kept or wiped here. */
  readonly masterKey: Uint8Array;
}

/**
 * The KeyCrypto of a running device, or LOGIN_REQUIRED when the master key is not in RAM. The dispatcher's gate
 * admits key commands only in a logged-in session, and a login unwraps the master key, so this refusal means
 * the login ended between the two (it is kept so that no path reaches a key without the master key).
 */
export function keyCrypto(ctx: {
  readonly env: Env;
  readonly deviceId: Uint8Array;
  readonly auth: { masterKey(): Uint8Array | undefined };
}): Result<KeyCrypto> {
  const m = ctx.auth.masterKey();
  if (m === undefined) return err(Status.LOGIN_REQUIRED, Reason.MASTER_KEY_LOCKED);
  return ok({ crypto: ctx.env.crypto, rng: ctx.env.rng, deviceId: ctx.deviceId, masterKey: m });
}

/**
 * The gate before a key's private part is used (docs/security.md §6–§7), in this order: the capability
 * (POLICY_DENIED), then for a touch key the button (the request waits; PRESENCE_TIMEOUT, CANCELLED), then the
 * master key; then `use` runs with it, once.
 */
export function authorizeUse<T>(ctx: DeviceContext, key: KeyRecord, capability: number, use: (kc: KeyCrypto) => Result<T>): Outcome<T> {
  const denied = checkUse(key.id, key.policy, capability);
  if (denied) return denied;
  const go = (): Result<T> => {
    const kc = keyCrypto(ctx);
    return kc.ok ? use(kc.value) : kc;
  };
  return key.policy.touch ? afterPress(ctx.env, key.id, go) : go();
}

/** Wipe a record's RAM cache: the opened private key and the Ed25519 signer. */
function forget(r: KeyRecord): void {
  if (r.privateKey !== undefined) {
    r.privateKey.fill(0);
    r.privateKey = undefined;
  }
  if (r.signer !== undefined) {
    r.signer.wipe();
    r.signer = undefined;
  }
}

/**
 * A key record for flash: the private key sealed under the master key in `kc`, bound to the record's clear part
 * (auth/key_seal.ts), and the encoded record. The caller still owns `privateKey`.
 */
function sealedRecord(kc: KeyCrypto, meta: KeyMeta, privateKey: Uint8Array): { sealed: Uint8Array; value: Uint8Array } {
  const sealed = sealKeyRecord(
    kc.crypto,
    kc.rng,
    kc.masterKey,
    { deviceId: kc.deviceId, keyId: meta.id, alg: meta.alg, bound: encodeKeyClear(meta) },
    privateKey,
  );
  return {
    sealed,
    value: encodeKey({ id: meta.id, alg: meta.alg, label: meta.label, origin: meta.origin, publicKey: meta.publicKey, policy: meta.policy, sealed }),
  };
}

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
   * Load every key record's clear part from the store (at boot; no master key needed, nothing is opened). A
   * record that fails to decode is skipped and counted, never a crash; so are records beyond the RAM slots
   * (lowest ids are kept).
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
      if (k === undefined || ks.count >= capacity) {
        ks.skippedRecords++;
        continue;
      }
      ks.slots[ks.count++] = {
        id: k.id,
        alg: k.alg,
        label: k.label,
        origin: k.origin,
        publicKey: k.publicKey,
        policy: k.policy,
        sealed: k.sealed,
        privateKey: undefined,
      };
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
   * Store a key under a fresh id: seal the private key under the master key (bound to the record's clear part),
   * commit the key record and the advanced id counter in one transaction, then take it into RAM. The keystore
   * keeps the given buffers (no copy): the caller hands over ownership of privateKey, which becomes the
   * record's RAM cache, and wipes it itself only if this returns an error (if the flash throws, this wipes it
   * before the exception goes on). STORAGE_FULL (no free slot, or no room on flash) leaves everything unchanged.
   */
  add(alg: AlgId, label: string, origin: Origin, policy: StoredPolicy, privateKey: Uint8Array, publicKey: Uint8Array, kc: KeyCrypto): Result<KeyRecord> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    let slot = -1;
    for (let i = 0; i < this.slots.length; i++)
      if (this.slots[i] === undefined) {
        slot = i;
        break;
      }
    if (slot < 0) return err(Status.STORAGE_FULL, Reason.SLOTS_FULL, [this.capacity]);
    const id = this.freeId();
    const after = nextAfter(id);
    const meta: KeyMeta = { id, alg, label, origin, publicKey, policy };
    const { sealed, value } = sealedRecord(kc, meta, privateKey);
    const counter = encodeCounter(after);
    const entries = [
      { key: keyRecordKey(id), value },
      { key: NEXT_KEY_ID_RECORD, value: counter },
    ];
    if (
      !this.store.canFit([
        { key: keyRecordKey(id), length: value.length },
        { key: NEXT_KEY_ID_RECORD, length: counter.length },
      ])
    )
      return err(Status.STORAGE_FULL, Reason.NO_ROOM_FOR_KEY, [alg, this.store.stats().bytesFree]);
    let done: Result<void>;
    try {
      done = this.commit(entries);
    } catch (e) {
      // the key was never answered for: it must not linger in RAM either
      privateKey.fill(0);
      throw e;
    }
    if (!done.ok) return done;
    const rec: KeyRecord = { id, alg, label, origin, publicKey, policy, sealed, privateKey };
    this.slots[slot] = rec;
    this.count++;
    this.nextId = after;
    return ok(rec);
  }

  /**
   * Restore keys under their own ids (BACKUP_IMPORT): all sealed under the master key and committed in one
   * transaction, or none. KEY_ID_TAKEN when an id is in use here (nothing is overwritten, so no policy is ever
   * loosened by a restore), KEY_REPEATED when the list names an id twice, STORAGE_FULL without slots or flash room.
   * The keys are not cached: each opens at its first use. The id counter moves past the highest restored id in the
   * same transaction, so a later KEY_GENERATE never hands out a restored key's id, not even after it is deleted.
   */
  restore(keys: RestoredKey[], kc: KeyCrypto): Result<void> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    const free: number[] = [];
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i] === undefined) free.push(i);
    if (free.length < keys.length) return err(Status.STORAGE_FULL, Reason.SLOTS_FULL, [this.capacity]);
    const entries: Entry[] = [];
    const sizes: { key: number; length: number }[] = [];
    const recs: KeyRecord[] = [];
    let next = this.nextId;
    for (let i = 0; i < keys.length; i++) {
      const { id, alg, label, origin, policy, publicKey } = keys[i];
      if (this.get(id) !== undefined) return err(Status.INVALID_PARAMETER, Reason.KEY_ID_TAKEN, [id]);
      for (let j = 0; j < i; j++) if (keys[j].id === id) return err(Status.INVALID_PARAMETER, Reason.KEY_REPEATED, [id]);
      const meta: KeyMeta = { id, alg, label, origin, publicKey, policy };
      const { sealed, value } = sealedRecord(kc, meta, keys[i].privateKey);
      entries.push({ key: keyRecordKey(id), value });
      sizes.push({ key: keyRecordKey(id), length: value.length });
      recs.push({ id, alg, label, origin, publicKey, policy, sealed, privateKey: undefined });
      if (id >= next) next = nextAfter(id);
    }
    if (next !== this.nextId) {
      const counter = encodeCounter(next);
      entries.push({ key: NEXT_KEY_ID_RECORD, value: counter });
      sizes.push({ key: NEXT_KEY_ID_RECORD, length: counter.length });
    }
    if (!this.store.canFit(sizes)) return err(Status.STORAGE_FULL, Reason.NO_ROOM_FOR_KEY, [keys[0].alg, this.store.stats().bytesFree]);
    const done = this.commit(entries);
    if (!done.ok) return done;
    for (let i = 0; i < recs.length; i++) this.slots[free[i]] = recs[i];
    this.count += recs.length;
    this.nextId = next;
    return ok(undefined);
  }

  /**
   * The key's private key: the RAM cache, or opened from its sealed record with the master key and cached.
   * INVALID_KEY when the record does not open: its clear part (label, origin, public key, policy) or its sealed
   * bytes were altered on flash, or it was sealed under another device's or master key. The buffer stays the
   * keystore's (wiped by lock() and delete): a caller uses it and does not keep it.
   */
  privateKeyOf(rec: KeyRecord, kc: KeyCrypto): Result<Uint8Array> {
    if (rec.privateKey !== undefined) return ok(rec.privateKey);
    const sk = openKeyRecord(kc.crypto, kc.masterKey, { deviceId: kc.deviceId, keyId: rec.id, alg: rec.alg, bound: encodeKeyClear(rec) }, rec.sealed);
    if (sk === undefined) return err(Status.INVALID_KEY, Reason.KEY_RECORD_DAMAGED, [rec.id]);
    rec.privateKey = sk;
    return ok(sk);
  }

  /**
   * Replace a key's policy (KEY_SET_POLICY; the caller has checked that it only tightens): the private key is
   * opened, sealed again bound to the new clear part, and the record committed; RAM changes after the commit.
   * An unchanged policy writes nothing.
   */
  setPolicy(id: number, policy: StoredPolicy, kc: KeyCrypto): Result<KeyRecord> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    const slot = this.slotOf(id);
    if (slot < 0) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [id]);
    const old = this.slots[slot] as KeyRecord;
    if (samePolicy(old.policy, policy)) return ok(old);
    const sk = this.privateKeyOf(old, kc);
    if (!sk.ok) return sk;
    const meta: KeyMeta = { id, alg: old.alg, label: old.label, origin: old.origin, publicKey: old.publicKey, policy };
    const { sealed, value } = sealedRecord(kc, meta, sk.value);
    if (!this.store.canFit([{ key: keyRecordKey(id), length: value.length }]))
      return err(Status.STORAGE_FULL, Reason.NO_ROOM_TO_REWRITE, [id, this.store.stats().bytesFree]);
    const done = this.commit([{ key: keyRecordKey(id), value }]);
    if (!done.ok) return done;
    const rec: KeyRecord = {
      id,
      alg: old.alg,
      label: old.label,
      origin: old.origin,
      publicKey: old.publicKey,
      policy,
      sealed,
      privateKey: old.privateKey,
      signer: old.signer,
    };
    this.slots[slot] = rec;
    return ok(rec);
  }

  /**
   * Every loaded key sealed again under `next`, a new master key, for the one transaction of a PIN change
   * (docs/security.md §4): the entries to commit with it, and `apply`, which takes the new sealed bytes into RAM
   * once that commit returned ok. A record that does not open under the current master key (altered on flash)
   * refuses the whole change (INVALID_KEY, KEY_RECORD_DAMAGED): sealed under a master key no envelope held any more,
   * it could never open again, so it is deleted first, knowingly. A private key opened here only to be sealed again
   * is wiped; the RAM cache is kept as it was.
   */
  resealAll(kc: KeyCrypto, next: Uint8Array): Result<{ entries: Entry[]; apply(): void }> {
    const entries: Entry[] = [];
    const updated: KeyRecord[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r === undefined) continue;
      const ctx = { deviceId: kc.deviceId, keyId: r.id, alg: r.alg, bound: encodeKeyClear(r) };
      const sk = r.privateKey !== undefined ? r.privateKey : openKeyRecord(kc.crypto, kc.masterKey, ctx, r.sealed);
      if (sk === undefined) return err(Status.INVALID_KEY, Reason.KEY_RECORD_DAMAGED, [r.id]);
      try {
        const u: KeyRecord = { ...r, sealed: sealKeyRecord(kc.crypto, kc.rng, next, ctx, sk), privateKey: undefined, signer: undefined };
        entries.push({ key: keyRecordKey(r.id), value: encodeKey(u) });
        updated.push(u);
      } finally {
        if (sk !== r.privateKey) sk.fill(0);
      }
    }
    return ok({
      entries,
      apply: () => {
        for (let i = 0; i < updated.length; i++) {
          const u = updated[i];
          const slot = this.slotOf(u.id);
          const old = this.slots[slot] as KeyRecord;
          u.privateKey = old.privateKey;
          u.signer = old.signer;
          this.slots[slot] = u;
        }
      },
    });
  }

  /** The RAM slot holding key `id`, or -1. */
  private slotOf(id: number): number {
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r !== undefined && r.id === id) return i;
    }
    return -1;
  }

  /** Wipe every cached private key and signer (auth calls this when it wipes the master key). Records stay. */
  lock(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r === undefined) continue;
      forget(r);
    }
  }

  /** RESET's store entries: delete every key record (the store overwrites each with zeros, docs/storage.md §6). The id counter stays, so ids are not reused. */
  eraseEntries(): Entry[] {
    const out: Entry[] = [];
    const keys = this.store.list(RecordKind.KEY);
    for (let i = 0; i < keys.length; i++) out.push({ key: keys[i], value: null });
    return out;
  }

  /** After eraseEntries() was committed: every slot empty, every cached private key wiped. */
  forgetAll(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r !== undefined) forget(r);
      this.slots[i] = undefined;
    }
    this.count = 0;
    this.skippedRecords = 0;
  }

  /**
   * Delete a key: commit the deletion (the store wipes the record's bytes on flash), then drop it from
   * RAM and wipe its private bytes. KEY_NOT_FOUND if no key has this id.
   */
  remove(id: number): Result<void> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    const slot = this.slotOf(id);
    if (slot < 0) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [id]);
    const done = this.commit([{ key: keyRecordKey(id), value: null }]);
    if (!done.ok) return done;
    forget(this.slots[slot] as KeyRecord);
    this.slots[slot] = undefined;
    this.count--;
    return ok(undefined);
  }

  /** One atomic commit. A throw marks the keystore faulted (see the header). */
  private commit(entries: { key: number; value: Uint8Array | null }[]): Result<void> {
    try {
      return this.store.commit(entries);
    } catch (e) {
      // the flash threw mid-write: what landed is for the boot scan to judge; RAM stays as it was
      this.faulted = true;
      throw e;
    }
  }

  /** The counter's next value that no stored key uses (there is always one: capacity < 65535). */
  private freeId(): number {
    let id = this.nextId;
    while (this.get(id) !== undefined) id = nextAfter(id);
    return id;
  }
}

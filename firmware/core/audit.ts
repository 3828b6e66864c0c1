// The audit log (docs/audit.md): each recorded request, boot and power-cut recovery is an 80-byte entry holding the SHA-256 of the entry before it, kept in a ring of store records and committed in the same transaction as the change it records.
//
// Entry (docs/audit.md §2), multi-byte fields big-endian:
//   0 index(4) ‖ 4 time ms since boot(4) ‖ 8 event ‖ 9 command ‖ 10 status ‖ 11 reason ‖ 12 key id(2) ‖ 14 session ‖
//   15 role ‖ 16 SHA-256 of the request body(32; zeros for a request that carries a PIN or a key) ‖ 48 prev(32)
// prev is the SHA-256 of the whole previous entry (32 zero bytes for entry 0): the entries form one hash chain whose
// head the identity key signs in a checkpoint. The ring holds `capacity` entries; entry i lives in slot i mod capacity.
import type { Clock, Crypto } from '../hal/index.ts';
import { Status } from '../protocol/codes.ts';
import { Reason } from '../protocol/reasons.ts';
import { type Err, type Result, err, ok } from '../protocol/result.ts';
import { type CborMap, cborDecode, cborEncode } from '../protocol/cbor.ts';
import { concatBytes, utf8Encode } from '../protocol/bytes.ts';
import { AUDIT_ENTRY_LENGTH } from '../protocol/commands/limits.ts';
import { type Entry, type Store, RecordKind, indexOf, kindOf, recordKey } from './store/index.ts';

/** What an entry records (byte 8). Add at the end. */
export enum AuditEvent {
  /** A request's outcome, or a change it committed. */
  REQUEST = 1,
  /** A PIN try spent in flash before the PIN is compared (docs/security.md §4); the outcome follows as a REQUEST entry. */
  PIN_TRY = 2,
  /** The device started. */
  BOOT = 3,
  /** At this boot the store found a write cut short by a power loss and finished or discarded it (docs/storage.md §7). */
  RECOVERED = 4,
}

/** Label of the checkpoint statement (docs/audit.md §5); the 0x00 after it keeps it apart from every other signed text. */
export const CHECKPOINT_CONTEXT = 'tinyhsm/audit/v1';

/** What the dispatcher knows of the request being recorded. */
export interface AuditRecord {
  readonly command: number;
  readonly session: number;
  role: number;
  /** SHA-256 of the request body, or 32 zero bytes for a request that carries a PIN or a private key. */
  readonly requestHash: Uint8Array;
  keyId: number;
  /** An entry for this request went out with a commit: its outcome needs no entry of its own if it is OK. */
  written: boolean;
  /** The next commit spends a PIN try (AuthState calls markTry). */
  tryNext: boolean;
}

const STATE_RECORD = recordKey(RecordKind.AUDIT_STATE, 0);
const ZERO32 = new Uint8Array(32);

function putBe(b: Uint8Array, at: number, n: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) {
    b[at + i] = n & 0xff;
    n = Math.floor(n / 256);
  }
}

/** Big-endian unsigned integer of `width` bytes. */
export function readBe(b: Uint8Array, at: number, width: number): number {
  let n = 0;
  for (let i = 0; i < width; i++) n = n * 256 + b[at + i];
  return n;
}

/**
 * The forced-audit reserve (docs/audit.md §6): entries kept for what the auditor needs to collect a full log (a LOGIN
 * is two, a PIN_TRY and its outcome; then AUDIT_ACK and LOGOUT), and for boots.
 */
export function reserveOf(capacity: number): number {
  const r = Math.floor(capacity / 8);
  return r < 4 ? 4 : r > 16 ? 16 : r;
}

export class AuditLog {
  readonly capacity: number;
  private next_: number;
  private head_: Uint8Array;
  private acked_: number;
  private forced_: boolean;
  private locked_: boolean;
  /** The request being run (set by the dispatcher around its handler): commits carry an entry for it. */
  current: AuditRecord | undefined = undefined;
  /** An entry to write on its own (boot, an outcome): set just around its commit. */
  private explicit: Uint8Array | undefined = undefined;
  /** The entry the commit in progress carries, and its digest: applied by committed(). */
  private staged: Uint8Array | undefined = undefined;
  /** A write of the log threw (the flash failed, or power went): nothing more is written until a reboot. */
  private faulted = false;
  private readonly store: Store;
  private readonly crypto: Crypto;
  private readonly clock: Clock;

  private constructor(store: Store, crypto: Crypto, clock: Clock, capacity: number) {
    this.store = store;
    this.crypto = crypto;
    this.clock = clock;
    this.capacity = capacity;
    this.next_ = 0;
    this.head_ = ZERO32;
    this.acked_ = 0;
    this.forced_ = false;
    this.locked_ = false;
  }

  /**
   * Read the log's state and find its head: the entry with the highest index among the ring's slots. The capacity
   * is the one in flash once the log exists (the slots' meaning depends on it), else `capacity`. Never throws on content.
   */
  static load(store: Store, crypto: Crypto, clock: Clock, capacity: number): AuditLog {
    const sv = store.get(STATE_RECORD);
    const st = sv === undefined ? undefined : decodeState(sv);
    const log = new AuditLog(store, crypto, clock, st !== undefined ? st.capacity : capacity);
    const cap = log.capacity;
    let head: Uint8Array | undefined;
    let best = -1;
    const slots = store.list(RecordKind.AUDIT);
    for (let i = 0; i < slots.length; i++) {
      const v = store.get(slots[i]);
      if (v === undefined || v.length !== AUDIT_ENTRY_LENGTH) continue;
      const idx = readBe(v, 0, 4);
      if (idx % cap === indexOf(slots[i]) && idx > best) {
        best = idx;
        head = v;
      }
    }
    if (head !== undefined) {
      log.next_ = best + 1;
      log.head_ = crypto.sha256(head);
    }
    if (st !== undefined) {
      log.acked_ = st.acked > log.next_ ? log.next_ : st.acked;
      log.forced_ = st.forced;
      log.locked_ = st.locked;
    }
    log.holdRoom(0);
    return log;
  }

  get next(): number {
    return this.next_;
  }
  /** SHA-256 of the newest entry (32 zero bytes while the log is empty). */
  get head(): Uint8Array {
    return this.head_;
  }
  get oldest(): number {
    return this.next_ > this.capacity ? this.next_ - this.capacity : 0;
  }
  get acked(): number {
    return this.acked_;
  }
  get forced(): boolean {
    return this.forced_;
  }
  get locked(): boolean {
    return this.locked_;
  }

  /** Entries in the ring that the auditor has not acknowledged. */
  unacknowledged(): number {
    const from = this.acked_ > this.oldest ? this.acked_ : this.oldest;
    return this.next_ - from;
  }

  /**
   * Forced audit's refusal of an ordinary recorded command (docs/audit.md §6): the log must keep its reserve free for
   * the auditor's LOGIN, AUDIT_ACK, LOGOUT and for boots. Undefined when the command may run.
   */
  fullFor(usesReserve: boolean): Err | undefined {
    if (!this.forced_ || usesReserve) return undefined;
    const unacked = this.unacknowledged();
    if (unacked + reserveOf(this.capacity) >= this.capacity) return err(Status.AUDIT_FULL, Reason.AUDIT_LOG_FULL, [unacked, this.capacity]);
    return undefined;
  }

  /** The next commit spends a PIN try: its entry says so (AuthState's onTry). */
  markTry(): void {
    if (this.current !== undefined) this.current.tryNext = true;
  }

  // ---- the store binding: every commit carries an entry while a request runs ------------------------------

  /** The entry this commit carries (the request's, or an explicit one), or undefined. Called by Store.commit and canFit. */
  entryFor(entries: Entry[]): Entry | undefined {
    let bytes = this.explicit;
    const r = this.current;
    if (bytes === undefined && r !== undefined) {
      if (r.keyId === 0) r.keyId = keyIdIn(entries);
      bytes = this.encode(r.tryNext ? AuditEvent.PIN_TRY : AuditEvent.REQUEST, r, Status.OK, 0);
    }
    this.staged = bytes;
    this.holdRoom(bytes !== undefined ? 1 : 0);
    if (bytes === undefined) return undefined;
    return { key: recordKey(RecordKind.AUDIT, this.next_ % this.capacity), value: bytes };
  }

  /**
   * Until the ring is full, the store keeps room for the entries still to come (docs/audit.md §8), less `adding` that
   * the transaction at hand writes: so keys can never take the space the log was promised.
   */
  holdRoom(adding: number): void {
    this.store.hold(this.capacity - this.next_ - adding, AUDIT_ENTRY_LENGTH);
  }

  /** The commit carrying the staged entry landed: it is the new head. */
  committed(): void {
    const b = this.staged;
    if (b === undefined) return;
    this.staged = undefined;
    this.head_ = this.crypto.sha256(b);
    this.next_++;
    const r = this.current;
    if (this.explicit === undefined && r !== undefined) {
      if (r.tryNext) r.tryNext = false;
      else r.written = true;
    }
  }

  // ---- entries written on their own ----------------------------------------------------------------------

  /** Append one entry in a transaction of its own (with the store's other bindings, and `extra` records of the caller's). */
  append(event: number, r: AuditRecord | undefined, status: number, reason: number, extra: Entry[] = []): Result<void> {
    if (this.faulted) return err(Status.INTERNAL_ERROR, Reason.FLASH_FAULTED);
    this.explicit = this.encode(event, r, status, reason);
    try {
      return this.store.commit(extra);
    } catch (e) {
      this.faulted = true;
      throw e;
    } finally {
      this.explicit = undefined;
      this.staged = undefined;
    }
  }

  /**
   * The outcome of a recorded request, after its handler (docs/audit.md §3): nothing more when a commit already
   * carried its entry and it succeeded; otherwise an entry with its status and reason.
   */
  outcome(r: AuditRecord, status: number, reason: number): Result<void> {
    if (r.written && status === Status.OK) return ok(undefined);
    return this.append(AuditEvent.REQUEST, r, status, reason);
  }

  /** Build an entry at the current head. */
  private encode(event: number, r: AuditRecord | undefined, status: number, reason: number): Uint8Array {
    const b = new Uint8Array(AUDIT_ENTRY_LENGTH);
    putBe(b, 0, this.next_, 4);
    putBe(b, 4, this.clock.now() % 0x100000000, 4);
    b[8] = event;
    b[10] = status;
    b[11] = reason & 0xff;
    if (r !== undefined) {
      b[9] = r.command;
      putBe(b, 12, r.keyId & 0xffff, 2);
      b[14] = r.session;
      b[15] = r.role;
      b.set(r.requestHash, 16);
    }
    b.set(this.head_, 48);
    return b;
  }

  // ---- reading, checkpoints, the auditor's and the SO's changes ------------------------------------------

  /** Up to `max` entries from index `from` (the oldest one still held if `from` is older), concatenated. */
  read(from: number, max: number): Uint8Array {
    const start = from < this.oldest ? this.oldest : from;
    const end = start + max < this.next_ ? start + max : this.next_;
    const out = new Uint8Array(end > start ? (end - start) * AUDIT_ENTRY_LENGTH : 0);
    for (let i = start; i < end; i++) {
      const v = this.store.get(recordKey(RecordKind.AUDIT, i % this.capacity));
      // a slot lost to flash decay reads as zeros: the host's chain check names that entry
      if (v !== undefined && v.length === AUDIT_ENTRY_LENGTH) out.set(v, (i - start) * AUDIT_ENTRY_LENGTH);
    }
    return out;
  }

  /** The checkpoint statement (docs/audit.md §5): label ‖ 0x00 ‖ device id ‖ next (4, big-endian) ‖ head ‖ nonce. */
  statement(deviceId: Uint8Array, nonce: Uint8Array): Uint8Array {
    const n = new Uint8Array(4);
    putBe(n, 0, this.next_, 4);
    return concatBytes(utf8Encode(CHECKPOINT_CONTEXT), new Uint8Array([0]), deviceId, n, this.head_, nonce);
  }

  /** The state record's entry for these settings, to commit with the change's own entry. */
  stateEntry(acked: number, forced: boolean, locked: boolean): Entry {
    return { key: STATE_RECORD, value: encodeState(this.capacity, acked, forced, locked) };
  }

  /** After stateEntry() was committed. */
  applyState(acked: number, forced: boolean, locked: boolean): void {
    this.acked_ = acked;
    this.forced_ = forced;
    this.locked_ = locked;
  }

  /** The state record as it should be at boot (written with the first entry, so the capacity is fixed from then on). */
  needsState(): boolean {
    return this.store.get(STATE_RECORD) === undefined;
  }
}

/** The key id of the first key record a transaction writes or deletes (KEY_GENERATE's new id, a restore's first key), or 0. */
function keyIdIn(entries: Entry[]): number {
  for (let i = 0; i < entries.length; i++) if (kindOf(entries[i].key) === RecordKind.KEY) return indexOf(entries[i].key);
  return 0;
}

interface AuditState {
  capacity: number;
  acked: number;
  forced: boolean;
  locked: boolean;
}

function encodeState(capacity: number, acked: number, forced: boolean, locked: boolean): Uint8Array {
  const m: CborMap = new Map();
  m.set(1, capacity);
  m.set(2, acked);
  m.set(3, forced);
  m.set(4, locked);
  return cborEncode(m);
}

/** The state record, or undefined when it does not decode (the log then starts over from the capacity given). */
function decodeState(v: Uint8Array): AuditState | undefined {
  const d = cborDecode(v);
  if (!d.ok || !(d.value instanceof Map)) return undefined;
  const m = d.value;
  const capacity = m.get(1);
  const acked = m.get(2);
  const forced = m.get(3);
  const locked = m.get(4);
  if (typeof capacity !== 'number' || !(capacity >= 2 && capacity <= 0xffff) || Math.floor(capacity) !== capacity) return undefined;
  if (typeof acked !== 'number' || !(acked >= 0 && acked <= 0xffffffff)) return undefined;
  if (typeof forced !== 'boolean' || typeof locked !== 'boolean') return undefined;
  return { capacity, acked, forced, locked };
}

// The flash record store: a log of CRC-checked records on NOR pages, with atomic transactions, compaction into a spare page and secure wipe (docs/storage.md).
import type { Flash } from '../../hal/index.ts';
import { Status } from '../../protocol/codes.ts';
import { type Result, type Err, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import {
  Flag,
  FORMAT_HALF_SIZE,
  MAX_LENGTH_FIELD,
  PAGE_HEADER_SIZE,
  PageState,
  RECORD_HEADER_SIZE,
  RECORD_OVERHEAD,
  SEQ_MAX,
  TXN_MAX,
  type PageInfo,
  type RecordView,
  allBytes,
  classifyPage,
  encodeFormatHalf,
  encodePageHeader,
  encodeRecord,
  forEachRecord,
  pad4,
  recordSize,
  u32,
  putU32,
  wipedAfterCommit,
  wipeTarget,
  WIPED_COMMITTED,
  WIPED_UNCOMMITTED,
} from './format.ts';
import { COMMIT_MARKER_KEY, isSecretKind, isUserKey, kindOf } from './record_keys.ts';
import { crc32 } from '../../protocol/crc32.ts';

export interface StoreStats {
  pageSize: number;
  pages: number;
  /** Bytes the live records take (headers included): what a full compaction keeps. */
  bytesUsed: number;
  /** About how many more record bytes fit: (pages − 1) × (pageSize − 32) − bytesUsed − the reserve (docs/storage.md §8). */
  bytesFree: number;
  /** Erases per page, as recorded in the page headers (docs/storage.md §9). */
  eraseCounts: number[];
}

/** One change of a transaction: value null deletes the key. */
export interface Entry {
  key: number;
  value: Uint8Array | null;
}

/**
 * Room a transaction that makes the live data grow must leave behind, so that a full store can still take a
 * delete (a tombstone and a counter update) and be emptied again (docs/storage.md §8).
 */
export const RESERVE_BYTES = 96;
/** The smallest page the format allows: a header, one small record and the reserve. */
export const MIN_PAGE_SIZE = 128;

// Index values pack a record's location: (page * pageSize + offset) * LEN_RANGE + value length.
const LEN_RANGE = 0x10000;
const ERASES_MAX = 0xfffffffe;

/**
 * What rides on every transaction: the binding to a counter outside the flash (core/rollback.ts, docs/storage.md
 * §12) and the audit log's entry (core/audit.ts). `entry` gives the record to add to the transaction of `entries`
 * (or undefined for none), `committed` runs once it is committed (it may throw, as a flash write may).
 */
export interface CommitBinding {
  entry(entries: Entry[]): Entry | undefined;
  committed(): void;
}

/** A transaction ready to write: the order of its entries, their record sizes, and how to commit it. */
interface Plan {
  /** Indices into the caller's entries, in write order; deletes of absent keys and repeated keys dropped. */
  ops: number[];
  sizes: number[];
  /** True when a separate commit marker record ends the transaction (docs/storage.md §5). */
  marker: boolean;
  /** What must fit before writing: the sizes, plus the reserve when the change makes the live data grow. */
  check: number[];
}

export class Store {
  private readonly flash: Flash;
  private readonly ps: number;
  private readonly pageCount: number;
  /** Bytes of a page records may use. */
  private readonly area: number;
  /** The largest value one record can carry on this flash. */
  readonly maxValueLength: number;
  /** Per page: erase count (from its header; estimated where the header was lost). */
  private readonly erases: number[] = [];
  /** Per page: it carries a format half whose erase count is erases[p] (FREE or LOG). */
  private readonly formatted: boolean[] = [];
  /** Per page: part of the log, and its sequence number. */
  private readonly inLog: boolean[] = [];
  private readonly seqOf: number[] = [];
  /** Per page: bytes of the live records it holds. */
  private readonly live: number[] = [];
  /** Log pages, oldest first; the last is the head, where records are appended at wp. */
  private log: number[] = [];
  private wp = PAGE_HEADER_SIZE;
  private maxSeq = 0;
  private nextTxn = 1;
  private liveTotal = 0;
  /** Set by simulate: how many record bytes the next compaction step may copy (docs/storage.md §8). */
  private nextCap = 0;
  /** key → packed location of its current value. Values stay in flash; RAM holds only this map. */
  private readonly index = new Map<number, number>();
  private readonly bindings: CommitBinding[] = [];
  /** Records still to come that every growing transaction must leave room for (hold()): how many, and each one's size. */
  private heldCount = 0;
  private heldSize = 0;
  /** What boot repaired: pages erased that a cut-short compaction or erase left, records a cut-short write left, wipes finished. */
  private repairs = 0;
  /** Set when the flash holds an older state than the counter (rollback.ts): commits are refused with these arguments. */
  private frozen: number[] | undefined = undefined;

  private constructor(flash: Flash) {
    this.flash = flash;
    this.ps = flash.pageSize;
    this.pageCount = flash.pageCount;
    this.area = this.ps - PAGE_HEADER_SIZE;
    this.maxValueLength = Math.min(MAX_LENGTH_FIELD, this.area - RECORD_OVERHEAD);
    for (let p = 0; p < this.pageCount; p++) {
      this.erases.push(0);
      this.formatted.push(false);
      this.inLog.push(false);
      this.seqOf.push(0);
      this.live.push(0);
    }
  }

  /**
   * Scan flash, discard torn or uncommitted writes, finish an interrupted compaction, wipe superseded
   * secrets, and return the store. A factory-new (all 0xFF) or unrecognisable flash is formatted. Never throws
   * on any flash content (hostile or bit-flipped); throws only if the Flash itself throws (power cut), or if
   * its geometry cannot hold the format at all (a platform bug: fewer than 2 pages, pages under 128 bytes).
   */
  static open(flash: Flash): Store {
    const ps = flash.pageSize;
    const ws = flash.wordSize;
    if (!(ps === Math.floor(ps) && ps >= MIN_PAGE_SIZE && ps % 4 === 0 && ps <= 0x1000000))
      throw new Error('store: a flash page must be a multiple of 4 bytes between ' + MIN_PAGE_SIZE + ' and 16 MiB, not ' + ps);
    if (!(flash.pageCount === Math.floor(flash.pageCount) && flash.pageCount >= 2))
      throw new Error('store: the flash needs at least 2 pages (one is the compaction spare), not ' + flash.pageCount);
    if (!(ws === 1 || ws === 2 || ws === 4)) throw new Error('store: the format writes 4-byte words; a ' + ws + '-byte flash word is not supported');
    const s = new Store(flash);
    s.boot();
    return s;
  }

  // ---- reading ------------------------------------------------------------------------------------------

  /** The current value of a key (a copy), or undefined. A record whose CRC no longer verifies is dropped. */
  get(key: number): Uint8Array | undefined {
    const loc = this.index.get(key);
    if (loc === undefined) return undefined;
    const len = loc % LEN_RANGE;
    const addr = (loc - len) / LEN_RANGE;
    const p = pad4(len);
    const b = this.flash.read(Math.floor(addr / this.ps), addr % this.ps, RECORD_HEADER_SIZE + p + 4);
    let value: Uint8Array | undefined;
    if (u32(b, RECORD_HEADER_SIZE + p) === crc32(b, 0, RECORD_HEADER_SIZE + p)) value = b.slice(RECORD_HEADER_SIZE, RECORD_HEADER_SIZE + len);
    else {
      // Flash decayed since boot (docs/storage.md §7, §11): the record is lost, as the next boot would find.
      this.index.delete(key);
      this.dropLive(loc);
    }
    b.fill(0);
    return value;
  }

  /** Record keys present (not deleted) of one kind, ascending. */
  list(kind: number): number[] {
    const out: number[] = [];
    this.index.forEach((_loc, key) => {
      if (kindOf(key) === kind) out.push(key);
    });
    out.sort((a, b) => a - b);
    return out;
  }

  /** How many repairs the boot scan made (docs/storage.md §7): more than 0 after a power cut in the middle of a write. */
  get repaired(): number {
    return this.repairs;
  }

  /**
   * Hold room for `count` more records of `length`-byte values (the audit ring until it is full, docs/audit.md §8): a
   * transaction that grows the live data is refused with STORAGE_FULL unless they still fit after it.
   */
  hold(count: number, length: number): void {
    this.heldCount = count > 0 ? count : 0;
    this.heldSize = recordSize(length);
  }

  /** The held records' bytes, with a record's worth of slack for each page they may open (records never straddle pages). */
  private heldBytes(): number {
    const n = this.heldCount * this.heldSize;
    return n + (Math.ceil(n / this.area) + 1) * this.heldSize;
  }

  /** Bytes free for records before the reserve, whatever is held. */
  private freeBytes(): number {
    return (this.pageCount - 1) * this.area - this.liveTotal - RESERVE_BYTES;
  }

  stats(): StoreStats {
    const free = this.freeBytes();
    return {
      pageSize: this.ps,
      pages: this.pageCount,
      bytesUsed: this.liveTotal,
      bytesFree: free > 0 ? free : 0,
      eraseCounts: this.erases.slice(),
    };
  }

  /** Would these entries (all writes of `length` bytes) fit, after compaction? Lets a handler refuse before generating a key. */
  canFit(entries: { key: number; length: number }[]): boolean {
    const keys: number[] = [];
    const lengths: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      keys.push(entries[i].key);
      lengths.push(entries[i].length);
    }
    const extra = this.bound([]);
    for (let i = 0; i < extra.length; i++) {
      keys.push(extra[i].key);
      lengths.push((extra[i].value as Uint8Array).length);
    }
    return this.frozen === undefined && this.plan(keys, lengths).ok;
  }

  // ---- writing ------------------------------------------------------------------------------------------

  /**
   * Bind every later transaction (docs/storage.md §12, docs/audit.md §3): with `b`, each commit carries b.entry()
   * and calls b.committed() after it landed, after the bindings given before; with `frozen`, every commit is refused
   * with ROLLBACK_DETECTED.
   */
  bind(b: CommitBinding | undefined, frozen?: number[]): void {
    if (b !== undefined) this.bindings.push(b);
    if (frozen !== undefined) this.frozen = frozen;
  }

  /** The records the bindings add to a transaction of `entries`. */
  private bound(entries: Entry[]): Entry[] {
    const out: Entry[] = [];
    for (let i = 0; i < this.bindings.length; i++) {
      const e = this.bindings[i].entry(entries);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /**
   * Atomically apply all entries (all or nothing, even if power is cut at any word): returns
   * STORAGE_FULL (STORE_FULL) if they cannot fit even after compaction, leaving the store unchanged,
   * and INVALID_PARAMETER (STORE_BAD_ENTRY, STORE_VALUE_TOO_LARGE) for a key outside the user range or a value larger than a record
   * can hold. After a delete or an overwrite of a secret kind, the old bytes are wiped from flash (overwritten
   * with zeros, which NOR allows) before commit returns. A repeated key: the last entry wins.
   * If the Flash throws (power cut), so does commit: the object is then stale; reboot with Store.open.
   */
  commit(entries: Entry[]): Result<void> {
    if (!Array.isArray(entries)) return err(Status.INVALID_PARAMETER, Reason.STORE_BAD_ENTRY, []);
    if (this.frozen !== undefined) return err(Status.ROLLBACK_DETECTED, Reason.STORE_ROLLED_BACK, this.frozen);
    entries = entries.concat(this.bound(entries));
    const keys: number[] = [];
    const lengths: number[] = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const v = e === null || typeof e !== 'object' ? undefined : e.value;
      if (!(v === null || v instanceof Uint8Array)) return err(Status.INVALID_PARAMETER, Reason.STORE_BAD_ENTRY, [i]); // a value of bytes, or null to delete
      keys.push(e.key);
      lengths.push(v === null ? -1 : v.length);
    }
    const planned = this.plan(keys, lengths);
    if (!planned.ok) return planned;
    const pl = planned.value;
    if (pl.ops.length === 0) return ok(undefined);

    // Compact one step at a time, re-planning from the real state after each (a record found decayed while
    // copying changes the picture); the plan found that enough steps exist, the cap only guards against a loop.
    for (let guard = 0; ; guard++) {
      const c = this.simulate(pl.check);
      if (c === 0) break;
      if (c < 0 || guard > 2 * this.pageCount + 2) return this.full(pl.sizes);
      this.compactOnce(this.nextCap);
    }

    // docs/storage.md §5: every record carries the transaction id; the last one (or a marker) carries COMMIT.
    const txn = this.nextTxn++;
    const locs: number[] = [];
    const last = pl.ops.length - 1;
    for (let i = 0; i <= last; i++) {
      const e = entries[pl.ops[i]];
      const flags = (e.value === null ? Flag.DELETE : 0) | (!pl.marker && i === last ? Flag.COMMIT : 0);
      locs.push(this.append(e.key, txn, flags, e.value));
    }
    if (pl.marker) this.append(COMMIT_MARKER_KEY, txn, Flag.COMMIT, null);

    // Committed. Now the index follows, and superseded secrets are wiped (boot redoes this after a power cut).
    const wipes: number[] = [];
    for (let i = 0; i <= last; i++) {
      const e = entries[pl.ops[i]];
      this.apply(e.key, e.value === null ? -1 : locs[i], wipes);
    }
    for (let i = 0; i < wipes.length; i += 2) this.wipe(wipes[i], wipes[i + 1]);
    for (let i = 0; i < this.bindings.length; i++) this.bindings[i].committed();
    return ok(undefined);
  }

  /** Validate and order a transaction, and check that it fits (after compaction). */
  private plan(keys: number[], lengths: number[]): Result<Plan> {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      // a record key is an integer below 0xfffe0000 (kinds 0xfffe and 0xffff belong to the store); a length a byte count
      const n = lengths[i];
      if (!isUserKey(k) || !(n === Math.floor(n) && n >= -1)) return err(Status.INVALID_PARAMETER, Reason.STORE_BAD_ENTRY, [i]);
      if (n > this.maxValueLength) return err(Status.INVALID_PARAMETER, Reason.STORE_VALUE_TOO_LARGE, [k, n, this.maxValueLength]);
    }
    // The last entry for a key wins; deleting an absent key writes nothing.
    const seen = new Map<number, boolean>();
    const chosen: number[] = [];
    for (let i = keys.length - 1; i >= 0; i--) {
      if (seen.has(keys[i])) continue;
      seen.set(keys[i], true);
      if (lengths[i] < 0 && !this.index.has(keys[i])) continue;
      chosen.push(i);
    }
    chosen.reverse();
    // Secret writes first, so that the record carrying COMMIT is one that is never wiped while the others
    // may still need it (docs/storage.md §5); if every record is a secret write, a marker commits instead.
    const ops: number[] = [];
    for (let i = 0; i < chosen.length; i++) if (wipeable(keys[chosen[i]], lengths[chosen[i]])) ops.push(chosen[i]);
    for (let i = 0; i < chosen.length; i++) if (!wipeable(keys[chosen[i]], lengths[chosen[i]])) ops.push(chosen[i]);
    const plan: Plan = { ops, sizes: [], marker: false, check: [] };
    if (ops.length === 0) return ok(plan);
    const lastOp = ops[ops.length - 1];
    plan.marker = ops.length > 1 && wipeable(keys[lastOp], lengths[lastOp]);

    let growth = 0;
    for (let i = 0; i < ops.length; i++) {
      const n = lengths[ops[i]];
      const size = recordSize(n < 0 ? 0 : n);
      plan.sizes.push(size);
      if (n >= 0) growth += size;
      const old = this.index.get(keys[ops[i]]);
      if (old !== undefined) growth -= recordSize(old % LEN_RANGE);
    }
    if (plan.marker) plan.sizes.push(RECORD_OVERHEAD);
    plan.check = growth > 0 ? plan.sizes.concat([RESERVE_BYTES]) : plan.sizes;
    // the held records (the audit ring still to grow) must still fit after a growing change, with a record's worth
    // of slack per page, since records never straddle pages (docs/storage.md §8)
    if (growth > 0 && this.heldCount > 0 && this.freeBytes() - growth < this.heldBytes()) return this.full(plan.sizes);
    const c = this.simulate(plan.check);
    if (c < 0) return this.full(plan.sizes);
    if (this.nextTxn > TXN_MAX || this.maxSeq + 4 * this.pageCount + 4 > SEQ_MAX) return err(Status.STORAGE_FULL, Reason.STORE_SEQUENCE_EXHAUSTED);
    return ok(plan);
  }

  private full(sizes: number[]): Err {
    let needed = 0;
    for (let i = 0; i < sizes.length; i++) needed += sizes[i];
    return err(Status.STORAGE_FULL, Reason.STORE_FULL, [needed, this.stats().bytesFree, (this.pageCount - 1) * this.area]);
  }

  /**
   * How many compactions must run before `sizes` can be appended (records never straddle pages, one free page
   * always stays free), or -1 if no number of them is enough; sets nextCap, the bytes the next compaction may
   * copy. Mirrors append/openFresh/compactOnce exactly, on the sizes of the live records of each log page (from
   * the index, in flash order). docs/storage.md §8: every step but the last copies as much as fits (that
   * consolidates); the last may copy less, stopping after a page whose death frees the room the transaction
   * needs. Without that, a full target page keeps less room than one record of the next page, and the space a
   * delete freed could never be used by a record larger than that.
   */
  private simulate(sizes: number[]): number {
    this.nextCap = this.area;
    if (fits(sizes, this.ps, this.area, this.wp, this.pageCount - this.log.length)) return 0;
    const pages = this.liveRecordSizes();
    let free = this.pageCount - this.log.length;
    for (let c = 1; c <= 2 * this.pageCount + 2; c++) {
      if (free < 1) return -1;
      // Could this step be the last one? Try every prefix of the live records (oldest first) it could copy,
      // keeping the largest that kills at least one page (so a page stays free) and leaves room for `sizes`.
      let best = -1;
      let moved = 0;
      let full = false;
      for (let i = 0; i < pages.length && !full; i++) {
        const recs = pages[i];
        for (let k = 0; k <= recs.length; k++) {
          const dead = k === recs.length ? i + 1 : i;
          if (dead >= 1 && fits(sizes, this.ps, this.area, PAGE_HEADER_SIZE + moved, free + dead - 1)) best = moved;
          if (k === recs.length) break;
          if (moved + recs[k] > this.area) {
            full = true; // the target is full: copying stops here
            break;
          }
          moved += recs[k];
        }
      }
      if (best >= 0) {
        if (c === 1) this.nextCap = best;
        return c;
      }
      // Not yet: one full compaction (whole pages while they fit, then records of the next page until one
      // does not), and try again after it.
      let room = this.area;
      const copied: number[] = [];
      let dead = 0;
      for (let i = 0; i < pages.length; i++) {
        const recs = pages[i];
        let k = 0;
        while (k < recs.length && recs[k] <= room) {
          room -= recs[k];
          copied.push(recs[k]);
          k++;
        }
        if (k < recs.length) {
          pages[i] = recs.slice(k);
          break;
        }
        dead++;
      }
      pages.splice(0, dead);
      pages.push(copied);
      free += dead - 1;
    }
    return -1;
  }

  /** For each log page (oldest first), the sizes of the live records it holds, in flash order. */
  private liveRecordSizes(): number[][] {
    const pos: number[] = [];
    for (let p = 0; p < this.pageCount; p++) pos.push(-1);
    const locs: number[][] = [];
    for (let i = 0; i < this.log.length; i++) {
      pos[this.log[i]] = i;
      locs.push([]);
    }
    this.index.forEach((loc) => {
      const i = pos[this.pageOf(loc)];
      if (i >= 0) locs[i].push(loc);
    });
    const out: number[][] = [];
    for (let i = 0; i < locs.length; i++) {
      locs[i].sort((a, b) => a - b);
      const sizes: number[] = [];
      for (let j = 0; j < locs[i].length; j++) sizes.push(recordSize(locs[i][j] % LEN_RANGE));
      out.push(sizes);
    }
    return out;
  }

  /** Append one record at the head (opening a fresh page if it does not fit); returns its packed location. */
  private append(key: number, txn: number, flags: number, value: Uint8Array | null): number {
    const bytes = encodeRecord(key, txn, flags, value);
    const size = bytes.length + 4;
    if (this.wp + size > this.ps) this.openFresh();
    const head = this.log[this.log.length - 1];
    this.flash.write(head, this.wp, bytes);
    bytes.fill(0);
    const loc = (head * this.ps + this.wp) * LEN_RANGE + (value === null ? 0 : value.length);
    this.wp += size;
    return loc;
  }

  /** Open the free page with the fewest erases as the new head (the plan guarantees one besides the spare). */
  private openFresh(): void {
    const p = this.pickFree();
    this.openPage(p, this.maxSeq + 1, this.seqOf[this.log[0]]);
    this.log.push(p);
    this.wp = PAGE_HEADER_SIZE;
  }

  /** Write a page's open half (or its whole header if it has no format half yet): from now on it is in the log. */
  private openPage(p: number, seq: number, tail: number): void {
    const h = encodePageHeader(this.ps, this.erases[p], seq, tail);
    if (this.formatted[p]) this.flash.write(p, FORMAT_HALF_SIZE, h.subarray(FORMAT_HALF_SIZE));
    else this.flash.write(p, 0, h);
    this.formatted[p] = true;
    this.inLog[p] = true;
    this.seqOf[p] = seq;
    this.maxSeq = seq;
  }

  /**
   * docs/storage.md §8: copy live records, oldest page first, into a free page until `cap` bytes of records are
   * copied or the next one would pass that (whole pages, then the records of the next page until one does not
   * fit; `cap` is the page's whole record area except on a last step that must leave room); then write that page's open half (seq = newest
   * + 1, tail = the seq of the oldest page not wholly copied, which declares the copied pages dead); then erase
   * the dead pages. A power cut before the open half leaves garbage that boot erases; after it, boot erases the
   * dead pages. Either way the logical state is unchanged. Records copied out of a page that stays alive are
   * superseded there by their copies, and wiped there if secret.
   */
  private compactOnce(cap: number): void {
    const dst = this.pickFree();
    if (!this.formatted[dst]) {
      this.flash.write(dst, 0, encodeFormatHalf(this.ps, this.erases[dst]));
      this.formatted[dst] = true;
    }
    let o = PAGE_HEADER_SIZE;
    const moved: number[] = []; // key, new location, old location
    let dead = 0;
    for (let i = 0; i < this.log.length; i++) {
      const src = this.log[i];
      const b = this.flash.read(src, 0, this.ps);
      let whole = true;
      forEachRecord(b, this.ps, (r: RecordView) => {
        const loc = (src * this.ps + r.offset) * LEN_RANGE + r.length;
        if (!whole || !isUserKey(r.key) || this.index.get(r.key) !== loc) return;
        if (o + r.size > PAGE_HEADER_SIZE + cap) {
          whole = false;
          return;
        }
        // A live record that fails its CRC now (flash decay since boot) is not copied: it is lost.
        if (!r.complete) return;
        const value = b.subarray(r.offset + RECORD_HEADER_SIZE, r.offset + RECORD_HEADER_SIZE + r.length);
        const bytes = encodeRecord(r.key, r.txn, Flag.COPY, value);
        this.flash.write(dst, o, bytes);
        bytes.fill(0);
        moved.push(r.key, (dst * this.ps + o) * LEN_RANGE + r.length, loc);
        o += r.size;
      });
      b.fill(0);
      if (!whole) break;
      dead++;
    }
    const seq = this.maxSeq + 1;
    const tail = this.log.length > dead ? this.seqOf[this.log[dead]] : seq;
    this.openPage(dst, seq, tail);

    // The new page is in the log and the wholly copied ones are dead: move the index, then recycle them.
    const srcs = this.log.slice(0, dead);
    const wipes: number[] = [];
    for (let i = 0; i < moved.length; i += 3) {
      this.dropLive(moved[i + 2]);
      this.index.set(moved[i], moved[i + 1]);
      this.addLive(moved[i + 1]);
      if (srcs.indexOf(this.pageOf(moved[i + 2])) < 0 && isSecretKind(kindOf(moved[i]))) wipes.push(moved[i + 2], WIPED_COMMITTED);
    }
    const lost: number[] = [];
    this.index.forEach((loc, key) => {
      if (srcs.indexOf(this.pageOf(loc)) >= 0) lost.push(key);
    });
    for (let i = 0; i < lost.length; i++) {
      this.dropLive(this.index.get(lost[i]) as number);
      this.index.delete(lost[i]);
    }
    this.log = this.log.slice(dead);
    this.log.push(dst);
    this.wp = o;
    for (let i = 0; i < wipes.length; i += 2) this.wipe(wipes[i], wipes[i + 1]);
    for (let i = 0; i < srcs.length; i++) {
      this.inLog[srcs[i]] = false;
      this.seqOf[srcs[i]] = 0;
      this.live[srcs[i]] = 0;
      this.eraseAndFormat(srcs[i]);
    }
  }

  /** Erase a page and write its format half with the erase count + 1 (docs/storage.md §9). */
  private eraseAndFormat(p: number): void {
    this.formatted[p] = false;
    this.flash.erase(p);
    this.erases[p] = this.erases[p] < ERASES_MAX ? this.erases[p] + 1 : ERASES_MAX;
    this.flash.write(p, 0, encodeFormatHalf(this.ps, this.erases[p]));
    this.formatted[p] = true;
  }

  /** The page outside the log with the fewest erases (wear levelling, docs/storage.md §9). */
  private pickFree(): number {
    let best = -1;
    for (let p = 0; p < this.pageCount; p++) if (!this.inLog[p] && (best < 0 || this.erases[p] < this.erases[best])) best = p;
    return best;
  }

  /**
   * Zero a record's value, padding and CRC, and set its wipe word (docs/storage.md §6): the wipe word first, so
   * the record is dead even if power is cut before the value is gone, and boot finishes the job. `requested`
   * is WIPED_COMMITTED for a superseded record, WIPED_UNCOMMITTED for one that never committed.
   */
  private wipe(loc: number, requested: number): void {
    const len = loc % LEN_RANGE;
    const addr = (loc - len) / LEN_RANGE;
    const page = Math.floor(addr / this.ps);
    const at = (addr % this.ps) + RECORD_HEADER_SIZE;
    const p = pad4(len);
    const cur = this.flash.read(page, at, p + 8);
    const was = u32(cur, p + 4);
    const target = wipeTarget(was, requested);
    if (was !== target) {
      const w = new Uint8Array(4);
      putU32(w, 0, target);
      this.flash.write(page, at + p + 4, w);
    }
    if (!allBytes(cur, 0, p + 4, 0)) this.flash.write(page, at, new Uint8Array(p + 4));
    cur.fill(0);
  }

  // ---- index bookkeeping --------------------------------------------------------------------------------

  /** Make `loc` (or a delete, -1) the current state of `key`; a superseded secret goes on `wipes` (location, wipe word). */
  private apply(key: number, loc: number, wipes: number[]): void {
    const old = this.index.get(key);
    if (old !== undefined) {
      this.dropLive(old);
      if (isSecretKind(kindOf(key))) wipes.push(old, WIPED_COMMITTED);
    }
    if (loc < 0) this.index.delete(key);
    else {
      this.index.set(key, loc);
      this.addLive(loc);
    }
  }

  private pageOf(loc: number): number {
    return Math.floor(Math.floor(loc / LEN_RANGE) / this.ps);
  }

  private addLive(loc: number): void {
    const size = recordSize(loc % LEN_RANGE);
    this.live[this.pageOf(loc)] += size;
    this.liveTotal += size;
  }

  private dropLive(loc: number): void {
    const size = recordSize(loc % LEN_RANGE);
    this.live[this.pageOf(loc)] -= size;
    this.liveTotal -= size;
  }

  // ---- boot ---------------------------------------------------------------------------------------------

  /** docs/storage.md §7: classify pages, drop dead and garbage ones, find committed transactions, index, wipe. */
  private boot(): void {
    const n = this.pageCount;
    const infos: PageInfo[] = [];
    let maxKnown = 0;
    for (let p = 0; p < n; p++) {
      const b = this.flash.read(p, 0, this.ps);
      const info = classifyPage(b, this.ps);
      b.fill(0);
      infos.push(info);
      if (info.erases > maxKnown) maxKnown = info.erases;
    }
    if (maxKnown > ERASES_MAX) maxKnown = ERASES_MAX;
    // A page whose header is gone had an erase count we no longer know: the highest known is the best guess,
    // since the ring erases every page in turn.
    for (let p = 0; p < n; p++) this.erases[p] = infos[p].erases >= 0 && infos[p].erases <= ERASES_MAX ? infos[p].erases : maxKnown;

    // The log: valid pages in sequence order; the newest page's tail says which older ones are dead.
    const order: number[] = [];
    for (let p = 0; p < n; p++) if (infos[p].state === PageState.LOG) order.push(p);
    order.sort((a, b) => infos[a].seq - infos[b].seq || a - b);
    const tail = order.length > 0 ? infos[order[order.length - 1]].tail : 0;
    for (let i = 0; i < order.length; i++) {
      const p = order[i];
      if (infos[p].seq < tail) continue;
      this.log.push(p);
      this.inLog[p] = true;
      this.formatted[p] = true;
      this.seqOf[p] = infos[p].seq;
      this.maxSeq = infos[p].seq;
    }
    // Everything else becomes a FREE page: dead and garbage pages are erased, bare erased ones get a format half.
    for (let p = 0; p < n; p++) {
      if (this.inLog[p]) continue;
      const st = infos[p].state;
      if (st === PageState.FREE) this.formatted[p] = true;
      else if (st === PageState.ERASED) {
        this.flash.write(p, 0, encodeFormatHalf(this.ps, this.erases[p]));
        this.formatted[p] = true;
      } else {
        this.repairs++;
        this.eraseAndFormat(p);
      }
    }
    if (this.log.length === 0) {
      // Factory-new or unrecognisable: every page is FREE now; open the least-worn one as the first log page.
      const p = this.pickFree();
      this.openPage(p, 1, 1);
      this.log.push(p);
      this.wp = PAGE_HEADER_SIZE;
      return;
    }
    this.scan();
  }

  /** Two passes over the log: committed transaction ids, then the index (newest committed version wins). */
  private scan(): void {
    // Committed transaction ids, sorted for binary search (a Map is a linear scan on some engines).
    const committed: number[] = [];
    let maxTxn = 0;
    for (let i = 0; i < this.log.length; i++) {
      const b = this.flash.read(this.log[i], 0, this.ps);
      forEachRecord(
        b,
        this.ps,
        (r: RecordView) => {
          if (r.txn > maxTxn) maxTxn = r.txn;
          if ((r.flags & Flag.COMMIT) !== 0 && (r.complete || (r.wiped && wipedAfterCommit(r.wipeWord)))) committed.push(r.txn);
        },
        Flag.COMMIT,
      );
      b.fill(0);
    }
    committed.sort((a, b) => a - b);
    this.nextTxn = maxTxn + 1;

    const wipes: number[] = [];
    for (let i = 0; i < this.log.length; i++) {
      const p = this.log[i];
      const b = this.flash.read(p, 0, this.ps);
      const end = forEachRecord(b, this.ps, (r: RecordView) => {
        const loc = (p * this.ps + r.offset) * LEN_RANGE + r.length;
        if (r.wiped) {
          if (!r.zeroed) {
            this.repairs++;
            wipes.push(loc, wipeTarget(r.wipeWord, WIPED_UNCOMMITTED)); // a wipe cut short: finish it
          }
          return;
        }
        const isCommitted = r.complete && ((r.flags & Flag.COPY) !== 0 || sortedHas(committed, r.txn));
        if (!isCommitted) {
          // Torn, or part of a transaction that never committed: garbage, and a secret's bytes must not linger. Every
          // such record is wiped, not only secrets, so the next boot sees it dead and counts no repair again (the audit
          // log records one RECOVERED event per cut, docs/audit.md §3). Tombstones hold no secret and may carry a
          // COMMIT: they are never wiped.
          if ((r.flags & Flag.DELETE) === 0) {
            this.repairs++;
            wipes.push(loc, WIPED_UNCOMMITTED);
          }
          return;
        }
        if (!isUserKey(r.key)) return; // commit markers
        this.apply(r.key, (r.flags & Flag.DELETE) !== 0 ? -1 : loc, wipes);
      });
      b.fill(0);
      if (i === this.log.length - 1) this.wp = end;
    }
    for (let i = 0; i < wipes.length; i += 2) this.wipe(wipes[i], wipes[i + 1]);
  }
}

/** Binary search in an ascending array. */
function sortedHas(a: number[], x: number): boolean {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] === x) return true;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** A write of a secret kind: its record will be wiped when superseded. */
function wipeable(key: number, length: number): boolean {
  return length >= 0 && isSecretKind(kindOf(key));
}

/** Next-fit placement of `sizes` from write position `wp`, opening fresh pages but always leaving one free. */
function fits(sizes: number[], ps: number, area: number, wp: number, free: number): boolean {
  let room = ps - wp;
  let avail = free - 1;
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i];
    if (s > room) {
      if (avail < 1 || s > area) return false;
      avail--;
      room = area;
    }
    room -= s;
  }
  return true;
}

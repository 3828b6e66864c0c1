// RAM keystore: a fixed number of slots holding { id, alg, label, origin, privateKey, publicKey } (DESIGN.md "Keys"; flash comes later).
import { Status, type AlgId, type Origin } from '../protocol/codes.ts';
import { type Result, ok, err } from '../protocol/result.ts';
import { MAX_KEY_ID } from '../protocol/messages/limits.ts';

export interface KeyRecord {
  /** 16-bit id, never 0 (DESIGN.md "Keys"). */
  readonly id: number;
  readonly alg: AlgId;
  readonly label: string;
  readonly origin: Origin;
  /** Secret: never leaves the device; wiped (fill(0)) when the key is deleted. */
  readonly privateKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

export class KeyStore {
  private readonly slots: (KeyRecord | undefined)[];
  private count = 0;
  /** Next id to hand out: a counter that only moves forward (1, 2, 3, …), wrapping past 0xffff to 1. */
  private nextId = 1;

  constructor(readonly capacity: number) {
    this.slots = new Array(capacity);
    for (let i = 0; i < capacity; i++) this.slots[i] = undefined;
  }

  get used(): number {
    return this.count;
  }

  get free(): number {
    return this.capacity - this.count;
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
   * Store a key under a fresh id. The store keeps the given buffers (no copy): the caller hands
   * over ownership of privateKey. STORAGE_FULL leaves the store unchanged.
   */
  add(alg: AlgId, label: string, origin: Origin, privateKey: Uint8Array, publicKey: Uint8Array): Result<KeyRecord> {
    let slot = -1;
    for (let i = 0; i < this.slots.length; i++)
      if (this.slots[i] === undefined) {
        slot = i;
        break;
      }
    if (slot < 0) return err(Status.STORAGE_FULL, 'all ' + this.capacity + ' key slots are in use; delete a key first');
    const id = this.allocateId();
    const rec: KeyRecord = { id, alg, label, origin, privateKey, publicKey };
    this.slots[slot] = rec;
    this.count++;
    return ok(rec);
  }

  /** Remove a key and wipe its private bytes. Returns false if no key has this id. */
  remove(id: number): boolean {
    for (let i = 0; i < this.slots.length; i++) {
      const r = this.slots[i];
      if (r !== undefined && r.id === id) {
        r.privateKey.fill(0);
        this.slots[i] = undefined;
        this.count--;
        return true;
      }
    }
    return false;
  }

  /** The counter's next value that no stored key uses (there is always one: capacity < 65535). */
  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_KEY_ID ? 1 : id + 1;
      if (this.get(id) === undefined) return id;
    }
  }
}

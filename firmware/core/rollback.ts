// Binding the store to a monotonic counter the flash cannot carry (docs/storage.md §12, docs/security.md §9): an old flash image written back is refused, not used.
//
// Every transaction writes the next value into FRESHNESS_RECORD (with its own changes, atomically) and, once it is
// committed, raises the counter to it. At boot the stored value must be at least the counter's:
// - equal: the normal case;
// - greater: the last commit landed but power went before the counter was raised; raise it now;
// - smaller, or no record while the counter is above 0 and the store holds records: the flash holds an older state
//   than the device has had, an image restored from a dump. The device then writes nothing and refuses everything but
//   INFO and ECHO (ROLLBACK_DETECTED), so 8 PIN tries, an old PIN, a deleted key or a looser policy never come back.
// The counter is raised after the commit and before the transaction's caller goes on, so a PIN is compared only once
// the spent try is bound (auth/state.ts tryPin): an image taken before that point gives back no try that was used.
// A store with no records at all is a new device and is accepted whatever the counter says: it holds nothing.
import type { MonotonicCounter } from '../hal/index.ts';
import { type Store } from './store/index.ts';
import { FRESHNESS_RECORD } from './records.ts';
import { putU32, u32 } from './store/format.ts';

/** What the boot check found: whether the platform binds the store, and if the flash was rolled back, [stored, counter]. */
export interface RollbackState {
  readonly protection: boolean;
  readonly rolledBack: number[] | undefined;
}

/** 4 bytes, little-endian as every word of the store's format: the value a transaction bound the store to. */
function encode(n: number): Uint8Array {
  const b = new Uint8Array(4);
  putU32(b, 0, n);
  return b;
}

function decode(v: Uint8Array | undefined): number | undefined {
  return v === undefined || v.length !== 4 ? undefined : u32(v, 0);
}

/**
 * The boot check (see the header) and, when it passes, the binding of every later commit. Without a counter the
 * store is not bound (INFO: rollbackProtection false). A counter that throws fails closed: treated as a rollback.
 */
export function bindToCounter(store: Store, counter: MonotonicCounter | undefined): RollbackState {
  if (counter === undefined) return { protection: false, rolledBack: undefined };
  let value: number;
  try {
    const now = counter.read();
    const raw = store.get(FRESHNESS_RECORD);
    const stored = decode(raw);
    if (stored === undefined) {
      if (now > 0 && (raw !== undefined || store.stats().bytesUsed > 0)) return rolledBack(store, 0, now);
      value = now;
    } else if (stored < now) return rolledBack(store, stored, now);
    else {
      if (stored > now) counter.advance(stored);
      value = stored;
    }
  } catch (e) {
    return rolledBack(store, 0, 0);
  }
  store.bind({
    entry: () => ({ key: FRESHNESS_RECORD, value: encode(value + 1) }),
    committed: () => {
      value++;
      counter.advance(value);
    },
  });
  return { protection: true, rolledBack: undefined };
}

function rolledBack(store: Store, stored: number, counter: number): RollbackState {
  store.bind(undefined, [stored, counter]);
  return { protection: true, rolledBack: [stored, counter] };
}

// The simulator's monotonic counter (hal MonotonicCounter): kept beside a flash image file (FILE.counter) or in memory, never inside the image, as a secure element keeps its counter apart from the flash (docs/storage.md §12).
//
// Writing an older image back over FILE therefore leaves FILE.counter ahead of it, and the firmware refuses the old
// state (ROLLBACK_DETECTED) as a board with such a counter would. To start over from an older image on purpose, delete
// FILE.counter with it (the simulator's equivalent of a reset).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface SimCounter {
  read(): number;
  advance(value: number): void;
}

/** Largest value: the firmware stores it in 4 bytes (docs/storage.md §12). */
const MAX = 0xffffffff;

function checked(value: unknown, now: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX)
    throw new Error('firmware bug: board.monotonic.advance expects an integer in 0..2^32-1, got ' + String(value));
  return value > now ? value : now;
}

/** A counter in memory: it outlives reboots of one simulator, not the process. */
export function memoryCounter(): SimCounter {
  let now = 0;
  return {
    read: () => now,
    advance: (value) => {
      now = checked(value, now);
    },
  };
}

/**
 * A counter in `file` (a decimal number and a newline; a missing file is 0). Each advance is written to a temporary
 * file and renamed over it, so a crash leaves the old value or the new one. A file that does not hold a number is
 * refused with a message: guessing a value could let an old image through.
 */
export function fileCounter(file: string): SimCounter {
  let now = 0;
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text !== undefined) {
    const n = Number(text.trim());
    if (!/^\d+\s*$/.test(text) || n > MAX)
      throw new Error(
        `${file} does not hold a counter value (a decimal number); it keeps the simulated board's monotonic counter: restore it, or delete it together with the flash image to start over`,
      );
    now = n;
  }
  return {
    read: () => now,
    advance: (value) => {
      const next = checked(value, now);
      if (next === now) return;
      writeFileSync(file + '.tmp', next + '\n');
      renameSync(file + '.tmp', file);
      now = next;
    },
  };
}

// Reads the embedding host's globalThis.board (BoardGlobals) and points the crypto.getRandomValues shim at its TRNG; imported before noble loads.
import { setGlobalRandomSource } from '../../hal/global_crypto.ts';
import type { BoardGlobals } from '../common/board.ts';

const REQUIRED = ['serialWrite', 'onSerialData', 'random', 'millis', 'setTimer', 'clearTimer'];

/** The board object, checked: a host that forgot a function learns which one before anything runs. */
export function readBoard(g: { board?: unknown }): BoardGlobals {
  const b = g.board as { [name: string]: unknown } | undefined;
  if (!b || typeof b !== 'object')
    throw new Error('tinyhsm: globalThis.board is missing; the embedding host must define it before loading the bundle (firmware/platform/common/board.ts)');
  const missing: string[] = [];
  for (let i = 0; i < REQUIRED.length; i++) if (typeof b[REQUIRED[i]] !== 'function') missing.push(REQUIRED[i]);
  if (missing.length > 0) throw new Error('tinyhsm: globalThis.board lacks ' + missing.join(', ') + ' (firmware/platform/common/board.ts)');
  return b as unknown as BoardGlobals;
}

export const board = readBoard(globalThis as { board?: unknown });

setGlobalRandomSource((buf) => board.random(buf));

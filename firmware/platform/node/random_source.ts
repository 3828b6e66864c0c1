// Connects the board's RNG to globalThis.crypto.getRandomValues; the entry imports this FIRST, before anything that loads noble.
// noble calls getRandomValues once while its modules evaluate (its blinding probe); with no source set it would
// silently turn scalar blinding off (docs/architecture.md §3), so the source must exist before that.
import { setGlobalRandomSource } from '../../hal/global_crypto.ts';
import type { BoardGlobals } from '../common/board.ts';

const found = (globalThis as unknown as { board: BoardGlobals | undefined }).board;
if (!found) throw new Error('tinyhsm node bundle: globalThis.board is missing; run this bundle in the simulator (tinyhsm sim)');
export const board: BoardGlobals = found;
setGlobalRandomSource((buf) => board.random(buf));

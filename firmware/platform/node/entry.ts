// The simulator's firmware entry (dist/tinyhsm-node.js): wires the `board` global the simulator provides into the HAL and starts the device.
// random_source must stay the first import: it installs crypto.getRandomValues from the board before noble loads.
// board.flash, when the simulator has one (`tinyhsm sim --flash FILE`), is its NOR flash with power-cut injection (sim/flash.ts).
import { board } from './random_source.ts';
import { createNobleCrypto } from '../../hal/crypto_noble.ts';
import { startDevice } from '../../core/device.ts';
import { envFromBoard } from '../common/board.ts';

// The simulator keeps noble's default precomputation window (docs/architecture.md §3: only device profiles call precompute(1)).
startDevice(envFromBoard(board, 'node-sim', createNobleCrypto()));

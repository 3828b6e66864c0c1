// Entry point for XS/QuickJS-style embeddings: the host defines globalThis.board (BoardGlobals), the bundle does the rest.
//
// The embedding evaluates dist/tinyhsm-generic.js after setting globalThis.board; bytes from the host link go
// to board.onSerialData's callback, answers leave through board.serialWrite (binary COBS frames, or the
// armor if board.linkMode is 'armor'). Self-tests run during evaluation; timers go through board.setTimer.
// A board.flash (BoardGlobals.flash: NOR pages the host keeps, e.g. XS's Flash or a file) holds the store; the host
// enforces the NOR rules on it. Without one the store lives in RAM and INFO says so.
import '../../hal/global_crypto.ts';
import { board } from './random_source.ts';
import { createNobleCrypto, useDeviceProfile } from '../../hal/crypto_noble.ts';
import { DEVICE_PIN_ITERATIONS, startDevice } from '../../core/device.ts';
import { envFromBoard } from '../common/board.ts';

// docs/architecture.md §3: device profile, small base-point tables.
useDeviceProfile();
startDevice(envFromBoard(board, 'generic', createNobleCrypto()), { pinIterations: DEVICE_PIN_ITERATIONS, auditCapacity: 128 });

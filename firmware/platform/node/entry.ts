// The simulator's firmware entry (dist/tinyhsm-node.js): wires the `board` global the simulator provides into the HAL and starts the device.
// random_source must stay the first import: it installs crypto.getRandomValues from the board before noble loads.
// board.flash, when the simulator has one (`tinyhsm sim --flash FILE`), is its NOR flash with power-cut injection (sim/flash.ts).
// board.crypto, when the simulator has one (`tinyhsm sim --fast`), replaces noble; INFO then says 'node-sim-fast' (docs/architecture.md §7).
import { board } from './random_source.ts';
import type { Crypto } from '../../hal/index.ts';
import { createNobleCrypto } from '../../hal/crypto_noble.ts';
import { startDevice } from '../../core/device.ts';
import { envFromBoard } from '../common/board.ts';

/** The functions every Crypto has (hal/index.ts; ed25519Expand is optional): a board.crypto without one is a host bug, refused at boot. */
const CRYPTO_FUNCTIONS = [
  'sha256',
  'sha256Stream',
  'ed25519PublicKey',
  'ed25519Sign',
  'ed25519Verify',
  'ed25519PublicToX25519',
  'ed25519SeedToX25519',
  'ecdsaPublicKey',
  'ecdsaSign',
  'ecdsaVerify',
  'x25519PublicKey',
  'x25519',
  'ecdhP256',
  'hmacSha256',
  'hkdfSha256',
  'pbkdf2Sha256',
  'aeadSeal',
  'aeadOpen',
];

function boardCrypto(c: Crypto): Crypto {
  const missing = CRYPTO_FUNCTIONS.filter((f) => typeof (c as unknown as { [k: string]: unknown })[f] !== 'function');
  if (missing.length > 0) throw new Error('tinyhsm: board.crypto lacks ' + missing.join(', ') + ' (firmware/hal/index.ts Crypto)');
  return c;
}

// The simulator keeps noble's default precomputation window (docs/architecture.md §3: only device profiles call precompute(1)).
const fast = board.crypto;
startDevice(envFromBoard(board, fast ? 'node-sim-fast' : 'node-sim', fast ? boardCrypto(fast) : createNobleCrypto()));

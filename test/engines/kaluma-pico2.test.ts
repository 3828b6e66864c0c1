// The Pico 2's bundle as a static boot snapshot in Kaluma 1.2 / JerryScript 2.4 (its image twin) through the shared engine suite, within the heap budget of docs/boards.md "Kaluma"; the Pico's is kaluma-pico.test.ts, a file of its own so the two twins run side by side.
import { Alg } from '../../firmware/protocol/index.ts';
import { engineSuite } from './suite.ts';
import { kaluma256Image } from './kaluma.ts';

// Pico 2 (RP2350, 256 KB heap), dist/tinyhsm-kaluma.js: everything JerryScript 2.4 computes right; its BigInt gets
// P-256 wrong (noble: "invZ was invalid"), so that bundle leaves P-256 out and INFO says why
engineSuite(kaluma256Image, {
  flow: 'full',
  offers: [Alg.ED25519, Alg.X25519, Alg.ECDSA_SECP256K1],
  withholds: [Alg.ECDSA_P256],
  peakBudget: 230 * 1024,
  budgetWhy: 'the Pico 2 image: at most 230 of its 256 KB JS heap (docs/boards.md "Kaluma")',
  // a LOGIN (1,000 PBKDF2-SHA256 iterations) takes seconds under qemu; minutes would be a regression worth a failure
  timeoutMs: 180_000,
});

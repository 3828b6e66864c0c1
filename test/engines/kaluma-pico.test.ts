// The Pico's bundle as a static boot snapshot in Kaluma 1.2 / JerryScript 2.4 (its image twin) through the shared engine suite, within the heap budget of docs/boards.md "Kaluma"; the Pico 2's is kaluma-pico2.test.ts.
import { Alg } from '../../firmware/protocol/index.ts';
import { engineSuite } from './suite.ts';
import { kaluma180Image } from './kaluma.ts';

// Pico (RP2040, 180 KB heap), dist/tinyhsm-kaluma-pico.js: Ed25519 and X25519
engineSuite(kaluma180Image, {
  flow: 'full',
  offers: [Alg.ED25519, Alg.X25519],
  withholds: [Alg.ECDSA_P256, Alg.ECDSA_SECP256K1],
  peakBudget: 170 * 1024,
  budgetWhy: 'the Pico image: at most 170 of its 180 KB JS heap (docs/boards.md "Kaluma")',
  timeoutMs: 180_000,
});

// Kaluma 1.x entry for the Pico (RP2040, 180 KB JS heap): Ed25519 and X25519 only, so that the whole flow fits the heap.
//
// dist/tinyhsm-kaluma-pico.js: the same boot as the Pico 2's bundle (boot.ts) without noble's Weierstrass code,
// which costs the heap this board does not have (docs/boards.md "Kaluma"); P-256 would be wrong in JerryScript 2.4
// anyway. The self-test says why ECDSA is not offered.
import { bootKaluma } from './boot.ts';

const NO_WEIERSTRASS = 'not in the Pico bundle: no heap for it in 180 KB (docs/boards.md Kaluma)';

bootKaluma({ absent: NO_WEIERSTRASS, auditCapacity: 64 });

// The generic bundle in Moddable XS (xsnap) through the shared engine suite: session, INIT, LOGIN, keys of every algorithm, SIGN, KEY_ATTEST, ECDH, a power cycle, officer approvals and RESET, and XS's memory figures.
import { Alg } from '../../firmware/protocol/index.ts';
import { engineSuite } from './suite.ts';
import { xsProfile } from './xs.ts';

engineSuite(xsProfile, {
  flow: 'full',
  offers: [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519],
  // XS's peak here is an upper bound (slots counted before a collection × 16 B on an MCU, plus live chunks);
  // after load the firmware holds ~560 KB, so XS is a board with PSRAM (docs/boards.md "Moddable XS")
  peakBudget: 2 * 1024 * 1024,
  budgetWhy: 'an ESP32-S3 module with 2 MB of PSRAM',
  timeoutMs: 30_000,
});

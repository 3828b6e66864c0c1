// Kaluma 1.x entry for the Pico 2 (RP2350, 256 KB JS heap): Ed25519, X25519 and secp256k1; P-256 is left out because JerryScript 2.4 computes it wrong.
//
// dist/tinyhsm-kaluma.js, for a board image that runs it as a static snapshot in place (docs/boards.md "Kaluma"):
// uploaded as text (`kaluma flash`) it runs out of the heap while Kaluma parses it. The host talks to it with the
// armor transport. The Pico (RP2040, 180 KB) has its own bundle, entry_pico.ts. Everything else is boot.ts, imported
// first (see there why).
import { bootKaluma } from './boot.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { useWeierstrassDeviceProfile, weierstrassBackend } from '../../hal/crypto_weierstrass.ts';

/**
 * JerryScript 2.4's BigInt gives wrong P-256 results (noble: "invZ was invalid") and right secp256k1 ones
 * (docs/boards.md "Kaluma"), so this bundle carries secp256k1 only and the self-test says why P-256 is not offered.
 */
const NO_P256 = 'not in this bundle: JerryScript 2.4 computes P-256 wrong (docs/boards.md Kaluma)';
const CURVES = { secp256k1 };

// hedged ECDSA (RFC 6979 §3.6), as on every other target (crypto_noble.ts)
bootKaluma({ ec: weierstrassBackend(CURVES, true, NO_P256), absent: NO_P256, deviceProfile: () => useWeierstrassDeviceProfile(CURVES), auditCapacity: 128 });

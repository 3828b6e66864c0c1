// Kaluma 1.x entry point (RP2040, JerryScript 2.4): wires the board into the HAL and serves armored frames on the REPL's USB CDC.
//
// Flash dist/tinyhsm-kaluma.js with `kaluma flash dist/tinyhsm-kaluma.js` and talk to it with the host's
// armor transport. What Kaluma gives and why the loop owns stdin: see adapter.ts. Ctrl-C (0x03) stops the
// device and returns the REPL. The store lives in Kaluma's 16 KiB "storage" sectors (adapter.ts "Flash"), which a
// program upload does not erase; do not use Kaluma's `storage` module on the same board.
import './shims.ts';
import '../../hal/global_crypto.ts';
import { kaluma, rng } from './random_source.ts';
import { nobleCryptoWith, useEdwardsDeviceProfile } from '../../hal/crypto_noble_base.ts';
import { pbkdf2Sha256Halves } from '../../hal/pbkdf2_sha256_halves.ts';
import { checkedPbkdf2 } from '../../hal/symmetric.ts';

/**
 * JerryScript 2.4 as built for Kaluma 1.2 computes P-256 and secp256k1 wrong (DESIGN.md "Runtime constraints"), so
 * this bundle leaves noble's Weierstrass code out (~18 KB) and the self-test reports why those are not offered.
 */
const NO_WEIERSTRASS = 'not in the Kaluma bundle: JerryScript 2.4 computes P-256 and secp256k1 wrong (DESIGN.md "Runtime constraints")';
import { DEVICE_PIN_ITERATIONS, startDevice } from '../../core/device.ts';
import { createKalumaEnv, openKalumaFlash, KALUMA_STORE_BASE, KALUMA_STORE_SECTORS } from './adapter.ts';

/**
 * Board settings. The Pico has no user button: set BUTTON_PIN to a GPIO wired to a push button to ground to
 * enable presence checks. FLASH_BASE/FLASH_SECTORS: the sectors (4 KiB, counted from Kaluma's flash offset)
 * the store owns; the default is Kaluma's storage area (a Pico 2 has 16 sectors there).
 */
const BUTTON_PIN: number | undefined = undefined;
const FLASH_BASE = KALUMA_STORE_BASE;
const FLASH_SECTORS = KALUMA_STORE_SECTORS;

// Boot once Kaluma's own start-up has finished, then never return (see adapter.ts "Link").
kaluma.setTimeout(() => {
  // DESIGN.md "Runtime constraints": small base-point tables on a device (180 KB JS heap).
  useEdwardsDeviceProfile();
  const flash = openKalumaFlash(kaluma, FLASH_BASE, FLASH_SECTORS);
  // PBKDF2 on 16-bit halves: JerryScript boxes every integer beyond ±2^27, and noble's 32-bit SHA-256 made a LOGIN
  // allocate a number per word operation (pbkdf2_sha256_halves.ts); the argument checks stay symmetric.ts's
  const crypto = nobleCryptoWith(undefined, NO_WEIERSTRASS);
  crypto.pbkdf2Sha256 = checkedPbkdf2(pbkdf2Sha256Halves);
  const { env, link } = createKalumaEnv(kaluma, rng, crypto, { buttonPin: BUTTON_PIN, flash });
  startDevice(env, { pinIterations: DEVICE_PIN_ITERATIONS });
  link.run();
}, 0);

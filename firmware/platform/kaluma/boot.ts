// Kaluma 1.x boot shared by the Pico 2 and Pico bundles: shims and the RNG before noble, then the device on the HAL; each entry only chooses its curves.
//
// What Kaluma gives and why the loop owns stdin: adapter.ts. Ctrl-C (0x03) stops an uploaded program and returns the
// REPL; a board image without the REPL keeps the link (docs/boards.md "Kaluma"). The store lives in Kaluma's 16 KiB
// "storage" sectors (adapter.ts "Flash"), which a program upload does not erase; do not use Kaluma's `storage`
// module on the same board. An entry imports this module FIRST: its imports set up Object.hasOwn and the
// getRandomValues shim before any noble module is evaluated (global_crypto.ts).
import './shims.ts';
import '../../hal/global_crypto.ts';
import { kaluma, rng } from './random_source.ts';
import { nobleCryptoWith, useEdwardsDeviceProfile, type WeierstrassBackend } from '../../hal/crypto_noble_base.ts';
import { pbkdf2Sha256Halves } from '../../hal/pbkdf2_sha256_halves.ts';
import { checkedPbkdf2 } from '../../hal/symmetric.ts';
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

/** What a Kaluma bundle carries beyond Ed25519, X25519 and the symmetric primitives. */
export interface KalumaCurves {
  /** ECDSA and P-256 ECDH for the curves this bundle carries, or none. */
  ec?: WeierstrassBackend;
  /** Why the Weierstrass curves this bundle leaves out are not offered (the self-test reports it in INFO). */
  absent: string;
  /** The curves' device profile (small base-point tables), run before the self-tests. */
  deviceProfile?: () => void;
  /** The audit ring's capacity on this board (docs/audit.md §8): what its heap affords for the store's index. */
  auditCapacity: number;
}

/** Boot once Kaluma's own start-up has finished, then never return (see adapter.ts "Link"). */
export function bootKaluma(curves: KalumaCurves): void {
  kaluma.setTimeout(() => {
    // docs/architecture.md §3: small base-point tables on a device (180 KB JS heap)
    useEdwardsDeviceProfile();
    if (curves.deviceProfile) curves.deviceProfile();
    const flash = openKalumaFlash(kaluma, FLASH_BASE, FLASH_SECTORS);
    // PBKDF2 on 16-bit halves: JerryScript boxes every integer beyond ±2^27, and noble's 32-bit SHA-256 made a LOGIN
    // allocate a number per word operation (pbkdf2_sha256_halves.ts); the argument checks stay symmetric.ts's
    const crypto = nobleCryptoWith(curves.ec, curves.absent, checkedPbkdf2(pbkdf2Sha256Halves));
    const { env, link } = createKalumaEnv(kaluma, rng, crypto, { buttonPin: BUTTON_PIN, flash });
    startDevice(env, { pinIterations: DEVICE_PIN_ITERATIONS, auditCapacity: curves.auditCapacity });
    link.run();
  }, 0);
}

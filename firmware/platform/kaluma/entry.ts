// Kaluma 1.x entry point (RP2040, JerryScript 2.4): wires the board into the HAL and serves armored frames on the REPL's USB CDC.
//
// Flash dist/tinyhsm-kaluma.js with `kaluma flash dist/tinyhsm-kaluma.js` and talk to it with the host's
// armor transport. What Kaluma gives and why the loop owns stdin: see adapter.ts. Ctrl-C (0x03) stops the
// device and returns the REPL; the keys (RAM only, for now) are gone at the next reset.
import '../../hal/global_crypto.ts';
import { kaluma, rng } from './random_source.ts';
import { createNobleCrypto, useDeviceProfile } from '../../hal/crypto_noble.ts';
import { startDevice } from '../../core/device.ts';
import { createKalumaEnv } from './adapter.ts';

/**
 * Board settings. The Pico has no user button: set BUTTON_PIN to a GPIO wired to a push button to ground to
 * enable presence checks. Flash stays unclaimed: Kaluma's littlefs owns the space after the program.
 */
const BUTTON_PIN: number | undefined = undefined;

// Boot once Kaluma's own start-up has finished, then never return (see adapter.ts "Link").
kaluma.setTimeout(() => {
  // DESIGN.md "Runtime constraints": small base-point tables on a device (180 KB JS heap).
  useDeviceProfile();
  const { env, link } = createKalumaEnv(kaluma, rng, createNobleCrypto(), { buttonPin: BUTTON_PIN });
  startDevice(env);
  link.run();
}, 0);

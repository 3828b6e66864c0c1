// Espruino entry point: no BigInt, so no curves; raw binary frames on USB after the console moves to LoopbackA (adapter.ts).
//
// Load dist/tinyhsm-espruino.js as boot code (Web IDE: "Save on Send: Direct to Flash (execute code at boot)",
// or the `espruino` command-line tool) so that it runs at power-on. Needs Espruino 2v22 or newer (`globalThis`).
// The bundle is ES5 with a few polyfills (polyfills.ts) and carries no curve code; the build fails if a BigInt
// slips in.
import '../../hal/global_crypto.ts';
import './polyfills.ts';
import { setGlobalRandomSource } from '../../hal/global_crypto.ts';
import { createNoBigIntCrypto } from './crypto.ts';
import { DEVICE_PIN_ITERATIONS, startDevice } from '../../core/device.ts';
import { checkEspruino, createEspruinoEnv, createEspruinoRng, espruinoGlobals } from './adapter.ts';

const g = espruinoGlobals();
const missing = checkEspruino(g);
if (missing.length > 0) throw new Error('tinyhsm: this Espruino lacks ' + missing.join(', '));

const rng = createEspruinoRng(g.E);
setGlobalRandomSource((buf) => rng.fill(buf));
startDevice(createEspruinoEnv(g, rng, createNoBigIntCrypto()), { pinIterations: DEVICE_PIN_ITERATIONS, auditCapacity: 32 });

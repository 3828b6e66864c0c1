// Creates the Kaluma hardware RNG and points the crypto.getRandomValues shim at it; imported before noble loads (hal/global_crypto.ts).
import { setGlobalRandomSource } from '../../hal/global_crypto.ts';
import { checkKaluma, createKalumaRng, kalumaGlobals, type KalumaRp2 } from './adapter.ts';

export const kaluma = kalumaGlobals();

const missing = checkKaluma(kaluma);
if (missing.length > 0) throw new Error('tinyhsm: this Kaluma lacks ' + missing.join(', ') + '; use Kaluma 1.2 or newer on an RP2 board');

/** The board RNG (see adapter.ts for the source and its continuous test). */
export const rng = createKalumaRng(kaluma.require('rp2') as KalumaRp2);

setGlobalRandomSource((buf) => rng.fill(buf));

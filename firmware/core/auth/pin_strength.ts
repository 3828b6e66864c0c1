// The floor a new PIN must clear on a board whose flash can be read out (docs/security.md §4.1): a length × character-class estimate of what guessing it offline costs.
//
// A flash dump holds each PIN's salt and wrapped master key, so the PIN's entropy is all that stands between the dump
// and every key (docs/security.md §9): at the boards' 1,000 PBKDF2 iterations a 6-digit PIN falls in minutes on a
// laptop. None of the boards tinyhsm runs on has readout protection, so INIT, CHANGE_PIN and UNBLOCK refuse a new
// PIN below PIN_MIN_BITS. The estimate is a rule, not a measure of how people choose PINs: length × log2 of the
// alphabet its bytes come from (digits 10, lower case 26, upper case 26, other ASCII 33, any byte ≥ 0x80 64).

/** The floor, in bits of the estimate: 2^48 PBKDF2 runs are about a GPU-year at 1,000 iterations. */
export const PIN_MIN_BITS = 48;

/** length × log2(alphabet of the classes present), rounded down; 0 for an empty PIN. */
export function pinStrengthBits(pin: Uint8Array): number {
  let digit = 0;
  let lower = 0;
  let upper = 0;
  let other = 0;
  let high = 0;
  for (let i = 0; i < pin.length; i++) {
    const b = pin[i];
    if (b >= 0x30 && b <= 0x39) digit = 10;
    else if (b >= 0x61 && b <= 0x7a) lower = 26;
    else if (b >= 0x41 && b <= 0x5a) upper = 26;
    else if (b >= 0x80) high = 64;
    else other = 33;
  }
  const alphabet = digit + lower + upper + other + high;
  if (alphabet < 2) return 0;
  // the small addend keeps an exact power of two (6 bytes of 64 symbols: 36 bits) from rounding down to 35
  return Math.floor((pin.length * Math.log(alphabet)) / Math.LN2 + 1e-9);
}

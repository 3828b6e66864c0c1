// RFC 8439 §2.8 ChaCha20-Poly1305 AEAD composed from noble's ChaCha20 and Poly1305, with no BigInt, for every target.
//
// Why not noble's own chacha20poly1305: it writes the two 64-bit length fields with DataView.setBigUint64(BigInt(n)),
// which Espruino cannot parse at all and which JerryScript 2.4 (Kaluma) may lack. The lengths here are written as two
// 32-bit halves (our messages are far below 2^32 bytes). Everything else is noble's code: the ChaCha20 block function
// (RFC 8439 §2.4) and Poly1305 (§2.5). Checked against Wycheproof, noble's AEAD and OpenSSL in
// test/unit/session-crypto-hal.test.ts.
import { chacha20 } from '@noble/ciphers/chacha.js';
import { poly1305 } from '@noble/ciphers/_poly1305.js';

const TAG = 16;

function checkKeyNonce(key: Uint8Array, nonce: Uint8Array): void {
  // lengths only: buffers may come from another realm (the simulator's vm context), and noble checks the types
  if (!key || key.length !== 32) throw new Error('ChaCha20-Poly1305: the key must be 32 bytes');
  if (!nonce || nonce.length !== 12) throw new Error('ChaCha20-Poly1305: the nonce must be 12 bytes (RFC 8439)');
}

/** Zero bytes that bring n up to a multiple of 16 (RFC 8439 §2.8 pad16). */
function pad16(n: number): number {
  return (16 - (n % 16)) % 16;
}

/** Little-endian 64-bit length as two 32-bit halves (RFC 8439 §2.8: len(AAD) and len(ciphertext), 8 bytes each). */
function putLength(out: Uint8Array, at: number, n: number): void {
  const lo = n % 0x100000000;
  const hi = Math.floor(n / 0x100000000);
  for (let i = 0; i < 4; i++) {
    out[at + i] = (lo >>> (8 * i)) & 0xff;
    out[at + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
}

/** Poly1305 over AAD ‖ pad16 ‖ ciphertext ‖ pad16 ‖ len(AAD) ‖ len(ciphertext), keyed by ChaCha20 block 0 (§2.6). */
function tagOf(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const otk = chacha20(key, nonce, new Uint8Array(32), undefined, 0);
  const a = aad.length + pad16(aad.length);
  const c = ciphertext.length + pad16(ciphertext.length);
  const mac = new Uint8Array(a + c + 16);
  mac.set(aad, 0);
  mac.set(ciphertext, a);
  putLength(mac, a + c, aad.length);
  putLength(mac, a + c + 8, ciphertext.length);
  const tag = poly1305(mac, otk);
  otk.fill(0);
  return tag;
}

/** Seal: ciphertext ‖ tag. The keystream starts at block counter 1 (§2.8; block 0 made the Poly1305 key). */
export function chachaPolySeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  checkKeyNonce(key, nonce);
  const out = new Uint8Array(plaintext.length + TAG);
  const ct = chacha20(key, nonce, plaintext, undefined, 1);
  out.set(ct, 0);
  out.set(tagOf(key, nonce, aad, ct), plaintext.length);
  return out;
}

/** Open: the tag is checked (in constant time) before any byte is decrypted; undefined when it does not match. */
export function chachaPolyOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  checkKeyNonce(key, nonce);
  if (sealed.length < TAG) return undefined;
  const ct = sealed.subarray(0, sealed.length - TAG);
  const given = sealed.subarray(sealed.length - TAG);
  const want = tagOf(key, nonce, aad, ct);
  let d = 0;
  for (let i = 0; i < TAG; i++) d |= want[i] ^ given[i];
  if (d !== 0) return undefined;
  return chacha20(key, nonce, ct, undefined, 1);
}

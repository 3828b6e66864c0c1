// Byte layouts of the secure session (docs/session.md §2–§4): labels, transcript, nonce and AAD. Pure, no crypto.
import { concatBytes, utf8Encode } from '../../protocol/bytes.ts';

/** Protocol label: first bytes of the transcript, and prefix of both HKDF info strings (docs/session.md §2). */
export const SESSION_LABEL = 'tinyhsm/session/v1';
/** HKDF info of the key that protects requests (docs/session.md §3). */
export const INFO_HOST_TO_DEVICE = 'tinyhsm/session/v1 host->device';
/** HKDF info of the key that protects responses. */
export const INFO_DEVICE_TO_HOST = 'tinyhsm/session/v1 device->host';

/** Direction byte, last byte of the AAD (docs/session.md §4). Separate keys already split the directions; the byte makes it explicit. */
export const DIRECTION_HOST_TO_DEVICE = 0x01;
export const DIRECTION_DEVICE_TO_HOST = 0x02;
/** Direction byte of a CANCEL token (docs/session.md §4.1): host → device, key k_h2d, nonces of their own. */
export const DIRECTION_CANCEL = 0x03;

export const DEVICE_ID_LENGTH = 16;
export const EPHEMERAL_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;
export const TAG_LENGTH = 16;
/** Counters are JS numbers: 1 ≤ c ≤ 2^53 − 1 (the largest integer every engine represents exactly). */
export const MAX_COUNTER = 9007199254740991;

const LABEL_BYTES = utf8Encode(SESSION_LABEL);

/** transcript = "tinyhsm/session/v1" ‖ deviceId(16) ‖ hostEphemeral(32) ‖ deviceEphemeral(32) ‖ sessionId(1): 99 bytes. */
export function transcript(deviceId: Uint8Array, hostEphemeral: Uint8Array, deviceEphemeral: Uint8Array, sessionId: number): Uint8Array {
  return concatBytes(LABEL_BYTES, deviceId, hostEphemeral, deviceEphemeral, new Uint8Array([sessionId & 0xff]));
}

/** Write c as 8 bytes big-endian at out[at..at+8) (c ≤ 2^53 − 1, so the high word is below 2^21). */
export function putCounter(out: Uint8Array, at: number, c: number): void {
  const hi = Math.floor(c / 0x100000000);
  const lo = c % 0x100000000;
  for (let i = 0; i < 4; i++) {
    out[at + i] = (hi >>> (24 - 8 * i)) & 0xff;
    out[at + 4 + i] = (lo >>> (24 - 8 * i)) & 0xff;
  }
}

/** nonce = 00 00 00 00 ‖ counter (8 bytes big-endian) (docs/session.md §4). */
export function envelopeNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  putCounter(n, 4, counter);
  return n;
}

/**
 * nonce of a CANCEL token = 00 00 00 01 ‖ counter (docs/session.md §4.1): never an envelope's nonce, so the token
 * for request c does not reuse request c's nonce under k_h2d.
 */
export function cancelNonce(counter: number): Uint8Array {
  const n = envelopeNonce(counter);
  n[3] = 1;
  return n;
}

/** AAD = sessionId(1) ‖ counter (8 bytes big-endian) ‖ direction(1) (docs/session.md §4). */
export function envelopeAad(sessionId: number, counter: number, direction: number): Uint8Array {
  const a = new Uint8Array(10);
  a[0] = sessionId & 0xff;
  putCounter(a, 1, counter);
  a[9] = direction;
  return a;
}

/** A counter the protocol can carry: an integer in 1..2^53 − 1. */
export function isValidCounter(c: number): boolean {
  return typeof c === 'number' && c >= 1 && c <= MAX_COUNTER && Math.floor(c) === c;
}

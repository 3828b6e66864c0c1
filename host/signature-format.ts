// Signature encodings other tools read: the device's raw 64 bytes (Ed25519 R‖S, ECDSA r‖s), ECDSA's DER (RFC 3279 §2.2.3, what OpenSSL and X.509 take), hex and base64.
import { Alg } from '../firmware/protocol/index.ts';

/** The formats `tinyhsm sign --format` writes. */
export const SIGNATURE_FORMATS = ['hex', 'raw', 'der', 'base64'] as const;
export type SignatureFormat = (typeof SIGNATURE_FORMATS)[number];

/** A DER INTEGER of a big-endian unsigned value: leading zeros dropped, one 0x00 put back when the top bit is set. */
function derInteger(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b[i] & 0x80 ? Buffer.concat([Buffer.of(0), b.subarray(i)]) : Buffer.from(b.subarray(i));
  return Buffer.concat([Buffer.of(0x02, v.length), v]);
}

/** ECDSA r‖s (32 bytes each) as Ecdsa-Sig-Value: SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.3), at most 72 bytes. */
export function rawSignatureToDer(sig: Uint8Array): Uint8Array {
  if (sig.length !== 64) throw new Error(`an ECDSA signature is 64 bytes (r‖s), got ${sig.length}`);
  const body = Buffer.concat([derInteger(sig.subarray(0, 32)), derInteger(sig.subarray(32))]);
  return new Uint8Array(Buffer.concat([Buffer.of(0x30, body.length), body]));
}

/**
 * The signature bytes in `format`: raw and der as bytes, hex and base64 as ASCII text. DER exists only for ECDSA:
 * an Ed25519 signature is always the 64 bytes R‖S (RFC 8032 §5.1.6), so `der` of it is refused.
 */
export function encodeSignature(alg: number, sig: Uint8Array, format: SignatureFormat): Uint8Array | string {
  if (format === 'raw') return sig;
  if (format === 'hex') return Buffer.from(sig).toString('hex');
  if (format === 'base64') return Buffer.from(sig).toString('base64');
  if (alg !== Alg.ECDSA_P256 && alg !== Alg.ECDSA_SECP256K1)
    throw new Error('--format der is for ECDSA keys; an Ed25519 signature is its 64 raw bytes (use raw, hex or base64)');
  return rawSignatureToDer(sig);
}

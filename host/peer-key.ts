// A peer's public key as other tools write it (PEM or DER SubjectPublicKeyInfo, or hex) turned into the raw bytes ECDH sends to the device.
//
// The device takes the peer key as the wire carries public keys (firmware/protocol/algorithms.ts PUBLIC_KEY_LENGTH,
// firmware/protocol/commands/ecdh.ts): X25519 the 32-byte u-coordinate (RFC 7748 §5), P-256 a SEC1 point (65 bytes
// uncompressed, SEC 1 §2.3.3). node:crypto reads the SPKI (RFC 5480 §2, RFC 8410 §4) and checks that an EC point lies
// on its curve; the raw point is rebuilt from the key's JWK (RFC 7518 §6.2.1: x and y at the curve's full length).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { Alg, fromHex } from '../firmware/protocol/index.ts';

export interface PeerKey {
  /** The algorithm the key belongs to (codes.ts Alg), or undefined for a raw EC point in hex, whose curve bytes cannot tell. */
  alg: number | undefined;
  /** What node:crypto calls the key's type when it is not one ECDH takes (e.g. 'ed25519', 'rsa'), for the message. */
  other?: string;
  /** The raw public key the device takes. */
  publicKey: Uint8Array;
  /** How the input was written. */
  form: 'pem' | 'der' | 'hex';
}

function b64url(s: string | undefined, bytes: number): Uint8Array {
  const b = Buffer.from(s || '', 'base64url');
  if (b.length > bytes) throw new Error(`a coordinate of ${b.length} bytes, more than the curve's ${bytes}`);
  const out = new Uint8Array(bytes);
  out.set(b, bytes - b.length);
  return out;
}

function fromKeyObject(k: KeyObject, form: 'pem' | 'der'): PeerKey {
  const type = k.asymmetricKeyType;
  if (type === 'x25519') return { alg: Alg.X25519, publicKey: b64url(k.export({ format: 'jwk' }).x, 32), form };
  if (type === 'ec') {
    const jwk = k.export({ format: 'jwk' });
    const alg = jwk.crv === 'P-256' ? Alg.ECDSA_P256 : jwk.crv === 'secp256k1' ? Alg.ECDSA_SECP256K1 : undefined;
    if (alg === undefined) return { alg: undefined, other: `ec ${k.asymmetricKeyDetails?.namedCurve ?? jwk.crv ?? '?'}`, publicKey: new Uint8Array(0), form };
    const point = new Uint8Array(65);
    point[0] = 0x04;
    point.set(b64url(jwk.x, 32), 1);
    point.set(b64url(jwk.y, 32), 33);
    return { alg, publicKey: point, form };
  }
  return { alg: undefined, other: type || 'unknown', publicKey: new Uint8Array(0), form };
}

/**
 * Read a peer public key: a PEM "PUBLIC KEY" block (RFC 7468 §13), DER SPKI, or the raw key in hex (as `--peer` takes
 * it). A private key is refused, never turned into its public half: the file was probably not the one meant, and its
 * contents must not travel further. Throws an Error whose message names `what` and says what was expected.
 */
export function readPeerKey(input: Uint8Array, what: string): PeerKey {
  const text = Buffer.from(input).toString('latin1');
  if (/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text))
    throw new Error(`${what} holds a PRIVATE key; give the peer's PUBLIC key (e.g. \`openssl pkey -in KEY -pubout\`)`);
  const pem = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/.exec(text);
  if (pem) {
    let k: KeyObject;
    try {
      k = createPublicKey({ key: pem[0], format: 'pem' });
    } catch (e) {
      throw new Error(`${what}: the PEM public key does not parse (${(e as Error).message})`);
    }
    return fromKeyObject(k, 'pem');
  }
  if (text.includes('-----BEGIN ')) throw new Error(`${what} holds no "-----BEGIN PUBLIC KEY-----" block (SPKI, as \`openssl pkey -pubout\` writes)`);
  const compact = text.replace(/\s+/g, '').replace(/^0x/, '');
  if (compact.length > 0 && /^[0-9a-fA-F]+$/.test(compact)) {
    const raw = fromHex(compact);
    if (!raw) throw new Error(`${what}: an odd number of hex digits`);
    const alg = raw.length === 32 ? Alg.X25519 : undefined;
    if (raw.length !== 32 && raw.length !== 33 && raw.length !== 65)
      throw new Error(`${what}: ${raw.length} bytes of hex; a raw peer key is 32 bytes (X25519) or a 33- or 65-byte SEC1 point (P-256)`);
    return { alg, publicKey: raw, form: 'hex' };
  }
  let k: KeyObject;
  try {
    k = createPublicKey({ key: Buffer.from(input), format: 'der', type: 'spki' });
  } catch {
    throw new Error(`${what} is neither a PEM or DER public key (SPKI) nor hex`);
  }
  return fromKeyObject(k, 'der');
}

// An officer's side of the domain (docs/quorum.md §8): open the share a device sealed to the officer's Ed25519 key, and seal it again to a joining device's identity key.
//
// Written with node:crypto (X25519, HKDF-SHA-256, ChaCha20-Poly1305, SHA-512) and, for the Edwards-to-Montgomery map
// of a public key that node:crypto lacks, a few lines of BigInt here (RFC 8032 §5.1.3, RFC 7748 §4.1): a second
// implementation of the format firmware/protocol/commands/domain.ts seals on the device, held against it by the tests.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';
import { SEALED_SHARE_BYTES, WRAP_KEY_BYTES } from '../firmware/protocol/commands/domain.ts';
import { X25519_PKCS8, X25519_SPKI } from './session.ts';
import { ed25519Seed } from './officer-keys.ts';

const SHARE_INFO = Buffer.from('tinyhsm share v1');
const NONCE = Buffer.alloc(12);

const P = 2n ** 255n - 19n;
const D = (-121665n * inverse(121666n)) % P;

function power(b: bigint, e: bigint): bigint {
  let r = 1n;
  b %= P;
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}

function inverse(a: bigint): bigint {
  return power(((a % P) + P) % P, P - 2n);
}

/**
 * The X25519 public key (u) of an Ed25519 public key: u = (1 + y) / (1 − y) (RFC 7748 §4.1), after checking that y
 * decodes to a point (RFC 8032 §5.1.3: y < p and (y² − 1) / (d·y² + 1) is a square). Throws otherwise.
 */
export function edwardsToMontgomery(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  const le = Buffer.from(publicKey);
  le[31] &= 0x7f;
  const y = BigInt('0x' + Buffer.from(le).reverse().toString('hex'));
  if (y >= P || y === 1n) throw new Error('not an Ed25519 public key (y out of range)');
  const y2 = (y * y) % P;
  const x2 = (((((y2 - 1n) % P) + P) % P) * inverse((D * y2 + 1n) % P)) % P;
  // Euler's criterion: a nonzero square has x2^((p-1)/2) = 1
  if (x2 !== 0n && power(x2, (P - 1n) / 2n) !== 1n) throw new Error('not an Ed25519 public key (not on the curve)');
  const u = ((1n + y) * inverse((((1n - y) % P) + P) % P)) % P;
  return new Uint8Array(Buffer.from(u.toString(16).padStart(64, '0'), 'hex').reverse());
}

/** A share of the domain's wrap key: its Shamir index (1..255) and its 32 bytes. Secret: wipe `share` when done. */
export interface Share {
  index: number;
  share: Uint8Array;
}

function x25519Public(u: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI, u]), format: 'der', type: 'spki' });
}

function rawX25519Public(k: KeyObject): Buffer {
  return (k.export({ format: 'der', type: 'spki' }) as Buffer).subarray(X25519_SPKI.length);
}

function shareKey(shared: Buffer, e: Uint8Array, r: Uint8Array): Buffer {
  const k = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([e, r]), SHARE_INFO, 32));
  shared.fill(0);
  return k;
}

/** Open a share sealed to the officer whose Ed25519 private key is `officer`: undefined if it is not one of `domainId` sealed to this key. */
export function openShare(sealed: Uint8Array, officer: KeyObject, domainId: Uint8Array): Share | undefined {
  if (sealed.length !== SEALED_SHARE_BYTES) return undefined;
  const seed = ed25519Seed(officer);
  const h = createHash('sha512').update(seed).digest();
  seed.fill(0);
  const der = Buffer.concat([X25519_PKCS8, h.subarray(0, 32)]);
  h.fill(0);
  const secret = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  const e = sealed.subarray(0, 32);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: secret, publicKey: x25519Public(e) });
  } catch {
    return undefined;
  }
  const k = shareKey(shared, e, rawX25519Public(createPublicKey(secret)));
  const body = sealed.subarray(32, sealed.length - 16);
  const d = createDecipheriv('chacha20-poly1305', k, NONCE, { authTagLength: 16 });
  d.setAAD(domainId, { plaintextLength: body.length });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(body), d.final()]);
  } catch {
    return undefined;
  } finally {
    k.fill(0);
  }
  const out = { index: plain[0], share: new Uint8Array(plain.subarray(1)) };
  plain.fill(0);
  return out.index === 0 || out.share.length !== WRAP_KEY_BYTES ? undefined : out;
}

/** Seal share `s` of `domainId` to the holder of the Ed25519 public key `recipient` (a joining device's identity key). */
export function sealShare(s: Share, recipient: Uint8Array, domainId: Uint8Array): Uint8Array {
  const r = edwardsToMontgomery(recipient);
  const eph = generateKeyPairSync('x25519');
  const e = rawX25519Public(eph.publicKey);
  const k = shareKey(diffieHellman({ privateKey: eph.privateKey, publicKey: x25519Public(r) }), e, r);
  const c = createCipheriv('chacha20-poly1305', k, NONCE, { authTagLength: 16 });
  const plain = Buffer.concat([Buffer.from([s.index]), s.share]);
  c.setAAD(domainId, { plaintextLength: plain.length });
  const body = Buffer.concat([c.update(plain), c.final()]);
  plain.fill(0);
  k.fill(0);
  return new Uint8Array(Buffer.concat([e, body, c.getAuthTag()]));
}

/** Re-seal an officer's share to a joining device: open it with the officer's key, seal it to `recipient`, wipe the share. */
export function reshare(sealed: Uint8Array, officer: KeyObject, domainId: Uint8Array, recipient: Uint8Array): Uint8Array | undefined {
  const s = openShare(sealed, officer, domainId);
  if (s === undefined) return undefined;
  try {
    return sealShare(s, recipient, domainId);
  } finally {
    s.share.fill(0);
  }
}

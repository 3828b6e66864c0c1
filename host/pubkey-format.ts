// Public key encodings a person's other tools read: SPKI PEM (OpenSSL, node:crypto) and OpenSSH authorized_keys lines.
import { ALG_NAMES, concatBytes } from '../firmware/protocol/index.ts';
import { PUBLIC_KEY_LENGTH, SPKI_PREFIX, SSH_KEY_TYPE } from '../firmware/protocol/algorithms.ts';

/** Throws unless `alg` is known and `publicKey` has its length; returns the algorithm's name. */
function checkKey(alg: number, publicKey: Uint8Array): string {
  const n = PUBLIC_KEY_LENGTH[alg];
  if (n === undefined) throw new Error('unknown algorithm id ' + alg);
  if (publicKey.length !== n) throw new Error(`${ALG_NAMES[alg]} public key must be ${n} bytes, got ${publicKey.length}`);
  return ALG_NAMES[alg];
}

/** DER SubjectPublicKeyInfo (prefixes: firmware/protocol/algorithms.ts SPKI_PREFIX). */
export function publicKeyToSpkiDer(alg: number, publicKey: Uint8Array): Uint8Array {
  checkKey(alg, publicKey);
  return concatBytes(Buffer.from(SPKI_PREFIX[alg], 'hex'), publicKey);
}

/** PEM "PUBLIC KEY" (RFC 7468 §13), accepted by `openssl pkey -pubin`. */
export function publicKeyToPem(alg: number, publicKey: Uint8Array): string {
  const b64 = Buffer.from(publicKeyToSpkiDer(alg, publicKey)).toString('base64');
  const lines = b64.match(/.{1,64}/g) || [];
  return '-----BEGIN PUBLIC KEY-----\n' + lines.join('\n') + '\n-----END PUBLIC KEY-----\n';
}

function sshString(b: Uint8Array | string): Uint8Array {
  const bytes = typeof b === 'string' ? new TextEncoder().encode(b) : b;
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length);
  return concatBytes(len, bytes);
}

/**
 * OpenSSH public key line (RFC 8709 §4 for ssh-ed25519, RFC 5656 §3.1 for ecdsa-sha2-nistp256): the key type name, the
 * blob = the strings of firmware/protocol/algorithms.ts SSH_KEY_TYPE then the public key, each as an SSH string, in
 * base64, and the comment.
 */
export function publicKeyToSsh(alg: number, publicKey: Uint8Array, comment = ''): string {
  const name = checkKey(alg, publicKey);
  const strings = SSH_KEY_TYPE[alg];
  if (strings === undefined) throw new Error(`OpenSSH has no public key format for ${name}; use --format pem or hex`);
  const blob = concatBytes(...strings.map((s) => sshString(s)), sshString(publicKey));
  return strings[0] + ' ' + Buffer.from(blob).toString('base64') + (comment ? ' ' + comment : '');
}

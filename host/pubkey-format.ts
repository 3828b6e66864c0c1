// Public key encodings a person's other tools read: SPKI PEM (OpenSSL, node:crypto) and OpenSSH authorized_keys lines.
import { ALG_NAMES, Alg, concatBytes } from '../firmware/protocol/index.ts';

// DER SubjectPublicKeyInfo prefixes (RFC 8410 §4 for Ed25519/X25519; RFC 5480 §2 for EC points).
const SPKI_PREFIX: { [alg: number]: string } = {
  [Alg.ED25519]: '302a300506032b6570032100',
  [Alg.X25519]: '302a300506032b656e032100',
  [Alg.ECDSA_P256]: '3059301306072a8648ce3d020106082a8648ce3d030107034200',
  [Alg.ECDSA_SECP256K1]: '3056301006072a8648ce3d020106052b8104000a034200',
};

const EXPECTED_LEN: { [alg: number]: number } = {
  [Alg.ED25519]: 32,
  [Alg.X25519]: 32,
  [Alg.ECDSA_P256]: 65,
  [Alg.ECDSA_SECP256K1]: 65,
};

function algName(alg: number): string {
  return ALG_NAMES[alg] || 'algorithm ' + alg;
}

function checkKey(alg: number, publicKey: Uint8Array): void {
  const n = EXPECTED_LEN[alg];
  if (n === undefined) throw new Error('unknown algorithm id ' + alg);
  if (publicKey.length !== n) throw new Error(`${algName(alg)} public key must be ${n} bytes, got ${publicKey.length}`);
}

/** DER SubjectPublicKeyInfo. */
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

/** OpenSSH public key line (RFC 8709 §4 for ssh-ed25519, RFC 5656 §3.1 for ecdsa-sha2-nistp256). */
export function publicKeyToSsh(alg: number, publicKey: Uint8Array, comment = ''): string {
  checkKey(alg, publicKey);
  let type: string;
  let blob: Uint8Array;
  if (alg === Alg.ED25519) {
    type = 'ssh-ed25519';
    blob = concatBytes(sshString(type), sshString(publicKey));
  } else if (alg === Alg.ECDSA_P256) {
    type = 'ecdsa-sha2-nistp256';
    blob = concatBytes(sshString(type), sshString('nistp256'), sshString(publicKey));
  } else {
    throw new Error(`OpenSSH has no public key format for ${algName(alg)}; use --format pem or hex`);
  }
  return type + ' ' + Buffer.from(blob).toString('base64') + (comment ? ' ' + comment : '');
}

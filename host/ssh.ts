// SSH wire encoding for the agent and the CA (docs/ssh.md): RFC 4251 §5 types, key and signature blobs (RFC 8709, RFC 5656, RFC 8332), the agent protocol's numbers (draft-miller-ssh-agent), OpenSSH certificates (PROTOCOL.certkeys) and the host-key check of session-bind (PROTOCOL.agent §1).
import { createHash, createPublicKey, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { Alg, concatBytes } from '../firmware/protocol/index.ts';
import { publicKeyToSsh } from './pubkey-format.ts';
import type { HsmClient } from './client.ts';
import type { CallOptions } from './link.ts';

/** Malformed SSH data: a short read, a length past the end, a non-minimal mpint, an unknown key type, … */
export class SshFormatError extends Error {}

// ---------------------------------------------------------------- RFC 4251 §5 data types

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds a message from RFC 4251 §5 types, big-endian throughout. */
export class SshWriter {
  private readonly parts: Uint8Array[] = [];

  byte(n: number): this {
    this.parts.push(Uint8Array.of(n & 0xff));
    return this;
  }

  bool(b: boolean): this {
    return this.byte(b ? 1 : 0);
  }

  uint32(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n >>> 0);
    this.parts.push(b);
    return this;
  }

  uint64(n: bigint): this {
    if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError('uint64 out of range');
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, n);
    this.parts.push(b);
    return this;
  }

  /** string: uint32 length ‖ bytes; a JavaScript string is sent as UTF-8. */
  string(s: Uint8Array | string): this {
    const bytes = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    this.uint32(bytes.length);
    this.parts.push(bytes);
    return this;
  }

  /** mpint: a string holding the two's complement, big-endian, minimal (RFC 4251 §5). */
  mpint(n: bigint): this {
    return this.string(mpintBody(n));
  }

  /** An mpint of a non-negative number given as unsigned big-endian bytes (r and s of an ECDSA signature). */
  mpintUnsigned(magnitude: Uint8Array): this {
    return this.string(unsignedMpintBody(magnitude));
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    return this;
  }

  bytes(): Uint8Array {
    return concatBytes(...this.parts);
  }
}

/** Reads RFC 4251 §5 types; every read past the end throws SshFormatError, never returns garbage. */
export class SshReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private take(n: number, what: string): Uint8Array {
    if (n > this.remaining) throw new SshFormatError(`${what}: needs ${n} bytes, ${this.remaining} left`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  byte(what = 'byte'): number {
    return this.take(1, what)[0];
  }

  /** boolean: any non-zero byte is true (RFC 4251 §5 says senders send 1, receivers accept any non-zero). */
  bool(what = 'boolean'): boolean {
    return this.byte(what) !== 0;
  }

  uint32(what = 'uint32'): number {
    const b = this.take(4, what);
    return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
  }

  uint64(what = 'uint64'): bigint {
    const b = this.take(8, what);
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0);
  }

  string(what = 'string'): Uint8Array {
    const n = this.uint32(what + ' length');
    return this.take(n, what);
  }

  /** A string that must be valid UTF-8 (names, comments, principals). */
  text(what = 'string'): string {
    const b = this.string(what);
    try {
      return utf8.decode(b);
    } catch {
      throw new SshFormatError(`${what} is not valid UTF-8`);
    }
  }

  mpint(what = 'mpint'): bigint {
    return mpintValue(this.string(what), what);
  }

  /** The rest of the buffer. */
  rest(): Uint8Array {
    return this.take(this.remaining, 'rest');
  }

  /** Throws unless everything was read: trailing bytes mean the message is not what it claims to be. */
  end(what = 'message'): void {
    if (this.remaining !== 0) throw new SshFormatError(`${what} has ${this.remaining} unexpected trailing bytes`);
  }
}

/** The body of an mpint (without its length): two's complement, big-endian, no unnecessary 0x00 or 0xff byte. */
export function mpintBody(n: bigint): Uint8Array {
  if (n === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let v = n;
  // emit bytes low to high until the rest is pure sign extension and the top bit already carries the sign
  for (;;) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
    const top = out[out.length - 1] & 0x80;
    if ((v === 0n && top === 0) || (v === -1n && top !== 0)) break;
  }
  return Uint8Array.from(out.reverse());
}

/** The mpint body of a non-negative number given as unsigned big-endian bytes. */
export function unsignedMpintBody(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  if (m.length === 0) return new Uint8Array(0);
  return m[0] & 0x80 ? concatBytes(Uint8Array.of(0), m) : new Uint8Array(m);
}

/** The value of an mpint body; refuses the unnecessary leading bytes RFC 4251 §5 forbids. */
export function mpintValue(body: Uint8Array, what = 'mpint'): bigint {
  if (body.length === 0) return 0n;
  if (body.length > 1 && ((body[0] === 0 && (body[1] & 0x80) === 0) || (body[0] === 0xff && (body[1] & 0x80) !== 0))) {
    throw new SshFormatError(`${what} has an unnecessary leading byte`);
  }
  let v = 0n;
  for (const b of body) v = (v << 8n) | BigInt(b);
  if (body[0] & 0x80) v -= 1n << BigInt(8 * body.length);
  return v;
}

/** A non-negative bigint as exactly `length` big-endian bytes; throws when it does not fit. */
function fixedBytes(n: bigint, length: number, what: string): Uint8Array {
  if (n < 0n) throw new SshFormatError(`${what} is negative`);
  const out = new Uint8Array(length);
  let v = n;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new SshFormatError(`${what} is longer than ${length} bytes`);
  return out;
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

function bigintBytes(n: bigint): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

// ---------------------------------------------------------------- public keys

/** The curves of RFC 5656 §6.1 node:crypto can check: SSH identifier, JWK curve, field size and hash (§6.2.1). */
const ECDSA_CURVES: { readonly [id: string]: { crv: string; size: number; hash: string } } = {
  nistp256: { crv: 'P-256', size: 32, hash: 'sha256' },
  nistp384: { crv: 'P-384', size: 48, hash: 'sha384' },
  nistp521: { crv: 'P-521', size: 66, hash: 'sha512' },
};

/** SHA256 fingerprint as OpenSSH prints it (`ssh-keygen -l`): "SHA256:" and unpadded base64 of the blob's hash. */
export function fingerprint(blob: Uint8Array): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/**
 * A device public key as an SSH public key blob: the base64 field of host/pubkey-format.ts publicKeyToSsh (RFC 8709
 * §4 for ssh-ed25519, RFC 5656 §3.1 for ecdsa-sha2-nistp256). Throws for an algorithm OpenSSH has no format for.
 */
export function devicePublicKeyBlob(alg: number, publicKey: Uint8Array): Uint8Array {
  const line = publicKeyToSsh(alg, publicKey);
  return Uint8Array.from(Buffer.from(line.split(' ')[1], 'base64'));
}

/** The SSH key type name of a device algorithm, or undefined (only Ed25519 and P-256 have one here). */
/** The comment of a device key's OpenSSH line, the same in `ssh-add -L` and `tinyhsm pubkey --format ssh`: its label, else "tinyhsm key N". */
export function sshComment(keyId: number, label: string | undefined): string {
  return label || `tinyhsm key ${keyId}`;
}

export function sshKeyType(alg: number): string | undefined {
  if (alg === Alg.ED25519) return 'ssh-ed25519';
  if (alg === Alg.ECDSA_P256) return 'ecdsa-sha2-nistp256';
  return undefined;
}

/** A key blob taken apart: its type, the bytes of its fields after the type (what a certificate copies), and a verifier. */
export interface SshPublicKey {
  type: string;
  blob: Uint8Array;
  /** The blob after its type string: the fields PROTOCOL.certkeys puts after the nonce. */
  fields: Uint8Array;
  /** For types node:crypto checks (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa). */
  key?: KeyObject;
}

/** The plain key types whose fields this module reads; a certificate of one is `${type}-cert-v01@openssh.com`. */
export const PLAIN_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
const CERT_SUFFIX = '-cert-v01@openssh.com';

/** Reads the fields of plain key type `type` from `r` (RFC 8709 §4, RFC 5656 §3.1, RFC 4253 §6.6) and makes a KeyObject. */
function readKeyFields(type: string, r: SshReader): KeyObject {
  if (type === 'ssh-ed25519') {
    const pk = r.string('ed25519 public key');
    if (pk.length !== 32) throw new SshFormatError(`ed25519 public key must be 32 bytes, got ${pk.length}`);
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(pk) }, format: 'jwk' });
  }
  if (type.startsWith('ecdsa-sha2-')) {
    const id = r.text('curve identifier');
    const curve = ECDSA_CURVES[id];
    if (!curve || type !== 'ecdsa-sha2-' + id) throw new SshFormatError(`key type ${type} with curve "${id}"`);
    const q = r.string('ECDSA point');
    // RFC 5656 §3.1: Q as SEC1 §2.3.3; OpenSSH sends it uncompressed
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new SshFormatError(`ECDSA point for ${id} must be uncompressed (${1 + 2 * curve.size} bytes)`);
    const x = q.subarray(1, 1 + curve.size);
    const y = q.subarray(1 + curve.size);
    try {
      return createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64url(x), y: b64url(y) }, format: 'jwk' });
    } catch {
      throw new SshFormatError(`ECDSA point is not on ${id}`);
    }
  }
  if (type === 'ssh-rsa') {
    const e = r.mpint('RSA exponent');
    const n = r.mpint('RSA modulus');
    if (e <= 0n || n <= 0n) throw new SshFormatError('RSA key with a non-positive number');
    try {
      return createPublicKey({ key: { kty: 'RSA', n: b64url(bigintBytes(n)), e: b64url(bigintBytes(e)) }, format: 'jwk' });
    } catch {
      throw new SshFormatError('RSA key node:crypto refuses');
    }
  }
  throw new SshFormatError(`unsupported key type ${type}`);
}

/**
 * A public key blob of a plain type above, or a certificate of one (whose key is the certified key, PROTOCOL.certkeys):
 * its type, the fields after the type, and a KeyObject. Throws SshFormatError for anything else or any extra byte.
 */
export function parsePublicKeyBlob(blob: Uint8Array): SshPublicKey {
  const r = new SshReader(blob);
  const type = r.text('key type');
  const plain = type.endsWith(CERT_SUFFIX) ? type.slice(0, -CERT_SUFFIX.length) : type;
  if (!(PLAIN_KEY_TYPES as readonly string[]).includes(plain)) throw new SshFormatError(`unsupported key type ${type}`);
  const fieldsStart = blob.length - r.remaining;
  if (plain !== type) r.string('certificate nonce');
  const key = readKeyFields(plain, r);
  // a certificate's remaining fields (serial … signature) are not needed to check a signature made by its key
  if (plain === type) r.end('public key blob');
  return { type, blob, fields: blob.subarray(fieldsStart), key };
}

/** An OpenSSH public key line `type base64 [comment]` (the form of a .pub file), checked against its blob's type. */
export function parsePublicKeyLine(line: string): SshPublicKey & { comment: string } {
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(line);
  if (!m) throw new SshFormatError('not an OpenSSH public key line ("type base64 [comment]")');
  const blob = Uint8Array.from(Buffer.from(m[2], 'base64'));
  let key: SshPublicKey;
  try {
    key = parsePublicKeyBlob(blob);
  } catch (e) {
    throw new SshFormatError(`not an OpenSSH public key line of a supported type: ${(e as Error).message}`);
  }
  if (key.type !== m[1]) throw new SshFormatError(`the line says ${m[1]} but its key is ${key.type}`);
  return { ...key, comment: m[3] || '' };
}

// ---------------------------------------------------------------- signatures

/**
 * The SSH signature blob of a device signature: string type ‖ string signature, where Ed25519's signature is its 64
 * bytes (RFC 8709 §6) and ECDSA's is string(mpint r ‖ mpint s) of the raw r‖s (RFC 5656 §3.1.2).
 */
export function sshSignatureBlob(alg: number, raw: Uint8Array): Uint8Array {
  if (alg === Alg.ED25519) {
    if (raw.length !== 64) throw new SshFormatError('an Ed25519 signature is 64 bytes');
    return new SshWriter().string('ssh-ed25519').string(raw).bytes();
  }
  if (alg === Alg.ECDSA_P256) {
    if (raw.length !== 64) throw new SshFormatError('a raw P-256 signature r‖s is 64 bytes');
    const rs = new SshWriter().mpintUnsigned(raw.subarray(0, 32)).mpintUnsigned(raw.subarray(32)).bytes();
    return new SshWriter().string('ecdsa-sha2-nistp256').string(rs).bytes();
  }
  throw new SshFormatError(`no SSH signature format for algorithm ${alg}`);
}

/** Whether a key blob names a type verifySshSignature checks (a plain type of PLAIN_KEY_TYPES or a certificate of one). */
export function checkableKeyType(keyBlob: Uint8Array): boolean {
  try {
    const type = new SshReader(keyBlob).text('key type');
    const plain = type.endsWith(CERT_SUFFIX) ? type.slice(0, -CERT_SUFFIX.length) : type;
    return (PLAIN_KEY_TYPES as readonly string[]).includes(plain);
  } catch {
    return false;
  }
}

/**
 * Checks an SSH signature blob over `data` with key `key` (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa with
 * rsa-sha2-256, rsa-sha2-512 or ssh-rsa; RFC 8709 §6, RFC 5656 §3.1.2, RFC 8332 §3). 'unsupported' for a key type
 * node:crypto cannot check here; 'bad' for a signature that does not verify or does not parse.
 */
export function verifySshSignature(keyBlob: Uint8Array, signature: Uint8Array, data: Uint8Array): 'verified' | 'bad' | 'unsupported' {
  if (!checkableKeyType(keyBlob)) return 'unsupported';
  let key: SshPublicKey;
  try {
    key = parsePublicKeyBlob(keyBlob);
  } catch {
    return 'bad'; // a type we check, malformed: not something to let through as "unchecked"
  }
  const plain = key.type.endsWith(CERT_SUFFIX) ? key.type.slice(0, -CERT_SUFFIX.length) : key.type;
  try {
    const r = new SshReader(signature);
    const sigType = r.text('signature type');
    const sig = r.string('signature');
    r.end('signature blob');
    if (plain === 'ssh-ed25519') {
      if (sigType !== 'ssh-ed25519' || sig.length !== 64) return 'bad';
      return nodeVerify(null, data, key.key!, sig) ? 'verified' : 'bad';
    }
    if (plain.startsWith('ecdsa-sha2-')) {
      if (sigType !== plain) return 'bad';
      const curve = ECDSA_CURVES[plain.slice('ecdsa-sha2-'.length)];
      const rs = new SshReader(sig);
      const rr = rs.mpint('r');
      const ss = rs.mpint('s');
      rs.end('ECDSA signature');
      const p1363 = concatBytes(fixedBytes(rr, curve.size, 'r'), fixedBytes(ss, curve.size, 's'));
      return nodeVerify(curve.hash, data, { key: key.key!, dsaEncoding: 'ieee-p1363' }, p1363) ? 'verified' : 'bad';
    }
    // ssh-rsa: RFC 8332 §3 names the hash in the signature type
    const hash = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' }[sigType];
    if (!hash) return 'bad';
    return nodeVerify(hash, data, key.key!, sig) ? 'verified' : 'bad';
  } catch {
    return 'bad';
  }
}

/**
 * Sign `data` as SSH means it with a device key and return the SSH signature blob: Ed25519 over the data itself
 * (RFC 8709 §6), ecdsa-sha2-nistp256 over SHA-256 of it (RFC 5656 §6.2.1), which the host computes and sends as
 * `{ digest }`. The signature is checked with node:crypto before it is returned: a device that answers a bad
 * signature (a fault) must not hand it out.
 */
export async function signSsh(client: HsmClient, keyId: number, alg: number, publicKey: Uint8Array, data: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
  let raw: Uint8Array;
  if (alg === Alg.ED25519) raw = await client.sign(keyId, { message: data }, opts);
  else if (alg === Alg.ECDSA_P256) raw = await client.sign(keyId, { digest: createHash('sha256').update(data).digest() }, opts);
  else throw new SshFormatError(`key ${keyId}: SSH signs only with Ed25519 and P-256 keys`);
  const blob = sshSignatureBlob(alg, raw);
  if (verifySshSignature(devicePublicKeyBlob(alg, publicKey), blob, data) !== 'verified') {
    throw new SshFormatError(`key ${keyId}: the device's signature does not verify against its public key`);
  }
  return blob;
}

// ---------------------------------------------------------------- the agent protocol (draft-miller-ssh-agent §5.1, PROTOCOL.agent)

export const AgentMessage = {
  FAILURE: 5,
  SUCCESS: 6,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
  ADD_IDENTITY: 17,
  REMOVE_IDENTITY: 18,
  REMOVE_ALL_IDENTITIES: 19,
  ADD_SMARTCARD_KEY: 20,
  REMOVE_SMARTCARD_KEY: 21,
  LOCK: 22,
  UNLOCK: 23,
  ADD_ID_CONSTRAINED: 25,
  ADD_SMARTCARD_KEY_CONSTRAINED: 26,
  EXTENSION: 27,
  EXTENSION_FAILURE: 28,
  EXTENSION_RESPONSE: 29,
} as const;

/** SIGN_REQUEST flags (draft-miller-ssh-agent §5.3): only RSA keys use them; other key types ignore them. */
export const SignFlag = { RSA_SHA2_256: 2, RSA_SHA2_512: 4 } as const;

/** A message as it travels on the agent socket: uint32 length ‖ type ‖ contents (draft-miller-ssh-agent §3). */
export function agentFrame(body: Uint8Array): Uint8Array {
  return new SshWriter().string(body).bytes();
}

/** A session-bind@openssh.com request's contents after the extension name (PROTOCOL.agent §1). */
export interface SessionBind {
  hostKey: Uint8Array;
  sessionId: Uint8Array;
  signature: Uint8Array;
  forwarding: boolean;
}

/** Parses the contents of session-bind@openssh.com (they follow the name directly, not inside a string). */
export function parseSessionBind(contents: Uint8Array): SessionBind {
  const r = new SshReader(contents);
  const hostKey = r.string('host key');
  const sessionId = r.string('session identifier');
  const signature = r.string('signature');
  const forwarding = r.bool('is_forwarding');
  r.end('session-bind');
  return { hostKey, sessionId, signature, forwarding };
}

// ---------------------------------------------------------------- certificates (PROTOCOL.certkeys)

export const CertType = { USER: 1, HOST: 2 } as const;

/** The extensions ssh-keygen gives a user certificate by default, in the lexical order the format requires. */
export const DEFAULT_USER_EXTENSIONS = ['permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty', 'permit-user-rc'] as const;

/** "Forever" for valid before, and "always" (0) for valid after (PROTOCOL.certkeys). */
export const FOREVER = 0xffffffffffffffffn;

export interface CertificateFields {
  /** 32 random bytes unless given (tests). */
  nonce?: Uint8Array;
  serial: bigint;
  type: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  /** [name, data] pairs; data is the string's contents, already encoded (empty for flags). */
  criticalOptions?: [string, Uint8Array][];
  extensions?: [string, Uint8Array][];
}

/** A name/data list as PROTOCOL.certkeys stores critical options and extensions: sorted by name, names unique. */
function optionList(list: [string, Uint8Array][], what: string): Uint8Array {
  const sorted = [...list].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  for (let i = 1; i < sorted.length; i++) if (sorted[i][0] === sorted[i - 1][0]) throw new SshFormatError(`${what} "${sorted[i][0]}" given twice`);
  const w = new SshWriter();
  for (const [name, data] of sorted) w.string(name).string(data);
  return w.bytes();
}

/**
 * The bytes a CA signs for a certificate of `subject` (a public key blob of a plain type): every field of
 * PROTOCOL.certkeys from the type to the signature key, in order. The certificate is these bytes ‖ string signature.
 */
export function certificateToBeSigned(subject: Uint8Array, caKey: Uint8Array, f: CertificateFields): Uint8Array {
  const key = parsePublicKeyBlob(subject);
  if (key.type.endsWith(CERT_SUFFIX)) throw new SshFormatError('the key to certify is already a certificate; give its plain public key');
  const nonce = f.nonce || randomBytes(32);
  if (f.type !== CertType.USER && f.type !== CertType.HOST) throw new SshFormatError('certificate type must be 1 (user) or 2 (host)');
  if (f.validAfter < 0n || f.validBefore > FOREVER || f.validAfter >= f.validBefore) throw new SshFormatError('the validity interval is empty');
  const principals = new SshWriter();
  for (const p of f.principals) {
    if (p === '') throw new SshFormatError('an empty principal');
    principals.string(p);
  }
  return new SshWriter()
    .string(key.type + CERT_SUFFIX)
    .string(nonce)
    .raw(key.fields)
    .uint64(f.serial)
    .uint32(f.type)
    .string(f.keyId)
    .string(principals.bytes())
    .uint64(f.validAfter)
    .uint64(f.validBefore)
    .string(optionList(f.criticalOptions || [], 'critical option'))
    .string(optionList(f.extensions || [], 'extension'))
    .string('') // reserved
    .string(caKey)
    .bytes();
}

/** A certificate read back (tests, and a check of what was issued). */
export interface ParsedCertificate extends Required<Omit<CertificateFields, 'criticalOptions' | 'extensions'>> {
  certType: string;
  key: SshPublicKey;
  criticalOptions: [string, Uint8Array][];
  extensions: [string, Uint8Array][];
  caKey: Uint8Array;
  signature: Uint8Array;
  /** The bytes the signature covers. */
  signed: Uint8Array;
}

function readOptions(b: Uint8Array, what: string): [string, Uint8Array][] {
  const r = new SshReader(b);
  const out: [string, Uint8Array][] = [];
  while (r.remaining > 0) out.push([r.text(what + ' name'), r.string(what + ' data')]);
  return out;
}

export function parseCertificate(blob: Uint8Array): ParsedCertificate {
  const r = new SshReader(blob);
  const certType = r.text('certificate type');
  if (!certType.endsWith(CERT_SUFFIX)) throw new SshFormatError(`${certType} is not a certificate type`);
  const plain = certType.slice(0, -CERT_SUFFIX.length);
  const nonce = r.string('nonce');
  const fieldsStart = blob.length - r.remaining;
  const keyObject = readKeyFields(plain, r);
  const fields = blob.subarray(fieldsStart, blob.length - r.remaining);
  const serial = r.uint64('serial');
  const type = r.uint32('type');
  const keyId = r.text('key id');
  const pr = new SshReader(r.string('valid principals'));
  const principals: string[] = [];
  while (pr.remaining > 0) principals.push(pr.text('principal'));
  const validAfter = r.uint64('valid after');
  const validBefore = r.uint64('valid before');
  const criticalOptions = readOptions(r.string('critical options'), 'critical option');
  const extensions = readOptions(r.string('extensions'), 'extension');
  r.string('reserved');
  const caKey = r.string('signature key');
  const signed = blob.subarray(0, blob.length - r.remaining);
  const signature = r.string('signature');
  r.end('certificate');
  const key: SshPublicKey = { type: plain, blob: new SshWriter().string(plain).raw(fields).bytes(), fields, key: keyObject };
  return { certType, nonce, key, serial, type, keyId, principals, validAfter, validBefore, criticalOptions, extensions, caKey, signature, signed };
}

/**
 * Issue a certificate: the device key `keyId` (Ed25519 or P-256, public key `caPublicKey`) signs the fields for
 * `subject` (a plain public key blob). Returns the certificate blob.
 */
export async function issueCertificate(
  client: HsmClient,
  keyId: number,
  caAlg: number,
  caPublicKey: Uint8Array,
  subject: Uint8Array,
  fields: CertificateFields,
  opts?: CallOptions,
): Promise<Uint8Array> {
  const caKey = devicePublicKeyBlob(caAlg, caPublicKey);
  const tbs = certificateToBeSigned(subject, caKey, fields);
  const signature = await signSsh(client, keyId, caAlg, caPublicKey, tbs, opts);
  return concatBytes(tbs, new SshWriter().string(signature).bytes());
}

// ---------------------------------------------------------------- validity intervals as ssh-keygen -V takes them

/** sshd_config(5) TIME FORMATS: a sequence of `N[smhdw]` (a bare N is seconds), e.g. `1h30m`; returns seconds. */
function intervalSeconds(s: string): bigint | undefined {
  if (!/^(\d+[smhdwSMHDW]?)+$/.test(s)) return undefined;
  const unit: { [u: string]: bigint } = { '': 1n, s: 1n, m: 60n, h: 3600n, d: 86400n, w: 604800n };
  let total = 0n;
  for (const m of s.matchAll(/(\d+)([smhdwSMHDW]?)/g)) total += BigInt(m[1]) * unit[m[2].toLowerCase()];
  return total;
}

/** YYYYMMDD[HHMM[SS]][Z]: the system time zone unless it ends in Z (UTC), as ssh-keygen(1) -V reads it. */
function absoluteTime(s: string): bigint | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4] || '0', m[5] || '0', m[6] || '0'].map(Number);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) return undefined;
  const utc = m[7] === 'Z';
  const ms = utc ? Date.UTC(y, mo - 1, d, h, mi, sec) : new Date(y, mo - 1, d, h, mi, sec).getTime();
  // a day the month does not have (20230230) rolls over in Date: refuse it instead
  const t = new Date(ms);
  if ((utc ? t.getUTCDate() : t.getDate()) !== d || ms < 0) return undefined;
  return BigInt(Math.floor(ms / 1000));
}

function timeSpec(s: string, now: bigint, end: boolean): bigint | undefined {
  if (!end && s === 'always') return 0n;
  if (end && s === 'forever') return FOREVER;
  if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return BigInt(s);
  if (s.startsWith(end ? '+' : '-')) {
    const n = intervalSeconds(s.slice(1));
    if (n === undefined) return undefined;
    return end ? now + n : now > n ? now - n : 0n;
  }
  return absoluteTime(s);
}

/**
 * A validity interval as ssh-keygen(1) -V takes it: `START:END` or one END (valid from now), where START is `always`,
 * `-INTERVAL`, `YYYYMMDD[HHMM[SS]][Z]` or `0xSECONDS`, and END is `forever`, `+INTERVAL`, a date or `0x…`; `always`
 * alone means no limits at all. Seconds since the epoch; throws SshFormatError with what is wrong.
 */
export function parseValidity(spec: string, nowMs = Date.now()): { validAfter: bigint; validBefore: bigint } {
  const now = BigInt(Math.floor(nowMs / 1000));
  if (spec === 'always' || spec === 'always:forever') return { validAfter: 0n, validBefore: FOREVER };
  const parts = spec.split(':');
  if (parts.length > 2) throw new SshFormatError(`validity "${spec}": at most one ":" (START:END)`);
  const [from, to] = parts.length === 2 ? parts : ['', parts[0]];
  const validAfter = from === '' ? now : timeSpec(from, now, false);
  if (validAfter === undefined) throw new SshFormatError(`validity start "${from}": use always, -INTERVAL (e.g. -5m), YYYYMMDD[HHMM[SS]][Z] or 0xSECONDS`);
  const validBefore = timeSpec(to, now, true);
  if (validBefore === undefined) throw new SshFormatError(`validity end "${to}": use forever, +INTERVAL (e.g. +1h, +52w), YYYYMMDD[HHMM[SS]][Z] or 0xSECONDS`);
  if (validBefore <= validAfter) throw new SshFormatError(`validity "${spec}" ends before it starts`);
  return { validAfter, validBefore };
}

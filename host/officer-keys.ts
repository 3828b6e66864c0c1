// Officer key files (docs/quorum.md §6): an Ed25519 key kept encrypted under a passphrase (scrypt, AES-256-GCM), and its public half to hand to the SO.
import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, randomBytes, scryptSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { MAX_OFFICER_LABEL, fromHex, toHex, utf8Encode } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { officerFingerprint, officerPublicKey } from './approvals.ts';

export const KEY_FORMAT = 'tinyhsm-officer-key-v1';
export const PUBLIC_FORMAT = 'tinyhsm-officer-public-v1';
/** scrypt cost (RFC 7914): N = 2^15, r = 8, p = 1 takes 32 MiB and about 0.1 s here; a guess costs the same. */
const SCRYPT = { N: 32768, r: 8, p: 1 };
/** PKCS#8 DER of an Ed25519 private key is this prefix and the 32-byte seed (RFC 8410 §7). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An officer as the SO enrols it: public key and label. */
export interface OfficerPublic {
  publicKey: Uint8Array;
  label: string;
}

interface KeyFile {
  format: typeof KEY_FORMAT;
  label: string;
  publicKey: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  nonce: string;
  ciphertext: string;
  tag: string;
}

function checkLabel(label: string): void {
  if (utf8Encode(label).length > MAX_OFFICER_LABEL || label.length === 0)
    throw new HsmError('BAD_ARGUMENT', `an officer label is 1 to ${MAX_OFFICER_LABEL} bytes of UTF-8; "${label}" is not`);
}

/** The AEAD's associated data: the format and the public key, so neither can be swapped under the ciphertext. */
function aad(publicKey: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(KEY_FORMAT), Buffer.from(publicKey)]);
}

function kek(passphrase: string, salt: Buffer, kdf: { N: number; r: number; p: number }): Buffer {
  if (passphrase.length === 0) throw new HsmError('BAD_ARGUMENT', 'the officer key passphrase is empty');
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { ...kdf, maxmem: 256 * kdf.N * kdf.r });
}

/** The 32-byte seed of an Ed25519 private key (the end of its PKCS#8 DER, which is wiped). Secret: the caller wipes it. */
export function ed25519Seed(key: KeyObject): Uint8Array {
  if (key.asymmetricKeyType !== 'ed25519' || key.type !== 'private') throw new Error('not an Ed25519 private key');
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const seed = new Uint8Array(der.subarray(der.length - 32));
  der.fill(0);
  return seed;
}

/** Make a new officer key; returns the encrypted file's JSON and the public half. The seed is wiped. */
export function newOfficerKey(label: string, passphrase: string): { file: string; publicFile: string; officer: OfficerPublic } {
  checkLabel(label);
  const { privateKey } = generateKeyPairSync('ed25519');
  const seed = ed25519Seed(privateKey);
  const publicKey = officerPublicKey(privateKey);
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const key = kek(passphrase, salt, SCRYPT);
  try {
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad(publicKey));
    const ciphertext = Buffer.concat([c.update(seed), c.final()]);
    const f: KeyFile = {
      format: KEY_FORMAT,
      label,
      publicKey: toHex(publicKey),
      kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('hex') },
      cipher: 'aes-256-gcm',
      nonce: nonce.toString('hex'),
      ciphertext: ciphertext.toString('hex'),
      tag: c.getAuthTag().toString('hex'),
    };
    return { file: JSON.stringify(f, null, 1) + '\n', publicFile: publicJson({ publicKey, label }), officer: { publicKey, label } };
  } finally {
    key.fill(0);
    seed.fill(0);
  }
}

/** The public half as a file: what an officer gives the SO for OFFICERS_SET. */
export function publicJson(o: OfficerPublic): string {
  return (
    JSON.stringify({ format: PUBLIC_FORMAT, label: o.label, publicKey: toHex(o.publicKey), fingerprint: toHex(officerFingerprint(o.publicKey)) }, null, 1) +
    '\n'
  );
}

function readJson(path: string): { [k: string]: unknown } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new HsmError('BAD_ARGUMENT', `cannot read the officer file ${path}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text);
    if (v && typeof v === 'object') return v;
  } catch {
    // reported below
  }
  throw new HsmError('BAD_ARGUMENT', `${path} is not an officer file (JSON made by \`tinyhsm officer keygen\`)`);
}

function publicOf(v: { [k: string]: unknown }, path: string): OfficerPublic {
  const pk = typeof v.publicKey === 'string' ? fromHex(v.publicKey) : undefined;
  if (!pk || pk.length !== 32 || typeof v.label !== 'string') throw new HsmError('BAD_ARGUMENT', `${path}: publicKey (32 bytes in hex) and label are required`);
  checkLabel(v.label);
  return { publicKey: pk, label: v.label };
}

/** An officer's public key and label from either file `tinyhsm officer keygen` writes (no passphrase needed). */
export function readOfficerPublic(path: string): OfficerPublic {
  const v = readJson(path);
  if (v.format !== KEY_FORMAT && v.format !== PUBLIC_FORMAT) throw new HsmError('BAD_ARGUMENT', `${path} is not an officer file (format ${String(v.format)})`);
  return publicOf(v, path);
}

/** Decrypt an officer key file: the private key and its public half. A wrong passphrase or an edited file is refused. */
export function openOfficerKey(path: string, passphrase: string): { privateKey: KeyObject; officer: OfficerPublic } {
  const v = readJson(path) as unknown as KeyFile;
  if (v.format !== KEY_FORMAT) throw new HsmError('BAD_ARGUMENT', `${path} is not an officer key file (format ${String(v.format)}); a .pub file cannot sign`);
  const officer = publicOf(v as unknown as { [k: string]: unknown }, path);
  const { kdf } = v;
  if (!kdf || kdf.name !== 'scrypt' || !(kdf.N >= 16384 && kdf.N <= 1048576 && kdf.r >= 1 && kdf.r <= 32 && kdf.p >= 1 && kdf.p <= 16))
    throw new HsmError('BAD_ARGUMENT', `${path}: unsupported key derivation (scrypt with N 2^14..2^20 expected)`);
  const salt = fromHex(kdf.salt);
  const nonce = fromHex(v.nonce);
  const ct = fromHex(v.ciphertext);
  const tag = fromHex(v.tag);
  if (!salt || !nonce || nonce.length !== 12 || !ct || ct.length !== 32 || !tag || tag.length !== 16)
    throw new HsmError('BAD_ARGUMENT', `${path}: damaged key file`);
  const key = kek(passphrase, Buffer.from(salt), kdf);
  let seed: Buffer | undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad(officer.publicKey));
    d.setAuthTag(tag);
    try {
      seed = Buffer.concat([d.update(ct), d.final()]);
    } catch {
      throw new HsmError('BAD_ARGUMENT', `${path}: wrong passphrase, or the file was changed`);
    }
    const der = Buffer.concat([PKCS8_ED25519, seed]);
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    if (Buffer.compare(Buffer.from(officerPublicKey(privateKey)), Buffer.from(officer.publicKey)) !== 0)
      throw new HsmError('BAD_ARGUMENT', `${path}: the private key does not match the public key in the file`);
    return { privateKey, officer };
  } finally {
    key.fill(0);
    if (seed) seed.fill(0);
  }
}

/** Write a file readable by its owner only (an officer key file; the .pub may be shared). */
export function writePrivateFile(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
}

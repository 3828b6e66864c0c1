// X.509 on device keys: a self-signed CA, leaf certificates from a CSR or a public key, and PKCS#10 CSRs, built by @peculiar/x509 and signed on the device through HsmCrypto (docs/x509.md).
//
// @peculiar/x509 is loaded on first use (a dynamic import), so programs that never make a certificate do not pay for
// it. Every certificate and CSR made here is checked with node:crypto (OpenSSL) before it is returned.
import { X509Certificate as NodeX509Certificate, createHash, createPublicKey, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';
import type { HsmClient } from './client.ts';
import { HsmError } from './errors.ts';
import { HsmCrypto, WEBCRYPTO_ALGORITHM } from './webcrypto.ts';
import { ALG_NAMES } from '../firmware/protocol/index.ts';

type Lib = typeof import('@peculiar/x509');
let lib: Promise<Lib> | undefined;
const x509 = (): Promise<Lib> => (lib ??= import('@peculiar/x509'));

/** A CA certificate's default lifetime in days (ten years), and a leaf's (one year). */
export const CA_DAYS = 3650;
export const LEAF_DAYS = 365;
/**
 * notBefore is set this far in the past, so that a relying party whose clock runs a little behind accepts a
 * certificate at once (RFC 5280 §4.1.2.5 leaves the choice to the CA).
 */
export const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const SIGNING_ALGS = Object.keys(WEBCRYPTO_ALGORITHM)
  .map((a) => ALG_NAMES[Number(a)])
  .join(', ');

function badArgument(detail: string, hint: string): HsmError {
  return new HsmError('BAD_ARGUMENT', detail, { hint });
}

/**
 * A certificate serial number: 16 random bytes with the top bit cleared, so the INTEGER is positive and fits RFC 5280
 * §4.1.2.2's 20 octets without a leading zero, and a non-zero first byte, so its DER encoding is exactly 16 bytes.
 * 127 random bits leave collisions out of reach and give more than the 64 bits of entropy CAs are asked for.
 */
export function randomSerial(): Uint8Array {
  const serial = new Uint8Array(randomBytes(16));
  while ((serial[0] & 0x7f) === 0) serial[0] = randomBytes(1)[0];
  serial[0] &= 0x7f;
  return serial;
}

/** A Distinguished Name from RFC 4514 text ("CN=Example CA, O=Example"); refuses text that names nothing. */
async function nameOf(subject: string | undefined, what: string): Promise<X509.Name> {
  const { Name } = await x509();
  const hint = 'give it as RFC 4514 text, e.g. --subject "CN=Example CA, O=Example"';
  if (subject === undefined || subject.trim() === '') throw badArgument(`${what}: no subject given`, hint);
  let name: X509.Name;
  try {
    name = new Name(subject);
  } catch (e) {
    throw badArgument(`${what}: subject "${subject}" is not a distinguished name (${(e as Error).message})`, hint);
  }
  const rdns = name.toJSON();
  if (rdns.length === 0 || rdns.some((rdn) => Object.values(rdn).some((values) => values.length === 0 || values.some((v) => v === ''))))
    throw badArgument(`${what}: subject "${subject}" is not a distinguished name with a value for every attribute`, hint);
  return name;
}

/** SAN entries (RFC 5280 §4.2.1.6) from DNS names (RFC 1123 host names, a leading "*." allowed) and IP addresses. */
function altNames(dns: readonly string[] = [], ip: readonly string[] = []): X509.JsonGeneralNames {
  const out: X509.JsonGeneralNames = [];
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  for (const d of dns) {
    const labels = (d.startsWith('*.') ? d.slice(2) : d).split('.');
    if (d.length > 253 || !labels.every((l) => label.test(l)))
      throw badArgument(`"${d}" is not a DNS name`, 'give a host name such as www.example.com (a leading *. for a wildcard); an address goes in --ip');
    out.push({ type: 'dns', value: d.toLowerCase() });
  }
  for (const a of ip) {
    if (isIP(a) === 0) throw badArgument(`"${a}" is not an IP address`, 'give an IPv4 address such as 192.0.2.1 or an IPv6 address such as 2001:db8::1');
    out.push({ type: 'ip', value: a });
  }
  return out;
}

function checkDays(days: number | undefined, fallback: number): number {
  const d = days ?? fallback;
  if (!Number.isInteger(d) || d < 1 || d > 36500) throw badArgument(`validity of ${days} days`, 'give a whole number of days from 1 to 36500');
  return d;
}

/** The CryptoKeys of a device key that signs, with the signature algorithm WebCrypto names for it. */
async function deviceSigner(client: HsmClient, keyId: number) {
  const crypto = new HsmCrypto(client);
  let keys;
  try {
    keys = await crypto.keyPair(keyId);
  } catch (e) {
    if ((e as Error).name !== 'NotSupportedError') throw e;
    // keyPair's words up to the colon ("key 4 is x25519, which does not sign"); the hint says what fits here
    throw badArgument((e as Error).message.split(':')[0], `a certificate or CSR key is ${SIGNING_ALGS}, e.g. \`tinyhsm keygen --alg ecdsa-p256\``);
  }
  const algorithm = keys.privateKey.algorithm as { name: string; namedCurve?: string };
  // ECDSA certificates say ecdsa-with-SHA256 (RFC 5758 §3.2, for secp256k1 too); Ed25519 names no hash (RFC 8410 §3)
  const signingAlgorithm = algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: algorithm.name };
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey));
  return { crypto, keys, signingAlgorithm, spki, algorithm };
}

/** Parse PEM or DER; a failure says what the input was expected to be. */
async function parse<T>(input: string | Uint8Array, make: (data: string | ArrayBuffer) => T, what: string, hint: string): Promise<T> {
  try {
    if (typeof input === 'string') {
      if (!input.includes('-----BEGIN')) throw new Error('no PEM block found');
      return make(input);
    }
    return make(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength) as ArrayBuffer);
  } catch (e) {
    throw badArgument(`unreadable ${what}: ${(e as Error).message}`, hint);
  }
}

/** The first element inside a DER SEQUENCE, with its tag and length: the signed part of a CSR (RFC 2986 §4.2). */
function firstElementOf(der: Uint8Array): Uint8Array {
  const header = (at: number): { start: number; end: number } => {
    let i = at + 1;
    let len = der[i++];
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4) throw new Error('bad DER length');
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + der[i++];
    }
    if (i + len > der.length) throw new Error('truncated DER');
    return { start: i, end: i + len };
  };
  if (der[0] !== 0x30) throw new Error('not a DER SEQUENCE');
  const outer = header(0);
  const inner = header(outer.start);
  return der.subarray(outer.start, inner.end);
}

/** node:crypto's view of a signature algorithm from @peculiar/x509's WebCrypto form: the digest, or null for EdDSA. */
function nodeSignatureAlgorithm(alg: { name: string; hash?: { name: string } }): { digest: string | null; ecdsa: boolean } {
  const digest = alg.hash ? alg.hash.name.replace('-', '').toLowerCase() : undefined;
  if (alg.name === 'ECDSA' && digest) return { digest, ecdsa: true };
  if (alg.name === 'RSASSA-PKCS1-v1_5' && digest) return { digest, ecdsa: false };
  if (alg.name === 'Ed25519' || alg.name === 'EdDSA') return { digest: null, ecdsa: false };
  throw new Error(
    `signature algorithm ${alg.name}${alg.hash ? ' with ' + alg.hash.name : ''} is not one this CA checks (ECDSA, RSASSA-PKCS1-v1_5, Ed25519, Ed448)`,
  );
}

/**
 * Check a CSR's self-signature with node:crypto (RFC 2986 §3: the requester proves it holds the private key). Any key
 * OpenSSL reads may be in a CSR (RSA, any EC curve, Ed25519, Ed448), not only the algorithms a tinyhsm has.
 */
export function csrSignatureValid(req: X509.Pkcs10CertificateRequest): boolean {
  try {
    const { digest, ecdsa } = nodeSignatureAlgorithm(req.signatureAlgorithm as { name: string; hash?: { name: string } });
    const key = createPublicKey({ key: Buffer.from(req.publicKey.rawData), format: 'der', type: 'spki' });
    const tbs = firstElementOf(new Uint8Array(req.rawData));
    return nodeVerify(digest, tbs, ecdsa ? { key, dsaEncoding: 'der' } : key, new Uint8Array(req.signature));
  } catch {
    return false;
  }
}

/** The X.509 KeyUsage a leaf for this key gets: what the key type can do (RFC 5480 §3, RFC 8410 §5, RFC 4055 §1.2). */
async function leafKeyUsage(key: KeyObject): Promise<number> {
  const { KeyUsageFlags: U } = await x509();
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return U.digitalSignature | U.keyEncipherment; // TLS RSA key transport as well as signatures
    case 'ec':
      return U.digitalSignature | U.keyAgreement; // ECDSA, and static ECDH, which id-ecPublicKey allows
    case 'x25519':
    case 'x448':
      return U.keyAgreement; // RFC 8410 §5: an X25519 key agrees keys and signs nothing
    default:
      return U.digitalSignature; // Ed25519, Ed448 (RFC 8410 §5: never keyAgreement), RSA-PSS, DSA
  }
}

/** Check a certificate we just made with OpenSSL (node:crypto): the device's signature verifies under `issuerKey`. */
function checkSigned(cert: X509.X509Certificate, issuerKey: KeyObject): void {
  const node = new NodeX509Certificate(Buffer.from(cert.rawData));
  if (!node.verify(issuerKey))
    throw new HsmError('BAD_RESPONSE', 'the certificate the device signed does not verify under its key', {
      hint: 'do not use it; check the device and the link',
    });
}

export interface CaInitOptions {
  /** The CA's subject and issuer, RFC 4514 text: "CN=Example Root CA, O=Example". */
  subject: string;
  /** Validity in days from now (default CA_DAYS). */
  days?: number;
  /** basicConstraints pathLenConstraint: how many intermediate CAs may follow (RFC 5280 §4.2.1.9); none by default. */
  pathLength?: number;
  /** Start of validity (default: now less BACKDATE_MS). */
  notBefore?: Date;
}

/**
 * A self-signed CA certificate for device key `keyId` (ed25519, ecdsa-p256 or ecdsa-secp256k1), signed on the device:
 * basicConstraints cA=true critical (RFC 5280 §4.2.1.9), keyUsage keyCertSign|cRLSign critical (§4.2.1.3), subject key
 * identifier (§4.2.1.2 method 1: SHA-1 of the key) and the same authority key identifier (§4.2.1.1), a randomSerial().
 */
export async function caInit(client: HsmClient, keyId: number, opts: CaInitOptions): Promise<X509.X509Certificate> {
  const lib = await x509();
  const name = await nameOf(opts.subject, 'ca init');
  const days = checkDays(opts.days, CA_DAYS);
  if (opts.pathLength !== undefined && (!Number.isInteger(opts.pathLength) || opts.pathLength < 0))
    throw badArgument(`path length ${opts.pathLength}`, 'give a whole number ≥ 0, or none for no limit');
  const { crypto, keys, signingAlgorithm, spki } = await deviceSigner(client, keyId);
  const skid = await lib.SubjectKeyIdentifierExtension.create(new lib.PublicKey(spki), false, crypto);
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const cert = await lib.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(randomSerial()).toString('hex'),
      name,
      notBefore,
      notAfter: new Date(notBefore.getTime() + days * DAY_MS),
      keys,
      signingAlgorithm,
      extensions: [
        new lib.BasicConstraintsExtension(true, opts.pathLength, true),
        new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
        skid,
        new lib.AuthorityKeyIdentifierExtension(skid.keyId),
      ],
    },
    crypto as never,
  );
  checkSigned(cert, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }));
  return cert;
}

export interface CaSignOptions {
  /** The CA certificate (PEM text or DER), made for the same device key (caInit). */
  ca: string | Uint8Array;
  /** The request to certify: a PKCS#10 CSR (PEM text or DER); its signature must verify. Or give `publicKey`. */
  csr?: string | Uint8Array;
  /** The key to certify instead of a CSR: SPKI PEM text, SPKI DER or a KeyObject; then `subject` is needed. */
  publicKey?: string | Uint8Array | KeyObject;
  /** The leaf's subject (RFC 4514 text); default: the CSR's. */
  subject?: string;
  /** subjectAltName DNS names and IP addresses. A CSR's requested extensions are not copied: the CA decides. */
  dns?: readonly string[];
  ip?: readonly string[];
  /** Validity in days (default LEAF_DAYS); it may not end after the CA's. */
  days?: number;
  /** extKeyUsage id-kp-serverAuth / id-kp-clientAuth (RFC 5280 §4.2.1.12); neither: no extKeyUsage. */
  serverAuth?: boolean;
  clientAuth?: boolean;
  notBefore?: Date;
}

/** A PKCS#10 request from PEM text or DER; an unreadable one is a BAD_ARGUMENT that says what was expected. */
export async function readCsr(input: string | Uint8Array): Promise<X509.Pkcs10CertificateRequest> {
  const lib = await x509();
  return parse(
    input,
    (d) => new lib.Pkcs10CertificateRequest(d),
    'CSR',
    'give a PKCS#10 request, PEM ("BEGIN CERTIFICATE REQUEST") or DER, e.g. from `openssl req -new` or `tinyhsm ca csr`',
  );
}

/** The public key a leaf certifies, from a CSR (checked) or given directly, with the subject it gets. */
async function leafSubject(opts: CaSignOptions): Promise<{ spki: Uint8Array; subject: X509.Name }> {
  const lib = await x509();
  if ((opts.csr === undefined) === (opts.publicKey === undefined))
    throw badArgument('ca sign: give either a CSR or a public key', 'pass exactly one of --csr FILE and --pub FILE');
  if (opts.csr !== undefined) {
    const req = await readCsr(opts.csr);
    if (!csrSignatureValid(req))
      throw badArgument(
        "the CSR's signature does not verify: it was altered, or not signed by the key it names",
        'ask the requester for a new CSR; nothing was signed',
      );
    const spki = new Uint8Array(req.publicKey.rawData);
    const subject =
      opts.subject !== undefined ? await nameOf(opts.subject, 'ca sign') : await nameOf(req.subject, "ca sign (the CSR's subject; or give --subject)");
    return { spki, subject };
  }
  let key: KeyObject;
  try {
    const p = opts.publicKey!;
    key = typeof p === 'string' ? createPublicKey(p) : p instanceof Uint8Array ? createPublicKey({ key: Buffer.from(p), format: 'der', type: 'spki' }) : p;
    if (key.type !== 'public') throw new Error('that is a private key');
  } catch (e) {
    throw badArgument(
      `unreadable public key: ${(e as Error).message}`,
      'give a "PUBLIC KEY" PEM (SPKI), e.g. from `openssl pkey -pubout` or `tinyhsm pubkey --format pem`',
    );
  }
  return { spki: new Uint8Array(key.export({ format: 'der', type: 'spki' })), subject: await nameOf(opts.subject, 'ca sign --pub (give --subject)') };
}

/**
 * A leaf certificate signed on the device by CA key `keyId`, for a CSR's key or a public key: basicConstraints cA=false
 * critical, keyUsage critical from the key type (leafKeyUsage), extKeyUsage as asked, subjectAltName from `dns`/`ip`,
 * subject key identifier, authority key identifier = the CA's subject key identifier, a randomSerial().
 * Refuses a CA certificate that is not a CA or whose key is not device key `keyId`, and a CSR whose signature fails.
 */
export async function caSign(client: HsmClient, keyId: number, opts: CaSignOptions): Promise<X509.X509Certificate> {
  const lib = await x509();
  const ca = await parse(opts.ca, (d) => new lib.X509Certificate(d), 'CA certificate', 'give the PEM that `tinyhsm ca init` wrote');
  const days = checkDays(opts.days, LEAF_DAYS);
  const names = altNames(opts.dns, opts.ip);
  const { spki: leafSpki, subject } = await leafSubject(opts);
  const { crypto, keys, signingAlgorithm, spki } = await deviceSigner(client, keyId);
  if (!Buffer.from(ca.publicKey.rawData).equals(Buffer.from(spki)))
    throw badArgument(
      `the CA certificate's public key is not device key ${keyId}'s`,
      'pass the --key the CA certificate was made with (`tinyhsm list` shows the keys), or the CA certificate of this key',
    );
  const bc = ca.getExtension(lib.BasicConstraintsExtension);
  const ku = ca.getExtension(lib.KeyUsagesExtension);
  if (!bc || !bc.ca || (ku && !(ku.usages & lib.KeyUsageFlags.keyCertSign)))
    throw badArgument(`"${ca.subject}" is not a CA certificate (basicConstraints cA and keyUsage keyCertSign)`, 'make one with `tinyhsm ca init`');
  const notBefore = opts.notBefore ?? new Date(Date.now() - BACKDATE_MS);
  const notAfter = new Date(notBefore.getTime() + days * DAY_MS);
  if (notAfter > ca.notAfter) {
    const left = Math.floor((ca.notAfter.getTime() - notBefore.getTime()) / DAY_MS);
    throw badArgument(`the certificate would outlive its CA (valid until ${ca.notAfter.toISOString()})`, `give --days ${left} or fewer, or renew the CA`);
  }
  const leafKey = createPublicKey({ key: Buffer.from(leafSpki), format: 'der', type: 'spki' });
  const caSkid = ca.getExtension(lib.SubjectKeyIdentifierExtension);
  const akid = caSkid ? caSkid.keyId : (await lib.SubjectKeyIdentifierExtension.create(new lib.PublicKey(spki), false, crypto)).keyId;
  const eku: string[] = [];
  if (opts.serverAuth) eku.push(lib.ExtendedKeyUsage.serverAuth);
  if (opts.clientAuth) eku.push(lib.ExtendedKeyUsage.clientAuth);
  const extensions: X509.Extension[] = [
    new lib.BasicConstraintsExtension(false, undefined, true),
    new lib.KeyUsagesExtension(await leafKeyUsage(leafKey), true),
  ];
  if (eku.length > 0) extensions.push(new lib.ExtendedKeyUsageExtension(eku, false));
  if (names.length > 0) extensions.push(new lib.SubjectAlternativeNameExtension(names, false));
  extensions.push(await lib.SubjectKeyIdentifierExtension.create(new lib.PublicKey(leafSpki), false, crypto), new lib.AuthorityKeyIdentifierExtension(akid));
  const cert = await lib.X509CertificateGenerator.create(
    {
      serialNumber: Buffer.from(randomSerial()).toString('hex'),
      subject,
      issuer: ca.subjectName,
      notBefore,
      notAfter,
      publicKey: new lib.PublicKey(leafSpki),
      signingKey: keys.privateKey,
      signingAlgorithm,
      extensions,
    },
    crypto as never,
  );
  checkSigned(cert, createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }));
  return cert;
}

export interface CsrOptions {
  /** The requested subject, RFC 4514 text. */
  subject: string;
  /** subjectAltName to request (in the PKCS#9 extensionRequest attribute, RFC 2985 §5.4.2). */
  dns?: readonly string[];
  ip?: readonly string[];
}

/** A PKCS#10 certificate request (RFC 2986) for device key `keyId`, signed by that key on the device. */
export async function csr(client: HsmClient, keyId: number, opts: CsrOptions): Promise<X509.Pkcs10CertificateRequest> {
  const lib = await x509();
  const name = await nameOf(opts.subject, 'ca csr');
  const names = altNames(opts.dns, opts.ip);
  const { crypto, keys, signingAlgorithm } = await deviceSigner(client, keyId);
  const req = await lib.Pkcs10CertificateRequestGenerator.create(
    { name, keys, signingAlgorithm, extensions: names.length > 0 ? [new lib.SubjectAlternativeNameExtension(names, false)] : [] },
    crypto as never,
  );
  if (!csrSignatureValid(req))
    throw new HsmError('BAD_RESPONSE', "the CSR's device signature does not verify", { hint: 'do not use it; check the device and the link' });
  return req;
}

/** The SHA-256 fingerprint of a certificate's DER, as OpenSSL prints it (AA:BB:…). */
export function fingerprint256(cert: X509.X509Certificate): string {
  return createHash('sha256')
    .update(new Uint8Array(cert.rawData))
    .digest('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1:');
}

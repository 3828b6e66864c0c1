// A `crypto.subtle`-shaped provider whose private keys stay on a tinyhsm, on webcrypto-core's provider model: sign on the device; verify, digests and public keys on the host (docs/x509.md §6).
//
// webcrypto-core is loaded on first use (a dynamic import), so the driver and the CLI pay for it only when they use
// this provider. Its SubtleCrypto checks the arguments and dispatches on the algorithm's name to one provider per
// algorithm (ECDSA, Ed25519, the SHA digests); each provider checks its parameters and keys, then runs `on<Op>`.
import {
  createHash,
  createPublicKey,
  getRandomValues as nodeGetRandomValues,
  randomUUID as nodeRandomUUID,
  verify as nodeVerify,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { ALG_NAMES, Alg } from '../firmware/protocol/index.ts';
import type { HsmClient } from './client.ts';
import { publicKeyToSpkiDer } from './pubkey-format.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type KeyAlgorithm = webcrypto.KeyAlgorithm;
type KeyUsage = webcrypto.KeyUsage;
type KeyFormat = webcrypto.KeyFormat;
type JsonWebKey = webcrypto.JsonWebKey;
type BufferSource = webcrypto.BufferSource;
type AlgorithmIdentifier = webcrypto.AlgorithmIdentifier;
type Algorithm = webcrypto.Algorithm;
type CoreModule = typeof import('webcrypto-core');

/** The WebCrypto error for an operation or algorithm this provider does not offer (a DOMException named NotSupportedError, as the W3C Web Cryptography API throws). */
export function notSupported(message: string): DOMException {
  return new DOMException(message, 'NotSupportedError');
}

/**
 * The WebCrypto algorithm of each device algorithm that signs: Ed25519 (RFC 8032, WebCrypto's "Ed25519"), ECDSA on
 * P-256, and ECDSA on secp256k1, which @peculiar/webcrypto and webcrypto-core call "K-256" (no WebCrypto standard names
 * it). X25519 only derives: it has no entry.
 */
export const WEBCRYPTO_ALGORITHM: { readonly [alg: number]: KeyAlgorithm & { namedCurve?: string } } = {
  [Alg.ED25519]: { name: 'Ed25519' },
  [Alg.ECDSA_P256]: { name: 'ECDSA', namedCurve: 'P-256' },
  [Alg.ECDSA_SECP256K1]: { name: 'ECDSA', namedCurve: 'K-256' },
};

/** WebCrypto curve name → node:crypto's (asymmetricKeyDetails.namedCurve) and the JWK "crv" (RFC 7518 §6.2.1.1, RFC 8812 §3.1). */
const CURVES: { readonly [namedCurve: string]: { node: string; jwk: string } } = {
  'P-256': { node: 'prime256v1', jwk: 'P-256' },
  'K-256': { node: 'secp256k1', jwk: 'secp256k1' },
};

const SIGNERS = 'ECDSA with SHA-256 on P-256 or K-256 (secp256k1), and Ed25519';

/** What a key of this provider holds besides the CryptoKey fields: its public key, and for a device key its client and id. */
interface KeyState {
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the public key. */
  spki: Uint8Array;
  device?: { client: HsmClient; keyId: number };
}

// Kept beside the keys rather than on them: a CryptoKey that is logged or serialized shows its algorithm, type and
// usages, never the client or the session behind it.
const STATE = new WeakMap<object, KeyState>();

function stateOf(key: CryptoKey): KeyState {
  const s = STATE.get(key);
  if (!s) throw new TypeError('this CryptoKey was not made by this provider: get device keys from HsmCrypto.keyPair(keyId) and public keys from its importKey');
  return s;
}

/** The device key id behind a CryptoKey of this provider (both halves of a keyPair() carry it); undefined for an imported public key. */
export function deviceKeyId(key: CryptoKey): number | undefined {
  return STATE.get(key)?.device?.keyId;
}

function bytesOf(data: BufferSource): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('expected an ArrayBuffer or a typed array');
}

/** An ArrayBuffer holding exactly `b` (WebCrypto returns ArrayBuffers, and a Uint8Array may view a larger buffer). */
function bufferOf(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

function hashName(hash: unknown): string {
  if (typeof hash === 'string') return hash;
  if (hash && typeof hash === 'object' && typeof (hash as { name?: unknown }).name === 'string') return (hash as { name: string }).name;
  throw new TypeError('hash: give a hash algorithm, e.g. "SHA-256"');
}

/** node:crypto's digest name for a WebCrypto hash name. */
const DIGESTS: { readonly [name: string]: string } = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };

function nodeDigest(name: string): string {
  const d = DIGESTS[name.toUpperCase()];
  if (!d) throw notSupported(`digest ${name} is not offered: use one of ${Object.keys(DIGESTS).join(', ')}`);
  return d;
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** A public key's KeyObject from SPKI DER, JWK or a raw point, checked against the algorithm it is imported for. */
function publicKeyFrom(format: KeyFormat, keyData: JsonWebKey | BufferSource, algorithm: KeyAlgorithm & { namedCurve?: string }): KeyObject {
  if (format === 'pkcs8' || (format === 'jwk' && (keyData as JsonWebKey).d !== undefined)) {
    throw notSupported(
      'importKey of a private key: private keys are made on the device (HsmClient.generateKey) or imported there by the SO (HsmClient.importKey)',
    );
  }
  const want = algorithm.name === 'Ed25519' ? undefined : CURVES[algorithm.namedCurve ?? ''];
  if (algorithm.name !== 'Ed25519' && !want) {
    if (algorithm.namedCurve === undefined) throw new TypeError("ECDSA importKey needs a namedCurve: { name: 'ECDSA', namedCurve: 'P-256' } or 'K-256'");
    throw notSupported(`ECDSA on ${algorithm.namedCurve} is not offered: use P-256 or K-256 (secp256k1)`);
  }
  let key: KeyObject;
  try {
    if (format === 'spki') key = createPublicKey({ key: Buffer.from(bytesOf(keyData as BufferSource)), format: 'der', type: 'spki' });
    else if (format === 'jwk') key = createPublicKey({ key: keyData as webcrypto.JsonWebKey as never, format: 'jwk' });
    else if (format === 'raw') {
      const raw = bytesOf(keyData as BufferSource);
      if (algorithm.name === 'Ed25519') {
        if (raw.length !== 32) throw new Error('an Ed25519 public key is 32 bytes (RFC 8032 §5.1.5)');
        key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(raw) }, format: 'jwk' });
      } else {
        if (raw.length !== 65 || raw[0] !== 0x04) throw new Error('give the uncompressed point (65 bytes, 04 ‖ x ‖ y; SEC 1 §2.3.3)');
        key = createPublicKey({ key: { kty: 'EC', crv: want!.jwk, x: b64u(raw.subarray(1, 33)), y: b64u(raw.subarray(33)) }, format: 'jwk' });
      }
    } else throw new TypeError(`format "${String(format)}": use spki, jwk or raw`);
  } catch (e) {
    if (e instanceof DOMException || e instanceof TypeError) throw e;
    throw new DOMException(`importKey: not a public key this provider reads (${(e as Error).message})`, 'DataError');
  }
  // the key must be of the algorithm it is imported as: an Ed25519 key is no ECDSA key, a P-256 key no K-256 key
  const type = key.asymmetricKeyType;
  if (algorithm.name === 'Ed25519') {
    if (type !== 'ed25519') throw new DOMException(`importKey: the key is ${type}, not Ed25519`, 'DataError');
  } else {
    if (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== want!.node)
      throw new DOMException(
        `importKey: the key is not an ECDSA ${algorithm.namedCurve} key (${type} ${key.asymmetricKeyDetails?.namedCurve ?? ''})`,
        'DataError',
      );
  }
  return key;
}

/** The key's public half in the format asked for: SPKI DER, JWK (RFC 7517, with WebCrypto's ext and key_ops) or the raw point. */
function exportPublic(format: KeyFormat, key: CryptoKey): JsonWebKey | ArrayBuffer {
  const s = stateOf(key);
  if (format === 'spki') return bufferOf(s.spki);
  const jwk = s.publicKey.export({ format: 'jwk' }) as JsonWebKey;
  if (format === 'jwk') return { ...jwk, ext: true, key_ops: [...key.usages] };
  if (format === 'raw') {
    const x = Buffer.from(jwk.x as string, 'base64url');
    if (jwk.kty === 'OKP') return bufferOf(x);
    return bufferOf(Buffer.concat([Buffer.from([0x04]), x, Buffer.from(jwk.y as string, 'base64url')]));
  }
  throw new TypeError(`format "${String(format)}": a public key exports as spki, jwk or raw`);
}

/** The providers and the SubtleCrypto, built once webcrypto-core is loaded. */
interface Engine {
  subtle: webcrypto.SubtleCrypto;
  /** A CryptoKey of webcrypto-core's class (its SubtleCrypto accepts no other), with our state beside it. */
  newKey(algorithm: KeyAlgorithm, type: 'private' | 'public', usages: KeyUsage[], state: KeyState): CryptoKey;
}

function buildEngine(core: CoreModule): Engine {
  class HsmCryptoKey extends core.CryptoKey {}

  const newKey = (algorithm: KeyAlgorithm, type: 'private' | 'public', usages: KeyUsage[], state: KeyState): CryptoKey => {
    // as WebCrypto's generateKey makes them: the public key always extractable; a private key of this provider never is
    const key = HsmCryptoKey.create({ ...algorithm }, type, type === 'public', usages) as unknown as CryptoKey;
    STATE.set(key, state);
    return key;
  };

  const deviceSigner = (key: CryptoKey) => {
    const d = stateOf(key).device;
    if (!d || key.type !== 'private') throw new DOMException('sign needs the private key of a device key pair (HsmCrypto.keyPair)', 'InvalidAccessError');
    return d;
  };

  /** ECDSA (FIPS 186-4 §6): the device signs SHA-256 digests; raw r‖s, as WebCrypto's ECDSA sign returns it. */
  class DeviceEcdsa extends core.EcdsaProvider {
    override namedCurves = Object.keys(CURVES);
    override hashAlgorithms = Object.keys(DIGESTS);

    override checkAlgorithmParams(algorithm: Algorithm & { hash?: unknown }): void {
      if (algorithm.hash === undefined) throw new TypeError("ECDSA needs a hash: { name: 'ECDSA', hash: 'SHA-256' }");
      nodeDigest(hashName(algorithm.hash));
    }

    override async onSign(algorithm: Algorithm & { hash?: unknown }, key: CryptoKey, data: ArrayBuffer): Promise<ArrayBuffer> {
      const hash = hashName(algorithm.hash).toUpperCase();
      if (hash !== 'SHA-256') throw notSupported(`ECDSA with ${hash}: the device signs SHA-256 digests only; use { name: 'ECDSA', hash: 'SHA-256' }`);
      const { client, keyId } = deviceSigner(key);
      // hashed here and sent as { digest }: the device signs a 32-byte digest for ECDSA (docs/protocol.md, SIGN)
      const digest = createHash('sha256').update(new Uint8Array(data)).digest();
      return bufferOf(await client.sign(keyId, { digest: new Uint8Array(digest) }));
    }

    override async onVerify(algorithm: Algorithm & { hash?: unknown }, key: CryptoKey, signature: ArrayBuffer, data: ArrayBuffer): Promise<boolean> {
      try {
        return nodeVerify(
          nodeDigest(hashName(algorithm.hash)),
          new Uint8Array(data),
          { key: stateOf(key).publicKey, dsaEncoding: 'ieee-p1363' },
          new Uint8Array(signature),
        );
      } catch (e) {
        if (e instanceof DOMException || e instanceof TypeError) throw e;
        return false; // a signature of the wrong length or form verifies nothing
      }
    }

    override async onImportKey(
      format: KeyFormat,
      keyData: JsonWebKey | ArrayBuffer,
      algorithm: Algorithm & { namedCurve?: string },
      _x: boolean,
      usages: KeyUsage[],
    ) {
      const publicKey = publicKeyFrom(format, keyData, algorithm);
      const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
      return newKey({ name: 'ECDSA', namedCurve: algorithm.namedCurve } as KeyAlgorithm, 'public', usages, { publicKey, spki }) as never;
    }

    override async onExportKey(format: KeyFormat, key: CryptoKey) {
      return exportPublic(format, key);
    }

    override async onGenerateKey(): Promise<never> {
      throw generateRefused();
    }
  }

  /** Ed25519 (RFC 8032 §5.1.6): the device signs the whole message. */
  class DeviceEd25519 extends core.Ed25519Provider {
    override async onSign(_algorithm: Algorithm, key: CryptoKey, data: ArrayBuffer): Promise<ArrayBuffer> {
      const { client, keyId } = deviceSigner(key);
      return bufferOf(await client.sign(keyId, { message: new Uint8Array(data) }));
    }

    override async onVerify(_algorithm: Algorithm, key: CryptoKey, signature: ArrayBuffer, data: ArrayBuffer): Promise<boolean> {
      try {
        return nodeVerify(null, new Uint8Array(data), stateOf(key).publicKey, new Uint8Array(signature));
      } catch (e) {
        if (e instanceof DOMException || e instanceof TypeError) throw e;
        return false;
      }
    }

    override async onImportKey(format: KeyFormat, keyData: JsonWebKey | ArrayBuffer, algorithm: Algorithm, _x: boolean, usages: KeyUsage[]) {
      const publicKey = publicKeyFrom(format, keyData, algorithm);
      const spki = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }));
      return newKey({ name: 'Ed25519' }, 'public', usages, { publicKey, spki }) as never;
    }

    override async onExportKey(format: KeyFormat, key: CryptoKey) {
      return exportPublic(format, key);
    }

    override async onGenerateKey(): Promise<never> {
      throw generateRefused();
    }
  }

  /** SHA-1 (for RFC 5280 §4.2.1.2 key identifiers) and SHA-2 digests, on the host. */
  class HostDigest extends core.ProviderCrypto {
    usages = [] as KeyUsage[];
    constructor(readonly name: string) {
      super();
    }
    override async onDigest(_algorithm: Algorithm, data: ArrayBuffer): Promise<ArrayBuffer> {
      return bufferOf(createHash(nodeDigest(this.name)).update(new Uint8Array(data)).digest());
    }
  }

  class DeviceSubtle extends core.SubtleCrypto {
    constructor() {
      super();
      this.providers.set(new DeviceEcdsa());
      this.providers.set(new DeviceEd25519());
      for (const name of Object.keys(DIGESTS)) this.providers.set(new HostDigest(name));
    }

    protected override getProvider(name: string) {
      const p = this.providers.get(name);
      if (!p)
        throw notSupported(
          `algorithm "${name}" is not offered: this provider signs with ${SIGNERS} on the device and digests with ${Object.keys(DIGESTS).join(', ')}`,
        );
      return p;
    }

    protected override checkCryptoKey(key: CryptoKey): asserts key is never {
      if (!(key instanceof HsmCryptoKey)) stateOf(key); // throws the TypeError that says where keys come from
    }
  }

  return { subtle: new DeviceSubtle() as unknown as webcrypto.SubtleCrypto, newKey };
}

function generateRefused(): DOMException {
  return notSupported(
    'generateKey: keys are made on the device (HsmClient.generateKey or `tinyhsm keygen`); then HsmCrypto.keyPair(keyId) gives their CryptoKeys',
  );
}

let engine: Promise<Engine> | undefined;

function loadEngine(): Promise<Engine> {
  engine ??= import('webcrypto-core').then(buildEngine);
  return engine;
}

const refuse = (what: string) => Promise.reject(notSupported(what));

/**
 * The SubtleCrypto interface of the W3C Web Cryptography API for keys that live on a tinyhsm. sign runs on the device; verify, digest, importKey
 * and exportKey of public keys run on the host (node:crypto); everything that would make, reveal or use a secret key
 * on the host rejects with NotSupportedError.
 */
export class HsmSubtle {
  readonly [Symbol.toStringTag] = 'SubtleCrypto';

  async digest(algorithm: AlgorithmIdentifier, data: BufferSource): Promise<ArrayBuffer> {
    return (await loadEngine()).subtle.digest(algorithm, data);
  }

  async sign(algorithm: AlgorithmIdentifier | webcrypto.EcdsaParams, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
    return (await loadEngine()).subtle.sign(algorithm as AlgorithmIdentifier, key, data);
  }

  async verify(algorithm: AlgorithmIdentifier | webcrypto.EcdsaParams, key: CryptoKey, signature: BufferSource, data: BufferSource): Promise<boolean> {
    return (await loadEngine()).subtle.verify(algorithm as AlgorithmIdentifier, key, signature, data);
  }

  async importKey(
    format: KeyFormat,
    keyData: JsonWebKey | BufferSource,
    algorithm: AlgorithmIdentifier | webcrypto.EcKeyImportParams,
    extractable: boolean,
    keyUsages: readonly KeyUsage[],
  ): Promise<CryptoKey> {
    const subtle = (await loadEngine()).subtle as unknown as { importKey(...a: unknown[]): Promise<CryptoKey> };
    return subtle.importKey(format, keyData, algorithm, extractable, keyUsages);
  }

  async exportKey(format: 'jwk', key: CryptoKey): Promise<JsonWebKey>;
  async exportKey(format: Exclude<KeyFormat, 'jwk'>, key: CryptoKey): Promise<ArrayBuffer>;
  async exportKey(format: KeyFormat, key: CryptoKey): Promise<JsonWebKey | ArrayBuffer>;
  async exportKey(format: KeyFormat, key: CryptoKey): Promise<JsonWebKey | ArrayBuffer> {
    if (key && key.type === 'private') {
      const id = deviceKeyId(key);
      throw notSupported(
        `exportKey('${format}') of a private key: ${id !== undefined ? `device key ${id}'s private key` : 'a private key'} never leaves the device; export the public key ('spki' or 'jwk')`,
      );
    }
    return (await loadEngine()).subtle.exportKey(format as 'spki', key);
  }

  generateKey(): Promise<never> {
    return Promise.reject(generateRefused());
  }

  encrypt(): Promise<never> {
    return refuse(`encrypt is not offered: this provider signs with ${SIGNERS}`);
  }

  decrypt(): Promise<never> {
    return refuse(`decrypt is not offered: this provider signs with ${SIGNERS}`);
  }

  deriveBits(): Promise<never> {
    return refuse('deriveBits is not offered: for X25519 or P-256 ECDH with a device key use HsmClient.ecdh');
  }

  deriveKey(): Promise<never> {
    return refuse('deriveKey is not offered: for X25519 or P-256 ECDH with a device key use HsmClient.ecdh');
  }

  wrapKey(): Promise<never> {
    return refuse('wrapKey is not offered: device keys are backed up under the domain key (`tinyhsm backup`, docs/quorum.md)');
  }

  unwrapKey(): Promise<never> {
    return refuse('unwrapKey is not offered: device keys are restored under the domain key (`tinyhsm restore`, docs/quorum.md)');
  }
}

/**
 * A `Crypto`-like object (the Web Cryptography API's `crypto`) whose `subtle` signs with the keys of one tinyhsm: give it to code that takes
 * a WebCrypto provider, e.g. @peculiar/x509 (`x509.cryptoProvider.set(new HsmCrypto(client))`). The client must be
 * logged in as the user (SIGN is the user's, docs/security.md §2).
 */
export class HsmCrypto {
  readonly subtle = new HsmSubtle();
  readonly [Symbol.toStringTag] = 'Crypto';

  constructor(readonly client: HsmClient) {}

  getRandomValues<T extends ArrayBufferView | null>(array: T): T {
    return nodeGetRandomValues(array as never) as T;
  }

  randomUUID(): string {
    return nodeRandomUUID();
  }

  /**
   * The CryptoKeys of device key `keyId`: the private one signs on the device (usages ['sign'], not extractable), the
   * public one verifies on the host (['verify'], extractable). Their `algorithm` is Ed25519 or ECDSA with the namedCurve
   * P-256 or K-256 (WEBCRYPTO_ALGORITHM). A key that cannot sign (X25519) is refused.
   */
  async keyPair(keyId: number): Promise<CryptoKeyPair> {
    const { alg, publicKey } = await this.client.publicKey(keyId);
    const algorithm = WEBCRYPTO_ALGORITHM[alg];
    if (!algorithm) {
      const signers = Object.keys(WEBCRYPTO_ALGORITHM).map((a) => ALG_NAMES[Number(a)]);
      throw notSupported(`key ${keyId} is ${ALG_NAMES[alg] ?? 'of algorithm ' + alg}, which does not sign: a WebCrypto signing key is ${signers.join(', ')}`);
    }
    const spki = publicKeyToSpkiDer(alg, publicKey);
    const state: KeyState = {
      publicKey: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }),
      spki,
      device: { client: this.client, keyId },
    };
    const { newKey } = await loadEngine();
    return { privateKey: newKey(algorithm, 'private', ['sign'], state), publicKey: newKey(algorithm, 'public', ['verify'], state) };
  }
}

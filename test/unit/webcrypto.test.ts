// HsmCrypto, the crypto.subtle-shaped provider on device keys: its CryptoKeys, signatures checked by node:crypto, public key exports, every refusal, and @peculiar/x509 used unchanged on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate as NodeX509Certificate, createPublicKey, generateKeyPairSync, verify as nodeVerify, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { Alg } from '../../firmware/protocol/index.ts';
import { HsmCrypto, deviceKeyId, type HsmClient } from '../../host/index.ts';
import { publicKeyToSpkiDer } from '../../host/pubkey-format.ts';
import { nodePublicKey, startInProcess, type InProcessHandle } from '../helpers/sim.ts';

let h: InProcessHandle;
let client: HsmClient;
let provider: HsmCrypto;
const ids = { ed25519: 0, p256: 0, k256: 0, x25519: 0 };
const raw: { [name in 'ed25519' | 'p256' | 'k256']: Uint8Array } = { ed25519: new Uint8Array(), p256: new Uint8Array(), k256: new Uint8Array() };
const data = new TextEncoder().encode('the bytes a relying party checks');

beforeAll(async () => {
  h = await startInProcess();
  client = h.client;
  provider = new HsmCrypto(client);
  for (const [name, alg] of [
    ['ed25519', 'ed25519'],
    ['p256', 'ecdsa-p256'],
    ['k256', 'ecdsa-secp256k1'],
    ['x25519', 'x25519'],
  ] as const) {
    const k = await client.generateKey(alg, name);
    ids[name] = k.keyId;
    if (name !== 'x25519') raw[name] = k.publicKey;
  }
});

afterAll(async () => {
  expect(h.sim.deviceFaults).toEqual([]);
  await h.close();
});

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!r) throw new Error('expected a rejection, got a result');
  return r;
}

describe('HsmCrypto keys', () => {
  it('keyPair gives CryptoKeys with the WebCrypto algorithm, usages and extractability of each device key', async () => {
    const cases = [
      [ids.p256, { name: 'ECDSA', namedCurve: 'P-256' }],
      [ids.k256, { name: 'ECDSA', namedCurve: 'K-256' }],
      [ids.ed25519, { name: 'Ed25519' }],
    ] as const;
    for (const [id, algorithm] of cases) {
      const { privateKey, publicKey } = await provider.keyPair(id);
      expect(privateKey.algorithm).toEqual(algorithm);
      expect(publicKey.algorithm).toEqual(algorithm);
      expect([privateKey.type, privateKey.extractable, [...privateKey.usages]]).toEqual(['private', false, ['sign']]);
      expect([publicKey.type, publicKey.extractable, [...publicKey.usages]]).toEqual(['public', true, ['verify']]);
      expect(deviceKeyId(privateKey)).toBe(id);
      // nothing of the session or the client shows when a key is logged or serialized
      expect(JSON.stringify(privateKey)).not.toMatch(/client|session|keyId/);
    }
  });

  it('exportKey spki and jwk give the device public key, as node:crypto reads it', async () => {
    for (const [id, alg, pub, crv] of [
      [ids.p256, 'ecdsa-p256', raw.p256, 'P-256'],
      [ids.k256, 'ecdsa-secp256k1', raw.k256, 'secp256k1'],
      [ids.ed25519, 'ed25519', raw.ed25519, 'Ed25519'],
    ] as const) {
      const { publicKey } = await provider.keyPair(id);
      const expected = nodePublicKey(alg, pub).export({ format: 'der', type: 'spki' });
      const spki = Buffer.from(await provider.subtle.exportKey('spki', publicKey));
      expect(spki.equals(expected)).toBe(true);
      const jwk = await provider.subtle.exportKey('jwk', publicKey);
      expect(jwk.crv).toBe(crv);
      expect(jwk.d).toBeUndefined();
      expect(
        createPublicKey({ key: jwk as never, format: 'jwk' })
          .export({ format: 'der', type: 'spki' })
          .equals(expected),
      ).toBe(true);
      const rawOut = Buffer.from(await provider.subtle.exportKey('raw', publicKey));
      expect(rawOut.equals(Buffer.from(pub))).toBe(true);
    }
  });
});

describe('HsmCrypto signatures', () => {
  it('ECDSA P-256 and K-256 with SHA-256 sign on the device: raw r‖s over SHA-256(data), as node:crypto verifies (ieee-p1363)', async () => {
    for (const [id, alg, pub] of [
      [ids.p256, 'ecdsa-p256', raw.p256],
      [ids.k256, 'ecdsa-secp256k1', raw.k256],
    ] as const) {
      const { privateKey, publicKey } = await provider.keyPair(id);
      const sig = new Uint8Array(await provider.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data));
      expect(sig.length).toBe(64);
      expect(nodeVerify('sha256', data, { key: nodePublicKey(alg, pub), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      expect(await provider.subtle.verify({ name: 'ECDSA', hash: { name: 'SHA-256' } }, publicKey, sig, data)).toBe(true);
      const bad = sig.slice();
      bad[10] ^= 1;
      expect(await provider.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, bad, data)).toBe(false);
      expect(await provider.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, sig, data.subarray(1))).toBe(false);
      expect(await provider.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, sig.subarray(0, 63), data)).toBe(false);
    }
  });

  it('Ed25519 signs the whole message on the device, and Node’s own WebCrypto verifies it', async () => {
    const { privateKey, publicKey } = await provider.keyPair(ids.ed25519);
    const sig = new Uint8Array(await provider.subtle.sign('Ed25519', privateKey, data));
    expect(nodeVerify(null, data, nodePublicKey('ed25519', raw.ed25519), sig)).toBe(true);
    const spki = await provider.subtle.exportKey('spki', publicKey);
    const nodeKey = await webcrypto.subtle.importKey('spki', spki, { name: 'Ed25519' }, true, ['verify']);
    expect(await webcrypto.subtle.verify('Ed25519', nodeKey, sig, data)).toBe(true);
    expect(await provider.subtle.verify({ name: 'Ed25519' }, publicKey, sig, data)).toBe(true);
    sig[0] ^= 1;
    expect(await provider.subtle.verify({ name: 'Ed25519' }, publicKey, sig, data)).toBe(false);
  });

  it('importKey reads public keys (spki, jwk, raw) and verifies with them; digest gives SHA-1 and SHA-2', async () => {
    const { privateKey } = await provider.keyPair(ids.k256);
    const sig = await provider.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, data);
    const spki = nodePublicKey('ecdsa-secp256k1', raw.k256).export({ format: 'der', type: 'spki' });
    const jwk = nodePublicKey('ecdsa-secp256k1', raw.k256).export({ format: 'jwk' });
    for (const [format, keyData] of [
      ['spki', spki],
      ['jwk', jwk],
      ['raw', raw.k256],
    ] as const) {
      const key = await provider.subtle.importKey(format, keyData as never, { name: 'ECDSA', namedCurve: 'K-256' }, true, ['verify']);
      expect(deviceKeyId(key)).toBeUndefined();
      expect(await provider.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, data)).toBe(true);
    }
    expect(Buffer.from(await provider.subtle.digest('SHA-1', data)).toString('hex')).toBe(
      Buffer.from(await webcrypto.subtle.digest('SHA-1', data)).toString('hex'),
    );
    expect(Buffer.from(await provider.subtle.digest({ name: 'SHA-256' }, data)).toString('hex')).toBe(
      Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex'),
    );
    const r = provider.getRandomValues(new Uint8Array(32));
    expect(r.some((b) => b !== 0)).toBe(true);
  });
});

describe('HsmCrypto refusals', () => {
  it('the private key never exports: pkcs8, jwk and spki of it reject with NotSupportedError', async () => {
    const { privateKey } = await provider.keyPair(ids.p256);
    for (const format of ['pkcs8', 'jwk', 'spki', 'raw'] as const) {
      const e = await rejection(provider.subtle.exportKey(format, privateKey));
      expect(e.name).toBe('NotSupportedError');
      expect(e.message).toContain(`device key ${ids.p256}`);
    }
  });

  it('generateKey, encrypt, decrypt, deriveBits, wrapKey and private imports reject with NotSupportedError that says what to do', async () => {
    const { privateKey, publicKey } = await provider.keyPair(ids.p256);
    const subtle = provider.subtle as unknown as { [op: string]: (...a: unknown[]) => Promise<unknown> };
    const cases: [Promise<unknown>, RegExp][] = [
      [subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']), /made on the device/],
      [subtle.encrypt({ name: 'RSA-OAEP' }, publicKey, data), /encrypt is not offered/],
      [subtle.decrypt({ name: 'RSA-OAEP' }, privateKey, data), /decrypt is not offered/],
      [subtle.deriveBits({ name: 'ECDH', public: publicKey }, privateKey, 256), /HsmClient\.ecdh/],
      [subtle.wrapKey('raw', publicKey, privateKey, 'AES-KW'), /domain key/],
      [
        provider.subtle.importKey(
          'pkcs8',
          generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'der', type: 'pkcs8' }),
          { name: 'ECDSA', namedCurve: 'P-256' },
          false,
          ['sign'],
        ),
        /private key/,
      ],
      [
        provider.subtle.importKey('jwk', generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }) as never, { name: 'Ed25519' }, false, ['sign']),
        /private key/,
      ],
      [provider.subtle.sign({ name: 'RSASSA-PKCS1-v1_5' }, privateKey, data), /"RSASSA-PKCS1-v1_5" is not offered/],
      [provider.subtle.importKey('spki', new Uint8Array(91), { name: 'ECDSA', namedCurve: 'P-384' }, true, ['verify']), /P-384 is not offered/],
    ];
    for (const [p, words] of cases) {
      const e = await rejection(p);
      expect(e.name).toBe('NotSupportedError');
      expect(e.message).toMatch(words);
    }
  });

  it('ECDSA with any digest but SHA-256 is refused before the device is asked', async () => {
    const { privateKey } = await provider.keyPair(ids.p256);
    for (const hash of ['SHA-384', 'SHA-512', 'SHA-1']) {
      const e = await rejection(provider.subtle.sign({ name: 'ECDSA', hash }, privateKey, data));
      expect(e.name).toBe('NotSupportedError');
      expect(e.message).toContain(`ECDSA with ${hash}: the device signs SHA-256 digests only`);
    }
    expect((await rejection(provider.subtle.sign({ name: 'ECDSA' }, privateKey, data))).message).toMatch(/needs a hash/);
  });

  it('refuses an X25519 key, a public key for signing, keys of other providers and a key imported as the wrong curve', async () => {
    const e = await rejection(provider.keyPair(ids.x25519));
    expect(e.name).toBe('NotSupportedError');
    expect(e.message).toMatch(/x25519, which does not sign/);
    const { publicKey } = await provider.keyPair(ids.p256);
    expect((await rejection(provider.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, data))).message).toMatch(/does not match that of operation/);
    const foreign = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    expect((await rejection(provider.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, foreign.privateKey, data))).message).toMatch(/not made by this provider/);
    const p256spki = publicKeyToSpkiDer(Alg.ECDSA_P256, raw.p256);
    const wrongCurve = await rejection(provider.subtle.importKey('spki', p256spki, { name: 'ECDSA', namedCurve: 'K-256' }, true, ['verify']));
    expect(wrongCurve.name).toBe('DataError');
  });
});

describe('@peculiar/x509 used unchanged on the provider', () => {
  it('createSelfSigned and a CSR sign on the device; OpenSSL (node:crypto) and @peculiar/x509 verify them', async () => {
    const previous = x509.cryptoProvider.get();
    x509.cryptoProvider.set(provider as never);
    try {
      for (const [id, signingAlgorithm] of [
        [ids.p256, { name: 'ECDSA', hash: 'SHA-256' }],
        [ids.ed25519, { name: 'Ed25519' }],
      ] as const) {
        const keys = await provider.keyPair(id);
        const cert = await x509.X509CertificateGenerator.createSelfSigned({
          name: 'CN=peculiar on tinyhsm',
          keys,
          signingAlgorithm: signingAlgorithm as never,
        });
        expect(await cert.verify()).toBe(true);
        const node = new NodeX509Certificate(Buffer.from(cert.rawData));
        expect(node.verify(node.publicKey)).toBe(true);
        const req = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=request', keys, signingAlgorithm: signingAlgorithm as never });
        expect(await req.verify()).toBe(true);
      }
    } finally {
      x509.cryptoProvider.set(previous);
    }
  });
});

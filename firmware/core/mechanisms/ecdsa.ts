// ECDSA on the device over P-256 and secp256k1 (FIPS 186-5, SEC 1), and P-256's ECDH: public key from the scalar, signing SHA-256(message) or a given digest, and each curve's known answers.
//
// One factory parametrised by curve rather than a file per curve: the two differ only in the curve's name, their
// known answers and P-256's ECDH, so a second file would repeat the rest byte for byte in every bundle. The curve
// arithmetic stays behind the Crypto HAL (ecdsaPublicKey, ecdsaSign, …): a board bundle that leaves a curve out
// (hal/crypto_weierstrass.ts, tools/build.mjs) still carries this file, its self-test fails with the HAL's
// `absent` text, and the device does not offer the algorithm.
import type { Crypto, EcCurve } from '../../hal/index.ts';
import type { Mechanism, Ecdh } from './index.ts';
import { Status } from '../../protocol/codes.ts';
import { Reason } from '../../protocol/reasons.ts';
import { ok, err } from '../../protocol/result.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import { check, flipped, h } from './kat.ts';

/** A curve's known answers. */
interface EcdsaKat {
  curve: EcCurve;
  /** A private key and its published (or independently computed) uncompressed public key. */
  sk: string;
  pk: string;
  /** A known-good signature: public key (absent: `pk`), 32-byte digest and raw r‖s. */
  sigPk?: string;
  digest: string;
  sig: string;
  /** floor(n/2), big-endian: our own signatures must have s ≤ this (low-S). */
  halfN: string;
}

/** Big-endian a ≤ b for equal-length byte strings (public values only: no constant-time need). */
function lessOrEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return true;
}

/** The known answers of one curve through the HAL (its name is what tools/engines/kaluma/probe_bundle.mjs marks). */
function katEcdsa(c: Crypto, k: EcdsaKat): void {
  const curve = k.curve;
  const sk = h(k.sk);
  const pk = c.ecdsaPublicKey(curve, sk);
  check(equalBytes(pk, h(k.pk)), 'public key derivation does not match the known answer');
  const digest = h(k.digest);
  const sigPk = h(k.sigPk !== undefined ? k.sigPk : k.pk);
  check(c.ecdsaVerify(curve, h(k.sig), digest, sigPk) === true, 'verification rejects a known-good signature');
  check(c.ecdsaVerify(curve, h(k.sig), flipped(digest), sigPk) === false, 'verification accepts a signature over another digest');
  // signing may be hedged (randomized), so the check is: a 64-byte low-S signature that verifies
  const sig = c.ecdsaSign(curve, digest, sk);
  check(sig.length === 64, 'signature is not 64 bytes (raw r‖s)');
  check(lessOrEqual(sig.subarray(32), h(k.halfN)), 'signature is not low-S');
  check(c.ecdsaVerify(curve, sig, digest, pk) === true, 'sign→verify round trip fails');
}

/** The mechanism of ECDSA over the known answers' curve; `ecdh` where the curve also does ECDH. A scalar of 0 or ≥ n throws (publicKey). */
function ecdsa(kat: EcdsaKat, ecdh?: Ecdh): Mechanism {
  const curve = kat.curve;
  return {
    publicKey(c, sk) {
      return c.ecdsaPublicKey(curve, sk);
    },
    sha256: true,
    digestLength: 32,
    sign(c, key, sk, message, digest) {
      // FIPS 186-5: the hash is SHA-256, computed here unless the host sent the digest
      const d = digest !== undefined ? digest : c.sha256(message as Uint8Array);
      if (d.length !== 32) return err(Status.INTERNAL_ERROR, Reason.DIGEST_LENGTH, [key.alg, d.length]);
      return ok({ signature: c.ecdsaSign(curve, d, sk) });
    },
    ecdh,
    selftest(c) {
      katEcdsa(c, kat);
    },
  };
}

// RFC 6979 A.2.5 (P-256): key pair, and the SHA-256 signature of "sample" (digest = SHA-256("sample")).
export const ecdsaP256 = ecdsa(
  {
    curve: 'p256',
    sk: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
    pk: '0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299',
    digest: 'af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf',
    sig: 'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8',
    halfN: '7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8',
  },
  // SEC 1 §3.3.1: the peer in SEC1, 33 bytes compressed or 65 uncompressed; the HAL throws for a point not on the curve
  {
    peerLengths: [33, 65],
    refused: Reason.PEER_KEY_NOT_ON_CURVE,
    derive(c, sk, peer) {
      return c.ecdhP256(sk, peer);
    },
  },
);

// secp256k1: key pair computed with OpenSSL (sk = SHA-256("tinyhsm secp256k1 known-answer test"),
// re-checked by test/unit/selftest.test.ts); known-good signature = Project Wycheproof
// ecdsa_secp256k1_sha256_p1363_test.json tcId 1 (msg "123400"), C2SP/wycheproof dac1dd47, Apache-2.0.
export const ecdsaSecp256k1 = ecdsa({
  curve: 'secp256k1',
  sk: '0d196a19739ada1f052ea44ff140ccb46418d73243872505121cb4dde41a7497',
  pk: '04fa4a3cf5be7f5f4934a0061978867b80b3287922efde620d702bf7ef9e72887f6fee9b5752df79e46eff15575081f085d4f05fcb1839d8591895cbad00ef63c0',
  sigPk: '04b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6ff0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9',
  digest: 'bb5a52f42f9c9261ed4361f59422a1e30036e7c32b270c8807a419feca605023',
  sig: '813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365900e75ad233fcc908509dbff5922647db37c21f4afd3203ae8dc4ae7794b0f87',
  halfN: '7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0',
});

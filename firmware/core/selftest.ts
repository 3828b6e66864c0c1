// Power-on known-answer self-tests (docs/architecture.md §3): only algorithms that pass are offered.
//
// Why: JerryScript 2.4 (Kaluma) has BigInt with a buggy division, so P-256 comes out wrong while
// Ed25519 and X25519 are right. Like a FIPS 140 module, the device checks every algorithm against
// published answers at boot, through whichever Crypto HAL is installed, and refuses to offer an
// algorithm that fails rather than hand out wrong signatures.
import type { Crypto, EcCurve } from '../hal/index.ts';
import { Alg, type AlgId } from '../protocol/codes.ts';
import { equalBytes, fromHex } from '../protocol/bytes.ts';

export interface SelftestReport {
  /** Algorithms whose known-answer tests passed, in wire-id order. */
  readonly passed: AlgId[];
  /** Algorithm id → why it failed (only failed algorithms appear). */
  readonly failures: { [alg: number]: string };
  /** SHA-256 ("abc", FIPS 180-2 B.1) passed; the ECDSA algorithms depend on it. */
  readonly sha256: boolean;
}

function h(hex: string): Uint8Array {
  const b = fromHex(hex);
  if (!b) throw new Error('selftest: bad constant');
  return b;
}

/** Thrown inside a test to name the step that went wrong. */
class KatFailure {
  constructor(readonly reason: string) {}
}

function check(cond: boolean, reason: string): void {
  if (!cond) throw new KatFailure(reason);
}

// FIPS 180-2 Appendix B.1: SHA-256("abc").
const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

// RFC 8032 §7.1 TEST 1 (empty message).
const ED_SK = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const ED_PK = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const ED_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

// RFC 7748 §6.1: Alice's key pair, Bob's public key and the shared secret K.
const X_A_SK = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const X_A_PK = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
const X_B_PK = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
const X_K = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

interface EcdsaKat {
  curve: EcCurve;
  /** A private key and its published (or independently computed) uncompressed public key. */
  sk: string;
  pk: string;
  /** A known-good signature: public key, 32-byte digest and raw r‖s. */
  sigPk: string;
  digest: string;
  sig: string;
  /** floor(n/2), big-endian: our own signatures must have s ≤ this (low-S). */
  halfN: string;
}

const ECDSA_KATS: { [alg: number]: EcdsaKat } = {
  // RFC 6979 A.2.5 (P-256): key pair, and the SHA-256 signature of "sample" (digest = SHA-256("sample")).
  [Alg.ECDSA_P256]: {
    curve: 'p256',
    sk: 'c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721',
    pk:
      '0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6' +
      '7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299',
    sigPk:
      '0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6' +
      '7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299',
    digest: 'af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf',
    sig:
      'efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716' +
      'f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8',
    halfN: '7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8',
  },
  // secp256k1: key pair computed with OpenSSL (sk = SHA-256("tinyhsm secp256k1 known-answer test"),
  // re-checked by test/unit/selftest.test.ts); known-good signature = Project Wycheproof
  // ecdsa_secp256k1_sha256_p1363_test.json tcId 1 (msg "123400"), C2SP/wycheproof dac1dd47, Apache-2.0.
  [Alg.ECDSA_SECP256K1]: {
    curve: 'secp256k1',
    sk: '0d196a19739ada1f052ea44ff140ccb46418d73243872505121cb4dde41a7497',
    pk:
      '04fa4a3cf5be7f5f4934a0061978867b80b3287922efde620d702bf7ef9e72887f' +
      '6fee9b5752df79e46eff15575081f085d4f05fcb1839d8591895cbad00ef63c0',
    sigPk:
      '04b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6f' +
      'f0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9',
    digest: 'bb5a52f42f9c9261ed4361f59422a1e30036e7c32b270c8807a419feca605023',
    sig:
      '813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365' +
      '900e75ad233fcc908509dbff5922647db37c21f4afd3203ae8dc4ae7794b0f87',
    halfN: '7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0',
  },
};

/** Big-endian a ≤ b for equal-length byte strings (public values only: no constant-time need). */
function lessOrEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return true;
}

function flipped(b: Uint8Array): Uint8Array {
  const c = b.slice();
  c[c.length - 1] ^= 1;
  return c;
}

function katSha256(c: Crypto): void {
  check(equalBytes(c.sha256(h('616263')), h(SHA_ABC)), 'SHA-256("abc") does not match FIPS 180-2 B.1');
}

function katEd25519(c: Crypto): void {
  const sk = h(ED_SK);
  const pk = c.ed25519PublicKey(sk);
  check(equalBytes(pk, h(ED_PK)), 'public key of RFC 8032 TEST 1 does not match');
  const msg = new Uint8Array(0);
  const sig = c.ed25519Sign(msg, sk);
  check(equalBytes(sig, h(ED_SIG)), 'signature of RFC 8032 TEST 1 does not match');
  check(c.ed25519Verify(sig, msg, pk) === true, 'verification rejects the RFC 8032 TEST 1 signature');
  check(c.ed25519Verify(flipped(sig), msg, pk) === false, 'verification accepts a corrupted signature');
  if (c.ed25519Expand) {
    // SIGN uses the expanded key: the same known answer must come out of it
    const signer = c.ed25519Expand(sk);
    const ok = equalBytes(signer.publicKey, h(ED_PK)) && equalBytes(signer.sign(msg), h(ED_SIG));
    signer.wipe();
    check(ok, 'the expanded-key signature of RFC 8032 TEST 1 does not match');
  }
}

function katX25519(c: Crypto): void {
  const a = h(X_A_SK);
  check(equalBytes(c.x25519PublicKey(a), h(X_A_PK)), "Alice's public key of RFC 7748 §6.1 does not match");
  check(equalBytes(c.x25519(a, h(X_B_PK)), h(X_K)), 'shared secret of RFC 7748 §6.1 does not match');
  // RFC 7748 §6.1: an all-zero result (low-order peer point, here u = 0) must be refused.
  let refused = false;
  try {
    c.x25519(a, new Uint8Array(32));
  } catch (e) {
    refused = true;
  }
  check(refused, 'a low-order public key (u = 0) is not refused');
}

function katEcdsa(c: Crypto, k: EcdsaKat): void {
  const sk = h(k.sk);
  const pk = c.ecdsaPublicKey(k.curve, sk);
  check(equalBytes(pk, h(k.pk)), 'public key derivation does not match the known answer');
  const digest = h(k.digest);
  check(c.ecdsaVerify(k.curve, h(k.sig), digest, h(k.sigPk)) === true, 'verification rejects a known-good signature');
  check(c.ecdsaVerify(k.curve, h(k.sig), flipped(digest), h(k.sigPk)) === false, 'verification accepts a signature over another digest');
  // signing may be hedged (randomized), so the check is: a 64-byte low-S signature that verifies
  const sig = c.ecdsaSign(k.curve, digest, sk);
  check(sig.length === 64, 'signature is not 64 bytes (raw r‖s)');
  check(lessOrEqual(sig.subarray(32), h(k.halfN)), 'signature is not low-S');
  check(c.ecdsaVerify(k.curve, sig, digest, pk) === true, 'sign→verify round trip fails');
}

function describe(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.length > 80 ? m.slice(0, 80) + '…' : m;
}

function run(failures: { [alg: number]: string }, alg: number, test: () => void): boolean {
  try {
    test();
    return true;
  } catch (e) {
    // The known-answer keys are public test vectors, so an exception text carries no secret; keep it short.
    failures[alg] = e instanceof KatFailure ? e.reason : 'threw during the known-answer test: ' + describe(e);
    return false;
  }
}

/** Run every known-answer test once (at boot). Never throws. */
export function runSelftests(c: Crypto): SelftestReport {
  const failures: { [alg: number]: string } = {};
  const passed: AlgId[] = [];
  const shaFailures: { [alg: number]: string } = {};
  const shaOk = run(shaFailures, 0, () => katSha256(c));
  if (run(failures, Alg.ED25519, () => katEd25519(c))) passed.push(Alg.ED25519);
  for (const alg of [Alg.ECDSA_P256, Alg.ECDSA_SECP256K1]) {
    if (!shaOk) {
      // ECDSA signs SHA-256(message): a wrong hash means wrong signatures whatever the curve code does.
      failures[alg] = 'depends on SHA-256, which failed its self-test (' + shaFailures[0] + ')';
      continue;
    }
    if (run(failures, alg, () => katEcdsa(c, ECDSA_KATS[alg]))) passed.push(alg);
  }
  if (run(failures, Alg.X25519, () => katX25519(c))) passed.push(Alg.X25519);
  passed.sort((a, b) => a - b);
  return { passed, failures, sha256: shaOk };
}

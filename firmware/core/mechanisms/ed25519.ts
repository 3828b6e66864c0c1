// Ed25519 on the device (RFC 8032): public key from the 32-byte seed, PureEdDSA over the whole message and Ed25519ph over its SHA-512 with the expanded key cached per key, no ECDH, and its known answer.
import type { Crypto, Ed25519Signer } from '../../hal/index.ts';
import type { KeyRecord } from '../keystore.ts';
import type { Mechanism } from './index.ts';
import { Status } from '../../protocol/codes.ts';
import { Reason } from '../../protocol/reasons.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { concatBytes, equalBytes, utf8Encode } from '../../protocol/bytes.ts';
import { check, flipped, h } from './kat.ts';

// RFC 8032 §7.1 TEST 1 (empty message).
const ED_SK = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const ED_PK = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const ED_SIG = 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

/** RFC 8032 §7.1 TEST 1 through the HAL, the expanded key included (its name is what tools/engines/kaluma/probe_bundle.mjs marks). */
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
    const same = equalBytes(signer.publicKey, h(ED_PK)) && equalBytes(signer.sign(msg), h(ED_SIG));
    signer.wipe();
    check(same, 'the expanded-key signature of RFC 8032 TEST 1 does not match');
  }
}

/** RFC 8032 §2 dom2(1, context): what Ed25519ph hashes before the prefix and before R (§5.1). */
function dom2ph(context: Uint8Array | undefined): Uint8Array {
  const tag = utf8Encode('SigEd25519 no Ed25519 collisions');
  const ctx = context !== undefined ? context : new Uint8Array(0);
  return concatBytes(tag, new Uint8Array([1, ctx.length]), ctx);
}

/** The key's expanded signer (RFC 8032 §5.1.5), made once and cached beside the key (wiped with it by lock()), checked against its stored public key. */
function ed25519Signer(c: Crypto, key: KeyRecord, seed: Uint8Array): Result<Ed25519Signer> {
  if (key.signer !== undefined) return ok(key.signer);
  const expand = c.ed25519Expand;
  if (expand === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_SIGN, [key.id, key.alg]);
  // A comes from the seed, and must match the stored public key, or the record is corrupt and signing with it could leak the key.
  const signer = expand(seed);
  if (!equalBytes(signer.publicKey, key.publicKey)) {
    signer.wipe();
    return err(Status.INVALID_KEY, Reason.KEY_PAIR_MISMATCH, [key.id]);
  }
  key.signer = signer;
  return ok(signer);
}

export const ed25519: Mechanism = {
  // any 32 bytes are a valid seed (RFC 8032 §5.1.5)
  publicKey(c, seed) {
    return c.ed25519PublicKey(seed);
  },
  pure: true,
  digestLength: 64,
  sign(c, key, seed, message, digest, context) {
    if (digest === undefined && key.signer === undefined && c.ed25519Expand === undefined) return ok({ signature: c.ed25519Sign(message as Uint8Array, seed) });
    const s = ed25519Signer(c, key, seed);
    if (!s.ok) return s;
    // the handler passes a digest only for prehashed: Ed25519ph over SHA-512(M) (RFC 8032 §5.1)
    return ok({ signature: digest !== undefined ? s.value.sign(digest, dom2ph(context)) : s.value.sign(message as Uint8Array) });
  },
  stream(c, key, seed) {
    const s = ed25519Signer(c, key, seed);
    return s.ok ? ok(s.value.twoPass()) : s;
  },
  selftest(c) {
    katEd25519(c);
  },
};

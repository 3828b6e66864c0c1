// Per-algorithm key rules shared by the key commands: which ids exist, key validation, key generation (docs/protocol.md §3 "Algorithms").
import type { Crypto, EcCurve, Env } from '../hal/index.ts';
import { Alg, ALG_NAMES, Status, type AlgId } from '../protocol/codes.ts';
import { type Result, ok, err } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import type { DeviceContext } from './context.ts';

/** The algorithm if this device offers it; UNSUPPORTED_ALGORITHM says whether it is unknown or failed its self-test. */
export function offeredAlg(ctx: DeviceContext, alg: number): Result<AlgId> {
  if (ctx.offered[alg] === true) return ok(alg as AlgId);
  // known ids are 1..4 (codes.ts Alg); the self-test's own words about a failure are in INFO
  if (ALG_NAMES[alg] === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_UNKNOWN, [alg]);
  return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_SELFTEST_FAILED, [alg]);
}

export function isEcdsa(alg: AlgId): boolean {
  return alg === Alg.ECDSA_P256 || alg === Alg.ECDSA_SECP256K1;
}

export function curveOf(alg: AlgId): EcCurve {
  return alg === Alg.ECDSA_P256 ? 'p256' : 'secp256k1';
}

/**
 * The public key of a 32-byte private key. Throws if the key is invalid for the algorithm
 * (ECDSA scalar 0 or ≥ n); callers map that to INVALID_KEY without the exception text.
 * Ed25519 seeds and X25519 scalars: any 32 bytes are valid (RFC 8032 §5.1.5, RFC 7748 §5).
 */
export function publicKeyOf(crypto: Crypto, alg: AlgId, privateKey: Uint8Array): Uint8Array {
  if (alg === Alg.ED25519) return crypto.ed25519PublicKey(privateKey);
  if (alg === Alg.X25519) return crypto.x25519PublicKey(privateKey);
  return crypto.ecdsaPublicKey(curveOf(alg), privateKey);
}

/** How many fresh candidates KEY_GENERATE tries before it blames the RNG (a P-256 draw is ≥ n with p ≈ 2^-32). */
const GENERATE_TRIES = 8;

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A new key pair from env.rng. ECDSA rejection-samples the scalar into 1..n-1 (FIPS 186-5 A.2.2). */
export function generateKeyPair(env: Env, alg: AlgId): Result<KeyPair> {
  for (let i = 0; i < GENERATE_TRIES; i++) {
    const sk = new Uint8Array(32);
    env.rng.fill(sk);
    try {
      return ok({ privateKey: sk, publicKey: publicKeyOf(env.crypto, alg, sk) });
    } catch (e) {
      sk.fill(0);
    }
  }
  return err(Status.INTERNAL_ERROR, Reason.RNG_BAD_KEYS, [alg, GENERATE_TRIES]);
}

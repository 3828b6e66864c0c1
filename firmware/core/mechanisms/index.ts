// The mechanism table: what each algorithm means on the device, one file per algorithm, by wire id; and the key work every command shares through it (docs/architecture.md "Adding an algorithm").
//
// A handler asks the key's mechanism (can it sign? which peer keys may ECDH take?) instead of comparing algorithm
// ids. Every private key is 32 bytes (records.ts PRIVATE_KEY_LENGTH); what the host also needs (public key length,
// capabilities) is wire data in protocol/algorithms.ts. Mechanisms reach curves only through the Crypto HAL, so a
// board bundle that leaves a curve's code out (hal/crypto_noble_base.ts) keeps every mechanism: that algorithm then
// fails its self-test and is not offered (docs/architecture.md §3).
import type { Crypto, Ed25519TwoPass, Env } from '../../hal/index.ts';
import { Status } from '../../protocol/codes.ts';
import { Reason } from '../../protocol/reasons.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import type { DeviceContext } from '../context.ts';
import type { KeyRecord } from '../keystore.ts';
import { ed25519 } from './ed25519.ts';
import { ecdsaP256, ecdsaSecp256k1 } from './ecdsa.ts';
import { x25519 } from './x25519.ts';

/** What ECDH with a key of the algorithm takes and does (SEC 1 §3.3.1, RFC 7748). */
export interface Ecdh {
  /** The peer public key lengths accepted; any other is INVALID_KEY (PEER_KEY_LENGTH) before the key is used. */
  readonly peerLengths: readonly number[];
  /** The reason of INVALID_KEY when `derive` throws (the HAL refused the peer key). */
  readonly refused: Reason;
  /** The shared secret with `peer`; throws when the peer key is refused. */
  derive(c: Crypto, privateKey: Uint8Array, peer: Uint8Array): Uint8Array;
}

/** Plain functions that never read `this`: a handler may call them detached (sign.ts does, inside its presence continuation). */
export interface Mechanism {
  /** The public key of a 32-byte private key, as the wire carries it; throws if the key is invalid for the algorithm. */
  publicKey(c: Crypto, privateKey: Uint8Array): Uint8Array;
  /**
   * SIGN with the opened private key (after the policy and the button). Exactly one of message and digest is given.
   * Absent: the algorithm cannot sign (OPERATION_NOT_PERMITTED, CANNOT_SIGN).
   */
  sign?(
    c: Crypto,
    key: KeyRecord,
    privateKey: Uint8Array,
    message: Uint8Array | undefined,
    digest: Uint8Array | undefined,
    context: Uint8Array | undefined,
  ): Result<{ signature: Uint8Array }>;
  /**
   * It signs the message itself (PureEdDSA, RFC 8032 §5.1.6): SIGN takes a digest only as `prehashed` (Ed25519ph,
   * §5.1, where `sign` gets the digest and the context), and SIGN_BEGIN streams a message of any length.
   */
  readonly pure?: boolean;
  /**
   * A signer for a message streamed in two passes (SIGN_BEGIN, docs/protocol.md §4.1), with the opened private key.
   * Absent: the algorithm does not stream (OPERATION_NOT_PERMITTED, STREAM_ED25519_ONLY): ECDSA's host hashes instead.
   */
  stream?(c: Crypto, key: KeyRecord, privateKey: Uint8Array): Result<Ed25519TwoPass>;
  /** The length of the digest SIGN takes: SHA-256's 32 for ECDSA, SHA-512's 64 for Ed25519ph. */
  readonly digestLength?: number;
  /** Absent: the algorithm cannot do ECDH (OPERATION_NOT_PERMITTED, CANNOT_ECDH). */
  readonly ecdh?: Ecdh;
  /** It hashes with SHA-256: not offered unless SHA-256 passes its own known-answer test. */
  readonly sha256?: boolean;
  /** The power-on known-answer test (core/selftest.ts): throws (kat.ts KatFailure names the step) unless the HAL gives the published answers. */
  selftest(c: Crypto): void;
}

/**
 * Indexed by wire id (codes.ts Alg; 0 is none); every id of Alg has one (test/unit/mechanisms.test.ts). The array is
 * made inside a function so that the mechanisms are read from an inner function: JerryScript 2.4 (Kaluma) keeps a
 * variable of the bundle's outermost function that no inner function reads in a register, and crashes once that
 * function has too many of them (docs/boards.md "Kaluma"), and a module's constant that only the top level reads is one.
 */
export const MECHANISMS: readonly (Mechanism | undefined)[] = (function () {
  return [
    undefined,
    ed25519, // 1
    ecdsaP256, // 2
    ecdsaSecp256k1, // 3
    x25519, // 4
  ];
})();

/** The mechanism if this device offers the algorithm; UNSUPPORTED_ALGORITHM says whether it is unknown or failed its self-test. */
export function offeredMechanism(ctx: DeviceContext, alg: number): Result<Mechanism> {
  if (ctx.offered[alg] === true) return ok(MECHANISMS[alg] as Mechanism);
  // the self-test's own words about a failure are in INFO
  if (MECHANISMS[alg] === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_UNKNOWN, [alg]);
  return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_SELFTEST_FAILED, [alg]);
}

/** How many fresh candidates KEY_GENERATE tries before it blames the RNG (a P-256 draw is ≥ n with p ≈ 2^-32). */
const GENERATE_TRIES = 8;

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/**
 * A new key pair from env.rng: 32 random bytes, redrawn while the mechanism refuses them as a private key, which
 * rejection-samples an ECDSA scalar into 1..n-1 (FIPS 186-5 A.2.2).
 */
export function generateKeyPair(env: Env, m: Mechanism, alg: number): Result<KeyPair> {
  for (let i = 0; i < GENERATE_TRIES; i++) {
    const sk = new Uint8Array(32);
    env.rng.fill(sk);
    try {
      return ok({ privateKey: sk, publicKey: m.publicKey(env.crypto, sk) });
    } catch (e) {
      sk.fill(0);
    }
  }
  return err(Status.INTERNAL_ERROR, Reason.RNG_BAD_KEYS, [alg, GENERATE_TRIES]);
}

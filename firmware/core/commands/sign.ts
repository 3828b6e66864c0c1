// SIGN: Ed25519 over the whole message (RFC 8032); ECDSA over SHA-256(message) or a given 32-byte digest, raw r‖s, low-S; only with a key whose policy has `sign`, after a button press if it has `touch` (docs/security.md §6–§7).
import { Alg, Capability, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import type { SignRequest, SignResponse } from '../../protocol/commands/sign.ts';
import type { DeviceContext } from '../context.ts';
import { curveOf, offeredAlg } from '../algorithms.ts';
import { Reason } from '../../protocol/reasons.ts';
import { authorizeUse } from '../keystore.ts';

export function sign(ctx: DeviceContext, req: SignRequest): Result<SignResponse> {
  const { env, keystore } = ctx;
  const { keyId, message, digest } = req;
  if (message !== undefined && digest !== undefined) return err(Status.INVALID_PARAMETER, Reason.MESSAGE_AND_DIGEST);
  if (message === undefined && digest === undefined) return err(Status.INVALID_PARAMETER, Reason.NO_MESSAGE_OR_DIGEST);
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const a = offeredAlg(ctx, key.alg);
  if (!a.ok) return a;
  // what the algorithm cannot do at all comes first (OPERATION_NOT_PERMITTED), then what this key may do (POLICY_DENIED)
  if (key.alg === Alg.X25519) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_SIGN, [keyId, key.alg]);
  if (key.alg === Alg.ED25519 && message === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.ED25519_NEEDS_MESSAGE, [keyId]);
  // the policy, then the button for a touch key, both before the private key is opened or used (docs/security.md §7)
  const kc = authorizeUse(ctx, key, Capability.SIGN);
  if (!kc.ok) return kc;
  if (key.alg === Alg.ED25519) {
    const msg = message as Uint8Array;
    if (key.signer !== undefined) return ok({ signature: key.signer.sign(msg) });
    const sk = keystore.privateKeyOf(key, kc.value);
    if (!sk.ok) return sk;
    const expand = env.crypto.ed25519Expand;
    if (expand === undefined) return ok({ signature: env.crypto.ed25519Sign(msg, sk.value) });
    // Expanded once per key (a cache, not state the host can see, wiped with the private key by lock()): A comes
    // from the seed, and must match the stored public key, or the record is corrupt and signing with it could leak the key.
    const signer = expand(sk.value);
    if (!equalBytes(signer.publicKey, key.publicKey)) {
      signer.wipe();
      return err(Status.INVALID_KEY, Reason.KEY_PAIR_MISMATCH, [keyId]);
    }
    key.signer = signer;
    return ok({ signature: signer.sign(msg) });
  }
  // ECDSA (FIPS 186-5): the hash is SHA-256, computed here unless the host sent the digest
  const sk = keystore.privateKeyOf(key, kc.value);
  if (!sk.ok) return sk;
  const h = digest !== undefined ? digest : env.crypto.sha256(message as Uint8Array);
  if (h.length !== 32) return err(Status.INTERNAL_ERROR, Reason.DIGEST_LENGTH, [key.alg, h.length]);
  return ok({ signature: env.crypto.ecdsaSign(curveOf(key.alg), h, sk.value) });
}

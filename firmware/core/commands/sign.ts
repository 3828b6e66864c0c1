// SIGN: Ed25519 over the whole message (RFC 8032) or, prehashed, Ed25519ph over its SHA-512; ECDSA over SHA-256(message) or a given 32-byte digest, raw r‖s, low-S; only with a key whose policy has `sign`, after a button press if it has `touch` (docs/security.md §6–§7).
import { Capability, Status } from '../../protocol/codes.ts';
import { err } from '../../protocol/result.ts';
import type { SignRequest, SignResponse } from '../../protocol/commands/sign.ts';
import type { DeviceContext } from '../context.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { Reason } from '../../protocol/reasons.ts';
import { authorizeUse } from '../keystore.ts';
import type { Outcome } from '../presence.ts';

export function sign(ctx: DeviceContext, req: SignRequest): Outcome<SignResponse> {
  const { env, keystore } = ctx;
  const { keyId, message, digest, prehashed, context } = req;
  if (message !== undefined && digest !== undefined) return err(Status.INVALID_PARAMETER, Reason.MESSAGE_AND_DIGEST);
  if (message === undefined && digest === undefined) return err(Status.INVALID_PARAMETER, Reason.NO_MESSAGE_OR_DIGEST);
  const ph = prehashed === true;
  if (context !== undefined && !ph) return err(Status.INVALID_PARAMETER, Reason.CONTEXT_NEEDS_PREHASH);
  if (ph && digest === undefined) return err(Status.INVALID_PARAMETER, Reason.PREHASH_NEEDS_DIGEST);
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const a = offeredMechanism(ctx, key.alg);
  if (!a.ok) return a;
  // what the algorithm cannot do at all comes first (OPERATION_NOT_PERMITTED), then what this key may do (POLICY_DENIED)
  const m = a.value;
  const signWith = m.sign;
  if (signWith === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_SIGN, [keyId, key.alg]);
  if (m.pure && digest !== undefined && !ph) return err(Status.OPERATION_NOT_PERMITTED, Reason.ED25519_NEEDS_MESSAGE, [keyId]);
  if (!m.pure && ph) return err(Status.OPERATION_NOT_PERMITTED, Reason.PREHASH_ED25519_ONLY, [keyId, key.alg]);
  if (digest !== undefined && digest.length !== m.digestLength)
    return err(Status.INVALID_PARAMETER, Reason.DIGEST_WRONG_LENGTH, [digest.length, m.digestLength as number]);
  // the policy, then the button for a touch key, both before the private key is opened or used (docs/security.md §7)
  return authorizeUse(ctx, key, Capability.SIGN, (kc) => {
    // from the RAM cache once opened (an Ed25519 key's expanded signer is cached only beside it); the mechanism signs
    const sk = keystore.privateKeyOf(key, kc);
    if (!sk.ok) return sk;
    return signWith(env.crypto, key, sk.value, message, digest, context);
  });
}

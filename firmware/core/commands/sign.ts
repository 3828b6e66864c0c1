// SIGN: Ed25519 over the whole message (RFC 8032); ECDSA over SHA-256(message) or a given 32-byte digest, raw r‖s, low-S; only with a key whose policy has `sign`, after a button press if it has `touch` (docs/security.md §6–§7).
import { Capability, Status } from '../../protocol/codes.ts';
import { type Result, err } from '../../protocol/result.ts';
import type { SignRequest, SignResponse } from '../../protocol/commands/sign.ts';
import type { DeviceContext } from '../context.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { Reason } from '../../protocol/reasons.ts';
import { authorizeUse } from '../keystore.ts';

export function sign(ctx: DeviceContext, req: SignRequest): Result<SignResponse> {
  const { env, keystore } = ctx;
  const { keyId, message, digest } = req;
  if (message !== undefined && digest !== undefined) return err(Status.INVALID_PARAMETER, Reason.MESSAGE_AND_DIGEST);
  if (message === undefined && digest === undefined) return err(Status.INVALID_PARAMETER, Reason.NO_MESSAGE_OR_DIGEST);
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const a = offeredMechanism(ctx, key.alg);
  if (!a.ok) return a;
  // what the algorithm cannot do at all comes first (OPERATION_NOT_PERMITTED), then what this key may do (POLICY_DENIED)
  const m = a.value;
  if (m.sign === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_SIGN, [keyId, key.alg]);
  if (m.pure && message === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.ED25519_NEEDS_MESSAGE, [keyId]);
  // the policy, then the button for a touch key, both before the private key is opened or used (docs/security.md §7)
  const kc = authorizeUse(ctx, key, Capability.SIGN);
  if (!kc.ok) return kc;
  // from the RAM cache once opened (an Ed25519 key's expanded signer is cached only beside it); the mechanism signs
  const sk = keystore.privateKeyOf(key, kc.value);
  if (!sk.ok) return sk;
  return m.sign(env.crypto, key, sk.value, message, digest);
}

// KEY_SET_POLICY (user role, checked by the dispatcher's gate): tighten one key's policy; any loosening is POLICY_LOOSENING and changes nothing (docs/security.md §6).
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { KeySetPolicyRequest, KeySetPolicyResponse } from '../../protocol/commands/key_set_policy.ts';
import type { DeviceContext } from '../context.ts';
import { keyCrypto } from '../keystore.ts';
import { tightenPolicy, wirePolicy } from '../policy.ts';

export function keySetPolicy(ctx: DeviceContext, req: KeySetPolicyRequest): Result<KeySetPolicyResponse> {
  const { keystore } = ctx;
  const { keyId } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const next = tightenPolicy(keyId, key.policy, req);
  if (!next.ok) return next;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  // the record is sealed again bound to the new policy and committed before RAM changes (keystore.setPolicy)
  const done = keystore.setPolicy(keyId, next.value, kc.value);
  if (!done.ok) return done;
  return ok(wirePolicy(done.value.policy, done.value.origin));
}

// KEY_SET_POLICY (user role, checked by the dispatcher's gate): tighten one key's policy; loosening needs M officer approvals, else it is POLICY_LOOSENING and changes nothing (docs/security.md §6, docs/quorum.md §3).
import { Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { type KeySetPolicyRequest, type KeySetPolicyResponse, KeySetPolicyRequestSchema } from '../../protocol/commands/key_set_policy.ts';
import type { DeviceContext } from '../context.ts';
import { keyCrypto } from '../keystore.ts';
import { loosenedPolicy, tightenPolicy, wirePolicy, wireProtected } from '../policy.ts';

export function keySetPolicy(ctx: DeviceContext, req: KeySetPolicyRequest): Result<KeySetPolicyResponse> {
  const { keystore, officers } = ctx;
  const { keyId } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  let next = tightenPolicy(keyId, key.policy, req);
  // without officers no one may loosen a policy; with them, only M of them together
  if (!next.ok && next.status === Status.POLICY_LOOSENING && officers.enrolled) {
    next = loosenedPolicy(key.alg, key.policy, req);
    if (!next.ok) return next;
    const approved = officers.check(ctx.env.crypto, ctx.deviceId, Command.KEY_SET_POLICY, KeySetPolicyRequestSchema, req);
    if (!approved.ok) return approved;
  }
  if (!next.ok) return next;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  // the record is sealed again bound to the new policy and committed before RAM changes (keystore.setPolicy)
  const done = keystore.setPolicy(keyId, next.value, kc.value);
  if (!done.ok) return done;
  return ok(Object.assign(wirePolicy(done.value.policy, done.value.origin), wireProtected(done.value.policy)));
}

// KEY_PUBLIC: one key's algorithm, public key, label, origin and policy (docs/security.md §6), from the clear metadata.
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { KeyPublicRequest, KeyPublicResponse } from '../../protocol/commands/key_public.ts';
import type { DeviceContext } from '../context.ts';
import { wirePolicy, wireProtected } from '../policy.ts';

export function keyPublic(ctx: DeviceContext, req: KeyPublicRequest): Result<KeyPublicResponse> {
  const { keystore } = ctx;
  const { keyId } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  // Object.assign, not object spread: JerryScript 2.4 (Kaluma) and the ES5 Espruino build both have it
  return ok(
    Object.assign(
      { alg: key.alg, publicKey: key.publicKey, label: key.label, origin: key.origin },
      wirePolicy(key.policy, key.origin),
      wireProtected(key.policy),
    ),
  );
}

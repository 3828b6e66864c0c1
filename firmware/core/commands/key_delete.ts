// KEY_DELETE: commit the deletion to flash (the store wipes the record's bytes), then drop the key from RAM and wipe its cached private key (docs/storage.md §6); a protected key needs M officer approvals (docs/quorum.md §3).
import { Command, Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { type KeyDeleteRequest, type KeyDeleteResponse, KeyDeleteRequestSchema } from '../../protocol/commands/key_delete.ts';
import type { DeviceContext } from '../context.ts';

export function keyDelete(ctx: DeviceContext, req: KeyDeleteRequest): Result<KeyDeleteResponse> {
  const { keystore, officers } = ctx;
  const { keyId } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  if (key.policy.protected === true) {
    // without officers nobody can delete a protected key (RESET still erases it); with them, only M together
    if (!officers.enrolled) return err(Status.POLICY_DENIED, Reason.KEY_PROTECTED, [keyId]);
    const approved = officers.check(ctx.env.crypto, ctx.deviceId, Command.KEY_DELETE, KeyDeleteRequestSchema, req);
    if (!approved.ok) return approved;
  }
  const r = keystore.remove(keyId);
  if (!r.ok) return r;
  return ok({});
}

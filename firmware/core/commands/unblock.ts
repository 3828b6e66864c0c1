// UNBLOCK: the SO sets a new user PIN and restores the user's tries, in one transaction (docs/security.md §4).
import { type Result, ok } from '../../protocol/result.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { UnblockRequest, UnblockResponse } from '../../protocol/commands/unblock.ts';
import type { Caller, DeviceContext } from '../context.ts';

/** The gate let only an SO session through, so the master and link keys are in RAM for the new master key. The new PIN is wiped here. */
export function unblock(ctx: DeviceContext, req: UnblockRequest, _caller: Caller): Result<UnblockResponse> {
  try {
    const r = ctx.auth.unblock(req.newUserPin);
    if (!r.ok) return r;
    return ok({});
  } finally {
    wipe(req.newUserPin);
  }
}

// RESET: erase every key, the PINs, the label, the officers and the domain, and turn forced audit off, in one store transaction; the device id, the identity, the key id counter and the audit log stay (docs/quorum.md §4, docs/audit.md §6).
import { Command, Role, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { type ResetRequest, type ResetResponse, ResetRequestSchema } from '../../protocol/commands/reset.ts';
import type { Caller, DeviceContext } from '../context.ts';

/**
 * With officers enrolled, M approvals and no login (the way out of a blocked SO PIN); without officers, the SO
 * logged in. The role records (the master key sealed to each PIN) lead the transaction; a power cut leaves the old
 * device or the factory-new one, never a mix. Every session is logged out afterwards and stays open.
 */
export function reset(ctx: DeviceContext, req: ResetRequest, caller: Caller): Result<ResetResponse> {
  const { officers, store, keystore, auth, sessions, domain, audit } = ctx;
  const { role } = caller;
  if (officers.enrolled) {
    const approved = officers.check(ctx.env.crypto, ctx.deviceId, Command.RESET, ResetRequestSchema, req);
    if (!approved.ok) return approved;
  } else if (role !== Role.SO) return err(role === 0 ? Status.LOGIN_REQUIRED : Status.WRONG_ROLE, Reason.RESET_NEEDS_SO, [role]);
  // the log itself stays: it records this RESET, and what came before it
  const entries = auth
    .eraseEntries()
    .concat(keystore.eraseEntries(), [officers.eraseEntry(), domain.eraseEntry(), audit.stateEntry(audit.acked, false, false)]);
  const done = store.commit(entries);
  if (!done.ok) return done;
  audit.applyState(audit.acked, false, false);
  keystore.forgetAll();
  auth.forget();
  officers.forget();
  domain.forget();
  sessions.dropRoles();
  return ok({});
}

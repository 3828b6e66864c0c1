// CHANGE_PIN: a logged-in role replaces its own PIN; the old PIN is tried as a LOGIN (a try is spent first) and the new record replaces the old in one transaction (docs/security.md §4).
import { Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { ChangePinRequest, ChangePinResponse } from '../../protocol/commands/change_pin.ts';
import type { Caller, DeviceContext } from '../context.ts';

/** The gate let only a logged-in session through; a session changes only the PIN of the role it holds. PINs are wiped here. */
export function changePin(ctx: DeviceContext, req: ChangePinRequest, caller: Caller): Result<ChangePinResponse> {
  try {
    if (req.role !== caller.role) return err(Status.WRONG_ROLE, Reason.OTHER_ROLE_PIN, [req.role, caller.role]);
    const r = ctx.auth.changePin(req.role, req.oldPin, req.newPin);
    if (!r.ok) return r;
    return ok({});
  } finally {
    wipe(req.oldPin, req.newPin);
  }
}

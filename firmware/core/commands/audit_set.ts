// AUDIT_SET: the SO sets forced audit, locks it on until RESET, or sets the auditor PIN (docs/audit.md §6, §7).
import { Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { AuditSetRequest, AuditSetResponse } from '../../protocol/commands/audit_set.ts';
import type { Caller, DeviceContext } from '../context.ts';

/**
 * Order: the settings are checked whole before anything is written; the auditor PIN (if any) is set first, so
 * forced audit never goes on without someone who can acknowledge. The new PIN is a decoded copy: wiped here.
 */
export function auditSet(ctx: DeviceContext, req: AuditSetRequest, _caller: Caller): Result<AuditSetResponse> {
  const { audit, auth, store } = ctx;
  const { forced, lock, auditorPin } = req;
  try {
    const nextForced = forced === undefined ? audit.forced : forced;
    const nextLocked = audit.locked || lock === true;
    if (audit.locked && forced === false) return err(Status.OPERATION_NOT_PERMITTED, Reason.AUDIT_LOCKED);
    if (lock === false && audit.locked) return err(Status.OPERATION_NOT_PERMITTED, Reason.AUDIT_LOCKED);
    if (nextLocked && !nextForced) return err(Status.INVALID_PARAMETER, Reason.LOCK_NEEDS_FORCED);
    // forced audit with nobody to acknowledge would stop the device once the log fills
    if (nextForced && !audit.forced && auditorPin === undefined && !auth.auditorSet) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_AUDITOR);
    if (auditorPin !== undefined) {
      const p = auth.setAuditorPin(auditorPin);
      if (!p.ok) return p;
    }
    if (nextForced !== audit.forced || nextLocked !== audit.locked) {
      const c = store.commit([audit.stateEntry(audit.acked, nextForced, nextLocked)]);
      if (!c.ok) return c;
      audit.applyState(audit.acked, nextForced, nextLocked);
    }
    return ok({});
  } finally {
    wipe(auditorPin);
  }
}

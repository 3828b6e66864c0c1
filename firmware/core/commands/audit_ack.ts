// AUDIT_ACK: the auditor marks entries as collected; the mark only moves forward and is committed with the ACK's own entry (docs/audit.md §6).
import { Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { AuditAckRequest, AuditAckResponse } from '../../protocol/commands/audit_ack.ts';
import type { Caller, DeviceContext } from '../context.ts';

export function auditAck(ctx: DeviceContext, req: AuditAckRequest, _caller: Caller): Result<AuditAckResponse> {
  const { audit, store } = ctx;
  const { through } = req;
  if (through >= audit.next) return err(Status.INVALID_PARAMETER, Reason.ACK_AHEAD, [through, audit.next - 1]);
  // acknowledging again what is already acknowledged changes nothing (a retransmitted ACK)
  if (through + 1 <= audit.acked) return ok({ acked: audit.acked });
  const acked = through + 1;
  const c = store.commit([audit.stateEntry(acked, audit.forced, audit.locked)]);
  if (!c.ok) return c;
  audit.applyState(acked, audit.forced, audit.locked);
  return ok({ acked });
}

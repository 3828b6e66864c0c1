// AUDIT_READ: entries of the audit log from an index, at most what one packet carries (docs/audit.md §4).
import { type Result, ok } from '../../protocol/result.ts';
import { MAX_AUDIT_READ } from '../../protocol/commands/limits.ts';
import type { AuditReadRequest, AuditReadResponse } from '../../protocol/commands/audit_read.ts';
import type { Caller, DeviceContext } from '../context.ts';

/** An index before the oldest entry still held starts at that one: the host sees the gap from `oldest` and the first index. */
export function auditRead(ctx: DeviceContext, req: AuditReadRequest, _caller: Caller): Result<AuditReadResponse> {
  const { audit } = ctx;
  const { from, max } = req;
  const entries = audit.read(from, max === undefined ? MAX_AUDIT_READ : max);
  return ok({ entries, next: audit.next, oldest: audit.oldest });
}

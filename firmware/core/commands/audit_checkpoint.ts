// AUDIT_CHECKPOINT: the log's head signed by the identity key over the host's nonce, with the log's state (docs/audit.md §5).
import { Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { AuditCheckpointRequest, AuditCheckpointResponse } from '../../protocol/commands/audit_checkpoint.ts';
import type { Caller, DeviceContext } from '../context.ts';

/** signature = Ed25519(identity seed, statement), statement = "tinyhsm/audit/v1" ‖ 0x00 ‖ device id ‖ next ‖ head ‖ nonce. */
export function auditCheckpoint(ctx: DeviceContext, req: AuditCheckpointRequest, _caller: Caller): Result<AuditCheckpointResponse> {
  const { audit, identity, deviceId, env, auth } = ctx;
  const { nonce } = req;
  if (identity === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ATTEST_NO_IDENTITY);
  const signature = env.crypto.ed25519Sign(audit.statement(deviceId, nonce), identity.seed);
  return ok({
    next: audit.next,
    head: audit.head,
    signature,
    oldest: audit.oldest,
    acked: audit.acked,
    capacity: audit.capacity,
    forced: audit.forced,
    locked: audit.locked,
    auditor: auth.auditorSet,
  });
}

// OFFICERS_SET (SO role, checked by the dispatcher's gate): enrol officers and the threshold; a change of enrolled officers needs M of them (docs/quorum.md §1).
import { Alg, Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import { type OfficersSetRequest, type OfficersSetResponse, OfficersSetRequestSchema } from '../../protocol/commands/officers_set.ts';
import type { DeviceContext } from '../context.ts';

export function officersSet(ctx: DeviceContext, req: OfficersSetRequest): Result<OfficersSetResponse> {
  const { officers, store, offered } = ctx;
  const { threshold } = req;
  const list = req.officers;
  // approvals are Ed25519 signatures: a device that cannot verify them cannot have officers
  if (offered[Alg.ED25519] !== true) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_SELFTEST_FAILED, [Alg.ED25519]);
  if (threshold > list.length) return err(Status.INVALID_PARAMETER, Reason.THRESHOLD_OUT_OF_RANGE, [threshold, list.length]);
  for (let i = 0; i < list.length; i++)
    for (let j = 0; j < i; j++) if (equalBytes(list[i].publicKey, list[j].publicKey)) return err(Status.INVALID_PARAMETER, Reason.OFFICER_KEY_REPEATED, [i, j]);
  // the first enrolment is the SO's alone (the gate); every later change needs M of the officers enrolled now
  if (officers.enrolled) {
    const approved = officers.check(ctx.env.crypto, ctx.deviceId, Command.OFFICERS_SET, OfficersSetRequestSchema, req);
    if (!approved.ok) return approved;
  }
  const done = store.commit([officers.entry(threshold, list)]);
  if (!done.ok) return done;
  officers.apply(threshold, list);
  return ok({});
}

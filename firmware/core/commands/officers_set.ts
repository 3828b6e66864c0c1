// OFFICERS_SET (SO role, checked by the dispatcher's gate): enrol officers and the threshold; a change of enrolled officers needs M of them (docs/quorum.md §1).
import { Alg, Command } from '../../protocol/codes.ts';
import { type Result, ok } from '../../protocol/result.ts';
import { type OfficersSetRequest, type OfficersSetResponse, OfficersSetRequestSchema } from '../../protocol/commands/officers_set.ts';
import type { DeviceContext } from '../context.ts';
import { checkOfficerList } from '../officers.ts';

export function officersSet(ctx: DeviceContext, req: OfficersSetRequest): Result<OfficersSetResponse> {
  const { officers, store, offered } = ctx;
  const { threshold } = req;
  const list = req.officers;
  const valid = checkOfficerList(ctx.env.crypto, offered[Alg.ED25519] === true, threshold, list);
  if (!valid.ok) return valid;
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

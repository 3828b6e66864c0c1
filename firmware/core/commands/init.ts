// INIT: a factory-new device gets its user PIN, SO PIN, label and (optionally) officers, and a random master key, in one store transaction (docs/security.md §3, docs/quorum.md §1).
import { Alg, Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { InitRequest, InitResponse } from '../../protocol/commands/init.ts';
import type { Caller, DeviceContext } from '../context.ts';
import { checkOfficerList } from '../officers.ts';

/**
 * The dispatcher's gate already refused INIT outside a session and on an initialized device. INIT does not log
 * the session in (docs/security.md §3): the host sends LOGIN next. The decoded PINs are copies: wiped here.
 */
export function init(ctx: DeviceContext, req: InitRequest, _caller: Caller): Result<InitResponse> {
  const { auth, officers, offered } = ctx;
  const { threshold } = req;
  const list = req.officers;
  try {
    // officers come with the PINs or not at all (docs/quorum.md §1): both fields, or neither
    if (threshold === undefined && list !== undefined) return err(Status.MISSING_PARAMETER, Reason.MISSING_FIELD, [4]);
    if (threshold !== undefined && list === undefined) return err(Status.MISSING_PARAMETER, Reason.MISSING_FIELD, [5]);
    const enrol = threshold !== undefined && list !== undefined;
    if (enrol) {
      const valid = checkOfficerList(ctx.env.crypto, offered[Alg.ED25519] === true, threshold, list);
      if (!valid.ok) return valid;
    }
    const r = auth.init(req.userPin, req.soPin, req.label, enrol ? [officers.entry(threshold, list)] : []);
    if (!r.ok) return r;
    if (enrol) officers.apply(threshold, list);
    return ok({});
  } finally {
    wipe(req.userPin, req.soPin);
  }
}

// INIT: a factory-new device gets its user PIN, SO PIN and label, and a random master key, in one store transaction (docs/security.md §3).
import { type Result, ok } from '../../protocol/result.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { InitRequest, InitResponse } from '../../protocol/commands/init.ts';
import type { Caller, DeviceContext } from '../context.ts';

/**
 * The dispatcher's gate already refused INIT outside a session and on an initialized device. INIT does not log
 * the session in (docs/security.md §3): the host sends LOGIN next. The decoded PINs are copies: wiped here.
 */
export function init(ctx: DeviceContext, req: InitRequest, _caller: Caller): Result<InitResponse> {
  try {
    const r = ctx.auth.init(req.userPin, req.soPin, req.label);
    if (!r.ok) return r;
    return ok({});
  } finally {
    wipe(req.userPin, req.soPin);
  }
}

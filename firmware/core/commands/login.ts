// LOGIN: give this session the user or SO role by its PIN; the retry counter is spent in flash before the PIN is compared (docs/security.md §4).
import { Status } from '../../protocol/codes.ts';
import { type Result, err, ok } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { LoginRequest, LoginResponse } from '../../protocol/commands/login.ts';
import type { Caller, DeviceContext } from '../context.ts';

/**
 * A session has at most one role: LOGIN in a logged-in session is ALREADY_LOGGED_IN and spends no try. The role
 * goes to the session only after AuthState.login() unwrapped the master key. The decoded PIN is a copy: wiped here.
 */
export function login(ctx: DeviceContext, req: LoginRequest, caller: Caller): Result<LoginResponse> {
  try {
    const session = ctx.sessions.get(caller.sessionId);
    if (session === undefined || session.ended !== undefined) return err(Status.SESSION_INVALID, Reason.LOGIN_SESSION_OVER);
    if (caller.role !== 0) return err(Status.ALREADY_LOGGED_IN, Reason.ALREADY_LOGGED_IN, [caller.role]);
    const r = ctx.auth.login(req.role, req.pin);
    if (!r.ok) return r;
    session.role = req.role;
    return ok({});
  } finally {
    wipe(req.pin);
  }
}

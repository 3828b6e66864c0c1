// LOGOUT: drop this session's role and keep the session; the master key is wiped when no session is logged in any more (docs/security.md §1, §5).
import { type Result, ok } from '../../protocol/result.ts';
import type { LogoutRequest, LogoutResponse } from '../../protocol/commands/logout.ts';
import type { Caller, DeviceContext } from '../context.ts';
import { dropSessionRole } from '../session/session.ts';

/**
 * Drop the role of session `sessionId` (LOGOUT, and SESSION_CLOSE just before its session ends), then wipe the
 * master key and the cached private keys if that was the last logged-in session.
 */
export function dropRole(ctx: DeviceContext, sessionId: number): void {
  const s = sessionId === 0 ? undefined : ctx.sessions.get(sessionId);
  if (s !== undefined) dropSessionRole(s);
  ctx.auth.release(ctx.sessions, ctx.env.clock.now());
}

/** Answers OK whether or not the session was logged in: after it, the session has no role either way. */
export function logout(ctx: DeviceContext, _req: LogoutRequest, caller: Caller): Result<LogoutResponse> {
  dropRole(ctx, caller.sessionId);
  return ok({});
}

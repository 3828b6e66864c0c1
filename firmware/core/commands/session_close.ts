// SESSION_CLOSE: valid only inside a session; it answers OK (sealed), then the dispatcher forgets the session's keys (docs/session.md §6).
import { type Result, ok } from '../../protocol/result.ts';
import type { SessionCloseRequest, SessionCloseResponse } from '../../protocol/commands/session_close.ts';
import type { Caller, DeviceContext } from '../context.ts';
import { dropRole } from './logout.ts';

/**
 * The response must still be sealed with the session's keys, so the session itself is ended by sessionMessage
 * after sealing (session_message.ts). Its role ends now, and with the last logged-in session the master key
 * (docs/security.md §5). Sent in the clear, the dispatcher answers SESSION_REQUIRED before this runs.
 */
export function sessionClose(ctx: DeviceContext, _req: SessionCloseRequest, caller: Caller): Result<SessionCloseResponse> {
  dropRole(ctx, caller.sessionId);
  return ok({});
}

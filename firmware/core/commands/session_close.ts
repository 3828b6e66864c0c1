// SESSION_CLOSE: valid only inside a session; it answers OK (sealed), then the dispatcher forgets the session's keys (docs/session.md §6).
import { type Result, ok } from '../../protocol/result.ts';
import type { SessionCloseRequest, SessionCloseResponse } from '../../protocol/messages/session_close.ts';
import type { DeviceContext } from '../context.ts';

/**
 * Nothing to do before the answer: the response must still be sealed with the session's keys, so the
 * session is ended by sessionMessage after sealing (session_message.ts). Sent in the clear, the dispatcher
 * answers SESSION_REQUIRED before this runs.
 */
export function sessionClose(_ctx: DeviceContext, _req: SessionCloseRequest): Result<SessionCloseResponse> {
  return ok({});
}

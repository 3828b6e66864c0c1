// SESSION_OPEN: X25519 handshake signed by the device identity, in a free slot of the session table (docs/session.md §2–§3, §6; docs/protocol.md §6).
import { Alg, Status, type StatusCode } from '../../protocol/codes.ts';
import { type Err, type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { SessionOpenRequest, SessionOpenResponse } from '../../protocol/commands/session_open.ts';
import type { SessionRefusal } from '../session/index.ts';
import type { DeviceContext } from '../context.ts';

/** The one place a session refusal (docs/session.md §5) becomes a wire status. */
export function refusalStatus(reason: SessionRefusal): StatusCode {
  switch (reason) {
    case 'bad-host-ephemeral':
      return Status.INVALID_PARAMETER;
    case 'unavailable':
      return Status.UNSUPPORTED_ALGORITHM;
    case 'table-full':
      return Status.SESSION_LIMIT;
    case 'unknown-session':
    case 'closed':
    case 'idle-timeout':
    case 'message-cap':
    case 'evicted':
      return Status.SESSION_INVALID;
    case 'bad-counter':
    case 'counter-replayed':
    case 'counter-behind':
    case 'malformed':
    case 'auth-failed':
      return Status.SESSION_AUTH_FAILED;
    default:
      return Status.INTERNAL_ERROR; // 'not-pending': a dispatcher bug, never a host's fault
  }
}

/** A session refusal as the wire's error: its status, and the reason and arguments the session code gave (reasons.ts). */
export function refusalErr(r: { reason: SessionRefusal; code: Reason; args: number[] }): Err {
  return err(refusalStatus(r.reason), r.code, r.args);
}

export function sessionOpen(ctx: DeviceContext, req: SessionOpenRequest): Result<SessionOpenResponse> {
  const { env, identity, deviceId, sessions, offered } = ctx;
  // docs/protocol.md §6 "Handshake": no identity → no session can be authenticated, and every gated command stays refused
  if (identity === undefined) {
    if (offered[Alg.ED25519] !== true) return err(Status.UNSUPPORTED_ALGORITHM, Reason.NO_IDENTITY_ENGINE);
    return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_IDENTITY_RECORD);
  }
  const r = sessions.open(env.crypto, env.rng, identity.seed, deviceId, req.hostEphemeral, env.clock.now());
  if (!r.ok) return refusalErr(r);
  sessions.answered(r.value.sessionId, env.clock.now());
  return ok({
    sessionId: r.value.sessionId,
    deviceEphemeral: r.value.deviceEphemeral,
    signature: r.value.signature,
    deviceId,
    identityPublicKey: identity.publicKey,
  });
}

// SESSION_MESSAGE: open a request envelope, run the inner request body like a clear one, seal its response with the same counter (docs/session.md §4–§5; docs/protocol.md §6).
import { Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { SessionMessageRequest, SessionMessageResponse } from '../../protocol/commands/session_message.ts';
import type { DeviceContext } from '../context.ts';
import type { DeferredInner } from '../presence.ts';
import { refusalErr } from './session_open.ts';

/** Runs one inner request body (command byte + CBOR map) inside a session; returns the response body. Never throws. */
export type InnerDispatch = (ctx: DeviceContext, body: Uint8Array, sessionId: number) => Uint8Array;

function keep(ctx: DeviceContext, d: DeferredInner | undefined): void {
  const g = ctx.presence;
  const old = g.deferredInner;
  if (old !== undefined && (d === undefined || old.body !== d.body)) wipe(old.body);
  g.deferredInner = d;
}

/**
 * A refused envelope (unknown/over session, bad counter, bad tag) executes nothing and changes no session
 * state (table.ts). After an authenticated request, the inner response (errors included) is always sealed:
 * the counter was consumed, and the host must learn the outcome. One AEAD open and one seal per request.
 *
 * Except while the inner request waits for the button (ctx.presence.wanted after its run): then the plaintext is
 * kept, nothing is sealed, and the Err returned is never sent; the device loop later calls
 * resumeSessionMessage, which re-runs the kept body with the outcome set and seals that answer with this counter
 * (sealResponse accepts it: lastRequest is still this counter, since every other request is answered BUSY
 * meanwhile, and nothing was sealed for it).
 */
export function sessionMessage(ctx: DeviceContext, req: SessionMessageRequest, inner: InnerDispatch): Result<SessionMessageResponse> {
  const { sessions, env } = ctx;
  const { sessionId, counter, ciphertext } = req;
  const opened = sessions.openEnvelope(sessionId, counter, ciphertext, env.clock.now());
  if (!opened.ok) return refusalErr(opened);
  const plain = opened.value;
  const code = plain.length > 0 ? plain[0] : -1; // read before the body is wiped
  let answer: Uint8Array;
  let deferred = false;
  try {
    answer = inner(ctx, plain, sessionId);
    deferred = ctx.presence.wanted;
  } finally {
    // the inner body may hold a PIN or a private key (KEY_IMPORT); a deferred one is wiped after its re-run
    if (!deferred) wipe(plain);
  }
  if (deferred) {
    wipe(answer); // the gate's placeholder answer, never sent
    keep(ctx, { sessionId, counter, body: plain });
    return err(Status.BUSY, Reason.SESSION_REQUEST_WAITING, [sessionId, counter]);
  }
  return seal(ctx, sessionId, counter, code, answer);
}

/**
 * Re-run the inner request kept by sessionMessage, now that ctx.presence.outcome is set (the device loop sets it
 * after a press, the timeout or a CANCEL), and seal its answer with the request's counter. The kept plaintext is
 * wiped. The wait counts as activity of the session: its idle clock restarts here, so a session whose idle
 * timeout is shorter than the button wait is not ended under the request it carries.
 */
export function resumeSessionMessage(ctx: DeviceContext, inner: InnerDispatch): Result<SessionMessageResponse> {
  const g = ctx.presence;
  const d = g.deferredInner;
  g.deferredInner = undefined;
  if (d === undefined) return err(Status.INTERNAL_ERROR, Reason.NOTHING_WAITING);
  const s = ctx.sessions.get(d.sessionId);
  if (s !== undefined && s.ended === undefined) s.lastActivity = ctx.env.clock.now();
  const code = d.body.length > 0 ? d.body[0] : -1;
  let answer: Uint8Array;
  try {
    answer = inner(ctx, d.body, d.sessionId);
  } finally {
    wipe(d.body);
  }
  return seal(ctx, d.sessionId, d.counter, code, answer);
}

/** Drop a kept inner request without answering it (wiped); for a device loop that gives up on the wait. */
export function dropDeferredInner(ctx: DeviceContext): void {
  keep(ctx, undefined);
}

function seal(ctx: DeviceContext, sessionId: number, counter: number, code: number, answer: Uint8Array): Result<SessionMessageResponse> {
  const { sessions, env } = ctx;
  const sealed = sessions.sealResponse(sessionId, counter, answer, env.clock.now());
  const closeOk = code === Command.SESSION_CLOSE && answer[0] === 0;
  // the plaintext answer may hold secrets (an ECDH shared secret, RANDOM bytes); only the sealed copy leaves
  wipe(answer);
  if (!sealed.ok) return refusalErr(sealed);
  // SESSION_CLOSE: answered with the session's keys, then the keys are wiped (answer[0] 0 = OK)
  if (closeOk) sessions.close(sessionId);
  return ok({ counter, ciphertext: sealed.value });
}

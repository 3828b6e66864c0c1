// SESSION_MESSAGE: open a request envelope, run the inner request body like a clear one, seal its response with the same counter (docs/session.md §4–§5; docs/protocol.md §6).
import { Command } from '../../protocol/codes.ts';
import { type Result, ok } from '../../protocol/result.ts';
import { wipe } from '../../protocol/bytes.ts';
import { cborDecode } from '../../protocol/cbor.ts';
import type { SessionMessageRequest, SessionMessageResponse } from '../../protocol/commands/session_message.ts';
import type { DeviceContext } from '../context.ts';
import type { NeedPresence, Outcome } from '../presence.ts';
import { cancelAuthentic } from '../session/index.ts';
import { refusalErr } from './session_open.ts';

/** Runs one inner request body (command byte + CBOR map) inside a session: its response body, or the request waiting for the button. Never throws. */
export type InnerDispatch = (ctx: DeviceContext, body: Uint8Array, sessionId: number) => Uint8Array | NeedPresence<Uint8Array>;

/**
 * A refused envelope (unknown/over session, bad counter, bad tag) executes nothing and changes no session
 * state (table.ts). After an authenticated request, the inner response (errors included) is always sealed:
 * the counter was consumed, and the host must learn the outcome. One AEAD open and one seal per request.
 *
 * An inner request that waits for the button (core/presence.ts) is answered later: nothing is sealed until the
 * device loop resumes it; then its answer is sealed with this counter (sealResponse accepts it: lastRequest is still
 * this counter, since every other request is answered BUSY meanwhile, and nothing was sealed for it). The opened
 * plaintext is wiped at once either way: the decoder copied what the request needs.
 */
export function sessionMessage(ctx: DeviceContext, req: SessionMessageRequest, inner: InnerDispatch): Outcome<SessionMessageResponse> {
  const { sessions, env } = ctx;
  const { sessionId, counter, ciphertext } = req;
  const opened = sessions.openEnvelope(sessionId, counter, ciphertext, env.clock.now());
  if (!opened.ok) return refusalErr(opened);
  const plain = opened.value;
  const code = plain.length > 0 ? plain[0] : -1; // read before the body is wiped
  let answer: Uint8Array | NeedPresence<Uint8Array>;
  try {
    answer = inner(ctx, plain, sessionId);
  } finally {
    wipe(plain); // the inner body may hold a PIN or a private key (KEY_IMPORT)
  }
  if (answer instanceof Uint8Array) return seal(ctx, sessionId, counter, code, answer);
  const waiting = answer;
  return {
    presenceFor: waiting.presenceFor,
    // The wait counts as activity of the session: its idle clock restarts here, so a session whose idle timeout is
    // shorter than the button wait is not ended under the request it carries.
    resume(outcome): Result<SessionMessageResponse> {
      const s = sessions.get(sessionId);
      if (s !== undefined && s.ended === undefined) s.lastActivity = env.clock.now();
      return seal(ctx, sessionId, counter, code, waiting.resume(outcome));
    },
    cancels(body: Uint8Array): boolean {
      return cancelsRequest(ctx, sessionId, counter, body);
    },
  };
}

/**
 * Whether a CANCEL body is `{1: sessionId, 2: counter, 3: token}` for this waiting request: its session, its
 * counter, and a token that session's k_h2d made (docs/session.md §4.1).
 */
function cancelsRequest(ctx: DeviceContext, sessionId: number, counter: number, body: Uint8Array): boolean {
  const m = cborDecode(body);
  if (!m.ok || !(m.value instanceof Map)) return false;
  const tag = m.value.get(3);
  if (m.value.get(1) !== sessionId || m.value.get(2) !== counter || !(tag instanceof Uint8Array)) return false;
  const s = ctx.sessions.get(sessionId);
  return s !== undefined && cancelAuthentic(s, counter, tag);
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

// SESSION_MESSAGE: open a request envelope, run the inner request body like a clear one, seal its response with the same counter (docs/session.md §4–§5; issue 4 §1).
import { Command } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { wipe } from '../../protocol/bytes.ts';
import type { SessionMessageRequest, SessionMessageResponse } from '../../protocol/messages/session_message.ts';
import type { DeviceContext } from '../context.ts';
import { refusalStatus } from './session_open.ts';

/** Runs one inner request body (command byte + CBOR map) inside a session; returns the response body. Never throws. */
export type InnerDispatch = (ctx: DeviceContext, body: Uint8Array) => Uint8Array;

/**
 * A refused envelope (unknown/over session, bad counter, bad tag) executes nothing and changes no session
 * state (table.ts). After an authenticated request, the inner response (errors included) is always sealed:
 * the counter was consumed, and the host must learn the outcome. One AEAD open and one seal per request.
 */
export function sessionMessage(ctx: DeviceContext, req: SessionMessageRequest, inner: InnerDispatch): Result<SessionMessageResponse> {
  const { sessions, env } = ctx;
  const { sessionId, counter, ciphertext } = req;
  const opened = sessions.openEnvelope(sessionId, counter, ciphertext, env.clock.now());
  if (!opened.ok) return err(refusalStatus(opened.reason), opened.message);
  const plain = opened.value;
  const code = plain.length > 0 ? plain[0] : -1;
  let answer: Uint8Array;
  try {
    answer = inner(ctx, plain);
  } finally {
    // the inner body may hold a PIN or a private key (KEY_IMPORT)
    wipe(plain);
  }
  const sealed = sessions.sealResponse(sessionId, counter, answer);
  const closeOk = code === Command.SESSION_CLOSE && answer[0] === 0;
  // the plaintext answer may hold secrets (an ECDH shared secret, RANDOM bytes); only the sealed copy leaves
  wipe(answer);
  if (!sealed.ok) return err(refusalStatus(sealed.reason), sealed.message);
  // SESSION_CLOSE: answered with the session's keys, then the keys are wiped (answer[0] 0 = OK)
  if (closeOk) sessions.close(sessionId);
  return ok({ counter, ciphertext: sealed.value });
}

// User presence per use (docs/security.md §7): a handler that needs a button press returns NeedPresence, the rest of its work, which the device loop runs once the wait ends.
//
// How a button wait works without making handlers asynchronous (docs/security.md §7, docs/protocol.md §1 "Frame types"):
// 1. A handler whose key needs a press returns afterPress(…): a NeedPresence holding the rest of its work as a
//    function, nothing done yet. Everything it checked before (the key, the algorithm, the policy) is not checked again.
// 2. The dispatcher hands it up as a Pending request; inside a session, SESSION_MESSAGE wraps it so that the answer is
//    sealed under the request's counter later (commands/session_message.ts).
// 3. The device loop (device.ts) keeps the one Pending request, sends KEEPALIVE frames (reason PRESENCE_NEEDED)
//    every 100 ms and polls env.presence until a press, the timeout or a CANCEL frame, then calls resume() with the
//    outcome once, and sends only its answer. If the wait itself fails (no timer), the request is forgotten unrun:
//    it holds no secret to wipe (the decoder copied its fields; the private key is opened only inside resume).
import { Status } from '../protocol/codes.ts';
import { type Result, err } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import type { Env } from '../hal/index.ts';

export type PresenceOutcome = 'granted' | 'timeout' | 'cancelled';

/** A request that waits for the button: what to do when the wait ends. resume is called at most once. */
export interface NeedPresence<T> {
  /** The key the press is for (errors name it). */
  readonly presenceFor: number;
  /** The rest of the request, with the outcome of the wait: its work after a press, PRESENCE_TIMEOUT or CANCELLED otherwise. */
  resume(outcome: PresenceOutcome): T;
  /**
   * Whether a CANCEL frame's body cancels this request: set for a request inside a session, which only a token of
   * that session cancels (docs/session.md §4.1). Absent: nothing cancels it (a request in the clear never waits).
   */
  cancels?(body: Uint8Array): boolean;
}

/** A handler's answer: done (ok or refused), or waiting for the button. */
export type Outcome<T> = Result<T> | NeedPresence<Result<T>>;

/** Whether a handler's answer waits for the button. */
export function waitsForPress<T>(o: Result<T> | NeedPresence<Result<T>>): o is NeedPresence<Result<T>> {
  return (o as NeedPresence<Result<T>>).presenceFor !== undefined;
}

/**
 * Run `then` after a button press for this use of key `keyId`: POLICY_DENIED at once on a device without a
 * button, else a NeedPresence whose resume runs `then` only for a press, PRESENCE_TIMEOUT or CANCELLED otherwise.
 */
export function afterPress<T>(env: Env, keyId: number, then: () => Result<T>): Outcome<T> {
  if (env.presence === undefined) return err(Status.POLICY_DENIED, Reason.NO_BUTTON, [keyId]);
  return {
    presenceFor: keyId,
    resume(outcome: PresenceOutcome): Result<T> {
      if (outcome === 'granted') return then();
      if (outcome === 'timeout') return err(Status.PRESENCE_TIMEOUT, Reason.PRESS_TIMEOUT, [keyId]);
      return err(Status.CANCELLED, Reason.PRESS_CANCELLED, [keyId]);
    },
  };
}

// User presence per use (docs/security.md §7): the gate a handler asks, and the state the device loop sets when it re-runs a deferred request.
//
// How a button wait works without making handlers asynchronous (docs/security.md §7, docs/protocol.md §1 "Frame types"):
// 1. A handler whose key needs a press calls requirePresence(). On the first run the gate has no outcome: it
//    marks the request `wanted` and returns an error that is never sent.
// 2. The device loop (device.ts) sees `wanted`, keeps the request, sends KEEPALIVE frames (reason
//    PRESENCE_NEEDED) every 100 ms and polls env.presence until a press, the timeout or a CANCEL frame.
// 3. It sets `outcome` and runs the same request once more: now requirePresence() lets it through ('granted')
//    or returns PRESENCE_TIMEOUT / CANCELLED. Only this second run's answer is sent. Inside a session the
//    envelope is opened once; the kept inner body is re-run and sealed with the request's counter.
import { Status } from '../protocol/codes.ts';
import { type Err, err } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import type { DeviceContext } from './context.ts';

export type PresenceOutcome = 'granted' | 'timeout' | 'cancelled';

export class PresenceGate {
  /** Set by the device loop for the re-run of a deferred request; undefined on a first run. */
  outcome: PresenceOutcome | undefined = undefined;
  /** Set by requirePresence() when the current run needs a press it does not have. */
  wanted = false;
  /**
   * A deferred request that came inside a session: its envelope was opened (the counter consumed) but nothing was
   * sealed; the plaintext waits here for the re-run, then is wiped (commands/session_message.ts). At most one: the
   * device loop allows one wait at a time.
   */
  deferredInner: DeferredInner | undefined = undefined;
}

/** An opened inner request body kept for its re-run, with the session and counter its answer is sealed under. */
export interface DeferredInner {
  readonly sessionId: number;
  readonly counter: number;
  readonly body: Uint8Array;
}

/**
 * Ask for a button press for this use of key `keyId` (the errors name it). undefined: go on, the button was pressed
 * for this request. Otherwise the handler returns the Err as it is.
 */
export function requirePresence(ctx: DeviceContext, keyId: number): Err | undefined {
  const g = ctx.presence;
  if (ctx.env.presence === undefined) return err(Status.POLICY_DENIED, Reason.NO_BUTTON, [keyId]);
  if (g.outcome === 'granted') return undefined;
  if (g.outcome === 'timeout') return err(Status.PRESENCE_TIMEOUT, Reason.PRESS_TIMEOUT, [keyId]);
  if (g.outcome === 'cancelled') return err(Status.CANCELLED, Reason.PRESS_CANCELLED, [keyId]);
  g.wanted = true;
  return err(Status.BUSY, Reason.PRESS_PENDING, [keyId]); // never sent: the device loop defers the request
}

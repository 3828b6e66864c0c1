// The device side of one secure session (docs/session.md): handshake, directional keys, envelopes.
//
// Everything here is a function of its arguments and the Crypto HAL: no clock (callers pass `now`, milliseconds from
// Env.clock), no I/O. A refused envelope changes nothing in the session: counters, message count and idle time are
// advanced only by an envelope that authenticated (docs/session.md §5).
import { Reason } from '../../protocol/reasons.ts';
import type { Crypto, Rng } from '../../hal/index.ts';
import { utf8Encode, wipe } from '../../protocol/bytes.ts';
import {
  DEVICE_ID_LENGTH,
  DIRECTION_CANCEL,
  DIRECTION_DEVICE_TO_HOST,
  DIRECTION_HOST_TO_DEVICE,
  EPHEMERAL_LENGTH,
  INFO_DEVICE_TO_HOST,
  INFO_HOST_TO_DEVICE,
  TAG_LENGTH,
  cancelNonce,
  envelopeAad,
  envelopeNonce,
  isValidCounter,
  transcript,
} from './layout.ts';

/** Why a session operation was refused. Each has its own reason so that the host can say what happened. */
export type SessionRefusal =
  /** SESSION_OPEN's host key is not 32 bytes, or is a low-order point (all-zero X25519 result, RFC 7748 §6.1). */
  | 'bad-host-ephemeral'
  /** This engine cannot run X25519 or Ed25519 (Espruino: no BigInt), or the identity key is unusable. */
  | 'unavailable'
  /** Every session slot holds a live session that has logged in; nothing is evicted. */
  | 'table-full'
  /** No session has this id (never opened, or its slot was reused). */
  | 'unknown-session'
  /** The session was closed (SESSION_CLOSE). */
  | 'closed'
  /** No request authenticated for longer than the idle timeout. */
  | 'idle-timeout'
  /** The session carried its maximum number of requests. */
  | 'message-cap'
  /** The table was full and a new SESSION_OPEN took the slot of this session, the oldest that had not logged in. */
  | 'evicted'
  /** The counter is not an integer in 1..2^53 − 1. */
  | 'bad-counter'
  /** The counter equals the last accepted one: the same request again. */
  | 'counter-replayed'
  /** The counter is below the last accepted one: an old request replayed, or requests reordered. */
  | 'counter-behind'
  /** The envelope is shorter than its tag. */
  | 'malformed'
  /** The tag does not verify: tampered bytes, or sealed for another session, counter, direction or key. */
  | 'auth-failed'
  /** sealResponse for a counter that is not the request just accepted, or that was already answered. */
  | 'not-pending';

/** `code` and `args` are the wire's error details (protocol/reasons.ts): the host words them, the device sends no text. */
export type SessionRefused = { ok: false; reason: SessionRefusal; code: Reason; args: number[] };
export type SessionResult<T> = { ok: true; value: T } | SessionRefused;

function refuse(reason: SessionRefusal, code: Reason, args?: number[]): SessionRefused {
  return { ok: false, reason, code, args: args || [] };
}

export interface SessionLimits {
  /** Concurrent sessions (docs/session.md §6: 4). */
  readonly maxSessions: number;
  /** A session with no authenticated request for longer than this (ms) is over. */
  readonly idleTimeoutMs: number;
  /** Requests one session may carry; then the host opens a new one (fresh keys). */
  readonly maxMessages: number;
}

/**
 * Defaults: 4 sessions; 60 s idle (YubiHSM 2 uses 30 s; a CLI call or an agent's burst fits easily, and a crashed
 * host's slot frees itself within a minute); 2^20 requests per session, far below any ChaCha20-Poly1305 usage limit.
 */
export const DEFAULT_SESSION_LIMITS: SessionLimits = { maxSessions: 4, idleTimeoutMs: 60000, maxMessages: 1048576 };

/** What SESSION_OPEN returns to the host. */
export interface OpenReply {
  readonly sessionId: number;
  readonly deviceEphemeral: Uint8Array;
  /** Ed25519 signature by the device identity over the transcript (docs/session.md §2). */
  readonly signature: Uint8Array;
}

/** One session's state on the device. Mutated only by openEnvelope/sealResponse on success, and by endSession. */
export interface SessionState {
  readonly id: number;
  readonly crypto: Crypto;
  readonly limits: SessionLimits;
  /** host→device key (opens requests) and device→host key (seals responses); zeroed when the session ends. */
  readonly keyIn: Uint8Array;
  readonly keyOut: Uint8Array;
  /** Last request counter accepted (0: none yet). */
  lastRequest: number;
  /** Last response counter sealed (0: none yet). */
  lastResponse: number;
  /** Requests accepted so far (the message cap counts these). */
  accepted: number;
  /**
   * When the device last answered in this session (the handshake, or a sealed response): the idle clock counts from
   * the answer, not from the request, so a command that runs longer than the idle timeout on a slow engine (a LOGIN's
   * PBKDF2 under JerryScript) does not expire its own session (docs/session.md §6).
   */
  lastActivity: number;
  /** Why the session is over, once it is: 'closed', 'idle-timeout', 'message-cap' or 'evicted'. */
  ended: SessionRefusal | undefined;
  /** codes.ts Role this session logged in as (LOGIN), 0 when not logged in; back to 0 when the session ends. */
  role: number;
  /**
   * Work that spans requests and belongs to this session's login (a streamed SIGN, docs/protocol.md §4.1): wiped when
   * the session loses its role or ends (dropRole), so it never outlives the login that authorized it.
   */
  work: { wipe(): void } | undefined;
}

/** Take the session's role away, and with it the work its login authorized (LOGOUT, RESET, the session's end). */
export function dropSessionRole(state: SessionState): void {
  state.role = 0;
  const w = state.work;
  state.work = undefined;
  if (w !== undefined) w.wipe();
}

function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i];
  return d === 0;
}

/**
 * The handshake (docs/session.md §2–§3): a fresh X25519 key pair from `rng`, the identity signature over the
 * transcript, and the two directional keys. The ephemeral secret and the shared secret are wiped before returning.
 */
export function openSession(
  crypto: Crypto,
  rng: Rng,
  identitySeed: Uint8Array,
  deviceId: Uint8Array,
  hostEphemeral: Uint8Array,
  sessionId: number,
  now: number,
  limits?: SessionLimits,
): SessionResult<{ reply: OpenReply; state: SessionState }> {
  if (!hostEphemeral || hostEphemeral.length !== EPHEMERAL_LENGTH)
    return refuse('bad-host-ephemeral', Reason.EPHEMERAL_LENGTH, [hostEphemeral ? hostEphemeral.length : 0]);
  if (deviceId.length !== DEVICE_ID_LENGTH) throw new Error('openSession: the device id must be 16 bytes');
  if (!(sessionId >= 1 && sessionId <= 255 && Math.floor(sessionId) === sessionId)) throw new Error('openSession: session id must be 1..255');
  const secret = new Uint8Array(32);
  let shared: Uint8Array | undefined;
  try {
    rng.fill(secret);
    let deviceEphemeral: Uint8Array;
    try {
      deviceEphemeral = crypto.x25519PublicKey(secret);
    } catch (e) {
      return refuse('unavailable', Reason.SESSION_NO_X25519);
    }
    try {
      shared = crypto.x25519(secret, hostEphemeral);
    } catch (e) {
      // the HAL throws on an all-zero result (RFC 7748 §6.1); any other failure is also the host key's fault
      return refuse('bad-host-ephemeral', Reason.EPHEMERAL_LOW_ORDER);
    }
    // checked here too, so that a platform HAL that forgot RFC 7748 §6.1 cannot make a session with a known key
    if (isAllZero(shared)) return refuse('bad-host-ephemeral', Reason.EPHEMERAL_LOW_ORDER);
    const t = transcript(deviceId, hostEphemeral, deviceEphemeral, sessionId);
    let signature: Uint8Array;
    try {
      signature = crypto.ed25519Sign(t, identitySeed);
    } catch (e) {
      // never echo the error text: it could describe the identity key
      return refuse('unavailable', Reason.SESSION_NO_SIGNATURE);
    }
    const salt = crypto.sha256(t);
    const keyIn = crypto.hkdfSha256(shared, salt, utf8Encode(INFO_HOST_TO_DEVICE), 32);
    const keyOut = crypto.hkdfSha256(shared, salt, utf8Encode(INFO_DEVICE_TO_HOST), 32);
    const state: SessionState = {
      id: sessionId,
      crypto,
      limits: limits || DEFAULT_SESSION_LIMITS,
      keyIn,
      keyOut,
      lastRequest: 0,
      lastResponse: 0,
      accepted: 0,
      lastActivity: now,
      ended: undefined,
      role: 0,
      work: undefined,
    };
    return { ok: true, value: { reply: { sessionId, deviceEphemeral, signature }, state } };
  } finally {
    wipe(secret, shared);
  }
}

/** Why the session cannot carry a request at `now`, or undefined if it can (closed, idle, cap: in that order). */
export function sessionUnusable(state: SessionState, now: number): SessionRefused | undefined {
  const id = state.id;
  if (state.ended === 'closed') return refuse('closed', Reason.SESSION_CLOSED, [id]);
  if (state.ended === 'idle-timeout' || now - state.lastActivity > state.limits.idleTimeoutMs)
    return refuse('idle-timeout', Reason.SESSION_IDLE, [id, state.limits.idleTimeoutMs]);
  if (state.ended === 'message-cap' || state.accepted >= state.limits.maxMessages)
    return refuse('message-cap', Reason.SESSION_CAP, [id, state.limits.maxMessages]);
  if (state.ended === 'evicted') return refuse('evicted', Reason.SESSION_EVICTED, [id]);
  if (state.ended !== undefined) return refuse('closed', Reason.SESSION_CLOSED, [id]);
  return undefined;
}

/**
 * Open a request envelope (docs/session.md §4–§5). On success the counter becomes the last accepted one, the
 * message count and the idle clock advance, and the plaintext is returned. On any refusal nothing changes.
 */
export function openEnvelope(state: SessionState, counter: number, sealed: Uint8Array, now: number): SessionResult<Uint8Array> {
  const bad = sessionUnusable(state, now);
  if (bad) return bad;
  const id = state.id;
  if (!isValidCounter(counter)) return refuse('bad-counter', Reason.COUNTER_INVALID, [counter]);
  if (counter === state.lastRequest) return refuse('counter-replayed', Reason.COUNTER_REPLAYED, [id, counter]);
  if (counter < state.lastRequest) return refuse('counter-behind', Reason.COUNTER_BEHIND, [id, counter, state.lastRequest]);
  if (sealed.length < TAG_LENGTH) return refuse('malformed', Reason.ENVELOPE_SHORT, [sealed.length]);
  const plain = state.crypto.aeadOpen(state.keyIn, envelopeNonce(counter), sealed, envelopeAad(id, counter, DIRECTION_HOST_TO_DEVICE));
  if (!plain) return refuse('auth-failed', Reason.ENVELOPE_NOT_AUTHENTIC, [id]);
  state.lastRequest = counter;
  state.accepted++;
  // the session is busy from here until its answer is sealed (sealResponse restarts the idle clock then)
  state.lastActivity = now;
  return { ok: true, value: plain };
}

/**
 * Seal the response to the request just accepted: response counter = request counter (docs/session.md §5). Each
 * counter is sealed at most once, so a nonce is never reused under the device→host key. `now` is when the answer
 * leaves: the idle clock restarts there.
 */
export function sealResponse(state: SessionState, counter: number, plaintext: Uint8Array, now: number): SessionResult<Uint8Array> {
  // an ended session's keys are zeroed: never seal with them
  if (state.ended !== undefined) return refuse(state.ended, Reason.SESSION_CLOSED, [state.id]);
  if (counter !== state.lastRequest || counter <= state.lastResponse) return refuse('not-pending', Reason.RESPONSE_NOT_PENDING, [state.id, counter]);
  const sealed = state.crypto.aeadSeal(state.keyOut, envelopeNonce(counter), plaintext, envelopeAad(state.id, counter, DIRECTION_DEVICE_TO_HOST));
  state.lastResponse = counter;
  state.lastActivity = now;
  return { ok: true, value: sealed };
}

/** End a session: wipe both keys and remember why ('closed' for SESSION_CLOSE). Idempotent. */
export function endSession(state: SessionState, why: SessionRefusal): void {
  wipe(state.keyIn, state.keyOut);
  dropSessionRole(state);
  if (state.ended === undefined) state.ended = why;
}

/**
 * A CANCEL's token for the request with `counter` that waits for the button in this session (docs/session.md §4.1):
 * ChaCha20-Poly1305 under k_h2d of an empty plaintext, with the cancel nonce and AAD, i.e. a 16-byte tag that only
 * the session's host can make. A session that is over cancels nothing.
 */
export function cancelAuthentic(state: SessionState, counter: number, tag: Uint8Array): boolean {
  if (state.ended !== undefined || tag.length !== TAG_LENGTH || !isValidCounter(counter)) return false;
  const plain = state.crypto.aeadOpen(state.keyIn, cancelNonce(counter), tag, envelopeAad(state.id, counter, DIRECTION_CANCEL));
  return plain !== undefined && plain.length === 0;
}

/** SESSION_CLOSE. */
export function closeSession(state: SessionState): void {
  endSession(state, 'closed');
}

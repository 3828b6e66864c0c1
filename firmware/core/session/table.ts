// The device's session table (docs/session.md §6): a few slots, ids 1..255, idle expiry from the caller's clock, and when full the oldest session that has not logged in makes room.
import { Reason } from '../../protocol/reasons.ts';
import { Role } from '../../protocol/codes.ts';
import type { Crypto, Rng } from '../../hal/index.ts';
import {
  DEFAULT_SESSION_LIMITS,
  closeSession,
  dropSessionRole,
  endSession,
  openEnvelope,
  openSession,
  sealResponse,
  sessionUnusable,
  type OpenReply,
  type SessionLimits,
  type SessionResult,
  type SessionState,
} from './session.ts';

/**
 * At most `limits.maxSessions` sessions. A slot is free when empty or when its session is over (closed, idle
 * past the timeout, or at its message cap). When every slot holds a live session, a new SESSION_OPEN ends the
 * oldest one that has not logged in (anyone on the link can open sessions and keep them alive with ECHO, which
 * would lock the owner out); a logged-in session is never ended for a new one, and if every live session is
 * logged in the new one is refused (docs/session.md §6).
 */
export class SessionTable {
  readonly limits: SessionLimits;
  private readonly slots: (SessionState | undefined)[] = [];
  /** When each slot's session was opened, as a count of opens: the oldest unauthenticated one is evicted first. */
  private readonly openedAt: number[] = [];
  private opens = 0;
  /** Ids of sessions evicted since their id was last handed out, so a late envelope learns why (at most 255). */
  private readonly evicted: number[] = [];
  /** Ids roll 1..255 so that a just-closed id is not handed out again at once (a late envelope then finds no session). */
  private nextId = 1;

  constructor(limits?: Partial<SessionLimits>) {
    const d = DEFAULT_SESSION_LIMITS;
    const l = limits || {};
    this.limits = {
      maxSessions: l.maxSessions !== undefined ? l.maxSessions : d.maxSessions,
      idleTimeoutMs: l.idleTimeoutMs !== undefined ? l.idleTimeoutMs : d.idleTimeoutMs,
      maxMessages: l.maxMessages !== undefined ? l.maxMessages : d.maxMessages,
    };
    if (!(this.limits.maxSessions >= 1 && this.limits.maxSessions <= 255)) throw new Error('SessionTable: maxSessions must be 1..255');
    for (let i = 0; i < this.limits.maxSessions; i++) {
      this.slots.push(undefined);
      this.openedAt.push(0);
    }
  }

  /** End (and wipe) every session that is unusable at `now`; returns how many are still live. */
  sweep(now: number): number {
    let live = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!s) continue;
      const bad = sessionUnusable(s, now);
      if (bad) endSession(s, bad.reason);
      else live++;
    }
    return live;
  }

  /** SESSION_OPEN: the handshake in a free slot, with a fresh id. */
  open(crypto: Crypto, rng: Rng, identitySeed: Uint8Array, deviceId: Uint8Array, hostEphemeral: Uint8Array, now: number): SessionResult<OpenReply> {
    this.sweep(now);
    let slot = -1;
    for (let i = 0; i < this.slots.length && slot < 0; i++) {
      const s = this.slots[i];
      if (!s || s.ended !== undefined) slot = i;
    }
    const evict = slot < 0 ? this.oldestNotLoggedIn() : -1;
    if (slot < 0 && evict < 0)
      return { ok: false, reason: 'table-full', code: Reason.SESSIONS_FULL, args: [this.limits.maxSessions, this.limits.idleTimeoutMs] };
    const id = this.freshId();
    const r = openSession(crypto, rng, identitySeed, deviceId, hostEphemeral, id, now, this.limits);
    if (!r.ok) return r;
    // only a handshake that succeeded takes a slot: a bad SESSION_OPEN evicts nobody
    if (slot < 0) {
      slot = evict;
      const victim = this.slots[slot] as SessionState;
      endSession(victim, 'evicted');
      this.evicted.push(victim.id);
    }
    const again = this.evicted.indexOf(id);
    if (again >= 0) this.evicted.splice(again, 1);
    this.slots[slot] = r.value.state;
    this.openedAt[slot] = ++this.opens;
    this.nextId = (id % 255) + 1;
    return { ok: true, value: r.value.reply };
  }

  /** The slot of the live session opened longest ago that has not logged in, or -1 when every one has. */
  private oldestNotLoggedIn(): number {
    let best = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && s.ended === undefined && s.role === 0 && (best < 0 || this.openedAt[i] < this.openedAt[best])) best = i;
    }
    return best;
  }

  private freshId(): number {
    let id = this.nextId;
    for (let n = 0; n < 255; n++) {
      let used = false;
      for (let i = 0; i < this.slots.length; i++) {
        const s = this.slots[i];
        if (s && s.id === id) used = true;
      }
      if (!used) return id;
      id = (id % 255) + 1;
    }
    throw new Error('SessionTable: no free session id'); // unreachable: at most 255 slots, one is free
  }

  /** The session with this id, live or over (undefined once its slot holds another session). */
  get(sessionId: number): SessionState | undefined {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && s.id === sessionId) return s;
    }
    return undefined;
  }

  private unknown<T>(sessionId: number): SessionResult<T> {
    if (this.evicted.indexOf(sessionId) >= 0) return { ok: false, reason: 'evicted', code: Reason.SESSION_EVICTED, args: [sessionId] };
    return { ok: false, reason: 'unknown-session', code: Reason.SESSION_UNKNOWN, args: [sessionId] };
  }

  /** Open a request envelope of session `sessionId`. A session found idle or at its cap is ended (keys wiped). */
  openEnvelope(sessionId: number, counter: number, sealed: Uint8Array, now: number): SessionResult<Uint8Array> {
    const s = this.get(sessionId);
    if (!s) return this.unknown(sessionId);
    const r = openEnvelope(s, counter, sealed, now);
    if (!r.ok && (r.reason === 'idle-timeout' || r.reason === 'message-cap')) endSession(s, r.reason);
    return r;
  }

  /** Seal the response to the request `counter` of session `sessionId` just accepted; `now` is when it leaves. */
  sealResponse(sessionId: number, counter: number, plaintext: Uint8Array, now: number): SessionResult<Uint8Array> {
    const s = this.get(sessionId);
    if (!s) return this.unknown(sessionId);
    return sealResponse(s, counter, plaintext, now);
  }

  /**
   * The handshake of session `sessionId` is answered at `now`: its idle clock starts there, not when SESSION_OPEN
   * arrived, so a slow engine's X25519 and Ed25519 do not count against the new session (docs/session.md §6).
   */
  answered(sessionId: number, now: number): void {
    const s = this.get(sessionId);
    if (s && s.ended === undefined) s.lastActivity = now;
  }

  /** SESSION_CLOSE: end the session and wipe its keys. Seal the response to the close request first. */
  close(sessionId: number): SessionResult<true> {
    const s = this.get(sessionId);
    if (!s) return this.unknown(sessionId);
    if (s.ended === 'closed') return { ok: false, reason: 'closed', code: Reason.SESSION_CLOSED, args: [sessionId] };
    closeSession(s);
    return { ok: true, value: true };
  }

  /** End every session (reset, reinitialisation, or a PIN change that must log everyone out). */
  closeAll(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s) closeSession(s);
    }
  }

  /** Log every session out (RESET: the PINs they logged in with are gone); the sessions stay open. */
  dropRoles(): void {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s) dropSessionRole(s);
    }
  }

  /**
   * Live sessions at `now` logged in as user or SO: while there are none, the master key must not be in RAM
   * (docs/security.md §5). An auditor's session does not count: its PIN opens no key (docs/audit.md §7).
   */
  loggedIn(now: number): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && (s.role === Role.USER || s.role === Role.SO) && !sessionUnusable(s, now)) n++;
    }
    return n;
  }

  /** Live sessions at `now` (INFO can report it). */
  live(now: number): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && !sessionUnusable(s, now)) n++;
    }
    return n;
  }
}

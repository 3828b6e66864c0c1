// The secure session under HsmClient (docs/protocol.md §6, docs/session.md): opened over the link when a gated command needs it, checked against the pinned identity (host/known-devices.ts), opened again when the device forgot it, logged in again with the kept PIN, closed with SESSION_CLOSE.
import { Command, COMMANDS, cborEncode, needsRole, type CborMap, type CborValue, type Message, type Schema } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { HostSession, SessionError, SessionHandshake } from './session.ts';
import { KnownDevices, TrustError, defaultKnownDevicesPath, type KnownDevice } from './known-devices.ts';
import type { CallOptions, Link } from './link.ts';
import { encodeRequest, inClear, parseBody, wipeIfSecret, type EncodedRequest } from './messages.ts';
import type { Credentials } from './credentials.ts';
import { closeOnExit, forgetOnExit } from './exit-hooks.ts';

export interface SessionOptions {
  /**
   * Pin a device that is not in the known-devices file yet (the CLI's --trust). Never accepts a device whose
   * identity changed. Default false: an unknown device is refused with UNKNOWN_DEVICE.
   */
  trust?: boolean;
  /**
   * The known-devices file (docs/session.md §9). Default: $HSM_KNOWN_DEVICES, else the user's config directory.
   * null pins in memory for this client only (the default for a simulator this process created itself).
   */
  knownDevices?: string | null;
  /**
   * Close the session (SESSION_CLOSE, written synchronously where the link allows it) and wipe the PIN and session
   * keys when the process exits or dies of SIGINT/SIGTERM/SIGHUP without close(). Default true.
   */
  closeOnExit?: boolean;
}

/** Whether a device's identity is pinned on this host (`tinyhsm info`). */
export interface PinState {
  /** 'pinned': in the file with this key; 'not-pinned': not in the file; 'changed': in the file with another key; 'in-memory': a simulator this process made. */
  state: 'pinned' | 'not-pinned' | 'changed' | 'in-memory';
  /** The known-devices file consulted (absent for 'in-memory'). */
  path?: string;
  /** The pinned entry, for 'pinned' and 'changed'. */
  entry?: KnownDevice;
}

/** SESSION_CLOSE on close() is best effort: a device that does not answer quickly drops the session at its idle timeout anyway. */
const CLOSE_TIMEOUT_MS = 1000;
const toHexString = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** How to find out whether a command that must not run twice ran (MAY_HAVE_RUN). */
const MAY_HAVE_RUN_CHECK: { readonly [command: string]: string } = {
  KEY_GENERATE: 'List the keys (`tinyhsm list`) to see whether a new key was made.',
  KEY_IMPORT: 'List the keys (`tinyhsm list`) to see whether the key was imported.',
  KEY_DELETE: 'List the keys (`tinyhsm list`) to see whether the key is gone.',
  INIT: 'Run `tinyhsm info`: it shows whether the device is initialized.',
  CHANGE_PIN: 'Log in with the new PIN; if it is refused, the old one still holds (INFO shows the tries left).',
  UNBLOCK: 'Log in as the user with the new PIN; if it is refused, the unblock did not run (INFO shows the tries left).',
  LOGIN: 'Log in again; INFO shows the PIN tries left.',
};
/** Device answers to a LOGIN that mean the stored PIN must not be tried again by itself. */
const FORGET_PIN_ON: ReadonlySet<string> = new Set(['PIN_INCORRECT', 'PIN_BLOCKED', 'PIN_LOCKED_UNTIL_POWER_CYCLE', 'NOT_INITIALIZED', 'WRONG_ROLE']);

export class SessionKeeper {
  private readonly link: Link;
  private readonly trust: boolean;
  /** undefined: pin in memory only (self-hosted simulator, or knownDevices: null). */
  private readonly knownDevices: KnownDevices | undefined;
  /** The identity this client accepted at its first handshake; every later handshake must match it. */
  private identity: { deviceId: string; identityKey: string } | undefined;
  private current: HostSession | undefined;
  private sessionOpening: { promise: Promise<HostSession>; waiters: number; ac: AbortController } | undefined;
  /** Set by close(): no new calls, while the last SESSION_CLOSE may still travel. */
  private closeReason: HsmError | undefined;
  /** Errors that the device gave for the envelope itself (not the inner command): only these may be retried. */
  private readonly outerErrors = new WeakSet<HsmError>();
  /** The role each session holds on the device, as this client logged it in (docs/security.md §1: a role belongs to a session). */
  private readonly roles = new WeakMap<HostSession, number>();
  /** The role and PIN to log in again with in a new session; wiped by logout(), close() and at exit. */
  private kept: Credentials | undefined;
  /** The automatic LOGIN being sent in a session, shared by the calls waiting for it. */
  private loginOp: { session: HostSession; promise: Promise<void> } | undefined;
  /**
   * Gated calls not yet in the queue (still waiting for their session or its login). A role switch (login(),
   * logout()) waits for the ones issued before it, so a call made before the switch reaches the device before it,
   * in the role it was made in.
   */
  private readonly admissions = new Set<Promise<void>>();
  /** The last role switch (login/logout), settled or not; gated calls issued while it runs wait for it. */
  private switching: Promise<unknown> = Promise.resolve();

  /** `credentials`: the role and PIN to log in with before the first command that needs a role (ClientOptions.login); the keeper owns and wipes them. */
  constructor(link: Link, opts: SessionOptions, credentials: Credentials | undefined) {
    this.link = link;
    this.kept = credentials;
    this.trust = opts.trust === true;
    const file = opts.knownDevices !== undefined ? opts.knownDevices : link.transport.selfHosted ? null : defaultKnownDevicesPath();
    this.knownDevices = file === null ? undefined : new KnownDevices(file);
    link.onShutdown(() => this.linkClosed());
    if (opts.closeOnExit !== false) closeOnExit(this);
  }

  /** The session the next gated command will use, if any. */
  get session(): HostSession | undefined {
    return this.current;
  }

  /** The device id and identity key (hex) accepted at the first handshake; the object itself (KEY_ATTEST checks against it). */
  get pinned(): { deviceId: string; identityKey: string } | undefined {
    return this.identity;
  }

  /** The kept role and PIN, if any. */
  get credentials(): Credentials | undefined {
    return this.kept;
  }

  /** Set once close() began: every new call fails with it. */
  get closing(): HsmError | undefined {
    return this.closeReason;
  }

  /** A LOGIN sent by hand (HsmClient.call) gave `session` this role. */
  noteLogin(session: HostSession, role: number): void {
    this.roles.set(session, role);
  }

  /** A LOGOUT sent by hand (HsmClient.call) dropped the role of `session`; the kept PIN goes with it. */
  noteLogout(session: HostSession): void {
    this.roles.delete(session);
    this.wipeCredentials();
  }

  /**
   * Log the session in as `role` with `pin` (already checked; owned by the keeper from now on: kept when the device
   * accepts it, wiped when it does not), after logging out of another role. In call order with other role switches.
   */
  login(role: number, pin: Uint8Array, opts: CallOptions): Promise<void> {
    return this.roleSwitch(async () => {
      try {
        this.wipeCredentials(); // whatever happens next, the previous role is over
        const s = this.current;
        if (s && !s.isSpent() && this.roles.has(s)) await this.logoutSession(s, opts);
        const { session } = await this.sendLogin(role, pin, opts);
        this.roles.set(session, role);
        this.kept = { role, pin };
      } catch (e) {
        pin.fill(0);
        throw e;
      }
    });
  }

  /** Drop the session's role (LOGOUT) and wipe the kept PIN; the session stays open. */
  logout(opts: CallOptions): Promise<void> {
    return this.roleSwitch(async () => {
      this.wipeCredentials();
      const s = this.current;
      if (!s || s.isSpent()) return; // no live session: no role on the device either
      await this.logoutSession(s, opts);
    });
  }

  /** After a CHANGE_PIN of `role`: keep `pin` instead of the old one when that role's PIN is kept (true: the keeper owns `pin` now). */
  keepNewPin(role: number, pin: Uint8Array): boolean {
    const c = this.kept;
    if (!c || c.role !== role) return false;
    c.pin.fill(0);
    this.kept = { role, pin };
    return true;
  }

  /** Whether a device (as INFO reports it) is pinned on this host; reads the known-devices file. */
  pinState(deviceId: Uint8Array, identityKey: Uint8Array): PinState {
    if (!this.knownDevices) return { state: 'in-memory' };
    const path = this.knownDevices.path;
    let entry: KnownDevice | undefined;
    try {
      entry = this.knownDevices.get(deviceId);
    } catch (e) {
      throw trustToHsm(e);
    }
    if (!entry) return { state: 'not-pinned', path };
    return { state: entry.identityKey === toHexString(identityKey) ? 'pinned' : 'changed', path, entry };
  }

  /**
   * Close the session (SESSION_CLOSE, best effort: the device also drops it at its idle timeout), wipe the PIN and
   * the session keys, fail whatever is still waiting, and shut the link (the caller closes the transport).
   */
  async close(): Promise<void> {
    forgetOnExit(this);
    this.wipeCredentials();
    if (this.link.closed) return;
    const reason = new HsmError('CLOSED', 'the client was closed', { hint: 'open a new HsmClient' });
    this.closeReason = reason;
    // whatever waits is failed now, as before sessions; the link stays open for one last SESSION_CLOSE
    this.link.failWaiting(reason);
    const s = this.current;
    if (s && !s.isSpent()) {
      try {
        await this.sendEnvelope(s, Command.SESSION_CLOSE, 'SESSION_CLOSE', Uint8Array.of(Command.SESSION_CLOSE), COMMANDS[Command.SESSION_CLOSE].response, {
          timeoutMs: Math.min(CLOSE_TIMEOUT_MS, this.link.timeoutMs),
          retries: 0,
        });
      } catch (e) {
        /* best effort: the device forgets the session at its idle timeout */
      }
    }
    if (this.current) this.dropSession(this.current);
    this.link.shutdown(reason);
  }

  /**
   * What close() does, synchronously, for a process that is ending (SessionOptions.closeOnExit): SESSION_CLOSE sealed
   * and written at once where the link can write synchronously (no answer awaited), the PIN and the session keys
   * wiped. Where the link cannot write synchronously the device drops the session at its idle timeout.
   */
  closeSync(): void {
    forgetOnExit(this);
    this.wipeCredentials();
    const s = this.current;
    if (s && !s.isSpent() && this.link.canWriteSync) {
      try {
        const env = s.seal(Uint8Array.of(Command.SESSION_CLOSE));
        const outer = encodeRequest(Command.SESSION_MESSAGE, { sessionId: env.sessionId, counter: env.counter, ciphertext: env.ciphertext });
        if (!(outer instanceof HsmError)) this.link.writeSync(outer.body);
      } catch (e) {
        /* best effort: the process is ending */
      }
    }
    if (this.current) this.dropSession(this.current);
  }

  /** The link closed (the transport went away, or close()): nothing more can be sent, so the PIN and the session go. */
  private linkClosed(): void {
    forgetOnExit(this);
    this.wipeCredentials();
    if (this.current) this.dropSession(this.current);
  }

  /**
   * Run a role switch in call order: after the switch before it, and after every gated call issued before it has
   * been queued (so those run in the role they were made in); gated calls issued after it wait for it to finish.
   */
  private roleSwitch(fn: () => Promise<void>): Promise<void> {
    const before = Array.from(this.admissions); // taken now: later calls wait for this switch, not the reverse
    const prev = this.switching;
    const p = prev.then(() => Promise.all(before)).then(fn);
    this.switching = p.catch(() => undefined);
    return p;
  }

  /** The LOGIN of a role switch, not gated (it would wait for itself); the plaintext with the PIN is wiped. */
  private async sendLogin(role: number, pin: Uint8Array, opts: CallOptions): Promise<{ message: Message; session: HostSession }> {
    const r = encodeRequest(Command.LOGIN, { role, pin });
    if (r instanceof HsmError) throw r;
    if (this.closeReason) throw this.closeReason;
    try {
      return await this.callInSession(r, opts, false);
    } finally {
      wipeIfSecret(r);
    }
  }

  /**
   * A gated command, returning the session it ran in: sealed in the current session (opened first if there is none or
   * it is spent), after a LOGIN with the kept PIN when the command needs a role the session lacks. When the
   * device answers SESSION_INVALID for the envelope (idle timeout, cap, device restarted), a new session is opened
   * and the command sent once more only if running it twice does what running it once does (COMMANDS' `resend`):
   * the outer status is not authenticated, so a man in the middle can let a request run, drop its answer and forge
   * SESSION_INVALID. Any other command fails with MAY_HAVE_RUN, saying how to check. Every other failure is final:
   * a command whose envelope may have executed is never sent again (only retransmitted as the same bytes, which
   * the reply cache answers). `gated` false: it does not wait for a role switch (a switch's own LOGIN). The caller
   * wipes the plaintext body.
   */
  async callInSession(r: EncodedRequest, opts: CallOptions, gated = true): Promise<{ message: Message; session: HostSession }> {
    const { code, name, body: inner, schema } = r;
    // both taken before the first await: a role switch issued after this call waits until it is queued, and this
    // call waits for a switch issued before it (a switch's own LOGIN is not gated, or it would wait for itself)
    const switching = gated ? this.switching : undefined;
    let admit!: () => void;
    const admission = new Promise<void>((resolve) => (admit = resolve));
    this.admissions.add(admission);
    try {
      if (switching) await switching;
      return await this.sessionRounds(code, name, inner, schema, opts, () => {
        admit();
        this.admissions.delete(admission);
      });
    } finally {
      admit();
      this.admissions.delete(admission);
    }
  }

  private async sessionRounds(
    code: number,
    name: string,
    inner: Uint8Array,
    schema: Schema | undefined,
    opts: CallOptions,
    queued: () => void,
  ): Promise<{ message: Message; session: HostSession }> {
    let reopened = false;
    for (let round = 0; ; round++) {
      const s = await this.ensureSession(opts, name);
      if (this.closeReason) throw this.closeReason;
      try {
        // a new session has no role: log in again first with the kept PIN (docs/security.md §1)
        const spec = COMMANDS[code];
        if (spec === undefined || needsRole(spec)) await this.ensureLoggedIn(s, opts);
        if (this.closeReason) throw this.closeReason;
        // seal() throws a SessionError, synchronously and before anything is sent, when the host's mirror of the
        // idle timeout or cap ran out since ensureSession
        const p = this.sendEnvelope(s, code, name, inner, schema, opts);
        queued();
        return { message: await p, session: s };
      } catch (e) {
        if (e instanceof SessionError) {
          if (round >= 2) throw sessionToHsm(e, name);
          this.dropSession(s);
          continue;
        }
        if (e instanceof HsmError && e.code === 'SESSION_INVALID' && this.outerErrors.has(e) && !reopened) {
          reopened = true;
          this.dropSession(s);
          const pair = COMMANDS[code];
          if (pair && pair.resend) continue;
          throw new HsmError(
            'MAY_HAVE_RUN',
            `${name}: the answer said the session was invalid (${e.deviceMessage || 'SESSION_INVALID'}), but that answer is not authenticated and the request may have run; it was not sent again. ${MAY_HAVE_RUN_CHECK[name] || 'Check the device before you retry.'}`,
            { command: name, cause: e },
          );
        }
        // the connector's device went away (docs/connector.md §5): its sessions went with it, so the next call opens a
        // new one instead of meeting SESSION_INVALID, which would make a command that must not run twice MAY_HAVE_RUN
        if (e instanceof HsmError && e.code === 'DEVICE_UNAVAILABLE') this.dropSession(s);
        throw e;
      }
    }
  }

  /**
   * LOGIN in `s` with the kept PIN unless `s` already holds that role. Calls waiting for the same session share one
   * LOGIN. A PIN the device refuses is forgotten at once, so the client never spends a second try by itself.
   */
  private ensureLoggedIn(s: HostSession, opts: CallOptions): Promise<void> {
    const creds = this.kept;
    if (!creds || this.roles.get(s) === creds.role) return Promise.resolve();
    if (this.loginOp && this.loginOp.session === s) return this.loginOp.promise;
    const promise = (async () => {
      if (this.roles.has(s)) await this.logoutSession(s, opts);
      const r = encodeRequest(Command.LOGIN, { role: creds.role, pin: creds.pin });
      if (r instanceof HsmError) throw r;
      try {
        await this.sendEnvelope(s, r.code, r.name, r.body, r.schema, { timeoutMs: opts.timeoutMs, retries: opts.retries, signal: opts.signal });
      } finally {
        r.body.fill(0);
      }
      this.roles.set(s, creds.role);
    })();
    const op = { session: s, promise };
    this.loginOp = op;
    promise.then(
      () => {
        if (this.loginOp === op) this.loginOp = undefined;
      },
      (e: unknown) => {
        if (this.loginOp === op) this.loginOp = undefined;
        if (e instanceof HsmError && FORGET_PIN_ON.has(e.code) && this.kept === creds) this.wipeCredentials();
      },
    );
    return promise;
  }

  /** LOGOUT in `s` (no new session for it: a new session has no role anyway). A session the device forgot counts as logged out. */
  private async logoutSession(s: HostSession, opts: CallOptions): Promise<void> {
    try {
      await this.sendEnvelope(s, Command.LOGOUT, 'LOGOUT', Uint8Array.of(Command.LOGOUT), COMMANDS[Command.LOGOUT].response, opts);
    } catch (e) {
      if (e instanceof SessionError) this.dropSession(s);
      else if (e instanceof HsmError && e.code === 'SESSION_INVALID' && this.outerErrors.has(e)) this.dropSession(s);
      else throw e;
    } finally {
      this.roles.delete(s);
    }
  }

  /** Forget the kept PIN (zeroed). */
  private wipeCredentials(): void {
    if (this.kept) this.kept.pin.fill(0);
    this.kept = undefined;
  }

  /** Seal `inner` with the next counter of `s` and queue it; synchronous up to the queue, so counters follow queue order. */
  private sendEnvelope(s: HostSession, code: number, name: string, inner: Uint8Array, schema: Schema | undefined, opts: CallOptions): Promise<Message> {
    const env = s.seal(inner);
    const outer = encodeRequest(Command.SESSION_MESSAGE, { sessionId: env.sessionId, counter: env.counter, ciphertext: env.ciphertext });
    if (outer instanceof HsmError) return Promise.reject(outer); // an inner request too large for one envelope
    return this.link.send(
      {
        name,
        body: outer.body,
        answer: (body, errorFrame) => this.openAnswer(s, env.counter, code, name, schema, body, errorFrame),
        cancelBody: () => cancelBody(s, env.counter),
      },
      opts,
    );
  }

  /**
   * The current session, or the one being opened. Calls waiting for the same handshake share it; a caller whose
   * signal fires leaves at once, and when every waiter has left the handshake itself is aborted (CANCEL), so the
   * link is free for the next request.
   */
  private ensureSession(opts: CallOptions, name: string): Promise<HostSession> {
    const s = this.current;
    if (s && !s.isSpent()) return Promise.resolve(s);
    if (s) this.dropSession(s); // the device ends it by itself (idle, cap); no SESSION_CLOSE needed
    let op = this.sessionOpening;
    if (!op) {
      const ac = new AbortController();
      const created: { promise: Promise<HostSession>; waiters: number; ac: AbortController } = { promise: this.openSession(opts, ac.signal), waiters: 0, ac };
      this.sessionOpening = op = created;
      const clear = () => {
        if (this.sessionOpening === created) this.sessionOpening = undefined;
      };
      created.promise.then(clear, clear);
    }
    const shared = op;
    shared.waiters++;
    return abortable(shared.promise, opts.signal, name, () => {
      if (--shared.waiters === 0) shared.ac.abort();
    });
  }

  /** A command in the clear, as HsmClient.callClear sends it. */
  private async sendClear(command: number, request: object, opts: CallOptions): Promise<Message> {
    const r = encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.closeReason) throw this.closeReason;
    return this.link.send(inClear(r), opts);
  }

  /** SESSION_OPEN: fresh X25519 key, identity checked against the pin, signature over the transcript verified (docs/session.md §2). */
  private async openSession(opts: CallOptions, signal: AbortSignal): Promise<HostSession> {
    const hs = SessionHandshake.create();
    // its own signal: the handshake is shared by every call waiting for it, and ends only when all of them gave up
    const r = await this.sendClear(Command.SESSION_OPEN, { hostEphemeral: hs.hostEphemeral }, { timeoutMs: opts.timeoutMs, retries: opts.retries, signal });
    const deviceId = r.deviceId as Uint8Array;
    const identityKey = r.identityPublicKey as Uint8Array;
    const answer = { sessionId: r.sessionId as number, deviceEphemeral: r.deviceEphemeral as Uint8Array, signature: r.signature as Uint8Array };
    try {
      this.checkIdentity(deviceId, identityKey);
    } catch (e) {
      await this.abandon(hs, deviceId, identityKey, answer);
      throw e;
    }
    let session: HostSession;
    try {
      // verified against the key just checked against the pin (equal to it, or the check threw)
      session = hs.finish(deviceId, identityKey, answer);
    } catch (e) {
      throw e instanceof SessionError ? sessionToHsm(e, 'SESSION_OPEN') : e;
    }
    if (this.closeReason) {
      session.close();
      throw this.closeReason;
    }
    this.current = session;
    return session;
  }

  /**
   * The device opened a session this host refuses to use (identity not pinned, or changed). It would hold one of
   * the device's few slots until the idle timeout, so close it: SESSION_CLOSE carries no secret, and nothing the
   * device answers is used. Best effort, never throws.
   */
  private async abandon(
    hs: SessionHandshake,
    deviceId: Uint8Array,
    identityKey: Uint8Array,
    answer: { sessionId: number; deviceEphemeral: Uint8Array; signature: Uint8Array },
  ): Promise<void> {
    let s: HostSession | undefined;
    try {
      s = hs.finish(deviceId, identityKey, answer);
      await this.sendEnvelope(s, Command.SESSION_CLOSE, 'SESSION_CLOSE', Uint8Array.of(Command.SESSION_CLOSE), COMMANDS[Command.SESSION_CLOSE].response, {
        timeoutMs: Math.min(CLOSE_TIMEOUT_MS, this.link.timeoutMs),
        retries: 0,
      });
    } catch (e) {
      /* a bad signature or no answer: the device drops the slot at its idle timeout */
    } finally {
      if (s) s.close();
    }
  }

  /** Trust on first use (docs/session.md §9): the file, or this client's memory for a self-hosted simulator. */
  private checkIdentity(deviceId: Uint8Array, identityKey: Uint8Array): void {
    const id = toHexString(deviceId);
    const key = toHexString(identityKey);
    const p = this.identity;
    if (p) {
      if (p.deviceId === id && p.identityKey === key) return;
      throw new HsmError(
        'IDENTITY_CHANGED',
        p.deviceId !== id
          ? `another device answers on ${this.link.where()}: device ${id} instead of ${p.deviceId}, which this client opened a session with`
          : `the identity key of device ${id} changed while this client was connected (was ${p.identityKey}, now ${key}): the device was reset, or something is impersonating it`,
      );
    }
    if (this.knownDevices) {
      try {
        this.knownDevices.check(id, key, { trust: this.trust });
      } catch (e) {
        throw trustToHsm(e);
      }
    }
    this.identity = { deviceId: id, identityKey: key };
  }

  /** Forget a session and wipe its keys. */
  private dropSession(s: HostSession): void {
    s.close();
    if (this.current === s) this.current = undefined;
  }

  /** The answer to an envelope of `session` sealed with counter `sent`: its outer status, then the inner answer to `code` (docs/protocol.md §6). */
  private openAnswer(
    session: HostSession,
    sent: number,
    code: number,
    name: string,
    schema: Schema | undefined,
    body: Uint8Array,
    errorFrame: boolean,
  ): Message | HsmError {
    // the outer answer: an error about the envelope itself (never executed), or {counter, ciphertext}
    const outer = parseBody(name, COMMANDS[Command.SESSION_MESSAGE].response, body, errorFrame);
    if (outer instanceof HsmError) {
      if (outer.fromDevice) this.outerErrors.add(outer);
      return outer;
    }
    const counter = outer.counter as number;
    if (counter !== sent) {
      this.dropSession(session);
      return new HsmError('SESSION_REFUSED', `${name}: the device answered session counter ${counter} to request counter ${sent}`, { command: name });
    }
    let plain: Uint8Array;
    try {
      plain = session.open(counter, outer.ciphertext as Uint8Array);
    } catch (e) {
      // a response we cannot trust: the command may have run, so it is not retried; a new session comes next time
      this.dropSession(session);
      return e instanceof SessionError ? sessionToHsm(e, name) : new HsmError('SESSION_REFUSED', `${name}: ${(e as Error).message}`, { command: name });
    }
    const inner = parseBody(name, schema, plain, false);
    plain.fill(0);
    // the device forgot the session when it answered SESSION_CLOSE
    if (code === Command.SESSION_CLOSE && !(inner instanceof HsmError)) this.dropSession(session);
    return inner;
  }
}

/** A CANCEL frame's body for a request in a session: `{1: sessionId, 2: counter, 3: token}` (docs/protocol.md §1). */
function cancelBody(session: HostSession, counter: number): Uint8Array {
  try {
    const m: CborMap = new Map<number, CborValue>([
      [1, session.sessionId],
      [2, counter],
      [3, session.cancelToken(counter)],
    ]);
    return cborEncode(m);
  } catch (err) {
    return new Uint8Array(0); // the session is over: the device cancels nothing of it anyway
  }
}

/** A known-devices refusal as an HsmError (the message already says what to do). */
function trustToHsm(e: unknown): unknown {
  if (!(e instanceof TrustError)) return e;
  const code = e.code === 'BAD_FILE' ? 'KNOWN_DEVICES_FILE' : e.code;
  // the TrustError text already tells the user what to do; no second hint
  return new HsmError(code, e.message, { hint: '', cause: e });
}

/** A host-side session refusal (docs/session.md §5) as an HsmError; its text never contains key bytes. */
function sessionToHsm(e: SessionError, command: string): HsmError {
  return new HsmError('SESSION_REFUSED', `${command}: ${e.message} [${e.reason}]`, { command, cause: e });
}

/**
 * `p`, or an ABORTED HsmError as soon as `signal` fires: a caller waiting for the shared session handshake can give
 * up at once while the handshake goes on for the others.
 */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, name: string, onAbort: () => void): Promise<T> {
  if (!signal) return p;
  const err = () => {
    const reason = signal.reason;
    return new HsmError('ABORTED', `${name} was aborted${reason instanceof Error && reason.name !== 'AbortError' ? ': ' + reason.message : ''}`, {
      command: name,
      cause: reason,
    });
  };
  if (signal.aborted) {
    onAbort();
    return Promise.reject(err());
  }
  return new Promise<T>((resolve, reject) => {
    const leave = () => {
      reject(err());
      onAbort();
    };
    signal.addEventListener('abort', leave, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', leave);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', leave);
        reject(e);
      },
    );
  });
}

// The device: power-on self-tests, the flash store, its name and keys, and the frame loop on the transport (docs/architecture.md §3, docs/storage.md §7, docs/protocol.md §1).
import type { Env, TimerHandle } from '../hal/index.ts';
import { Alg, FrameType, PROTOCOL_VERSION, Status, type StatusCode } from '../protocol/codes.ts';
import { Reason } from '../protocol/reasons.ts';
import type { ErrorDetail } from '../protocol/result.ts';
import { equalBytes } from '../protocol/bytes.ts';
import { DEFAULT_MAX_PACKET, FrameReader, encodeArmorLine, encodeFrame, type Frame, type ReaderEvent } from '../protocol/frame.ts';
import { MAX_LIST, MAX_LABEL, MAX_PUBLIC_KEY, MAX_KEY_ID } from '../protocol/commands/limits.ts';
import type { DeviceContext } from './context.ts';
import { KeyStore } from './keystore.ts';
import { Store } from './store/index.ts';
import { RamFlash } from './ram_flash.ts';
import { loadOrMakeIdentity } from './identity.ts';
import { runSelftests, type SelftestReport } from './selftest.ts';
import { dispatch, errorBody } from './dispatch.ts';
import { KeepaliveReason } from '../protocol/codes.ts';
import type { NeedPresence, PresenceOutcome } from './presence.ts';
import { SessionTable, type SessionLimits } from './session/index.ts';
import { AuthState, type KeyLock } from './auth/state.ts';
import { ok } from '../protocol/result.ts';
import { bindToCounter } from './rollback.ts';
import { Officers } from './officers.ts';
import { Domain } from './domain.ts';
import { AuditEvent, AuditLog } from './audit.ts';
import { AUDIT_ENTRY_LENGTH } from '../protocol/commands/limits.ts';
import { RECORD_OVERHEAD } from './store/format.ts';

export const DEFAULT_SLOTS = 16;
export const DEFAULT_FIRMWARE_VERSION = '0.1.0';

export interface DeviceOptions {
  /** Number of key slots (default 16). Bounded so that a full KEY_LIST still fits in one packet. */
  slots?: number;
  firmwareVersion?: string;
  /** Session table limits (docs/session.md §6); tests lower them to reach the cap and the timeout quickly. */
  sessionLimits?: Partial<SessionLimits>;
  /** How long a request waits for the button before PRESENCE_TIMEOUT (ms of env.clock; default 30000; security.md §7). */
  presenceTimeoutMs?: number;
  /**
   * PBKDF2-SHA256 iterations for PIN records made on this device (docs/session.md §8.2; stored in each record).
   * Default 10000 (the node simulator); board entries pass DEVICE_PIN_ITERATIONS, what a microcontroller affords per LOGIN.
   */
  pinIterations?: number;
  /**
   * Most entries the audit log's ring holds (docs/audit.md §8; default 256); a board entry passes what its heap
   * affords. It is also held to a third of the flash store, and fixed in flash when the log is first written.
   */
  auditCapacity?: number;
}

/** The audit ring's size on the simulator; boards pass their own (platform/<board>/entry.ts). */
export const DEFAULT_AUDIT_CAPACITY = 256;

/** The ring's capacity on this store: what the board asks for, held to a quarter of the store so keys always keep room. */
export function auditCapacityFor(stats: { pageSize: number; pages: number }, wanted: number): number {
  const quarter = Math.floor(((stats.pages - 1) * (stats.pageSize - 32)) / 4 / (RECORD_OVERHEAD + AUDIT_ENTRY_LENGTH));
  const n = wanted < quarter ? wanted : quarter;
  return n < 2 ? 2 : n;
}

/** PIN record iterations on the simulator (Node runs 10000 PBKDF2-SHA256 rounds of noble in tens of ms). */
export const DEFAULT_PIN_ITERATIONS = 10000;
/**
 * PIN record iterations on boards (platform/<board>/entry.ts): noble's SHA-256 in a microcontroller's interpreter
 * is some hundred times slower than in Node, and a LOGIN must stay in seconds. Offline guessing is then cheap
 * (docs/session.md §8.5): long PINs are the defence.
 */
export const DEVICE_PIN_ITERATIONS = 1000;

/** Default button wait (docs/security.md §7): FIDO keys give up after about 30 s too. */
export const DEFAULT_PRESENCE_TIMEOUT_MS = 30000;
/** KEEPALIVE period while a request waits (docs/protocol.md §1 "Frame types": every 100 ms). */
export const KEEPALIVE_INTERVAL_MS = 100;

/** The running device, as the platform entry point and tests see it. */
export interface Device {
  /** Random 16-byte id made at first boot and kept in flash (docs/storage.md §10, DEVICE_ID). */
  readonly deviceId: Uint8Array;
  /** The Ed25519 identity public key, the device's name; undefined where Ed25519 is not offered. */
  readonly identityPublicKey: Uint8Array | undefined;
  /** True when env.flash was absent and the store lives in RAM: nothing survives power-off. */
  readonly flashVolatile: boolean;
  /** Key records on flash that did not load (corrupt, unknown, or beyond the slots); left untouched. */
  readonly skippedRecords: number;
  /** Why the device id or identity is incomplete, or a PIN record or counter is damaged, this boot; undefined normally. */
  readonly bootProblem: ErrorDetail[] | undefined;
  readonly selftest: SelftestReport;
  readonly maxPacket: number;
  readonly slots: number;
  readonly firmwareVersion: string;
}

// Worst-case encoded size of one KEY_LIST entry: map head, ten keys, a 16-bit id, alg, a full label,
// origin and a 65-byte public key, each with its CBOR head, then the policy (docs/security.md §6): capabilities
// (≤ 0x1f: 2 bytes) and four booleans (1 byte each). 125 bytes: 16 slots fit a 2048-byte packet (2046).
const LIST_ENTRY_MAX = 1 + 10 + 3 + 2 + (2 + MAX_LABEL) + 2 + (2 + MAX_PUBLIC_KEY) + 2 + 4;
// header + CRC + status byte + {1: [ … ]} heads, plus the session envelope around the answer (docs/protocol.md §6):
// outer status, map head, {1: counter ≤ 2^53} (1 + 9), {2: bytes} head (1 + 3) and the 16-byte tag
const LIST_OVERHEAD = 4 + 4 + 1 + 1 + 1 + 3 + (1 + 1 + 10 + 4 + 16);

/** Everything wrong with the stored identity and access state this boot, or undefined (host/render.ts words it). */
function bootProblems(a: ErrorDetail[] | undefined, b: ErrorDetail[] | undefined): ErrorDetail[] | undefined {
  if (a === undefined) return b;
  return b === undefined ? a : a.concat(b);
}

/** The most slots whose full KEY_LIST answer still fits in one packet of this size. */
export function maxSlotsFor(maxPacket: number): number {
  const n = Math.floor((maxPacket - LIST_OVERHEAD) / LIST_ENTRY_MAX);
  return n < MAX_LIST ? n : MAX_LIST;
}

/** What boot made of an Env before serving frames: the handlers' context, and the boot report startDevice returns. */
export interface BootedContext {
  readonly ctx: DeviceContext;
  readonly device: Device;
}

/**
 * Boot up to the frame loop: check the options, run the self-tests, open the store on env.flash (a RAM flash when
 * the platform has none), load or make the device id and identity, load the keys and the access state. startDevice
 * calls it; tests that call the handlers directly take their context from it (test/helpers/devices.ts). Throws as
 * startDevice does.
 */
export function createContext(env: Env, opts?: DeviceOptions): BootedContext {
  const maxPacket = env.maxPacket || DEFAULT_MAX_PACKET;
  if (!(maxPacket >= DEFAULT_MAX_PACKET && maxPacket <= 65535))
    throw new Error('startDevice: maxPacket must be in 2048..65535 (docs/protocol.md §1), got ' + maxPacket);
  const slots = opts && opts.slots !== undefined ? opts.slots : DEFAULT_SLOTS;
  const slotLimit = maxSlotsFor(maxPacket);
  if (!(slots >= 1 && slots <= slotLimit && slots < MAX_KEY_ID))
    throw new Error('startDevice: slots must be in 1..' + slotLimit + ' for a ' + maxPacket + '-byte packet, got ' + slots);
  const firmwareVersion = opts && opts.firmwareVersion !== undefined ? opts.firmwareVersion : DEFAULT_FIRMWARE_VERSION;
  const pinIterations = opts && opts.pinIterations !== undefined ? opts.pinIterations : DEFAULT_PIN_ITERATIONS;
  if (!(pinIterations >= 1 && pinIterations <= 0xffffffff && Math.floor(pinIterations) === pinIterations))
    throw new Error('startDevice: pinIterations must be an integer in 1..2^32-1, got ' + pinIterations);

  const selftest = runSelftests(env.crypto);
  const offered: boolean[] = [];
  for (let i = 0; i < selftest.passed.length; i++) offered[selftest.passed[i]] = true;

  // docs/storage.md §7: the store scans and recovers at open (a blank flash is formatted). Without a
  // flash HAL the same store runs on RAM, and INFO says so (flashVolatile).
  const flashVolatile = env.flash === undefined;
  const flash = env.flash !== undefined ? env.flash : new RamFlash();
  const store = Store.open(flash);
  // before anything is written: a rolled-back flash is refused whole (docs/storage.md §12)
  const rollback = bindToCounter(store, env.monotonic);
  // docs/audit.md §3: from here on, every commit made while a request runs carries that request's entry
  const wanted = opts && opts.auditCapacity !== undefined ? opts.auditCapacity : DEFAULT_AUDIT_CAPACITY;
  if (!(wanted >= 2 && wanted <= 0xffff && Math.floor(wanted) === wanted))
    throw new Error('startDevice: auditCapacity must be an integer in 2..65535, got ' + wanted);
  const audit = AuditLog.load(store, env.crypto, env.clock, auditCapacityFor(store.stats(), wanted));
  store.bind({ entry: (e) => audit.entryFor(e), committed: () => audit.committed() });
  const name = loadOrMakeIdentity(env, store, offered[Alg.ED25519] === true);
  const keystore = KeyStore.load(slots, store);
  const domain = Domain.load(store);
  // PINs, retry counters and the label (docs/security.md §3–§5); the master key only comes with a LOGIN
  const auth = AuthState.load({ env, store, deviceId: name.deviceId, keys: underMasterKey(keystore, domain), pinIterations, onTry: () => audit.markTry() });
  recordBoot(audit, store.repaired, rollback.rolledBack !== undefined);
  const deviceId = name.deviceId;
  const ctx: DeviceContext = {
    env,
    keystore,
    store,
    flashVolatile,
    selftest,
    offered,
    deviceId,
    identity: name.identity,
    firmwareVersion,
    maxPacket,
    sessions: new SessionTable(opts ? opts.sessionLimits : undefined),
    auth,
    rollback,
    officers: Officers.load(store),
    domain,
    audit,
  };
  const device: Device = {
    deviceId,
    identityPublicKey: name.identity === undefined ? undefined : name.identity.publicKey,
    flashVolatile,
    skippedRecords: keystore.skipped,
    bootProblem: bootProblems(
      rollback.rolledBack !== undefined ? [{ reason: Reason.STORE_ROLLED_BACK, args: rollback.rolledBack }] : undefined,
      bootProblems(name.problem, auth.problem),
    ),
    selftest,
    maxPacket,
    slots,
    firmwareVersion,
  };
  return { ctx, device };
}

/**
 * The boot's entries (docs/audit.md §3): BOOT, then RECOVERED when the store's scan repaired a write a power cut left
 * unfinished. The first one also writes the log's state record, which fixes its capacity. A flash refused as rolled
 * back takes no write; a full store refuses them (the log then misses this boot, and the next entry's prev still chains).
 */
function recordBoot(audit: AuditLog, repaired: number, frozen: boolean): void {
  if (frozen) return;
  audit.append(AuditEvent.BOOT, undefined, 0, 0, audit.needsState() ? [audit.stateEntry(0, false, false)] : []);
  if (repaired > 0) audit.append(AuditEvent.RECOVERED, undefined, 0, 0);
}

/** What a PIN change seals again under the new master key, in its one transaction: every key record and the domain's wrap key. */
function underMasterKey(keystore: KeyStore, domain: Domain): KeyLock {
  return {
    lock: () => keystore.lock(),
    get storageFault() {
      return keystore.storageFault;
    },
    resealAll(kc, next) {
      const keys = keystore.resealAll(kc, next);
      if (!keys.ok) return keys;
      const dom = domain.resealEntry(kc, next);
      if (!dom.ok) return dom;
      return ok({
        entries: keys.value.entries.concat(dom.value.entries),
        apply() {
          keys.value.apply();
          dom.value.apply();
        },
      });
    },
  };
}

/**
 * Boot the device on an Env (createContext: self-tests, store, name, keys), then serve frames from env.transport.
 * Throws on a platform configuration error (a maxPacket or slot count outside the protocol's bounds), and when the
 * flash itself throws (a power cut during boot: the board is off).
 */
export function startDevice(env: Env, opts?: DeviceOptions): Device {
  const booted = createContext(env, opts);
  const ctx = booted.ctx;
  const maxPacket = ctx.maxPacket;

  const transport = env.transport;
  const armor = transport.mode === 'armor';
  const reader = new FrameReader(maxPacket, transport.mode);

  // One-entry reply cache (docs/protocol.md §1): the host retransmits a timed-out request with the
  // same seq; the device resends its answer and never executes the request twice. The request is
  // remembered by the SHA-256 of its body, not by its bytes (a KEY_IMPORT body holds a private key) and not by a
  // CRC, which is linear: anyone could make another body with the same CRC and get the cached answer for it.
  let cacheValid = false;
  let cacheSeq = 0;
  let cacheDigest: Uint8Array = new Uint8Array(0);
  let cacheFrame: Uint8Array = new Uint8Array(0);

  function wire(type: number, seq: number, body: Uint8Array): Uint8Array {
    if (!armor) return encodeFrame(type, seq, body);
    const line = encodeArmorLine(type, seq, body);
    const out = new Uint8Array(line.length);
    for (let i = 0; i < line.length; i++) out[i] = line.charCodeAt(i);
    return out;
  }

  function send(bytes: Uint8Array): void {
    try {
      transport.write(bytes);
    } catch (e) {
      // the HAL says write must not throw; if a platform's does, the host's timeout recovers
    }
  }

  function sendError(seq: number, status: StatusCode, reason: Reason, args?: number[]): void {
    send(wire(FrameType.ERROR, seq, errorBody(status, reason, args)));
  }

  /** Send a request's answer and remember it in the reply cache (docs/protocol.md §1). */
  function answer(seq: number, digest: Uint8Array, body: Uint8Array): void {
    const out = wire(FrameType.RESPONSE, seq, body);
    // The answer is not wiped: a platform may still be queueing it, and it is the host's data anyway.
    cacheValid = true;
    cacheSeq = seq;
    cacheDigest = digest;
    cacheFrame = out;
    send(out);
  }

  // User presence (docs/security.md §7; core/presence.ts). A request whose handler needs a button press comes back
  // from dispatch as a NeedPresence; it is kept here (one at a time: every other request is answered BUSY
  // meanwhile), KEEPALIVE frames go out at once and every 100 ms of env.clock, and the button is polled on the same
  // timer. A press, the timeout or a CANCEL for this seq ends the wait: the request's resume runs once with that
  // outcome, and only its answer is sent (and cached). Inside a session, resume seals the answer under the request's
  // counter (commands/session_message.ts).
  const presenceTimeoutMs = opts && opts.presenceTimeoutMs !== undefined ? opts.presenceTimeoutMs : DEFAULT_PRESENCE_TIMEOUT_MS;
  if (!(presenceTimeoutMs > 0 && presenceTimeoutMs <= 600000))
    throw new Error('startDevice: presenceTimeoutMs must be in 1..600000 ms, got ' + presenceTimeoutMs);
  const KEEPALIVE_PRESENCE = new Uint8Array([KeepaliveReason.PRESENCE_NEEDED]);
  let waiting = false;
  let waitSeq = 0;
  let waitDigest: Uint8Array = new Uint8Array(0);
  /** The request that waits: resumed once when the wait ends, or forgotten if the wait fails. */
  let pending: NeedPresence<Uint8Array> | undefined;
  let waitStart = 0;
  let waitTimer: TimerHandle | undefined;
  // A press counts only if it starts after the request (as a FIDO key requires): the button must be seen
  // released at least once during the wait, so a button held down (or stuck) before the request grants nothing.
  let sawReleased = false;

  function keepalive(): void {
    send(wire(FrameType.KEEPALIVE, waitSeq, KEEPALIVE_PRESENCE));
  }

  function isPressed(): boolean {
    const p = env.presence;
    try {
      return p !== undefined && p.isPressed() === true;
    } catch (e) {
      return false; // a failing button reads as not pressed: the wait then ends by timeout or CANCEL
    }
  }

  function startWait(seq: number, digest: Uint8Array, request: NeedPresence<Uint8Array>): void {
    waiting = true;
    pending = request;
    waitSeq = seq;
    waitDigest = digest;
    waitStart = env.clock.now();
    sawReleased = !isPressed();
    try {
      waitTimer = env.clock.setTimer(KEEPALIVE_INTERVAL_MS, onWaitTick);
    } catch (e) {
      // without a timer the wait could never end: answer now instead of leaving every later request BUSY
      abandonWait();
      return;
    }
    keepalive();
    setLed(true); // a board with an LED shows that it waits for a touch
  }

  function setLed(on: boolean): void {
    try {
      if (env.led !== undefined) env.led.set(on);
    } catch (e) {
      // the LED is a courtesy; the wait goes on without it
    }
  }

  function onWaitTick(): void {
    waitTimer = undefined;
    if (!waiting) return;
    try {
      const pressed = isPressed();
      if (pressed && sawReleased) return endWait('granted');
      if (!pressed) sawReleased = true;
      if (env.clock.now() - waitStart >= presenceTimeoutMs) return endWait('timeout');
      keepalive();
      waitTimer = env.clock.setTimer(KEEPALIVE_INTERVAL_MS, onWaitTick);
    } catch (e) {
      // never let an exception reach the platform's timer loop; the waiting host gets an answer
      abandonWait();
    }
  }

  /** End the wait: the timer and the LED off, and the waiting request handed to the caller. */
  function clearWait(): NeedPresence<Uint8Array> {
    if (waitTimer !== undefined) env.clock.clearTimer(waitTimer);
    waitTimer = undefined;
    waiting = false;
    const request = pending as NeedPresence<Uint8Array>;
    pending = undefined;
    setLed(false);
    return request;
  }

  /** Resume the waiting request with the outcome, send and cache its answer, and forget the request. */
  function endWait(outcome: PresenceOutcome): void {
    const seq = waitSeq;
    const digest = waitDigest;
    const request = clearWait();
    answer(seq, digest, request.resume(outcome));
  }

  function abandonWait(): void {
    const seq = waitSeq;
    clearWait();
    sendError(seq, Status.INTERNAL_ERROR, Reason.WAIT_FAILED);
  }

  /**
   * Whether a CANCEL body cancels the request that waits: only a token of its own session does (docs/session.md
   * §4.1; commands/session_message.ts). A request outside a session never waits (only SIGN and ECDH in a session
   * ask for the button), so there is nothing else to cancel.
   */
  function cancelsWaiting(body: Uint8Array): boolean {
    const request = pending;
    return request !== undefined && request.cancels !== undefined && request.cancels(body);
  }

  function onRequest(f: Frame): void {
    const digest = env.crypto.sha256(f.body);
    if (waiting) {
      const same = f.seq === waitSeq && equalBytes(digest, waitDigest);
      f.body.fill(0);
      // the host retransmitted the request that waits: it is still waiting, not lost
      if (same) keepalive();
      else sendError(f.seq, Status.BUSY, Reason.WAITING_FOR_BUTTON, [waitSeq]);
      return;
    }
    if (cacheValid && f.seq === cacheSeq && equalBytes(digest, cacheDigest)) {
      send(cacheFrame);
      return;
    }
    const reply = dispatch(ctx, f.body);
    // The body is our own copy (decodePacket slices) and may hold a private key (KEY_IMPORT): wipe it. A request
    // that waits for the button does not need it either: the decoder copied its fields.
    f.body.fill(0);
    if (reply instanceof Uint8Array) answer(f.seq, digest, reply);
    else startWait(f.seq, digest, reply);
  }

  function onEvent(ev: ReaderEvent): void {
    if (ev.kind === 'oversize') {
      // Without a sequence number the bytes may be console noise: drop them (the host's timeout recovers).
      if (ev.seq !== undefined) sendError(ev.seq, Status.PACKET_TOO_LARGE, Reason.FRAME_TOO_LARGE, [maxPacket]);
      return;
    }
    const f = ev.frame;
    if (f.version !== PROTOCOL_VERSION) {
      sendError(f.seq, Status.UNSUPPORTED_VERSION, Reason.VERSION_UNSUPPORTED, [f.version, PROTOCOL_VERSION]);
      return;
    }
    if (f.type === FrameType.REQUEST) onRequest(f);
    else if (f.type === FrameType.CANCEL) {
      // ends the button wait of that seq with CANCELLED (security.md §7) if it comes from the session whose request
      // waits (its token, session.md §4.1); any other CANCEL is ignored, with no answer that could reach that host
      if (waiting && f.seq === waitSeq && cancelsWaiting(f.body)) endWait('cancelled');
    } else sendError(f.seq, Status.INVALID_FRAME, Reason.FRAME_TYPE_REFUSED, [f.type]);
  }

  transport.onData((bytes) => {
    let events: ReaderEvent[];
    try {
      events = reader.push(bytes);
    } catch (e) {
      return;
    }
    for (let i = 0; i < events.length; i++) {
      const ev = events[i];
      try {
        onEvent(ev);
      } catch (e) {
        // Never let an exception reach the platform's receive loop; answer if we know whom to answer.
        const seq = ev.kind === 'frame' ? ev.frame.seq : ev.seq;
        if (seq !== undefined)
          try {
            sendError(seq, Status.INTERNAL_ERROR, Reason.FRAME_FAILED);
          } catch (e2) {
            // nothing more to do
          }
      }
    }
  });

  return booted.device;
}

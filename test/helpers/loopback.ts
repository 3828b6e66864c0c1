// Loopback Env for tests: a transport that records what the device writes and lets a test feed it bytes, a seeded RNG, an optional flash, and call() (auto-session, auto-INIT and auto-LOGIN).
import { COMMANDS, Gate, sentInClear } from '../../firmware/protocol/commands/index.ts';
import { errorDetailOf, renderDetail, renderReason } from '../../host/render.ts';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import type { Clock, Crypto, Env, Flash, Led, MonotonicCounter, Presence, Rng, Transport } from '../../firmware/hal/index.ts';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { startDevice, type Device, type DeviceOptions } from '../../firmware/core/device.ts';
import { Command, FrameType, Role, Status, nameOf } from '../../firmware/protocol/codes.ts';
import { type CborMap, type CborValue, cborDecode, cborEncode } from '../../firmware/protocol/cbor.ts';
import { FrameReader, encodeArmorLine, encodeFrame, type Frame } from '../../firmware/protocol/frame.ts';
import { NorFlash, leftover } from './nor-flash.ts';
import { HostSession, SessionHandshake } from '../../host/session.ts';
import { watchLink } from './secret-spy.ts';

/** Deterministic RNG for tests: SHA-256(seed ‖ counter) blocks. Never for a real device. */
export function seededRng(seed: string | Uint8Array = 'tinyhsm test seed'): Rng & { readonly calls: number } {
  const s = typeof seed === 'string' ? Buffer.from(seed, 'utf8') : Buffer.from(seed);
  let counter = 0;
  let pool = Buffer.alloc(0);
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    fill(buf: Uint8Array) {
      calls++;
      while (pool.length < buf.length) {
        const c = Buffer.alloc(8);
        c.writeBigUInt64BE(BigInt(counter++));
        pool = Buffer.concat([pool, createHash('sha256').update(s).update(c).digest()]);
      }
      buf.set(pool.subarray(0, buf.length));
      pool = pool.subarray(buf.length);
    },
  };
}

/** Boots without a seed so far (each gets a seed of its own). */
let unseededBoots = 0;

let sharedCrypto: Crypto | undefined;
/** One noble Crypto per test process (it holds no state; building it is cheap, but noble's tables are shared anyway). */
export function nobleCrypto(): Crypto {
  return sharedCrypto || (sharedCrypto = createNobleCrypto());
}

/** The PINs call() gives the device at its automatic INIT and uses for its automatic LOGINs (docs/security.md §3–§4). */
export const TEST_USER_PIN_TEXT = 'test-user-pin-0001';
export const TEST_SO_PIN_TEXT = 'test-so-pin-0002';
/** The same PINs as bytes, as INIT, LOGIN, CHANGE_PIN and UNBLOCK carry them (a fresh copy each time you read them). */
export const TEST_USER_PIN: Uint8Array = new Uint8Array(Buffer.from(TEST_USER_PIN_TEXT, 'utf8'));
export const TEST_SO_PIN: Uint8Array = new Uint8Array(Buffer.from(TEST_SO_PIN_TEXT, 'utf8'));
/** PBKDF2 iterations of loopback devices unless a test asks for others: the device code path is the same, only cheaper. */
export const TEST_PIN_ITERATIONS = 2;

export interface LoopbackOptions {
  mode?: 'binary' | 'armor';
  crypto?: Crypto;
  seed?: string;
  maxPacket?: number;
  platform?: string;
  /** The device's flash (e.g. test/helpers/nor-flash.ts); without one the device runs its store on a RAM flash. */
  flash?: Flash;
  /** The device's monotonic clock in ms (default: process.hrtime); tests drive it to reach the session idle timeout. */
  now?: () => number;
  /** The board's monotonic counter (docs/storage.md §12); without one the store is not bound (rollbackProtection false). */
  monotonic?: MonotonicCounter;
  /** The board's button (docs/security.md §7); absent by default, as on a board without one. */
  presence?: Presence;
  /** The board's LED; absent by default. */
  led?: Led;
  /** The whole device clock, timers included (test/helpers/presence.ts ManualClock); replaces `now`. */
  clock?: Clock;
  /** The device's RNG before the response scan wraps it (default: seededRng of `seed`). */
  rng?: Rng;
}

export interface Loopback {
  readonly env: Env;
  /** Feed bytes from the "host" to the device (synchronous: the device answers before this returns). */
  feed(bytes: Uint8Array): void;
  /** Bytes written by the device since the last take(). */
  take(): Uint8Array;
  /** Every byte the device ever wrote on this link. */
  readonly written: Uint8Array[];
}

export function createLoopbackEnv(opts: LoopbackOptions = {}): Loopback {
  let receiver: ((b: Uint8Array) => void) | undefined;
  const written: Uint8Array[] = [];
  // the response scan (secret-spy.ts, docs/security.md §5): this device's secrets, RNG draws, and what it says
  const spy = watchLink(opts.mode || 'binary');
  let pending: Uint8Array[] = [];
  const transport: Transport = {
    mode: opts.mode || 'binary',
    write(bytes) {
      const copy = bytes.slice();
      written.push(copy);
      spy.output(copy);
      pending.push(copy);
    },
    onData(r) {
      receiver = r;
    },
  };
  const env: Env = {
    platform: opts.platform || 'test-loopback',
    transport,
    // without a seed, each boot gets its own: a real RNG never repeats, and a stream replayed at a reboot would give
    // a new salt the very bytes an earlier boot used as a secret (the secret scan then rightly reports them)
    rng: spy.rng(opts.rng || seededRng(opts.seed !== undefined ? opts.seed : 'tinyhsm test seed ' + ++unseededBoots), String(opts.seed)),
    clock: opts.clock || {
      now: opts.now || (() => Number(process.hrtime.bigint() / 1000000n)),
      setTimer: (ms, fn) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    },
    crypto: spy.crypto(opts.crypto || nobleCrypto()),
    maxPacket: opts.maxPacket,
    flash: opts.flash,
    monotonic: opts.monotonic,
    presence: opts.presence,
    led: opts.led,
  };
  allLinks.push(written);
  return {
    env,
    written,
    feed(bytes) {
      if (!receiver) throw new Error('loopback: the device has not registered onData yet');
      spy.input(bytes);
      receiver(bytes);
    },
    take() {
      const out = Buffer.concat(pending);
      pending = [];
      return new Uint8Array(out);
    },
  };
}

/** A decoded answer from the device. */
export interface Reply {
  frame: Frame;
  /** RESPONSE or ERROR body: status byte … */
  status: number;
  statusName: string;
  /** … and the CBOR map after it. */
  map: CborMap;
  /** An error answer's reason and arguments ({1: reason, 2: arg0, …}; docs/protocol.md "Error details"). */
  reason?: number;
  args?: number[];
  /** The host's rendering of them (host/render.ts): the device sends no text. */
  message?: string;
}

/** An error answer's details and their host rendering; nothing for OK. */
function errorOf(status: number, map: CborMap): { reason?: number; args?: number[]; message?: string } {
  if (status === Status.OK) return {};
  const e = errorDetailOf(map);
  return { reason: e.reason, args: e.args, message: renderReason(e.reason, e.args) };
}

/** Turn a plain object with numeric keys (or a Map) into a CBOR map, recursively for nested plain objects. */
export function toCbor(v: unknown): CborValue {
  if (v instanceof Map || v instanceof Uint8Array || v === null || typeof v !== 'object') return v as CborValue;
  if (Array.isArray(v)) return v.map(toCbor);
  const m: CborMap = new Map();
  for (const k of Object.keys(v as object)) m.set(Number(k), toCbor((v as Record<string, unknown>)[k]));
  return m;
}

export function decodeReplies(bytes: Uint8Array, mode: 'binary' | 'armor' = 'binary'): Reply[] {
  const reader = new FrameReader(65535, mode);
  const out: Reply[] = [];
  for (const ev of reader.push(bytes)) {
    if (ev.kind !== 'frame') throw new Error('device sent an oversize frame');
    const f = ev.frame;
    if (f.body.length < 1) throw new Error('device sent an empty body');
    const d = cborDecode(f.body.subarray(1));
    if (!d.ok) throw new Error('device sent bad CBOR: ' + renderDetail(d));
    if (!(d.value instanceof Map)) throw new Error('device sent a non-map body');
    const status = f.body[0];
    out.push({ frame: f, status, statusName: String(nameOf(Status, status)), map: d.value, ...errorOf(status, d.value) });
  }
  return out;
}

/** Every packet the device wrote on every link in this process, decoded (COBS/armor removed) and raw. */
const allLinks: Uint8Array[][] = [];
export function allDeviceOutput(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const link of allLinks) {
    const raw = new Uint8Array(Buffer.concat(link));
    out.push(raw);
    for (const mode of ['binary', 'armor'] as const) {
      const r = new FrameReader(65535, mode);
      for (const ev of r.push(raw)) if (ev.kind === 'frame') out.push(ev.frame.body);
    }
  }
  return out;
}

/** Private keys the tests handed to KEY_IMPORT (see assertNoKeyLeak). */
export const importedPrivateKeys: Uint8Array[] = [];

/** Fail if any imported private key appears in anything any device wrote (raw or decoded). */
export function findLeakedKeys(): string[] {
  const outs = allDeviceOutput().map((b) => Buffer.from(b));
  const leaked: string[] = [];
  for (const k of importedPrivateKeys) {
    const kb = Buffer.from(k);
    if (outs.some((o) => o.indexOf(kb) >= 0)) leaked.push(kb.toString('hex'));
  }
  return leaked;
}

/**
 * A decoded session answer: the inner response as a Reply whose frame has the outer frame's type and seq but
 * the inner body (status byte + map), and the outer SESSION_MESSAGE answer it came in.
 */
export interface SessionReply extends Reply {
  outer: Reply;
}

export interface TestDeviceOptions extends LoopbackOptions, DeviceOptions {
  /**
   * true (default): call() makes the device usable by itself. Before a command whose gate needs a role
   * (dispatch.ts GATES: user, SO, or either), it INITs a factory-new device with TEST_USER_PIN / TEST_SO_PIN and
   * sends the command in a session logged in as that role: KEY_IMPORT and UNBLOCK in an SO session, the rest in a
   * user session (a LOGGED_IN command goes to the current session if it has a role). false: call() only opens a
   * session, and the test sends INIT and LOGIN itself.
   */
  autoAuth?: boolean;
}

export interface TestDevice {
  readonly device: Device;
  readonly link: Loopback;
  /**
   * Send one request and return the one answer. INFO, ECHO, SESSION_OPEN and SESSION_MESSAGE go in the clear;
   * every other command goes inside a session, opened on first use with host/session.ts (node:crypto, the
   * independent implementation) and pinned to device.identityPublicKey; the inner answer is returned (its
   * `outer` is the envelope), or the outer answer when the envelope was refused. A device without an identity
   * gets the command in the clear (and answers SESSION_REQUIRED). Records KEY_IMPORT private keys.
   * With autoAuth (the default) it first INITs and LOGINs as the command needs (see TestDeviceOptions.autoAuth):
   * ready(command) does that part alone.
   */
  call(command: number, params?: unknown, seq?: number): Reply;
  /**
   * What call() does before sending `command`: open a session, INIT and LOGIN as needed, and make that session the
   * current one (sealedFrame, `session`). Lets power-cut sweeps arm the cut after the login's own flash writes.
   */
  ready(command: number): void;
  /** The role the test host believes the current session has (0: none, or no session). */
  readonly role: number;
  /** Send one REQUEST in the clear, whatever the command (for tests of the session gate). */
  callClear(command: number, params?: unknown, seq?: number): Reply;
  /** Feed raw bytes and decode whatever the device answered (possibly nothing). */
  raw(bytes: Uint8Array): Reply[];
  /** Encode a clear request frame (binary or armor, per the link mode). */
  requestFrame(command: number, params?: unknown, seq?: number): Uint8Array;
  /**
   * Encode a SESSION_MESSAGE frame carrying this request, sealed in the test's current session (opened if needed;
   * with autoAuth, made ready for the command first, as call() does: that part does send INIT/LOGIN if needed).
   */
  sealedFrame(command: number, params?: unknown, seq?: number): Uint8Array;
  /** The same for an inner request body given as bytes (for malformed-CBOR tests inside a session). */
  sealBody(body: Uint8Array, seq?: number): Uint8Array;
  /** Open the answer to a sealedFrame() request: the inner Reply, or the outer one if it is not OK. */
  openReply(outer: Reply): Reply;
  /** The test host's current session: the one the last call() used, or the last openSession() (undefined before). */
  readonly session: HostSession | undefined;
  /** Open a fresh session now, not logged in; it becomes the current one (the previous one is kept, not closed). */
  openSession(): Reply;
  nextSeq(): number;
}

/** Commands a host sends in the clear (protocol/commands/spec.ts sentInClear); an unknown code goes in a session. */
const inClear = (command: number): boolean => COMMANDS[command] !== undefined && sentInClear(COMMANDS[command]);

export function requestBodyOf(command: number, params?: unknown): Uint8Array {
  const map = params === undefined ? new Uint8Array(0) : cborEncode(toCbor(params));
  const body = new Uint8Array(1 + map.length);
  body[0] = command;
  body.set(map, 1);
  return body;
}

/** Decode a response body (status byte + CBOR map) as a Reply with the given frame. */
export function replyOfBody(frame: Frame, body: Uint8Array): Reply {
  const d = cborDecode(body.subarray(1));
  if (!d.ok) throw new Error('device sent bad CBOR: ' + renderDetail(d));
  if (!(d.value instanceof Map)) throw new Error('device sent a non-map body');
  const status = body[0];
  return { frame, status, statusName: String(nameOf(Status, status)), map: d.value, ...errorOf(status, d.value) };
}

/** The DeviceOptions a test device boots with (startTestDevice, and devices.ts handlerContext): PINs cheap to derive unless asked. */
export function testDeviceOptions(opts: DeviceOptions): DeviceOptions {
  return {
    slots: opts.slots,
    firmwareVersion: opts.firmwareVersion,
    sessionLimits: opts.sessionLimits,
    presenceTimeoutMs: opts.presenceTimeoutMs,
    pinIterations: opts.pinIterations === undefined ? TEST_PIN_ITERATIONS : opts.pinIterations,
    auditCapacity: opts.auditCapacity,
  };
}

/** The frame level (test/helpers/devices.ts): the firmware source booted by startDevice on a loopback Env. */
export function startTestDevice(opts: TestDeviceOptions = {}): TestDevice {
  const link = createLoopbackEnv(opts);
  const device = startDevice(link.env, testDeviceOptions(opts));
  const autoAuth = opts.autoAuth !== false;
  const mode = link.env.transport.mode;
  let seq = 0;
  let session: HostSession | undefined;
  /** What the test host knows of its sessions' roles, and which session it uses for each role. */
  const roleOf = new Map<HostSession, number>();
  const byRole: (HostSession | undefined)[] = [undefined, undefined, undefined];
  let initialized = false;
  const nextSeq = () => (seq = (seq + 1) & 0xffff);
  const frameOf = (body: Uint8Array, q: number): Uint8Array =>
    mode === 'armor' ? new Uint8Array(Buffer.from(encodeArmorLine(FrameType.REQUEST, q, body), 'ascii')) : encodeFrame(FrameType.REQUEST, q, body);
  const requestFrame = (command: number, params?: unknown, s?: number): Uint8Array => frameOf(requestBodyOf(command, params), s === undefined ? nextSeq() : s);
  const raw = (bytes: Uint8Array): Reply[] => {
    link.feed(bytes);
    return decodeReplies(link.take(), mode);
  };
  const one = (bytes: Uint8Array, q: number): Reply => {
    const replies = raw(bytes);
    if (replies.length !== 1) throw new Error('expected one answer, got ' + replies.length);
    const r = replies[0];
    if (r.frame.seq !== q) throw new Error('answer seq ' + r.frame.seq + ' does not match request seq ' + q);
    return r;
  };
  const callClear = (command: number, params?: unknown, s?: number): Reply => {
    const q = s === undefined ? nextSeq() : s;
    return one(requestFrame(command, params, q), q);
  };
  /** Forget a session (closed or refused by the device) and the role it had. */
  const forget = (s: HostSession | undefined): void => {
    if (s === undefined) return;
    roleOf.delete(s);
    for (let r = 1; r < byRole.length; r++) if (byRole[r] === s) byRole[r] = undefined;
    if (session === s) session = undefined;
  };
  const live = (s: HostSession | undefined): s is HostSession => s !== undefined && !s.closed && roleOf.has(s);
  const openSession = (): Reply => {
    const hs = SessionHandshake.create();
    const r = callClear(Command.SESSION_OPEN, { 1: hs.hostEphemeral });
    session = undefined;
    if (r.status !== Status.OK) return r;
    if (device.identityPublicKey === undefined) throw new Error('SESSION_OPEN answered OK on a device without an identity');
    // the test host never refuses on its own clock or count: the device's limits are what the tests check
    session = hs.finish(
      device.deviceId,
      device.identityPublicKey,
      { sessionId: r.map.get(1) as number, deviceEphemeral: r.map.get(2) as Uint8Array, signature: r.map.get(3) as Uint8Array },
      { limits: { maxMessages: Number.MAX_SAFE_INTEGER, idleTimeoutMs: Number.MAX_SAFE_INTEGER }, now: 0 },
    );
    roleOf.set(session, 0);
    return r;
  };
  const ensureSession = (): HostSession => {
    if (session === undefined || session.closed) {
      const r = openSession();
      if (r.status !== Status.OK) throw new Error('SESSION_OPEN failed: ' + r.statusName + ' ' + r.message);
    }
    return session as HostSession;
  };
  const sealBody = (body: Uint8Array, s?: number): Uint8Array => {
    const env = ensureSession().seal(body, 0);
    return requestFrame(Command.SESSION_MESSAGE, { 1: env.sessionId, 2: env.counter, 3: env.ciphertext }, s);
  };
  const frameIn = (command: number, params?: unknown, s?: number): Uint8Array => {
    const body = requestBodyOf(command, params);
    const f = sealBody(body, s);
    body.fill(0);
    return f;
  };
  const openReply = (outer: Reply): Reply => {
    if (outer.status !== Status.OK) {
      if (outer.status === Status.SESSION_INVALID && session) forget(session); // the device forgot it: reopen next time
      return outer;
    }
    if (!session) throw new Error('a session answer arrived but the test host has no session');
    const plain = session.open(outer.map.get(1) as number, outer.map.get(2) as Uint8Array);
    const inner = replyOfBody({ ...outer.frame, body: plain }, plain) as SessionReply;
    inner.outer = outer;
    return inner;
  };
  /** Send one command in the current session and keep the host's view of roles in step with the answer. */
  const send = (command: number, params: unknown, s: number | undefined): Reply => {
    const q = s === undefined ? nextSeq() : s;
    const used = ensureSession();
    const r = openReply(one(frameIn(command, params, q), q));
    if (r.status !== Status.OK) return r;
    if (command === Command.SESSION_CLOSE) {
      used.close();
      forget(used);
    } else if (command === Command.LOGIN) {
      const role = params instanceof Map ? params.get(1) : (params as Record<number, unknown>)[1];
      roleOf.set(used, role as number);
      byRole[role as number] = used;
    } else if (command === Command.LOGOUT) {
      const had = roleOf.get(used);
      roleOf.set(used, 0);
      if (had !== undefined && byRole[had] === used) byRole[had] = undefined;
    } else if (command === Command.INIT) initialized = true;
    return r;
  };
  const must = (what: string, r: Reply): void => {
    if (r.status !== Status.OK) throw new Error('loopback auto-auth: ' + what + ' failed: ' + r.statusName + ' ' + r.message);
  };
  const ensureInitialized = (): void => {
    if (initialized) return;
    const info = callClear(Command.INFO);
    must('INFO', info);
    if (info.map.get(17) !== true) must('INIT', send(Command.INIT, { 1: new Uint8Array(TEST_USER_PIN), 2: new Uint8Array(TEST_SO_PIN) }, undefined));
    initialized = true;
  };
  const ready = (command: number): void => {
    if (inClear(command) || device.identityPublicKey === undefined) return;
    const gate = COMMANDS[command] !== undefined ? COMMANDS[command].gate : undefined;
    // ANY_ROLE (the audit log's reads) as LOGGED_IN; an AUDITOR command's test logs in as auditor itself
    if (!autoAuth || !(gate === Gate.USER || gate === Gate.SO || gate === Gate.LOGGED_IN || gate === Gate.ANY_ROLE)) {
      ensureSession();
      return;
    }
    const current = live(session) ? (roleOf.get(session) as number) : 0;
    if ((gate === Gate.LOGGED_IN || gate === Gate.ANY_ROLE) && current !== 0) return;
    const want = gate === Gate.SO ? Role.SO : Role.USER;
    if (current === want) return;
    const known = byRole[want];
    if (live(known) && roleOf.get(known) === want) {
      session = known;
      return;
    }
    ensureInitialized();
    if (!(live(session) && roleOf.get(session) === 0)) {
      const o = openSession();
      if (o.status === Status.SESSION_LIMIT && live(byRole[3 - want])) {
        // no room for a second session: switch the other role's session over
        session = byRole[3 - want];
        must('LOGOUT', send(Command.LOGOUT, {}, undefined));
      } else must('SESSION_OPEN', o);
    }
    const pin = new Uint8Array(want === Role.SO ? TEST_SO_PIN : TEST_USER_PIN);
    must('LOGIN as ' + (want === Role.SO ? 'SO' : 'user'), send(Command.LOGIN, { 1: want, 2: pin }, undefined));
  };
  const sealedFrame = (command: number, params?: unknown, s?: number): Uint8Array => {
    ready(command);
    return frameIn(command, params, s);
  };
  return {
    device,
    link,
    nextSeq,
    requestFrame,
    sealedFrame,
    sealBody,
    openReply,
    raw,
    callClear,
    openSession,
    ready,
    get session() {
      return session;
    },
    get role() {
      return live(session) ? (roleOf.get(session) as number) : 0;
    },
    call(command, params, s) {
      if (command === Command.KEY_IMPORT && params && typeof params === 'object' && !(params instanceof Map)) {
        const pk = (params as Record<number, unknown>)[3];
        if (pk instanceof Uint8Array && pk.length === 32) importedPrivateKeys.push(pk.slice());
      }
      if (inClear(command) || device.identityPublicKey === undefined) return inContext(command, callClear(command, params, s));
      ready(command);
      return inContext(command, send(command, params, s));
    },
  };
}

/** Render an error reply's words for the command it answers, so fields read "keyId (key 1)" (host/render.ts). */
export function inContext(command: number, r: Reply): Reply {
  if (r.reason !== undefined && r.args !== undefined) r.message = renderReason(r.reason, r.args, { command: String(nameOf(Command, command)) });
  return r;
}

/** Map value helper for assertions. */
export function field<T = CborValue>(r: Reply, key: number): T {
  return r.map.get(key) as T;
}

export const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

// ---------------------------------------------------------------- persistence and power-cut checks (docs/storage.md §1)

/** A key as KEY_LIST shows it (public key in hex), for comparing key sets across reboots. */
export interface ListedKey {
  keyId: number;
  alg: number;
  label: string;
  origin: number;
  publicKey: string;
}

/** KEY_LIST as plain data, in id order. Throws unless the device answers OK. */
export function listKeys(t: TestDevice): ListedKey[] {
  const r = t.call(Command.KEY_LIST);
  if (r.status !== 0) throw new Error('KEY_LIST failed: ' + r.statusName + ' ' + r.message);
  return (r.map.get(1) as Map<number, unknown>[]).map((e) => ({
    keyId: e.get(1) as number,
    alg: e.get(2) as number,
    label: e.get(3) as string,
    origin: e.get(4) as number,
    publicKey: hex(e.get(5) as Uint8Array),
  }));
}

function ecJwkKey(crv: 'P-256' | 'secp256k1', pub: Buffer) {
  return createPublicKey({ key: { kty: 'EC', crv, x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') }, format: 'jwk' });
}

/**
 * Prove every listed key's private half matches its public key, with OpenSSL as the judge: signing keys sign
 * a fresh message and node:crypto verifies; x25519 keys agree on a shared secret with a node:crypto peer.
 * Returns the problems found (empty when all is well).
 */
export function checkKeysWork(t: TestDevice, keys: ListedKey[], tag = 'check'): string[] {
  const problems: string[] = [];
  for (const k of keys) {
    const pub = Buffer.from(k.publicKey, 'hex');
    const msg = new Uint8Array(Buffer.from(tag + ' key ' + k.keyId));
    if (k.alg === 4) {
      const peer = generateKeyPairSync('x25519');
      const peerPub = peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
      const r = t.call(Command.ECDH, { 1: k.keyId, 2: new Uint8Array(peerPub) });
      const mine = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), pub]), format: 'der', type: 'spki' });
      const want = diffieHellman({ privateKey: peer.privateKey, publicKey: mine }).toString('hex');
      if (r.status !== 0 || hex(r.map.get(1) as Uint8Array) !== want)
        problems.push('x25519 key ' + k.keyId + ': ECDH does not match OpenSSL (' + r.statusName + ')');
      continue;
    }
    const r = t.call(Command.SIGN, { 1: k.keyId, 2: msg });
    if (r.status !== 0) {
      problems.push('key ' + k.keyId + ' cannot sign: ' + r.statusName + ' ' + r.message);
      continue;
    }
    const sig = r.map.get(1) as Uint8Array;
    let good: boolean;
    if (k.alg === 1)
      good = nodeVerify(
        null,
        msg,
        createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' }),
        sig,
      );
    else good = nodeVerify('sha256', msg, { key: ecJwkKey(k.alg === 2 ? 'P-256' : 'secp256k1', pub), dsaEncoding: 'ieee-p1363' }, sig);
    if (!good) problems.push('key ' + k.keyId + ' (alg ' + k.alg + '): OpenSSL rejects its signature');
  }
  return problems;
}

/** The word writes a sweep cuts at: 1, every `stride`-th, and the last (stride 1: every one). */
export function sweepPoints(words: number, stride: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= words; n += stride) out.push(n);
  if (out[out.length - 1] !== words && words > 0) out.push(words);
  return out;
}

/** Stride for a sweep: 1 when POWERCUT_FULL=1 (`npm run test:powercut`), else the CI subset's. */
export function sweepStride(ci: number): number {
  return process.env.POWERCUT_FULL === '1' ? 1 : ci;
}

export interface CommandSweep {
  /** The flash image of the device before the command, and its page size. */
  image: Uint8Array;
  pageSize: number;
  /** RNG seed of the boot that runs the command (the same in every run, so the command does the same writes). */
  seed: string;
  command: number;
  params: unknown;
  /** Cut at every `stride`-th word write (and the first and last). */
  stride: number;
  /** Also cut during the n-th erase of the command, for each fraction of bits set (compaction). */
  eraseCuts?: number[];
  /** Private keys whose bytes must not be found anywhere in flash after recovery, per outcome. */
  goneIn?: { before?: Uint8Array[]; after?: Uint8Array[] };
}

export interface SweepReport {
  /** Word writes and erases the uninterrupted command makes. */
  words: number;
  erases: number;
  /** How many cuts were tried, and how many recovered to the old and to the new key set. */
  cuts: number;
  before: number;
  after: number;
  /** Everything that went wrong, one line per cut ("N=17: …"); empty when the device passed. */
  problems: string[];
  keysBefore: ListedKey[];
  keysAfter: ListedKey[];
  /** Status of a KEY_GENERATE (ed25519) right after the uncut command: what a recovered 'after' state must match. */
  nextGenerate: number;
}

const same = (a: ListedKey[], b: ListedKey[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The power-cut guarantee (docs/storage.md §1) for one mutating command: run it once whole to learn its word writes (W) and the key sets
 * before and after, then for each cut point N restore the image, boot, cut power at the N-th word write of
 * the command, power on, reboot, and check that the device boots and answers INFO with the same device id and
 * identity, that no record was skipped, that the key set is exactly the old or the new one, that every listed
 * key works (OpenSSL judges), that the device answered no OK for the cut command, that deleted or uncommitted
 * secrets are gone from flash, and that the device goes on: with the old state the host's retry of the command
 * succeeds; with the new one a KEY_GENERATE does what it did after the uncut command, with an id never used.
 */
export function sweepCommand(c: CommandSweep): SweepReport {
  const flash = NorFlash.fromBytes(c.image, { pageSize: c.pageSize });
  // the key set before, read on a copy: its KEY_LIST is an audit entry (docs/audit.md §3), and the uncut run must write
  // exactly what each cut run writes
  const keysBefore = listKeys(startTestDevice({ flash: NorFlash.fromBytes(c.image, { pageSize: c.pageSize }), seed: c.seed }));
  const t0 = startTestDevice({ flash, seed: c.seed });
  const id0 = hex(t0.device.deviceId);
  const ident0 = hex(t0.device.identityPublicKey);
  // the session and LOGIN the command needs come first: their flash writes (the retry counter) are not the command's
  t0.ready(c.command);
  const w0 = flash.wordWrites;
  const e0 = flash.erases;
  const whole = t0.call(c.command, c.params);
  if (whole.status !== 0) throw new Error('the command fails even without a power cut: ' + whole.statusName + ' ' + whole.message);
  const words = flash.wordWrites - w0;
  const erases = flash.erases - e0;
  const keysAfter = listKeys(t0);
  const maxIdEver = Math.max(0, ...keysBefore.map((k) => k.keyId), ...keysAfter.map((k) => k.keyId));
  const nextGenerate = t0.call(Command.KEY_GENERATE, { 1: 1, 2: 'after the cut' }).status;
  const report: SweepReport = { words, erases, cuts: 0, before: 0, after: 0, problems: [], keysBefore, keysAfter, nextGenerate };

  const runs: { name: string; arm: () => void }[] = [];
  for (const n of sweepPoints(words, c.stride)) runs.push({ name: 'N=' + n, arm: () => flash.cutAfterWords(n) });
  for (const f of c.eraseCuts || [])
    for (let e = 1; e <= erases; e++) runs.push({ name: 'erase ' + e + ' (' + f + ')', arm: () => flash.cutDuringErase(e, f) });

  for (const run of runs) {
    const bad = (m: string) => report.problems.push(run.name + ': ' + m);
    flash.restore(c.image);
    flash.powerOn();
    const t = startTestDevice({ flash, seed: c.seed });
    t.ready(c.command);
    run.arm();
    let answer: Reply | undefined;
    try {
      answer = t.call(c.command, c.params);
    } catch (e) {
      // the device may go quiet when its flash dies; what matters is that it never says OK
    }
    report.cuts++;
    if (!flash.isCut) {
      bad('the command finished without reaching the cut point');
      continue;
    }
    if (answer && answer.status === 0) bad('the device answered OK although power was cut during the command');
    flash.powerOn();
    let t2: TestDevice;
    try {
      t2 = startTestDevice({ flash, seed: c.seed + ' after the cut' });
    } catch (e) {
      bad('the device does not boot: ' + String(e));
      continue;
    }
    const info = t2.call(Command.INFO);
    if (info.status !== 0) bad('INFO fails: ' + info.statusName);
    if (hex(t2.device.deviceId) !== id0) bad('the device id changed');
    if (hex(t2.device.identityPublicKey) !== ident0) bad('the identity changed');
    if (t2.device.skippedRecords !== 0) bad(t2.device.skippedRecords + ' key records did not load');
    const now = listKeys(t2);
    let outcome: 'before' | 'after' | undefined;
    if (same(now, keysBefore)) outcome = 'before';
    else if (same(now, keysAfter)) outcome = 'after';
    if (outcome === undefined) {
      bad('the key set is neither the old nor the new one: ' + JSON.stringify(now.map((k) => k.keyId)));
      continue;
    }
    report[outcome]++;
    for (const p of checkKeysWork(t2, now, run.name)) bad(p);
    const gone = c.goneIn ? c.goneIn[outcome] : undefined;
    for (const s of gone || []) if (leftover(flash.bytes, s) >= 0) bad('a private key that should be wiped is still in flash (' + outcome + ')');
    if (outcome === 'before') {
      // the host saw no OK and retries: the command must now succeed, as it did uncut
      const again = t2.call(c.command, c.params);
      if (again.status !== 0) bad('retrying the command after recovery fails: ' + again.statusName + ' ' + again.message);
      else if (c.command === Command.KEY_GENERATE || c.command === Command.KEY_IMPORT) {
        const id = again.map.get(1) as number;
        if (id <= Math.max(0, ...keysBefore.map((k) => k.keyId))) bad('the retried command reused id ' + id);
      }
    } else {
      // the change stands: the device must be as able as after the uncut command, and never reuse an id
      const g = t2.call(Command.KEY_GENERATE, { 1: 1, 2: 'after the cut' });
      if (g.status !== nextGenerate) bad('KEY_GENERATE after recovery gives ' + g.statusName + ' (' + g.message + '), uncut it gave status ' + nextGenerate);
      else if (g.status === 0 && (g.map.get(1) as number) <= maxIdEver) bad('KEY_GENERATE after recovery reused id ' + String(g.map.get(1)));
    }
  }
  return report;
}

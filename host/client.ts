// HsmClient: one typed async method per command over any HostTransport; one request in flight, timeouts, retransmit with the same seq, secure sessions opened by itself, logged in again by itself (docs/architecture.md §7, docs/session.md, docs/security.md).
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import {
  ALG_NAMES,
  Command,
  COMMANDS,
  sentInClear,
  needsRole,
  type CommandSpec,
  ROLE_NAMES,
  Role,
  Status,
  algId,
  cborDecode,
  cborEncode,
  decodeMessage,
  encodeMessage,
  nameOf,
  type CborMap,
  type CborValue,
  type InfoResponse,
  type KeyListEntry,
  type KeyPolicy,
  type KeyPublicResponse,
  type Message,
  type Schema,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { errorDetailOf, renderDetail } from './render.ts';
import { verifyAttestation, type VerifiedAttestation } from './attest.ts';
import { capabilityBits } from './policy.ts';
import { HostSession, SessionError, SessionHandshake } from './session.ts';
import { KnownDevices, TrustError, defaultKnownDevicesPath, type KnownDevice } from './known-devices.ts';
import type { HostTransport } from './transports/types.ts';
import { Link, type CallOptions, type LinkOptions, type LinkRequest } from './link.ts';
import { SerialTransport } from './transports/serial.ts';
import { SocketTransport } from './transports/socket.ts';
import { InProcessTransport } from './transports/inprocess.ts';
import { discoverDevices } from './discovery.ts';

export type { CallOptions, KeepaliveEvent } from './link.ts';

export interface ClientOptions extends LinkOptions {
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
   * Log in with this role and PIN before the first command that needs a role, and again in every new session the
   * client has to open (idle timeout, device restart). Same as calling login() first, but lazy.
   */
  login?: { role: RoleName | number; pin: PinInput };
  /**
   * Close the session (SESSION_CLOSE, written synchronously where the link allows it) and wipe the PIN and session
   * keys when the process exits or dies of SIGINT/SIGTERM/SIGHUP without close(). Default true.
   */
  closeOnExit?: boolean;
}

/** 'user' (key use) or 'so' (administration), docs/security.md §1. */
export type RoleName = 'user' | 'so';

/** A PIN: a string is sent as its UTF-8 bytes; 6 to 64 bytes. */
export type PinInput = string | Uint8Array;

/** Policy fields a new key may ask for (absent: the device's defaults, docs/security.md §6). */
export interface KeyPolicyOptions {
  /** Bits (codes.ts Capability) or names: 'sign', 'derive', 'encrypt', 'decrypt', 'export-under-wrap'. */
  capabilities?: number | readonly string[];
  /** PKCS#11 CKA_SENSITIVE (default true; only ever becomes true). */
  sensitive?: boolean;
  /** A button press for every SIGN / ECDH (default false; only ever becomes true). */
  touch?: boolean;
}

export interface KeyOptions extends CallOptions, KeyPolicyOptions {}

export interface AttestOptions extends CallOptions {
  /** The host nonce (16–64 bytes); default 32 fresh random bytes. */
  nonce?: Uint8Array;
  /** Also require the statement's public key to be this one. */
  publicKey?: Uint8Array;
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

export interface OpenOptions extends ClientOptions {
  /** Serial links: 'armor' for Kaluma boards. Also used for the in-process simulator. */
  linkMode?: 'binary' | 'armor';
  baudRate?: number;
  /** In-process simulator ('sim'): deterministic RNG seed (hex), bundle path, max packet. */
  seed?: string;
  bundlePath?: string;
  simMaxPacket?: number;
}

export interface KeyPair {
  keyId: number;
  publicKey: Uint8Array;
}

export type SignInput = { message: Uint8Array; digest?: undefined } | { digest: Uint8Array; message?: undefined };

/** An algorithm's host-facing name ('ed25519', …) from its wire id; the number as text if unknown. */
export function algName(id: number): string {
  return ALG_NAMES[id] || String(id);
}

/** Wire id of an algorithm given by name or id; throws a BAD_ARGUMENT HsmError for anything else. */
export function resolveAlg(alg: string | number): number {
  if (typeof alg === 'number') return alg;
  const id = algId(alg.toLowerCase());
  if (id === undefined) throw new HsmError('BAD_ARGUMENT', `unknown algorithm "${alg}": use one of ${Object.values(ALG_NAMES).join(', ')}`);
  return id;
}

/** SESSION_CLOSE on close() is best effort: a device that does not answer quickly drops the session at its idle timeout anyway. */
const CLOSE_TIMEOUT_MS = 1000;
const toHexString = (b: Uint8Array) => Buffer.from(b).toString('hex');

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

/** A role given by name or number to its wire id (codes.ts Role); throws BAD_ARGUMENT. */
export function roleId(role: RoleName | number): number {
  if (role === Role.USER || role === 'user') return Role.USER;
  if (role === Role.SO || role === 'so') return Role.SO;
  throw new HsmError('BAD_ARGUMENT', `unknown role ${JSON.stringify(role)}: use "user" or "so"`);
}

/** A PIN as a fresh byte array (UTF-8 of a string) the caller owns and wipes; throws BAD_ARGUMENT unless 6–64 bytes. */
export function pinBytes(pin: PinInput, what = 'the PIN'): Uint8Array {
  let b: Uint8Array;
  if (typeof pin === 'string') b = new Uint8Array(Buffer.from(pin, 'utf8'));
  else if (pin instanceof Uint8Array) b = new Uint8Array(pin);
  else throw new HsmError('BAD_ARGUMENT', `${what} must be a string or bytes`);
  if (b.length < 6 || b.length > 64) {
    const n = b.length;
    b.fill(0);
    throw new HsmError('BAD_ARGUMENT', `${what} must be 6 to 64 bytes (UTF-8), got ${n}`);
  }
  return b;
}

/** Clients that close their session when the process ends (ClientOptions.closeOnExit). */
const LIVE = new Set<HsmClient>();
let exitHooked = false;

/**
 * On exit, and on a fatal signal nobody else handles, close every live client synchronously: seal SESSION_CLOSE
 * and write it where the link can write synchronously, and wipe PINs and session keys. A signal that the program
 * handles itself is left to it (its handler may still want the client); the 'exit' hook covers that case.
 */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of [...LIVE]) c.closeSync();
  });
  if (!isMainThread) return; // signals reach the main thread only
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      if (process.listenerCount(sig) > 1) return;
      for (const c of [...LIVE]) c.closeSync();
      // die of the signal as if nobody had listened (exit status 128 + n)
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export class HsmClient {
  readonly transport: HostTransport;
  private readonly link: Link;
  /** Set by close(): no new calls, while the last SESSION_CLOSE may still travel. */
  private closing: HsmError | undefined;
  private readonly trust: boolean;
  /** undefined: pin in memory only (self-hosted simulator, or knownDevices: null). */
  private readonly knownDevices: KnownDevices | undefined;
  /** The identity this client accepted at its first handshake; every later handshake must match it. */
  private pinned: { deviceId: string; identityKey: string } | undefined;
  private session: HostSession | undefined;
  private sessionOpening: { promise: Promise<HostSession>; waiters: number; ac: AbortController } | undefined;
  /** Errors that the device gave for the envelope itself (not the inner command): only these may be retried. */
  private readonly outerErrors = new WeakSet<HsmError>();
  /** The role each session holds on the device, as this client logged it in (docs/security.md §1: a role belongs to a session). */
  private readonly roles = new WeakMap<HostSession, number>();
  /** The role and PIN to log in again with in a new session; wiped by logout(), close() and at exit. */
  private credentials: { role: number; pin: Uint8Array } | undefined;
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

  constructor(transport: HostTransport, opts: ClientOptions = {}) {
    this.transport = transport;
    if (opts.login) this.credentials = { role: roleId(opts.login.role), pin: pinBytes(opts.login.pin, 'the login PIN') };
    this.trust = opts.trust === true;
    const file = opts.knownDevices !== undefined ? opts.knownDevices : transport.selfHosted ? null : defaultKnownDevicesPath();
    this.knownDevices = file === null ? undefined : new KnownDevices(file);
    this.link = new Link(transport, opts);
    this.link.onShutdown(() => this.linkClosed());
    if (opts.closeOnExit !== false) {
      LIVE.add(this);
      hookExit();
    }
  }

  /**
   * Connect to a device. `device` (else $HSM_DEVICE): 'sim' boots an in-process simulator; 'unix:PATH'
   * or a path that is a unix socket connects to `tinyhsm sim --socket`; 'armor:PATH' opens a serial port
   * in text-armor mode (Kaluma); any other path is a serial port or pty (raw binary, 115200 baud).
   * Nothing given: discovery picks the first serial port that answers INFO.
   */
  static async open(device?: string, opts: OpenOptions = {}): Promise<HsmClient> {
    const spec = device !== undefined && device !== '' ? device : process.env.HSM_DEVICE || undefined;
    return new HsmClient(await openTransport(spec, opts), opts);
  }

  // ---------------------------------------------------------------- commands

  /** INFO travels in the clear (docs/protocol.md §6): it works before a device is pinned. */
  info(opts?: CallOptions): Promise<InfoResponse> {
    return this.callClear(Command.INFO, {}, opts) as Promise<unknown> as Promise<InfoResponse>;
  }

  async echo(data: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.callClear(Command.ECHO, { data }, opts)).data as Uint8Array;
  }

  async random(length: number, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.RANDOM, { length }, opts)).bytes as Uint8Array;
  }

  // ---- initialization and roles (docs/security.md §1–§4)

  /**
   * INIT a factory-new device: user PIN, SO PIN (6–64 bytes each; a string is sent as UTF-8) and an optional
   * label. It does not log in. ALREADY_INITIALIZED on a device that has PINs.
   */
  async init(p: { userPin: PinInput; soPin: PinInput; label?: string }, opts?: CallOptions): Promise<void> {
    const userPin = pinBytes(p.userPin, 'the user PIN');
    let soPin: Uint8Array | undefined;
    try {
      soPin = pinBytes(p.soPin, 'the SO PIN');
      await this.call(Command.INIT, { userPin, soPin, label: p.label }, opts);
    } finally {
      userPin.fill(0);
      if (soPin) soPin.fill(0);
    }
  }

  /**
   * Log this client's session in as `role` ('user' for key use, 'so' for administration). The client keeps the PIN
   * (in a buffer it wipes on logout(), close() and at exit) to log in again by itself whenever it has to open a new
   * session. A session holds one role: a client logged in as the other role logs out first. A wrong PIN spends a try
   * (PIN_INCORRECT says how many are left) and is not kept.
   */
  async login(role: RoleName | number, pin: PinInput, opts: CallOptions = {}): Promise<void> {
    const r = roleId(role);
    const bytes = pinBytes(pin, `the ${ROLE_NAMES[r] === 'so' ? 'SO' : 'user'} PIN`);
    return this.roleSwitch(async () => {
      try {
        this.wipeCredentials(); // whatever happens next, the previous role is over
        const s = this.session;
        if (s && !s.isSpent() && this.roles.has(s)) await this.logoutSession(s, opts);
        const { session } = await this.run(Command.LOGIN, { role: r, pin: bytes }, opts, false);
        this.roles.set(session, r);
        this.credentials = { role: r, pin: bytes };
      } catch (e) {
        bytes.fill(0);
        throw e;
      }
    });
  }

  /** Drop the session's role (LOGOUT) and wipe the kept PIN; the session stays open. */
  async logout(opts: CallOptions = {}): Promise<void> {
    return this.roleSwitch(async () => {
      this.wipeCredentials();
      const s = this.session;
      if (!s || s.isSpent()) return; // no live session: no role on the device either
      await this.logoutSession(s, opts);
    });
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

  /** The role this client logs in with ('user', 'so'), or undefined when it holds no PIN. */
  get role(): RoleName | undefined {
    return this.credentials ? (this.credentials.role === Role.SO ? 'so' : 'user') : undefined;
  }

  /**
   * Replace the PIN of `role` (CHANGE_PIN). The old PIN is checked as a LOGIN would check it (it spends a try first).
   * The device wants the session logged in as `role`: the client logs in with `oldPin` first unless it already is.
   * Afterwards the client keeps the new PIN for logging in again.
   */
  async changePin(role: RoleName | number, oldPin: PinInput, newPin: PinInput, opts: CallOptions = {}): Promise<void> {
    const r = roleId(role);
    const oldBytes = pinBytes(oldPin, 'the old PIN');
    let newBytes: Uint8Array | undefined;
    try {
      newBytes = pinBytes(newPin, 'the new PIN');
      if (!this.credentials || this.credentials.role !== r) await this.login(r, oldBytes, opts);
      await this.run(Command.CHANGE_PIN, { role: r, oldPin: oldBytes, newPin: newBytes }, opts);
      if (this.credentials && this.credentials.role === r) {
        this.credentials.pin.fill(0);
        this.credentials = { role: r, pin: newBytes };
        newBytes = undefined; // kept: not wiped below
      }
    } finally {
      oldBytes.fill(0);
      if (newBytes) newBytes.fill(0);
    }
  }

  /** UNBLOCK: the SO (logged in as 'so') sets a new user PIN and restores the user's tries. */
  async unblock(newUserPin: PinInput, opts?: CallOptions): Promise<void> {
    const pin = pinBytes(newUserPin, 'the new user PIN');
    try {
      await this.call(Command.UNBLOCK, { newUserPin: pin }, opts);
    } finally {
      pin.fill(0);
    }
  }

  // ---- keys

  /** A key pair made inside the device; only the public key comes back. Policy fields left out take the device's defaults. */
  async generateKey(alg: string | number, label?: string, opts: KeyOptions = {}): Promise<KeyPair> {
    const r = await this.call(Command.KEY_GENERATE, { alg: resolveAlg(alg), label, ...policyRequest(opts) }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Store a private key made elsewhere (marked imported for ever; needs the SO role). The caller should wipe its copy. */
  async importKey(alg: string | number, privateKey: Uint8Array, label?: string, opts: KeyOptions = {}): Promise<KeyPair> {
    const r = await this.call(Command.KEY_IMPORT, { alg: resolveAlg(alg), label, privateKey, ...policyRequest(opts) }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Every key with its policy; `alg` is the wire id (algName() gives its name). */
  async listKeys(opts?: CallOptions): Promise<KeyListEntry[]> {
    return (await this.call(Command.KEY_LIST, {}, opts)).keys as KeyListEntry[];
  }

  /** One key: algorithm, public key, label, origin and policy. */
  async publicKey(keyId: number, opts?: CallOptions): Promise<KeyPublicResponse> {
    return (await this.call(Command.KEY_PUBLIC, { keyId }, opts)) as unknown as KeyPublicResponse;
  }

  /**
   * Tighten a key's policy (KEY_SET_POLICY, user role): `capabilities` is the new set and may only lose bits,
   * `sensitive` and `touch` may only become true; anything looser is POLICY_LOOSENING and changes nothing.
   * Resolves with the policy as stored.
   */
  async keySetPolicy(keyId: number, policy: KeyPolicyOptions, opts?: CallOptions): Promise<KeyPolicy> {
    return (await this.call(Command.KEY_SET_POLICY, { keyId, ...policyRequest(policy) }, opts)) as unknown as KeyPolicy;
  }

  /**
   * KEY_ATTEST with a fresh nonce, VERIFIED before it is returned (docs/security.md §8): the statement must be signed
   * by the identity key this client pinned (known-devices file, or in memory for its own simulator), answer this
   * nonce, and be about this device and this key. Throws ATTESTATION_INVALID otherwise.
   */
  async keyAttest(keyId: number, opts: AttestOptions = {}): Promise<VerifiedAttestation> {
    const nonce = opts.nonce ? new Uint8Array(opts.nonce) : new Uint8Array(randomBytes(32));
    const { message, session } = await this.run(Command.KEY_ATTEST, { keyId, nonce }, opts);
    const pinned = this.pinned;
    if (!pinned) throw new HsmError('ATTESTATION_INVALID', 'no identity key is pinned for this device', { command: 'KEY_ATTEST' });
    return verifyAttestation(
      { statement: message.statement as Uint8Array, signature: message.signature as Uint8Array },
      { identityKey: Buffer.from(pinned.identityKey, 'hex'), deviceId: session.deviceId, keyId, nonce, publicKey: opts.publicKey },
    );
  }

  async deleteKey(keyId: number, opts?: CallOptions): Promise<void> {
    await this.call(Command.KEY_DELETE, { keyId }, opts);
  }

  /** Ed25519: over the whole message. ECDSA: over SHA-256(message), or over a 32-byte digest; raw r‖s, low-S. */
  async sign(keyId: number, input: SignInput, opts?: CallOptions): Promise<Uint8Array> {
    const r = await this.call(Command.SIGN, { keyId, message: input.message, digest: input.digest }, opts);
    return r.signature as Uint8Array;
  }

  /** Shared secret between a device key (x25519 or ecdsa-p256) and a peer public key. */
  async ecdh(keyId: number, peerPublicKey: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.ECDH, { keyId, publicKey: peerPublicKey }, opts)).sharedSecret as Uint8Array;
  }

  /**
   * Any command. `request` holds the fields by name and is encoded with the command's schema from
   * firmware/protocol/commands (a Map is sent as the raw CBOR map instead). Resolves with the decoded
   * response; rejects with an HsmError. A command goes in the clear when its gate allows it without a session
   * (COMMANDS' sentInClear: INFO, ECHO, SESSION_OPEN, SESSION_MESSAGE, as written); every other one travels inside
   * a secure session, which this opens (and verifies against the pinned identity) by itself. SESSION_CLOSE given
   * here closes that session.
   */
  async call(command: number | keyof typeof Command, request: object = {}, opts: CallOptions = {}): Promise<Message> {
    const r = this.encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.closing) throw this.closing;
    if (r.spec !== undefined && sentInClear(r.spec)) return this.link.send(inClear(r.name, r.schema, r.body), opts);
    try {
      const { message, session } = await this.callInSession(r.code, r.name, r.body, r.schema, opts);
      // a LOGIN or LOGOUT sent by hand changes the session's role all the same
      if (r.code === Command.LOGIN) {
        const role = (request as { role?: unknown }).role;
        if (typeof role === 'number') this.roles.set(session, role);
      }
      if (r.code === Command.LOGOUT) {
        this.roles.delete(session);
        this.wipeCredentials();
      }
      return message;
    } finally {
      if (r.spec !== undefined && r.spec.secret) r.body.fill(0);
    }
  }

  /** A gated command through the session, returning the session it ran in; the plaintext body is wiped when it carried a secret. */
  private async run(command: number, request: object, opts: CallOptions, gated = true): Promise<{ message: Message; session: HostSession }> {
    const r = this.encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.closing) throw this.closing;
    try {
      return await this.callInSession(r.code, r.name, r.body, r.schema, opts, gated);
    } finally {
      if (r.spec !== undefined && r.spec.secret) r.body.fill(0);
    }
  }

  /**
   * Any command in the clear, without a session, as call() encodes it. For INFO and ECHO, and for tests and
   * tools that must see what the device does with a bare request (a gated one is refused with SESSION_REQUIRED).
   */
  async callClear(command: number | keyof typeof Command, request: object = {}, opts: CallOptions = {}): Promise<Message> {
    const r = this.encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.closing) throw this.closing;
    return this.link.send(inClear(r.name, r.schema, r.body), opts);
  }

  /** The device id and identity key (hex) this client accepted at its first handshake (checked against the pin), if any. */
  get pinnedIdentity(): { deviceId: string; identityKey: string } | undefined {
    return this.pinned ? { ...this.pinned } : undefined;
  }

  /** The session the next gated command will use, if one is open (tests, diagnostics). */
  get sessionId(): number | undefined {
    return this.session && !this.session.closed ? this.session.sessionId : undefined;
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

  private encodeRequest(command: number | keyof typeof Command, request: object): { code: number; name: string; body: Uint8Array; schema: Schema | undefined; spec: CommandSpec | undefined } | HsmError {
    const code = typeof command === 'number' ? command : Command[command];
    if (code === undefined || !Number.isInteger(code) || code < 0 || code > 255) return new HsmError('BAD_ARGUMENT', `unknown command ${String(command)}`);
    const name = String(nameOf(Command, code) || `command 0x${code.toString(16)}`);
    const spec = COMMANDS[code];
    let map: CborValue;
    let payload: Uint8Array;
    try {
      map = request instanceof Map ? (request as CborMap) : spec ? encodeMessage(spec.request, request) : new Map();
      payload = cborEncode(map);
    } catch (e) {
      return new HsmError('BAD_ARGUMENT', `${name}: the request cannot be encoded: ${(e as Error).message}`, { command: name });
    }
    const body = new Uint8Array(1 + payload.length);
    body[0] = code;
    body.set(payload, 1);
    return { code, name, body, schema: spec ? spec.response : undefined, spec };
  }

  // ---------------------------------------------------------------- the session (docs/session.md)

  /**
   * A gated command: sealed in the current session (opened first if there is none or it is spent). When the
   * device answers SESSION_INVALID for the envelope (idle timeout, cap, device restarted), a new session is opened
   * and the command sent once more only if running it twice does what running it once does (COMMANDS' `resend`):
   * the outer status is not authenticated, so a man in the middle can let a request run, drop its answer and forge
   * SESSION_INVALID. Any other command fails with MAY_HAVE_RUN, saying how to check. Every other failure is final:
   * a command whose envelope may have executed is never sent again (only retransmitted as the same bytes, which
   * the reply cache answers).
   */
  private async callInSession(
    code: number,
    name: string,
    inner: Uint8Array,
    schema: Schema | undefined,
    opts: CallOptions,
    gated = true,
  ): Promise<{ message: Message; session: HostSession }> {
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
      if (this.closing) throw this.closing;
      try {
        // a new session has no role: log in again first with the kept PIN (docs/security.md §1)
        const spec = COMMANDS[code];
        if (spec === undefined || needsRole(spec)) await this.ensureLoggedIn(s, opts);
        if (this.closing) throw this.closing;
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
          throw new HsmError('MAY_HAVE_RUN', `${name}: the answer said the session was invalid (${e.deviceMessage || 'SESSION_INVALID'}), but that answer is not authenticated and the request may have run; it was not sent again. ${MAY_HAVE_RUN_CHECK[name] || 'Check the device before you retry.'}`, { command: name, cause: e });
        }
        throw e;
      }
    }
  }

  /**
   * LOGIN in `s` with the kept PIN unless `s` already holds that role. Calls waiting for the same session share one
   * LOGIN. A PIN the device refuses is forgotten at once, so the client never spends a second try by itself.
   */
  private ensureLoggedIn(s: HostSession, opts: CallOptions): Promise<void> {
    const creds = this.credentials;
    if (!creds || this.roles.get(s) === creds.role) return Promise.resolve();
    if (this.loginOp && this.loginOp.session === s) return this.loginOp.promise;
    const promise = (async () => {
      if (this.roles.has(s)) await this.logoutSession(s, opts);
      const r = this.encodeRequest(Command.LOGIN, { role: creds.role, pin: creds.pin });
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
        if (e instanceof HsmError && FORGET_PIN_ON.has(e.code) && this.credentials === creds) this.wipeCredentials();
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
    if (this.credentials) this.credentials.pin.fill(0);
    this.credentials = undefined;
  }

  /** Seal `inner` with the next counter of `s` and queue it; synchronous up to the queue, so counters follow queue order. */
  private sendEnvelope(s: HostSession, code: number, name: string, inner: Uint8Array, schema: Schema | undefined, opts: CallOptions): Promise<Message> {
    const env = s.seal(inner);
    const outer = this.encodeRequest(Command.SESSION_MESSAGE, { sessionId: env.sessionId, counter: env.counter, ciphertext: env.ciphertext });
    if (outer instanceof HsmError) return Promise.reject(outer); // an inner request too large for one envelope
    return this.link.send(
      { name, body: outer.body, answer: (body, errorFrame) => this.openAnswer(s, env.counter, code, name, schema, body, errorFrame), cancelBody: () => cancelBody(s, env.counter) },
      opts,
    );
  }

  /**
   * The current session, or the one being opened. Calls waiting for the same handshake share it; a caller whose
   * signal fires leaves at once, and when every waiter has left the handshake itself is aborted (CANCEL), so the
   * link is free for the next request.
   */
  private ensureSession(opts: CallOptions, name: string): Promise<HostSession> {
    const s = this.session;
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

  /** SESSION_OPEN: fresh X25519 key, identity checked against the pin, signature over the transcript verified (docs/session.md §2). */
  private async openSession(opts: CallOptions, signal: AbortSignal): Promise<HostSession> {
    const hs = SessionHandshake.create();
    // its own signal: the handshake is shared by every call waiting for it, and ends only when all of them gave up
    const r = await this.callClear(Command.SESSION_OPEN, { hostEphemeral: hs.hostEphemeral }, { timeoutMs: opts.timeoutMs, retries: opts.retries, signal });
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
    if (this.closing) {
      session.close();
      throw this.closing;
    }
    this.session = session;
    return session;
  }

  /**
   * The device opened a session this host refuses to use (identity not pinned, or changed). It would hold one of
   * the device's few slots until the idle timeout, so close it: SESSION_CLOSE carries no secret, and nothing the
   * device answers is used. Best effort, never throws.
   */
  private async abandon(hs: SessionHandshake, deviceId: Uint8Array, identityKey: Uint8Array, answer: { sessionId: number; deviceEphemeral: Uint8Array; signature: Uint8Array }): Promise<void> {
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
    const p = this.pinned;
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
    this.pinned = { deviceId: id, identityKey: key };
  }

  /** Forget a session and wipe its keys. */
  private dropSession(s: HostSession): void {
    s.close();
    if (this.session === s) this.session = undefined;
  }


  /**
   * Close the session (SESSION_CLOSE, best effort: the device also drops it at its idle timeout), wipe the
   * session keys, fail whatever is still waiting, and close the link.
   */
  async close(): Promise<void> {
    LIVE.delete(this);
    this.wipeCredentials();
    if (this.link.closed) return this.transport.close();
    const reason = new HsmError('CLOSED', 'the client was closed', { hint: 'open a new HsmClient' });
    this.closing = reason;
    // whatever waits is failed now, as before sessions; the link stays open for one last SESSION_CLOSE
    this.link.failWaiting(reason);
    const s = this.session;
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
    if (this.session) this.dropSession(this.session);
    this.link.shutdown(reason);
    await this.transport.close();
  }

  /**
   * What close() does, synchronously, for a process that is ending (ClientOptions.closeOnExit): SESSION_CLOSE sealed
   * and written at once where the link can write synchronously (no answer awaited), the PIN and the session keys
   * wiped. Where the link cannot write synchronously the device drops the session at its idle timeout.
   */
  closeSync(): void {
    LIVE.delete(this);
    this.wipeCredentials();
    const s = this.session;
    if (s && !s.isSpent() && this.link.canWriteSync) {
      try {
        const env = s.seal(Uint8Array.of(Command.SESSION_CLOSE));
        const outer = this.encodeRequest(Command.SESSION_MESSAGE, { sessionId: env.sessionId, counter: env.counter, ciphertext: env.ciphertext });
        if (!(outer instanceof HsmError)) this.link.writeSync(outer.body);
      } catch (e) {
        /* best effort: the process is ending */
      }
    }
    if (this.session) this.dropSession(this.session);
  }

  /** The link closed (the transport went away, or close()): nothing more can be sent, so the PIN and the session go. */
  private linkClosed(): void {
    LIVE.delete(this);
    this.wipeCredentials();
    if (this.session) this.dropSession(this.session);
  }

  /** The answer to an envelope of `session` sealed with counter `sent`: its outer status, then the inner answer to `code` (docs/protocol.md §6). */
  private openAnswer(session: HostSession, sent: number, code: number, name: string, schema: Schema | undefined, body: Uint8Array, errorFrame: boolean): Message | HsmError {
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

/** The policy fields of a request (KEY_GENERATE, KEY_IMPORT, KEY_SET_POLICY); absent fields stay absent. */
function policyRequest(p: KeyPolicyOptions): { capabilities?: number; sensitive?: boolean; touch?: boolean } {
  const out: { capabilities?: number; sensitive?: boolean; touch?: boolean } = {};
  if (p.capabilities !== undefined) out.capabilities = capabilityBits(p.capabilities);
  if (p.sensitive !== undefined) out.sensitive = p.sensitive;
  if (p.touch !== undefined) out.touch = p.touch;
  return out;
}

/** A response body (status byte + CBOR map) to a decoded message or the HsmError it carries. */
function parseBody(name: string, schema: Schema | undefined, body: Uint8Array, errorFrame: boolean): Message | HsmError {
  const bad = (why: string) => new HsmError('BAD_RESPONSE', `${name}: ${why}`, { command: name });
  if (body.length < 1) return bad('empty response body');
  const status = body[0];
  const decoded = body.length > 1 ? cborDecode(body.subarray(1)) : { ok: true as const, value: new Map() as CborValue };
  if (!decoded.ok) return bad(`the response is not deterministic CBOR: ${renderDetail(decoded)}`);
  const map = decoded.value;
  if (!(map instanceof Map)) return bad('the response is not a CBOR map');
  if (errorFrame || status !== Status.OK) {
    if (status === Status.OK) return bad('an ERROR frame with status OK');
    const d = errorDetailOf(map);
    return HsmError.fromStatus(status, d.reason, d.args, name);
  }
  if (!schema) {
    const out: Message = {};
    map.forEach((v, k) => (out[String(k)] = v));
    return out;
  }
  const r = decodeMessage<Message>(schema, map);
  return r.ok ? r.value : bad(`the response does not match the ${name} schema: ${renderDetail(r, { schema })}`);
}

/** A request sent as it is, without a session: its answer is the response to it. */
function inClear(name: string, schema: Schema | undefined, body: Uint8Array): LinkRequest {
  return { name, body, answer: (answer, errorFrame) => parseBody(name, schema, answer, errorFrame) };
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
    return new HsmError('ABORTED', `${name} was aborted${reason instanceof Error && reason.name !== 'AbortError' ? ': ' + reason.message : ''}`, { command: name, cause: reason });
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

/** Pick and open the transport a device string names (see HsmClient.open). */
export async function openTransport(spec: string | undefined, opts: OpenOptions = {}): Promise<HostTransport> {
  if (spec === undefined) {
    const found = await discoverDevices();
    if (found.length === 0)
      throw new HsmError('NO_DEVICE', 'no device given and no tinyhsm found on the serial ports', {
        hint: 'pass --device PATH or set HSM_DEVICE (a serial port, a pty from `tinyhsm sim --pty`, a unix socket, or "sim")',
      });
    return SerialTransport.open(found[0].path, { baudRate: opts.baudRate, mode: found[0].linkMode });
  }
  if (spec === 'sim')
    return await InProcessTransport.start({ seed: opts.seed, linkMode: opts.linkMode, bundlePath: opts.bundlePath, maxPacket: opts.simMaxPacket });
  if (spec.startsWith('unix:')) return SocketTransport.open(spec.slice(5), { mode: opts.linkMode });
  if (spec.startsWith('armor:')) return SerialTransport.open(spec.slice(6), { baudRate: opts.baudRate, mode: 'armor' });
  let st;
  try {
    st = await stat(spec);
  } catch {
    throw new HsmError('NO_DEVICE', `${spec} does not exist`, {
      hint: 'give a serial port (/dev/ttyACM0), the pty `tinyhsm sim --pty` printed, a unix socket, or "sim"',
    });
  }
  if (st.isSocket()) return SocketTransport.open(spec, { mode: opts.linkMode });
  return SerialTransport.open(spec, { baudRate: opts.baudRate, mode: opts.linkMode });
}

// The host side of the secure session (docs/session.md) on node:crypto (OpenSSL), an implementation independent of the device's noble code.
//
// Flow: `SessionHandshake.create()` gives the host ephemeral key for SESSION_OPEN; `finish()` checks the device's
// answer (identity signature over the transcript against the pinned identity key, a usable device ephemeral key)
// and derives the keys; `HostSession.seal()` / `.open()` then carry requests and responses with counters, refusing
// replayed, reordered or tampered responses. Errors are `SessionError`s with a `reason` and never contain key bytes.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';

export const SESSION_LABEL = 'tinyhsm/session/v1';
export const INFO_HOST_TO_DEVICE = 'tinyhsm/session/v1 host->device';
export const INFO_DEVICE_TO_HOST = 'tinyhsm/session/v1 device->host';
export const DIRECTION_HOST_TO_DEVICE = 0x01;
export const DIRECTION_DEVICE_TO_HOST = 0x02;
/** A CANCEL token's direction byte (docs/session.md §4.1). */
export const DIRECTION_CANCEL = 0x03;
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;
const TAG = 16;

/** DER prefixes that turn raw RFC 7748 / RFC 8032 keys into key objects (RFC 8410); host/domain.ts uses the X25519 ones too. */
export const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
export const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

export type HostSessionRefusal =
  /** The SESSION_OPEN answer has a wrong-sized field or session id. */
  | 'bad-reply'
  /** The identity signature does not verify under the pinned identity key: not the device we trust, or tampered. */
  | 'bad-signature'
  /** The device ephemeral key is a low-order point (all-zero shared secret). */
  | 'bad-device-ephemeral'
  | 'closed'
  /** This session has sent its maximum number of requests; open a new one. */
  | 'message-cap'
  /** Idle longer than the device keeps a session; open a new one. */
  | 'idle-timeout'
  | 'bad-counter'
  /** A response counter that was already accepted. */
  | 'counter-replayed'
  /** A response counter below the last accepted one (old or reordered). */
  | 'counter-behind'
  /** A response counter for a request this host never sent. */
  | 'unexpected-counter'
  | 'malformed'
  /** The response tag does not verify. */
  | 'auth-failed';

export class SessionError extends Error {
  override readonly name = 'SessionError';
  constructor(
    readonly reason: HostSessionRefusal,
    message: string,
  ) {
    super(message);
  }
}

export interface HostSessionLimits {
  /** Requests per session (the device's cap; DEFAULT 2^20). */
  readonly maxMessages: number;
  /** The device's idle timeout in ms (DEFAULT 60 s). */
  readonly idleTimeoutMs: number;
}
export const DEFAULT_HOST_SESSION_LIMITS: HostSessionLimits = { maxMessages: 1048576, idleTimeoutMs: 60000 };

/** What the device answered to SESSION_OPEN. */
export interface OpenAnswer {
  sessionId: number;
  deviceEphemeral: Uint8Array;
  signature: Uint8Array;
}

// ---- byte layouts (docs/session.md §2–§4), written independently of firmware/core/session/layout.ts ----

export function sessionTranscript(deviceId: Uint8Array, hostEphemeral: Uint8Array, deviceEphemeral: Uint8Array, sessionId: number): Buffer {
  return Buffer.concat([Buffer.from(SESSION_LABEL, 'utf8'), deviceId, hostEphemeral, deviceEphemeral, Buffer.from([sessionId])]);
}

/**
 * counter as 8 bytes big-endian at `at`, written as two 32-bit halves: counters stay below 2^53 (isCounter), and this
 * runs for every request and response, where a BigInt and three Buffer.concat copies showed in the bench's profile.
 */
function putCounter(b: Buffer, at: number, counter: number): void {
  b.writeUInt32BE(Math.floor(counter / 0x100000000), at);
  b.writeUInt32BE(counter >>> 0, at + 4);
}

/** 00000000 ‖ counter (8 bytes big-endian). */
export function envelopeNonce(counter: number): Buffer {
  const b = Buffer.alloc(12);
  putCounter(b, 4, counter);
  return b;
}

/** 00000001 ‖ counter (8 bytes big-endian): a CANCEL token's nonce, never an envelope's (docs/session.md §4.1). */
export function cancelNonce(counter: number): Buffer {
  const b = Buffer.alloc(12);
  b[3] = 1;
  putCounter(b, 4, counter);
  return b;
}

/** sessionId(1) ‖ counter (8 bytes big-endian) ‖ direction(1). */
export function envelopeAad(sessionId: number, counter: number, direction: number): Buffer {
  const b = Buffer.alloc(10);
  b[0] = sessionId;
  putCounter(b, 1, counter);
  b[9] = direction;
  return b;
}

/** X25519 (RFC 7748) with OpenSSL; throws SessionError when the result is all zero (low-order peer point). */
export function x25519Shared(secret: Uint8Array | KeyObject, peerPublic: Uint8Array): Buffer {
  const privateKey = secret instanceof Uint8Array ? x25519PrivateKey(secret) : secret;
  const publicKey = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublic]), format: 'der', type: 'spki' });
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey, publicKey });
  } catch (e) {
    throw new SessionError('bad-device-ephemeral', 'the device ephemeral key is a low-order point; the device is faulty or the answer was tampered with');
  }
  if (shared.every((b) => b === 0)) {
    shared.fill(0);
    throw new SessionError('bad-device-ephemeral', 'the device ephemeral key is a low-order point; the device is faulty or the answer was tampered with');
  }
  return shared;
}

function x25519PrivateKey(secret: Uint8Array): KeyObject {
  if (secret.length !== 32) throw new TypeError('an X25519 secret is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' });
}

/** HKDF-SHA256(ikm = shared, salt = SHA-256(transcript), info = label): both directional keys (docs/session.md §3). */
export function sessionKeys(shared: Uint8Array, transcript: Uint8Array): { hostToDevice: Buffer; deviceToHost: Buffer } {
  const salt = createHash('sha256').update(transcript).digest();
  return {
    hostToDevice: Buffer.from(hkdfSync('sha256', shared, salt, INFO_HOST_TO_DEVICE, 32)),
    deviceToHost: Buffer.from(hkdfSync('sha256', shared, salt, INFO_DEVICE_TO_HOST, 32)),
  };
}

function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  const ct = sealed.subarray(0, sealed.length - TAG);
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  d.setAAD(aad, { plaintextLength: ct.length });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  const out = d.update(ct);
  try {
    d.final(); // throws when the tag does not match
  } catch (e) {
    out.fill(0);
    return undefined;
  }
  return out;
}

function isCounter(c: number): boolean {
  return Number.isSafeInteger(c) && c >= 1 && c <= MAX_COUNTER;
}

/** The host half of SESSION_OPEN: an ephemeral X25519 key pair, used once. */
export class SessionHandshake {
  private secret: KeyObject | undefined;

  private constructor(
    secret: KeyObject,
    /** Send this in SESSION_OPEN. */
    readonly hostEphemeral: Uint8Array,
  ) {
    this.secret = secret;
  }

  /** A fresh key pair from OpenSSL's CSPRNG; `ephemeralSecret` fixes it (worked example and tests only). */
  static create(opts: { ephemeralSecret?: Uint8Array } = {}): SessionHandshake {
    const secret = opts.ephemeralSecret ? x25519PrivateKey(opts.ephemeralSecret) : generateKeyPairSync('x25519').privateKey;
    const pub = createPublicKey(secret).export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI.length);
    return new SessionHandshake(secret, new Uint8Array(pub));
  }

  /**
   * Check the device's answer and derive the session keys. `identityPublicKey` is the device's pinned Ed25519 key
   * (host/known-devices.ts); `deviceId` the 16-byte id INFO reported. Throws SessionError; usable once.
   */
  finish(
    deviceId: Uint8Array,
    identityPublicKey: Uint8Array,
    answer: OpenAnswer,
    opts: { limits?: Partial<HostSessionLimits>; now?: number } = {},
  ): HostSession {
    const secret = this.secret;
    if (!secret) throw new SessionError('closed', 'this handshake was already used; start a new one');
    this.secret = undefined; // one answer per ephemeral key, right or wrong
    if (deviceId.length !== 16) throw new TypeError('the device id is 16 bytes');
    if (identityPublicKey.length !== 32) throw new TypeError('an Ed25519 identity public key is 32 bytes');
    const { sessionId, deviceEphemeral, signature } = answer;
    if (!Number.isInteger(sessionId) || sessionId < 1 || sessionId > 255)
      throw new SessionError('bad-reply', `the device answered session id ${sessionId}; expected 1..255`);
    if (!deviceEphemeral || deviceEphemeral.length !== 32)
      throw new SessionError('bad-reply', `the device ephemeral key has ${deviceEphemeral ? deviceEphemeral.length : 0} bytes; expected 32`);
    if (!signature || signature.length !== 64)
      throw new SessionError('bad-reply', `the identity signature has ${signature ? signature.length : 0} bytes; expected 64`);
    const transcript = sessionTranscript(deviceId, this.hostEphemeral, deviceEphemeral, sessionId);
    const identity = createPublicKey({ key: Buffer.concat([ED25519_SPKI, identityPublicKey]), format: 'der', type: 'spki' });
    if (!nodeVerify(null, transcript, identity, signature))
      throw new SessionError(
        'bad-signature',
        'the session answer is not signed by the pinned identity key of this device: another device, a reset device, or something in between is answering',
      );
    const shared = x25519Shared(secret, deviceEphemeral);
    try {
      const keys = sessionKeys(shared, transcript);
      const limits = { ...DEFAULT_HOST_SESSION_LIMITS, ...(opts.limits || {}) };
      return new HostSession(sessionId, new Uint8Array(deviceId), keys.hostToDevice, keys.deviceToHost, limits, opts.now !== undefined ? opts.now : Date.now());
    } finally {
      shared.fill(0);
    }
  }
}

/** A session after the handshake: seals requests and opens their responses. */
export class HostSession {
  private lastRequest = 0;
  private lastResponse = 0;
  private ended: HostSessionRefusal | undefined;

  constructor(
    readonly sessionId: number,
    readonly deviceId: Uint8Array,
    private readonly keyOut: Buffer,
    private readonly keyIn: Buffer,
    readonly limits: HostSessionLimits,
    private lastActivity: number,
  ) {}

  /** Requests sealed so far. */
  get sent(): number {
    return this.lastRequest;
  }

  get closed(): boolean {
    return this.ended !== undefined;
  }

  /** True when the device will have ended this session by `now` (idle) or it cannot carry another request (cap). */
  isSpent(now: number = Date.now()): boolean {
    return this.ended !== undefined || this.lastRequest >= this.limits.maxMessages || now - this.lastActivity > this.limits.idleTimeoutMs;
  }

  /** Seal the next request: counter = previous + 1 (the device only needs it to increase; we never skip). */
  seal(plaintext: Uint8Array, now: number = Date.now()): { sessionId: number; counter: number; ciphertext: Uint8Array } {
    if (this.ended) throw new SessionError(this.ended, `session ${this.sessionId} is over (${this.ended}); open a new session`);
    if (this.lastRequest >= this.limits.maxMessages)
      throw new SessionError('message-cap', `session ${this.sessionId} has carried its maximum of ${this.limits.maxMessages} requests; open a new session`);
    if (now - this.lastActivity > this.limits.idleTimeoutMs)
      throw new SessionError(
        'idle-timeout',
        `session ${this.sessionId} was idle for more than ${this.limits.idleTimeoutMs} ms and the device has dropped it; open a new session`,
      );
    const counter = this.lastRequest + 1;
    const ciphertext = aeadSeal(this.keyOut, envelopeNonce(counter), plaintext, envelopeAad(this.sessionId, counter, DIRECTION_HOST_TO_DEVICE));
    this.lastRequest = counter;
    this.lastActivity = now;
    return { sessionId: this.sessionId, counter, ciphertext: new Uint8Array(ciphertext) };
  }

  /**
   * Open the response with this counter. Refused (SessionError) unless it answers a request we sent and have not had
   * answered. The device counts its idle timeout from its answer (docs/session.md §6), so the host does too, from `now`.
   */
  open(counter: number, sealed: Uint8Array, now: number = Date.now()): Uint8Array {
    if (this.ended) throw new SessionError(this.ended, `session ${this.sessionId} is over (${this.ended})`);
    if (!isCounter(counter)) throw new SessionError('bad-counter', `the response counter must be an integer from 1 to 2^53-1; got ${counter}`);
    if (counter === this.lastResponse)
      throw new SessionError('counter-replayed', `response counter ${counter} was already accepted in session ${this.sessionId} (a replayed response)`);
    if (counter < this.lastResponse)
      throw new SessionError(
        'counter-behind',
        `response counter ${counter} is below the last accepted ${this.lastResponse} in session ${this.sessionId} (replayed or reordered)`,
      );
    if (counter > this.lastRequest)
      throw new SessionError(
        'unexpected-counter',
        `response counter ${counter} answers no request: the last request sent in session ${this.sessionId} had counter ${this.lastRequest}`,
      );
    if (sealed.length < TAG) throw new SessionError('malformed', `the response envelope has ${sealed.length} bytes, fewer than its 16-byte tag`);
    const plain = aeadOpen(this.keyIn, envelopeNonce(counter), sealed, envelopeAad(this.sessionId, counter, DIRECTION_DEVICE_TO_HOST));
    if (!plain)
      throw new SessionError('auth-failed', `the response does not authenticate in session ${this.sessionId}: tampered on the way, or not from this session`);
    this.lastResponse = counter;
    this.lastActivity = now;
    return new Uint8Array(plain);
  }

  /**
   * The token a CANCEL frame carries to end the button wait of request `counter` of this session (docs/session.md
   * §4.1): ChaCha20-Poly1305 under k_h2d of nothing, with the cancel nonce and AAD direction 0x03. Only this
   * session's host can make it, so nobody else on the link can cancel its request.
   */
  cancelToken(counter: number): Uint8Array {
    if (this.ended) throw new SessionError(this.ended, `session ${this.sessionId} is over (${this.ended})`);
    return new Uint8Array(aeadSeal(this.keyOut, cancelNonce(counter), new Uint8Array(0), envelopeAad(this.sessionId, counter, DIRECTION_CANCEL)));
  }

  /** Forget the keys (after SESSION_CLOSE, or on exit). */
  close(): void {
    this.keyOut.fill(0);
    this.keyIn.fill(0);
    if (!this.ended) this.ended = 'closed';
  }
}

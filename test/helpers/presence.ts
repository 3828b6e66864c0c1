// Test rigs for the button wait (docs/security.md §7): a device on a hand-driven clock and button, and a frame-level host for the in-process simulator.
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import type { Crypto, Ed25519Signer, Presence } from '../../firmware/hal/index.ts';
import type { Device, DeviceOptions } from '../../firmware/core/device.ts';
import { Command, FrameType, Role, Status, nameOf } from '../../firmware/protocol/codes.ts';
import { FrameReader, encodeFrame, type Frame } from '../../firmware/protocol/frame.ts';
import { HostSession, SessionHandshake } from '../../host/session.ts';
import { nobleCrypto, replyOfBody, requestBodyOf, startTestDevice, type Loopback, type Reply } from './loopback.ts';
import { cborEncode, type CborValue } from '../../firmware/protocol/cbor.ts';

export const PRESENCE_USER_PIN = new Uint8Array(Buffer.from('123456-user'));
export const PRESENCE_SO_PIN = new Uint8Array(Buffer.from('654321-so-pin'));

/**
 * A device clock that moves only when the test says so. Timers fire in due order as advance() passes them, each
 * seeing now() at its own due time, as a board's timer interrupt would.
 */
export class ManualClock {
  private t = 1000;
  private nextId = 1;
  private timers: { id: number; due: number; fn: () => void }[] = [];

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fn: () => void): number {
    const id = this.nextId++;
    this.timers.push({ id, due: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }

  /** Timers still set. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move the clock forward by `ms`, firing every timer that falls due on the way (timers set by timers included). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: { id: number; due: number; fn: () => void } | undefined;
      for (const x of this.timers) if (x.due <= end && (next === undefined || x.due < next.due || (x.due === next.due && x.id < next.id))) next = x;
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.due;
      next.fn();
    }
    this.t = end;
  }
}

/** A push button the test holds down and lets go; `reads` counts the firmware's polls. */
export class TestButton implements Presence {
  down = false;
  reads = 0;
  isPressed(): boolean {
    this.reads++;
    return this.down;
  }
}

/** Counts the private-key operations the device performs (the identity's session signatures included). */
export interface CryptoCounter {
  readonly crypto: Crypto;
  /** Ed25519 signatures made with key seeds or expanded signers, ECDSA signatures, X25519 and P-256 ECDH. */
  readonly uses: () => number;
}

export function countingCrypto(inner: Crypto = nobleCrypto()): CryptoCounter {
  let n = 0;
  const crypto: Crypto = {
    ...inner,
    ed25519Sign: (m, s) => (n++, inner.ed25519Sign(m, s)),
    ecdsaSign: (c, d, k) => (n++, inner.ecdsaSign(c, d, k)),
    x25519: (k, p) => (n++, inner.x25519(k, p)),
    ecdhP256: (k, p) => (n++, inner.ecdhP256(k, p)),
  };
  const expand = inner.ed25519Expand;
  if (expand !== undefined)
    (crypto as { ed25519Expand?: (seed: Uint8Array) => Ed25519Signer }).ed25519Expand = (seed) => {
      const s = expand(seed);
      return { publicKey: s.publicKey, sign: (m, d) => (n++, s.sign(m, d)), twoPass: () => (n++, s.twoPass()), wipe: () => s.wipe() };
    };
  return { crypto, uses: () => n };
}

/** A frame the device wrote, with its RESPONSE/ERROR body decoded. */
export interface Out {
  type: number;
  seq: number;
  body: Uint8Array;
  /** RESPONSE and ERROR: the decoded answer (for a SESSION_MESSAGE, the outer one). */
  reply?: Reply;
}

export function outOf(f: Frame): Out {
  const o: Out = { type: f.type, seq: f.seq, body: f.body };
  if (f.type === FrameType.RESPONSE || f.type === FrameType.ERROR) o.reply = replyOfBody(f, f.body);
  return o;
}

export function decodeOut(bytes: Uint8Array): Out[] {
  const out: Out[] = [];
  for (const ev of new FrameReader(65535).push(bytes)) {
    if (ev.kind !== 'frame') throw new Error('the device wrote an oversize frame');
    out.push(outOf(ev.frame));
  }
  return out;
}

/** A CANCEL frame's body for request `counter` of `session`: {1: sessionId, 2: counter, 3: token} (docs/protocol.md §1). */
export function cancelBody(session: HostSession, counter: number): Uint8Array {
  return cborEncode(
    new Map<number, CborValue>([
      [1, session.sessionId],
      [2, counter],
      [3, session.cancelToken(counter)],
    ]),
  );
}

export const isKeepalive = (o: Out, seq: number) => o.type === FrameType.KEEPALIVE && o.seq === seq && o.body.length === 1 && o.body[0] === 0x02;

export interface RigOptions extends DeviceOptions {
  /** false: a board without a button (env.presence undefined). Default true. */
  button?: boolean;
  crypto?: Crypto;
  seed?: string;
  /** Also give the board an LED; its states are recorded. */
  led?: boolean;
}

/**
 * A device on a loopback link with a ManualClock and a TestButton, and a host that talks to it frame by frame: a
 * session opened with host/session.ts (node:crypto), INIT and a user LOGIN done by setUp().
 */
export class PresenceRig {
  readonly clock = new ManualClock();
  readonly button: TestButton | undefined;
  readonly device: Device;
  readonly leds: boolean[] = [];
  private readonly link: Loopback;
  private seq = 0;
  session: HostSession | undefined;

  constructor(opts: RigOptions = {}) {
    this.button = opts.button === false ? undefined : new TestButton();
    const clock = this.clock;
    // the frame level (test/helpers/devices.ts) on this rig's clock, button and LED; this rig is the host
    const t = startTestDevice({
      ...opts,
      platform: 'test-presence',
      seed: opts.seed || 'presence rig',
      clock: { now: () => clock.now(), setTimer: (ms, fn) => clock.setTimer(ms, fn), clearTimer: (h) => clock.clearTimer(h) },
      presence: this.button,
      led: opts.led ? { set: (on) => this.leds.push(on) } : undefined,
    });
    this.device = t.device;
    this.link = t.link;
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  /** Feed bytes to the device (it answers synchronously) and return the frames it wrote. */
  feed(bytes: Uint8Array): Out[] {
    this.link.feed(bytes);
    return this.take();
  }

  /** Frames the device wrote since the last take() (timers fired by clock.advance() write too). */
  take(): Out[] {
    return decodeOut(this.link.take());
  }

  /** Advance the device clock and return what the device wrote meanwhile. */
  advance(ms: number): Out[] {
    this.clock.advance(ms);
    return this.take();
  }

  clearFrame(command: number, params: unknown, seq: number): Uint8Array {
    return encodeFrame(FrameType.REQUEST, seq, requestBodyOf(command, params));
  }

  /** A CANCEL for `seq` with the token of the rig's session for its last sealed request (docs/session.md §4.1), or `body`. */
  cancelFrame(seq: number, body?: Uint8Array): Uint8Array {
    return encodeFrame(FrameType.CANCEL, seq, body !== undefined ? body : cancelBody(this.session as HostSession, this.lastCounter));
  }

  /** Counter of the last request sealed by sealedFrame. */
  lastCounter = 0;

  openSession(): void {
    const hs = SessionHandshake.create();
    const q = this.nextSeq();
    const outs = this.feed(this.clearFrame(Command.SESSION_OPEN, { 1: hs.hostEphemeral }, q));
    const r = outs[0] && outs[0].reply;
    if (outs.length !== 1 || !r || r.status !== Status.OK)
      throw new Error('SESSION_OPEN failed: ' + (r ? r.statusName + ' ' + r.message : outs.length + ' frames'));
    if (!this.device.identityPublicKey) throw new Error('the device has no identity');
    this.session = hs.finish(
      this.device.deviceId,
      this.device.identityPublicKey,
      { sessionId: r.map.get(1) as number, deviceEphemeral: r.map.get(2) as Uint8Array, signature: r.map.get(3) as Uint8Array },
      { limits: { maxMessages: Number.MAX_SAFE_INTEGER, idleTimeoutMs: Number.MAX_SAFE_INTEGER }, now: 0 },
    );
  }

  /** A SESSION_MESSAGE frame carrying this inner request, sealed with the next counter. */
  sealedFrame(command: number, params: unknown, seq: number): Uint8Array {
    if (!this.session) this.openSession();
    const env = (this.session as HostSession).seal(requestBodyOf(command, params), 0);
    this.lastCounter = env.counter;
    return this.clearFrame(Command.SESSION_MESSAGE, { 1: env.sessionId, 2: env.counter, 3: env.ciphertext }, seq);
  }

  /** The inner answer of a SESSION_MESSAGE response frame (throws if the envelope was refused or does not open). */
  inner(o: Out): Reply & { counter: number } {
    const outer = o.reply;
    if (o.type !== FrameType.RESPONSE || !outer) throw new Error('not a RESPONSE frame: type ' + o.type);
    if (outer.status !== Status.OK) throw new Error('the envelope was refused: ' + outer.statusName + ' ' + outer.message);
    const counter = outer.map.get(1) as number;
    const plain = (this.session as HostSession).open(counter, outer.map.get(2) as Uint8Array);
    const frame: Frame = { version: 1, type: o.type, seq: o.seq, body: plain };
    return { ...replyOfBody(frame, plain), counter };
  }

  /** One sealed request answered at once: its inner answer. */
  call(command: number, params?: unknown): Reply & { counter: number } {
    const q = this.nextSeq();
    const outs = this.feed(this.sealedFrame(command, params, q));
    if (outs.length !== 1) throw new Error('expected one answer, got ' + outs.length + ' frames (types ' + outs.map((o) => o.type).join(',') + ')');
    return this.inner(outs[0]);
  }

  /** INIT with the test PINs, then LOGIN as user (a fresh session). */
  setUp(): this {
    this.openSession();
    const i = this.call(Command.INIT, { 1: PRESENCE_USER_PIN, 2: PRESENCE_SO_PIN });
    if (i.status !== Status.OK) throw new Error('INIT failed: ' + i.statusName + ' ' + i.message);
    const l = this.call(Command.LOGIN, { 1: Role.USER, 2: PRESENCE_USER_PIN });
    if (l.status !== Status.OK) throw new Error('LOGIN failed: ' + l.statusName + ' ' + l.message);
    return this;
  }

  /** KEY_GENERATE with touch set: the key id and public key. */
  touchKey(alg: number, extra: Record<number, unknown> = {}): { keyId: number; publicKey: Uint8Array } {
    const r = this.call(Command.KEY_GENERATE, { 1: alg, 5: true, ...extra });
    if (r.status !== Status.OK) throw new Error('KEY_GENERATE (touch) failed: ' + r.statusName + ' ' + r.message);
    return { keyId: r.map.get(1) as number, publicKey: r.map.get(2) as Uint8Array };
  }
}

export function statusName(s: number): string {
  return String(nameOf(Status, s));
}

/** node:crypto's verdict on an Ed25519 signature. */
export function ed25519Verifies(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') }, format: 'jwk' });
  return nodeVerify(null, message, key, signature);
}

// ------------------------------------------------------------------ frame-level host on the in-process simulator

/** A byte link to a device: an in-process Simulator fits as it is; wrap a socket with socketLink(). */
export interface ByteLink {
  write(bytes: Uint8Array): void;
  onData(cb: (bytes: Uint8Array) => void): () => void;
}

/** A connected socket (e.g. to `tinyhsm sim --socket PATH`) as a ByteLink. */
export function socketLink(sock: {
  write(b: Uint8Array): unknown;
  on(ev: 'data', cb: (b: Buffer) => void): unknown;
  off(ev: 'data', cb: (b: Buffer) => void): unknown;
}): ByteLink {
  return {
    write: (bytes) => void sock.write(bytes),
    onData: (cb) => {
      const h = (b: Buffer) => cb(new Uint8Array(b));
      sock.on('data', h);
      return () => void sock.off('data', h);
    },
  };
}

/**
 * Talks to a device frame by frame over an asynchronous link (the in-process Simulator, or a socket), so that a
 * test sees every KEEPALIVE. The session crypto is host/session.ts.
 */
export class SimFrameHost {
  private readonly reader = new FrameReader(65535);
  private frames: Out[] = [];
  private waiters: (() => void)[] = [];
  private seq = 0;
  private readonly off: () => void;
  session: HostSession | undefined;
  deviceId: Uint8Array | undefined;
  identity: Uint8Array | undefined;

  constructor(readonly link: ByteLink) {
    this.off = link.onData((bytes) => {
      for (const ev of this.reader.push(bytes)) if (ev.kind === 'frame') this.frames.push(outOf(ev.frame));
      for (const w of this.waiters.splice(0)) w();
    });
  }

  close(): void {
    this.off();
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }

  send(bytes: Uint8Array): void {
    this.link.write(bytes);
  }

  /** Wait for the next frame with this seq that `accept` takes (earlier frames with that seq that it refuses are dropped). */
  async next(seq: number, accept: (o: Out) => boolean = () => true, timeoutMs = 20000): Promise<Out> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((o) => o.seq === seq && accept(o));
      if (i >= 0) return this.frames.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no matching frame for seq ' + seq + ' within ' + timeoutMs + ' ms');
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Frames received so far and not taken (for counting keepalives). */
  drain(seq: number): Out[] {
    const mine = this.frames.filter((o) => o.seq === seq);
    this.frames = this.frames.filter((o) => o.seq !== seq);
    return mine;
  }

  /** The answer (RESPONSE or ERROR) to `seq`, skipping its keepalives. */
  answer(seq: number, timeoutMs?: number): Promise<Out> {
    return this.next(seq, (o) => o.type === FrameType.RESPONSE || o.type === FrameType.ERROR, timeoutMs);
  }

  async clear(command: number, params: unknown): Promise<Reply> {
    const q = this.nextSeq();
    this.send(encodeFrame(FrameType.REQUEST, q, requestBodyOf(command, params)));
    const o = await this.answer(q);
    return o.reply as Reply;
  }

  async openSession(): Promise<void> {
    const info = await this.clear(Command.INFO, {});
    this.deviceId = info.map.get(3) as Uint8Array;
    this.identity = info.map.get(10) as Uint8Array;
    const hs = SessionHandshake.create();
    const r = await this.clear(Command.SESSION_OPEN, { 1: hs.hostEphemeral });
    if (r.status !== Status.OK) throw new Error('SESSION_OPEN failed: ' + r.statusName + ' ' + r.message);
    this.session = hs.finish(this.deviceId, this.identity, {
      sessionId: r.map.get(1) as number,
      deviceEphemeral: r.map.get(2) as Uint8Array,
      signature: r.map.get(3) as Uint8Array,
    });
  }

  /** Send a sealed request; returns its seq (the answer comes later). */
  /** Counter of the last request sent by sendSealed. */
  lastCounter = 0;

  /** Send CANCEL for `seq` with this host's session token for its last sealed request (docs/session.md §4.1). */
  cancel(seq: number): void {
    this.send(encodeFrame(FrameType.CANCEL, seq, cancelBody(this.session as HostSession, this.lastCounter)));
  }

  sendSealed(command: number, params: unknown): number {
    const env = (this.session as HostSession).seal(requestBodyOf(command, params));
    this.lastCounter = env.counter;
    const q = this.nextSeq();
    this.send(encodeFrame(FrameType.REQUEST, q, requestBodyOf(Command.SESSION_MESSAGE, { 1: env.sessionId, 2: env.counter, 3: env.ciphertext })));
    return q;
  }

  inner(o: Out): Reply {
    const outer = o.reply;
    if (o.type !== FrameType.RESPONSE || !outer)
      throw new Error('not a RESPONSE frame: type ' + o.type + (outer ? ' ' + outer.statusName + ' ' + outer.message : ''));
    if (outer.status !== Status.OK) throw new Error('the envelope was refused: ' + outer.statusName + ' ' + outer.message);
    const plain = (this.session as HostSession).open(outer.map.get(1) as number, outer.map.get(2) as Uint8Array);
    return replyOfBody({ version: 1, type: o.type, seq: o.seq, body: plain }, plain);
  }

  async call(command: number, params?: unknown): Promise<Reply> {
    const q = this.sendSealed(command, params);
    return this.inner(await this.answer(q));
  }

  async setUp(): Promise<void> {
    await this.openSession();
    const i = await this.call(Command.INIT, { 1: PRESENCE_USER_PIN, 2: PRESENCE_SO_PIN });
    if (i.status !== Status.OK) throw new Error('INIT failed: ' + i.statusName + ' ' + i.message);
    const l = await this.call(Command.LOGIN, { 1: Role.USER, 2: PRESENCE_USER_PIN });
    if (l.status !== Status.OK) throw new Error('LOGIN failed: ' + l.statusName + ' ' + l.message);
  }
}

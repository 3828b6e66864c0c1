// The response scan (docs/security.md §5): record every secret a test device hands its Crypto and everything it says, then find any secret in what it said or left in flash.
//
// What is recorded, per test file (test/setup/secret-scan.ts runs the scan after each file):
// - secrets: every private key, seed or scalar a loopback device passes to a crypto function (ed25519PublicKey,
//   ed25519Sign, ed25519Expand, ecdsaPublicKey, ecdsaSign, x25519PublicKey, the first argument of x25519 and
//   ecdhP256) and every AEAD key (aeadSeal / aeadOpen: the master key, the PIN key-encryption keys, the session
//   keys). test/helpers/loopback.ts createLoopbackEnv() wraps each device's Crypto and RNG with watchLink().
// - what the device said: every byte it writes to its transport (searched raw and as decoded packets, since COBS
//   and the armor re-encode bytes) and every inner response body a host session opens (HostSession.prototype.open,
//   watched by watchHostSessions()).
// - what it kept: every NorFlash image (test/helpers/nor-flash.ts) made or written in the file (watchNorFlash()).
// A leak is any recorded secret found whole or as any 12-byte window of it. Windows with fewer than 6 distinct
// byte values are not searched (test keys like 32 × 0x11 or an all-zero scalar would match zeroed flash and
// padding by chance; a random key has ~12 distinct bytes in every window), so such keys are not covered.
// Three kinds of match are the host's or the test's doing and are not counted (each is narrow, see below):
// a seeded-RNG replay (excusedAsReplay), an ECHO of the host's own bytes, and a value the device said before the
// host imported it as a key (hostData).
import type { Crypto, Ed25519Signer, Flash, Rng } from '../../firmware/hal/index.ts';
import { FrameReader } from '../../firmware/protocol/frame.ts';
import { cborDecode } from '../../firmware/protocol/cbor.ts';
import { Command, nameOf } from '../../firmware/protocol/codes.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { IDENTITY_RECORD, decodeIdentity } from '../../firmware/core/records.ts';

/** Bytes of a secret that count as a leak when found together. */
export const WINDOW = 12;
/** A window with fewer distinct byte values than this is too regular to search (see the file comment). */
const MIN_DISTINCT = 6;

export interface Secret {
  readonly value: Uint8Array;
  /** Where it was first seen, e.g. "ed25519 seed (ed25519Sign)". */
  readonly what: string;
  /** The devices (watchLink instances) that handed it to their Crypto; -1 for a Crypto watched alone. */
  readonly devices: Set<number>;
  /** When a device first handed it over, on the spy's clock. */
  readonly first: number;
}

/** Something the device said: raw transport bytes, one decoded packet, or one opened inner response body. */
export interface Output {
  readonly bytes: Uint8Array;
  /** e.g. "the wire (raw)", "a response packet", "an inner response body". */
  readonly kind: string;
  /** The command it answered, as far as the spy can tell (named lazily: most outputs are never looked at again). */
  readonly command: () => string;
  /** The request it answered (command byte + CBOR map), when the spy kept it (ECHO); else undefined. */
  readonly request?: () => Uint8Array | undefined;
  /** When it was said, on the spy's clock (secrets carry the time they were first handed over). */
  readonly time?: number;
}

export interface Leak {
  /** The command whose response leaked, or "flash" for a NOR image. */
  readonly command: string;
  readonly where: string;
  readonly secret: Secret;
  /** Offset of the match in the output and in the secret, and its length. */
  readonly at: number;
  readonly secretOffset: number;
  readonly length: number;
}

// ---------------------------------------------------------------- the per-file records

let secrets = new Map<string, Secret>();
let links: LinkLog[] = [];
let innerBodies: Output[] = [];
let images = new Set<Flash & { readonly bytes: Uint8Array }>();
/** "sessionId:counter" → the inner request sealed under it (latest wins; enough to name a leak). */
let sealed = new Map<string, Sealed>();
/** The private keys of every KEY_IMPORT request a host session sealed (hex): values the host itself gave the device. */
let hostImports = new Set<string>();
let enabled = true;
/** The spy's clock: one tick per secret first seen and per output recorded. */
let clock = 0;

interface Sealed {
  name: string;
  /** The plaintext request, kept for ECHO only (its answer is the host's own data). */
  body?: Uint8Array;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Record one secret (a copy: callers wipe theirs) as handed over by device `device`. */
export function noteSecret(value: Uint8Array | undefined, what: string, device = -1): void {
  if (!enabled || !(value instanceof Uint8Array) || value.length === 0) return;
  const k = hex(value);
  let s = secrets.get(k);
  if (!s) secrets.set(k, (s = { value: value.slice(), what, devices: new Set(), first: clock++ }));
  s.devices.add(device);
}

/** Every secret recorded so far in this file. */
export function recordedSecrets(): Secret[] {
  return [...secrets.values()];
}

/**
 * Run `fn` with empty records and put the file's records back afterwards: for tests of the scan itself, whose
 * planted leaks must not fail their own file.
 */
export function isolated<T>(fn: () => T): T {
  const saved = { secrets, links, innerBodies, images, sealed, draws, hostImports };
  secrets = new Map();
  draws = [];
  hostImports = new Set();
  links = [];
  innerBodies = [];
  images = new Set();
  sealed = new Map();
  try {
    return fn();
  } finally {
    ({ secrets, links, innerBodies, images, sealed, draws, hostImports } = saved);
  }
}

/** Forget everything recorded (after the scan of a file). */
export function resetSpy(): void {
  secrets.clear();
  links.length = 0;
  innerBodies.length = 0;
  images.clear();
  sealed.clear();
  draws = [];
  hostImports = new Set();
}

// ---------------------------------------------------------------- Crypto

const watched = new WeakSet<object>();

/**
 * `c` with every private-key and AEAD-key argument recorded before the call. Functions `c` lacks stay absent (a
 * device without Ed25519 must still look like one); everything else is `c`'s own. Idempotent.
 */
export function watchCrypto<C extends Crypto>(c: C, device = -1): C {
  if (watched.has(c)) return c;
  const w: Record<string, unknown> = {};
  // own and inherited properties alike (a Crypto may be a class instance)
  for (let o: object | null = c; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o))
    for (const k of Object.getOwnPropertyNames(o)) {
      if (k === 'constructor' || k in w) continue;
      const d = Object.getOwnPropertyDescriptor(o, k) as PropertyDescriptor;
      if (d.get) Object.defineProperty(w, k, { get: () => (c as Record<string, unknown>)[k], enumerable: true, configurable: true });
      else w[k] = typeof d.value === 'function' ? (d.value as (...a: unknown[]) => unknown).bind(c) : d.value;
    }
  const wrap = (name: string, arg: number, what: string) => {
    const f = w[name];
    if (typeof f !== 'function') return;
    w[name] = (...args: unknown[]) => {
      noteSecret(args[arg] as Uint8Array, what + ' (' + name + ')', device);
      return (f as (...a: unknown[]) => unknown)(...args);
    };
  };
  wrap('ed25519PublicKey', 0, 'ed25519 seed');
  wrap('ed25519Sign', 1, 'ed25519 seed');
  wrap('ecdsaPublicKey', 1, 'ECDSA private scalar');
  wrap('ecdsaSign', 2, 'ECDSA private scalar');
  wrap('x25519PublicKey', 0, 'X25519 private scalar');
  wrap('x25519', 0, 'X25519 private scalar');
  wrap('ecdhP256', 0, 'P-256 private scalar');
  wrap('aeadSeal', 0, 'AEAD key');
  wrap('aeadOpen', 0, 'AEAD key');
  const expand = w.ed25519Expand;
  if (typeof expand === 'function')
    w.ed25519Expand = (seed: Uint8Array): Ed25519Signer => {
      noteSecret(seed, 'ed25519 seed (ed25519Expand)', device);
      return (expand as (s: Uint8Array) => Ed25519Signer)(seed);
    };
  if (device === -1) watched.add(w);
  return w as unknown as C;
}

// ---------------------------------------------------------------- the wire

interface LinkLog {
  mode: 'binary' | 'armor';
  /** Bytes the host fed the device, in order (kept to name the command an answer belongs to). */
  inputs: Uint8Array[];
  /** Each device write, with how many inputs had been fed before it. */
  outputs: { bytes: Uint8Array; after: number; time: number }[];
}

/** One draw from a device's RNG: its bytes and where they lie in the seeded stream (seededRng: a function of the seed). */
interface Draw {
  device: number;
  stream: string;
  offset: number;
  bytes: Uint8Array;
}
let draws: Draw[] = [];
let nextDevice = 0;

export interface LinkWatch {
  /** This device's number in the records. */
  readonly device: number;
  /** Bytes the host feeds the device. */
  input(bytes: Uint8Array): void;
  /** Bytes the device writes (a copy the caller will not change). */
  output(bytes: Uint8Array): void;
  /** The device's Crypto, watched: secrets are recorded as this device's. */
  crypto<C extends Crypto>(c: C): C;
  /**
   * The device's seeded RNG, watched: every draw is recorded with its place in the stream of `stream` (the seed).
   * Tests boot many devices on the same seed, so the same stream bytes serve as, say, the device id of one boot and
   * the session scalar of the next: a match that is such a replay (the bytes were drawn for a public use by some
   * device) is no leak. See excusedAsReplay().
   */
  rng<R extends Rng>(r: R, stream: string): R;
}

/** The watch for one loopback device and its link (createLoopbackEnv). */
export function watchLink(mode: 'binary' | 'armor'): LinkWatch {
  const log: LinkLog = { mode, inputs: [], outputs: [] };
  links.push(log);
  const device = nextDevice++;
  return {
    device,
    input(bytes) {
      if (enabled) log.inputs.push(bytes.slice());
    },
    output(bytes) {
      if (enabled) log.outputs.push({ bytes, after: log.inputs.length, time: clock++ });
    },
    crypto: (c) => watchCrypto(c, device),
    rng<R extends Rng>(r: R, stream: string): R {
      let offset = 0;
      const w = Object.create(r) as R;
      w.fill = (buf: Uint8Array) => {
        r.fill(buf);
        if (enabled) draws.push({ device, stream, offset, bytes: buf.slice() });
        offset += buf.length;
      };
      return w;
    },
  };
}

/** Per stream, the merged [start, end) intervals of bytes some device drew for a public use (not as a secret of its own). */
function publicDraws(list: Secret[]): Map<string, [number, number][]> {
  const heldBy = new Map<number, Buffer[]>();
  for (const s of list)
    for (const d of s.devices) {
      let a = heldBy.get(d);
      if (!a) heldBy.set(d, (a = []));
      a.push(Buffer.from(s.value));
    }
  const out = new Map<string, [number, number][]>();
  for (const d of draws) {
    const held = heldBy.get(d.device) || [];
    const b = Buffer.from(d.bytes);
    // a draw is a secret's birth when it holds a whole secret of its device (a seed, a scalar, the master key);
    // a draw that is merely part of one (its device loaded that secret from flash) is some public use
    if (b.length === 0 || held.some((h) => b.indexOf(h) >= 0)) continue;
    let a = out.get(d.stream);
    if (!a) out.set(d.stream, (a = []));
    a.push([d.offset, d.offset + d.bytes.length]);
  }
  for (const [k, a] of out) {
    a.sort((x, y) => x[0] - y[0]);
    const merged: [number, number][] = [];
    for (const iv of a) {
      const last = merged[merged.length - 1];
      if (last && iv[0] <= last[1]) last[1] = Math.max(last[1], iv[1]);
      else merged.push([iv[0], iv[1]]);
    }
    out.set(k, merged);
  }
  return out;
}

/**
 * True when the matched part of `secret` is stream bytes that some device drew for a public use: the secret was
 * drawn from a seeded stream at a place where another boot on the same seed drew, say, its device id. On hardware
 * (a TRNG) no two draws repeat; in tests they do, and only such a replay is excused.
 */
function excusedAsReplay(
  secret: Secret,
  from: number,
  length: number,
  pub: Map<string, [number, number][]>,
  births: Map<Secret, { stream: string; at: number }[]>,
): boolean {
  let born = births.get(secret);
  if (born === undefined) {
    // where in which stream its devices drew it (computed once per secret, and only for secrets that matched)
    born = [];
    const v = Buffer.from(secret.value);
    for (const d of draws) {
      if (!secret.devices.has(d.device) || d.bytes.length < v.length) continue;
      const at = Buffer.from(d.bytes).indexOf(v);
      if (at >= 0) born.push({ stream: d.stream, at: d.offset + at });
    }
    births.set(secret, born);
  }
  for (const b of born) {
    const start = b.at + from;
    const end = start + length;
    for (const iv of pub.get(b.stream) || []) if (iv[0] <= start && end <= iv[1]) return true;
  }
  return false;
}

/** The request a clear request body stands for: "SIGN", or "SESSION_MESSAGE(SIGN)" with the sealed inner request. */
function requestOf(body: Uint8Array): { name: string; body?: Uint8Array } {
  if (body.length === 0) return { name: 'an empty request' };
  const code = body[0];
  const name = String(nameOf(Command, code) || 'command 0x' + code.toString(16));
  if (code !== Command.SESSION_MESSAGE) return { name, body };
  const d = cborDecode(body.subarray(1));
  if (!d.ok || !(d.value instanceof Map)) return { name };
  const inner = sealed.get(d.value.get(1) + ':' + d.value.get(2));
  return inner === undefined ? { name } : { name: name + '(' + inner.name + ')', body: inner.body };
}

/** The last request frame among a link's first `n` inputs. */
function lastRequest(log: LinkLog, n: number): { name: string; body?: Uint8Array } {
  const reader = new FrameReader(65535, log.mode);
  let last: { name: string; body?: Uint8Array } = { name: 'no request yet (a boot message)' };
  for (let i = 0; i < n; i++) for (const ev of reader.push(log.inputs[i])) if (ev.kind === 'frame') last = requestOf(ev.frame.body);
  return last;
}

function wireOutputs(): Output[] {
  const out: Output[] = [];
  for (const log of links) {
    // one reader per link, fed in order: the device writes whole frames, and a frame split across writes still decodes
    const reader = new FrameReader(65535, log.mode);
    for (const o of log.outputs) {
      let req: { name: string; body?: Uint8Array } | undefined;
      const named = () => req || (req = lastRequest(log, o.after));
      const command = () => named().name;
      const request = () => named().body;
      out.push({ bytes: o.bytes, kind: 'the wire (raw bytes)', command, request, time: o.time });
      for (const ev of reader.push(o.bytes))
        if (ev.kind === 'frame') out.push({ bytes: ev.frame.body, kind: 'a response packet', command, request, time: o.time });
    }
  }
  return out;
}

// ---------------------------------------------------------------- host sessions

interface SessionLike {
  readonly sessionId: number;
  seal(plaintext: Uint8Array, now?: number): { sessionId: number; counter: number; ciphertext: Uint8Array };
  open(counter: number, sealed: Uint8Array): Uint8Array;
}

/** Watch every HostSession (host/session.ts): the command of each sealed request, and each inner response opened. */
export function watchHostSessions(proto: SessionLike): void {
  const p = proto as SessionLike & { __spied?: boolean };
  if (p.__spied) return;
  p.__spied = true;
  const seal = proto.seal;
  const open = proto.open;
  const requests = new WeakMap<object, Map<number, Sealed>>();
  proto.seal = function (this: SessionLike, plaintext: Uint8Array, now?: number) {
    const e = now === undefined ? seal.call(this, plaintext) : seal.call(this, plaintext, now);
    if (enabled) {
      const code = plaintext.length > 0 ? plaintext[0] : -1;
      const name = code < 0 ? 'an empty request' : String(nameOf(Command, code) || 'command 0x' + code.toString(16));
      const r: Sealed = { name, body: code === Command.ECHO ? plaintext.slice() : undefined };
      if (code === Command.KEY_IMPORT) {
        const d = cborDecode(plaintext.subarray(1));
        const k = d.ok && d.value instanceof Map ? d.value.get(3) : undefined;
        if (k instanceof Uint8Array) hostImports.add(hex(k));
      }
      let m = requests.get(this);
      if (!m) requests.set(this, (m = new Map()));
      m.set(e.counter, r);
      sealed.set(e.sessionId + ':' + e.counter, r);
    }
    return e;
  };
  proto.open = function (this: SessionLike, counter: number, ct: Uint8Array) {
    const plain = open.call(this, counter, ct);
    if (enabled) {
      const m = requests.get(this);
      const r = (m && m.get(counter)) || { name: 'an unknown request' };
      innerBodies.push({
        bytes: plain.slice(),
        kind: 'an inner response body (session ' + this.sessionId + ', counter ' + counter + ')',
        command: () => r.name,
        request: () => r.body,
        time: clock++,
      });
    }
    return plain;
  };
}

// ---------------------------------------------------------------- flash images

/** Watch NorFlash images: each one made by fromBytes, or written, erased or restored, is scanned after the file. */
export function watchNorFlash(cls: { prototype: object; fromBytes: (...a: never[]) => unknown }): void {
  const c = cls as unknown as { prototype: Record<string, unknown> & { __spied?: boolean }; fromBytes: (...a: unknown[]) => unknown };
  if (c.prototype.__spied) return;
  c.prototype.__spied = true;
  for (const m of ['write', 'erase', 'restore']) {
    const f = c.prototype[m] as (...a: unknown[]) => unknown;
    c.prototype[m] = function (this: Flash & { bytes: Uint8Array }, ...args: unknown[]) {
      if (enabled) images.add(this);
      return f.apply(this, args);
    };
  }
  const from = c.fromBytes;
  c.fromBytes = function (...args: unknown[]) {
    const f = from.apply(this, args) as Flash & { bytes: Uint8Array };
    if (enabled) images.add(f);
    return f;
  };
}

/** A permissive in-RAM copy of an image (no NOR rules): the store may read and "repair" it freely. */
function copyFlash(image: Uint8Array, pageSize: number, wordSize: number): Flash {
  const mem = image.slice();
  return {
    pageSize,
    pageCount: mem.length / pageSize,
    wordSize,
    read: (p, o, n) => mem.slice(p * pageSize + o, p * pageSize + o + n),
    write: (p, o, d) => mem.set(d, p * pageSize + o),
    erase: (p) => mem.fill(0xff, p * pageSize, (p + 1) * pageSize),
  };
}

/**
 * The identity seed the image's store holds, if any. It is the one secret allowed in flash in the clear, by design
 * (docs/security.md §5): SESSION_OPEN is signed with it before any PIN is given, so it cannot be wrapped under one.
 */
export function identitySeedOf(flash: Flash & { readonly bytes: Uint8Array }): Uint8Array | undefined {
  try {
    const v = Store.open(copyFlash(flash.bytes, flash.pageSize, flash.wordSize)).get(IDENTITY_RECORD);
    return v === undefined ? undefined : decodeIdentity(v);
  } catch (e) {
    return undefined; // not a store image (or a geometry the store refuses): no identity to excuse
  }
}

// ---------------------------------------------------------------- the search

interface WindowEntry {
  secret: Secret;
  offset: number;
}

/** Index of every searchable window of `list`, by its first 4 bytes (one Map lookup per output byte). */
function indexWindows(list: Secret[]): Map<number, WindowEntry[]> {
  const idx = new Map<number, WindowEntry[]>();
  for (const s of list) {
    const v = s.value;
    const w = Math.min(WINDOW, v.length);
    if (w < 4) continue;
    for (let i = 0; i + w <= v.length; i++) {
      if (new Set(v.subarray(i, i + w)).size < Math.min(MIN_DISTINCT, w)) continue;
      const k = (v[i] | (v[i + 1] << 8) | (v[i + 2] << 16) | (v[i + 3] << 24)) >>> 0;
      let a = idx.get(k);
      if (!a) idx.set(k, (a = []));
      a.push({ secret: s, offset: i });
    }
  }
  return idx;
}

/** A test of a match: true when it is a seeded-RNG replay and no leak (excusedAsReplay). */
type Excuse = (secret: Secret, from: number, length: number) => boolean;

/** The first place in `hay` where each secret shows (a whole secret or a window of one, not excused), one hit per secret. */
function searchIn(hay: Uint8Array, idx: Map<number, WindowEntry[]>, excuse: Excuse): { entry: WindowEntry; at: number; length: number }[] {
  const hits: { entry: WindowEntry; at: number; length: number }[] = [];
  const seen = new Set<Secret>();
  /** Per secret, the end of the last excused run: its other windows inside that run are the same match. */
  const excusedUntil = new Map<Secret, number>();
  for (let i = 0; i + 4 <= hay.length; i++) {
    const k = (hay[i] | (hay[i + 1] << 8) | (hay[i + 2] << 16) | (hay[i + 3] << 24)) >>> 0;
    const cands = idx.get(k);
    if (cands === undefined) continue;
    for (const c of cands) {
      if (seen.has(c.secret)) continue;
      const until = excusedUntil.get(c.secret);
      if (until !== undefined && i < until) continue;
      const v = c.secret.value;
      const w = Math.min(WINDOW, v.length);
      if (i + w > hay.length) continue;
      let same = true;
      for (let j = 4; j < w && same; j++) if (hay[i + j] !== v[c.offset + j]) same = false;
      if (!same) continue;
      // extend to the whole run the output shares with the secret, for the report and the replay test
      let start = 0;
      while (c.offset - start > 0 && i - start > 0 && hay[i - start - 1] === v[c.offset - start - 1]) start++;
      let end = w;
      while (c.offset + end < v.length && i + end < hay.length && hay[i + end] === v[c.offset + end]) end++;
      if (excuse(c.secret, c.offset - start, end + start)) {
        excusedUntil.set(c.secret, i + end);
        continue;
      }
      seen.add(c.secret);
      hits.push({ entry: { secret: c.secret, offset: c.offset - start }, at: i - start, length: end + start });
    }
  }
  return hits;
}

function replayExcuse(list: Secret[]): Excuse {
  const pub = publicDraws(list);
  const births = new Map<Secret, { stream: string; at: number }[]>();
  return (secret, from, length) => excusedAsReplay(secret, from, length, pub, births);
}

/**
 * True when the matched bytes are the host's own data, not the device's secret:
 * - an answer to ECHO whose request carried them (ECHO returns what it was sent);
 * - an answer said before the secret existed, when the secret is a value the host itself later imported as a key
 *   (RFC 7748 §5.2's iterated test imports each ECDH result, and the public key it got, as the next scalar).
 */
function hostData(o: Output, secret: Secret, from: number, length: number): boolean {
  const part = Buffer.from(secret.value.subarray(from, from + length));
  if (/(^|\()ECHO\)?$/.test(o.command()) && o.request) {
    const req = o.request();
    if (req !== undefined && Buffer.from(req).indexOf(part) >= 0) return true;
  }
  if (o.time !== undefined && o.time < secret.first && hostImports.has(hex(secret.value))) return true;
  return false;
}

/** Leaks of `list` in the outputs: every output that holds a whole secret or a 12-byte window of one. */
export function findLeaks(outputs: Output[], list: Secret[] = recordedSecrets(), excuse: Excuse = replayExcuse(list)): Leak[] {
  const idx = indexWindows(list);
  if (idx.size === 0) return [];
  const leaks: Leak[] = [];
  for (const o of outputs)
    for (const h of searchIn(o.bytes, idx, (sec, from, length) => excuse(sec, from, length) || hostData(o, sec, from, length)))
      leaks.push({ command: o.command(), where: o.kind, secret: h.entry.secret, at: h.at, secretOffset: h.entry.offset, length: h.length });
  return leaks;
}

/**
 * Leaks in flash images. Exactly the identity seed the image's store holds is blanked out of the copy searched:
 * it is kept in the clear by design (docs/security.md §5), since SESSION_OPEN is signed with it before any PIN is
 * given. Every other recorded secret (private keys, the master key, PIN key-encryption keys, session keys) counts.
 */
export function findFlashLeaks(
  list: (Flash & { readonly bytes: Uint8Array })[],
  all: Secret[] = recordedSecrets(),
  excuse: Excuse = replayExcuse(all),
): Leak[] {
  const leaks: Leak[] = [];
  const idx = indexWindows(all);
  if (idx.size === 0) return leaks;
  for (const img of list) {
    let bytes = img.bytes;
    const seed = identitySeedOf(img);
    if (seed !== undefined) {
      const b = Buffer.from(bytes);
      const sb = Buffer.from(seed);
      for (let at = b.indexOf(sb); at >= 0; at = b.indexOf(sb, at + 1)) b.fill(0, at, at + sb.length);
      bytes = new Uint8Array(b);
      seed.fill(0);
    }
    for (const h of searchIn(bytes, idx, excuse))
      leaks.push({
        command: 'flash',
        where: 'a ' + img.bytes.length + '-byte NOR image (page ' + Math.floor(h.at / img.pageSize) + ', offset ' + (h.at % img.pageSize) + ')',
        secret: h.entry.secret,
        at: h.at,
        secretOffset: h.entry.offset,
        length: h.length,
      });
  }
  return leaks;
}

/** One line per leak, naming the command (never the whole secret: its first 4 bytes identify it). */
export function describeLeak(l: Leak): string {
  const s = l.secret.value;
  const tag = hex(s.subarray(0, 4)) + '…';
  const part =
    l.length >= s.length
      ? 'the whole ' + s.length + '-byte ' + l.secret.what
      : l.length + ' bytes (at ' + l.secretOffset + ') of a ' + s.length + '-byte ' + l.secret.what;
  return (l.command === 'flash' ? 'the flash' : 'the response to ' + l.command) + ' leaks ' + part + ' ' + tag + ', in ' + l.where + ' at byte ' + l.at;
}

/** Everything this file's devices said or kept that holds a recorded secret. */
export function scanAll(): Leak[] {
  const list = recordedSecrets();
  if (list.length === 0) return [];
  const excuse = replayExcuse(list);
  return [...findLeaks([...wireOutputs(), ...innerBodies], list, excuse), ...findFlashLeaks([...images], list, excuse)];
}

/** Stop or resume recording (the scan itself must not record what it reads). */
export function setSpyEnabled(on: boolean): void {
  enabled = on;
}

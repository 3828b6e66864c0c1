// Loopback Env for tests: a transport that records what the device writes and lets a test feed it bytes, a seeded RNG, and call().
import { createHash } from 'node:crypto';
import type { Crypto, Env, Rng, Transport } from '../../firmware/hal/index.ts';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { startDevice, type Device, type DeviceOptions } from '../../firmware/core/device.ts';
import { FrameType, Status, nameOf } from '../../firmware/protocol/codes.ts';
import { type CborMap, type CborValue, cborDecode, cborEncode } from '../../firmware/protocol/cbor.ts';
import { FrameReader, encodeArmorLine, encodeFrame, type Frame } from '../../firmware/protocol/frame.ts';

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

let sharedCrypto: Crypto | undefined;
/** One noble Crypto per test process (it holds no state; building it is cheap, but noble's tables are shared anyway). */
export function nobleCrypto(): Crypto {
  return sharedCrypto || (sharedCrypto = createNobleCrypto());
}

export interface LoopbackOptions {
  mode?: 'binary' | 'armor';
  crypto?: Crypto;
  seed?: string;
  maxPacket?: number;
  platform?: string;
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
  let pending: Uint8Array[] = [];
  const transport: Transport = {
    mode: opts.mode || 'binary',
    write(bytes) {
      const copy = bytes.slice();
      written.push(copy);
      pending.push(copy);
    },
    onData(r) {
      receiver = r;
    },
  };
  const env: Env = {
    platform: opts.platform || 'test-loopback',
    transport,
    rng: seededRng(opts.seed),
    clock: {
      now: () => Number(process.hrtime.bigint() / 1000000n),
      setTimer: (ms, fn) => setTimeout(fn, ms),
      clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
    },
    crypto: opts.crypto || nobleCrypto(),
    maxPacket: opts.maxPacket,
  };
  allLinks.push(written);
  return {
    env,
    written,
    feed(bytes) {
      if (!receiver) throw new Error('loopback: the device has not registered onData yet');
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
  /** {1: message} of an error answer. */
  message?: string;
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
    if (!d.ok) throw new Error('device sent bad CBOR: ' + d.message);
    if (!(d.value instanceof Map)) throw new Error('device sent a non-map body');
    const status = f.body[0];
    const m = d.value.get(1);
    out.push({
      frame: f,
      status,
      statusName: String(nameOf(Status, status)),
      map: d.value,
      message: status !== Status.OK && typeof m === 'string' ? m : undefined,
    });
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

export interface TestDevice {
  readonly device: Device;
  readonly link: Loopback;
  /** Send one REQUEST (command + params map) and return the one answer. Records KEY_IMPORT private keys. */
  call(command: number, params?: unknown, seq?: number): Reply;
  /** Feed raw bytes and decode whatever the device answered (possibly nothing). */
  raw(bytes: Uint8Array): Reply[];
  /** Encode a request frame the way call() does (binary or armor, per the link mode). */
  requestFrame(command: number, params?: unknown, seq?: number): Uint8Array;
  nextSeq(): number;
}

export function startTestDevice(opts: LoopbackOptions & DeviceOptions = {}): TestDevice {
  const link = createLoopbackEnv(opts);
  const device = startDevice(link.env, { slots: opts.slots, firmwareVersion: opts.firmwareVersion });
  const mode = link.env.transport.mode;
  let seq = 0;
  const nextSeq = () => (seq = (seq + 1) & 0xffff);
  const requestFrame = (command: number, params?: unknown, s?: number): Uint8Array => {
    const map = params === undefined ? new Uint8Array(0) : cborEncode(toCbor(params));
    const body = new Uint8Array(1 + map.length);
    body[0] = command;
    body.set(map, 1);
    const q = s === undefined ? nextSeq() : s;
    return mode === 'armor' ? new Uint8Array(Buffer.from(encodeArmorLine(FrameType.REQUEST, q, body), 'ascii')) : encodeFrame(FrameType.REQUEST, q, body);
  };
  const raw = (bytes: Uint8Array): Reply[] => {
    link.feed(bytes);
    return decodeReplies(link.take(), mode);
  };
  return {
    device,
    link,
    nextSeq,
    requestFrame,
    raw,
    call(command, params, s) {
      if (command === 0x05 && params && typeof params === 'object' && !(params instanceof Map)) {
        const pk = (params as Record<number, unknown>)[3];
        if (pk instanceof Uint8Array && pk.length === 32) importedPrivateKeys.push(pk.slice());
      }
      const q = s === undefined ? nextSeq() : s;
      const replies = raw(requestFrame(command, params, q));
      if (replies.length !== 1) throw new Error('expected one answer, got ' + replies.length);
      const r = replies[0];
      if (r.frame.seq !== q) throw new Error('answer seq ' + r.frame.seq + ' does not match request seq ' + q);
      return r;
    },
  };
}

/** Map value helper for assertions. */
export function field<T = CborValue>(r: Reply, key: number): T {
  return r.map.get(key) as T;
}

export const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

// Device frame loop and boot: answers, ERROR frames, oversize frames, keepalives, reply cache (across host processes too), what a non-raw tty does, noise, armor mode, boot-time checks, and the name and keys kept in flash (docs/protocol.md §1, docs/storage.md).
import { renderReason } from '../../host/render.ts';

/** The device's boot problems as the host renders them. */
const bootText = (d: { reason: number; args: number[] }[] | undefined): string => (d ?? []).map((x) => renderReason(x.reason, x.args)).join('; ');
import { describe, it, expect } from 'vitest';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Crypto } from '../../firmware/hal/index.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { DEVICE_ID_RECORD, IDENTITY_RECORD } from '../../firmware/core/records.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { nobleCrypto } from '../helpers/loopback.ts';
import { Alg, Command, FrameType, Status } from '../../firmware/protocol/codes.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import { FrameReader, encodeFrame, encodePacket, encodeArmorLine, type Frame } from '../../firmware/protocol/frame.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { PresenceRig } from '../helpers/presence.ts';
import { cobsEncode } from '../../firmware/protocol/cobs.ts';
import { startDevice, maxSlotsFor } from '../../firmware/core/device.ts';
import { createLoopbackEnv, decodeReplies, field, hex, requestBodyOf, seededRng, startTestDevice } from '../helpers/loopback.ts';
import { crc32 } from '../../firmware/protocol/crc32.ts';

const infoBody = new Uint8Array([Command.INFO, 0xa0]);

/** RFC 8032 public key of a seed, by OpenSSL. */
/**
 * A body of the same length and CRC-32 as `body` that differs in the 5 bytes before `end`: CRC-32 is affine over
 * GF(2), so a change whose CRC contribution is zero leaves the CRC as it was. 40 unknown bits, 32 equations: the
 * kernel is not empty (a 32-bit window would not do: CRC-32 detects every burst of up to 32 bits).
 */
function sameCrcOtherBody(body: Uint8Array, end: number): Uint8Array {
  const zero = crc32(new Uint8Array(body.length));
  const bits = 40;
  const start = end - 5;
  // column i: the CRC change of flipping bit i of the window
  const cols: number[] = [];
  for (let i = 0; i < bits; i++) {
    const d = new Uint8Array(body.length);
    d[start + (i >> 3)] = 1 << (i & 7);
    cols.push((crc32(d) ^ zero) >>> 0);
  }
  // Gaussian elimination, tracking which flips make each reduced column; a column that reduces to 0 is a kernel vector
  const reduced: { v: number; combo: bigint }[] = [];
  for (let i = 0; i < bits; i++) {
    let v = cols[i];
    let combo = 1n << BigInt(i);
    for (const r of reduced)
      if ((v ^ r.v) >>> 0 < v) {
        v = (v ^ r.v) >>> 0;
        combo ^= r.combo;
      }
    if (v === 0) {
      const out = body.slice();
      for (let k = 0; k < bits; k++) if ((combo >> BigInt(k)) & 1n) out[start + (k >> 3)] ^= 1 << (k & 7);
      return out;
    }
    reduced.push({ v, combo });
    reduced.sort((x, y) => y.v - x.v);
  }
  throw new Error('no CRC-32 collision in the window');
}

function ed25519Public(seed: Uint8Array): string {
  const k = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
  return createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');
}

describe('INFO', () => {
  it('reports versions, id, packet size, algorithms, slots and platform', () => {
    const t = startTestDevice({ seed: 'info' });
    const r = t.call(Command.INFO, {});
    expect(r.frame.type).toBe(FrameType.RESPONSE);
    expect(r.status).toBe(Status.OK);
    expect(field(r, 1)).toBe('0.1.0');
    expect(field(r, 2)).toBe(1);
    expect(hex(field<Uint8Array>(r, 3))).toBe(hex(t.device.deviceId));
    // the device id comes from env.rng: the first 16 bytes of the seeded stream
    const want = new Uint8Array(16);
    seededRng('info').fill(want);
    expect(hex(t.device.deviceId)).toBe(hex(want));
    expect(field(r, 4)).toBe(2048);
    expect(field(r, 5)).toEqual([Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]);
    expect(r.map.has(6)).toBe(false);
    expect(field(r, 7)).toBe(0);
    expect(field(r, 8)).toBe(16);
    expect(field(r, 9)).toBe('test-loopback');
    // the identity key is made from the next 32 bytes of the stream, right after the device id
    const stream = new Uint8Array(48);
    seededRng('info').fill(stream);
    expect(hex(field<Uint8Array>(r, 10))).toBe(ed25519Public(stream.subarray(16)));
    expect(hex(t.device.identityPublicKey)).toBe(hex(field<Uint8Array>(r, 10)));
    // no flash in the Env: the store runs on the RAM flash, and INFO says the keys do not survive power-off
    expect([field(r, 11), field(r, 12), field(r, 16)]).toEqual([2048, 4, true]);
    expect(field<number[]>(r, 15)).toEqual([0, 0, 0, 0]);
    expect(field<number>(r, 13)).toBeGreaterThan(0); // the device id and identity records
    expect(field<number>(r, 14)).toBeGreaterThan(field<number>(r, 13));
  });

  it('flash fields follow the store: bytes used grow with a key and shrink with its deletion; the total stays', () => {
    const flash = new NorFlash({ pageSize: 4096, pageCount: 8 });
    const t = startTestDevice({ flash });
    const a = t.call(Command.INFO);
    expect([field(a, 11), field(a, 12), a.map.has(16)]).toEqual([4096, 8, false]);
    expect(field<number[]>(a, 15)).toHaveLength(8);
    const used0 = field<number>(a, 13);
    const total = used0 + field<number>(a, 14);
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 2: 'x' });
    const b = t.call(Command.INFO);
    expect(field<number>(b, 13)).toBeGreaterThan(used0 + 32 + 65);
    expect(field<number>(b, 13) + field<number>(b, 14)).toBe(total);
    expect(t.call(Command.KEY_DELETE, { 1: field(g, 1) }).status).toBe(Status.OK);
    const c = t.call(Command.INFO);
    expect(field<number>(c, 13)).toBeLessThan(field<number>(b, 13));
    expect(field<number>(c, 13) + field<number>(c, 14)).toBe(total);
  });

  it('takes firmwareVersion, slots and maxPacket from the options and the Env', () => {
    const t = startTestDevice({ firmwareVersion: '9.9.9-test', slots: 3, maxPacket: 4096, platform: 'node-sim' });
    const r = t.call(Command.INFO);
    expect([field(r, 1), field(r, 4), field(r, 7), field(r, 8), field(r, 9)]).toEqual(['9.9.9-test', 4096, 0, 3, 'node-sim']);
  });

  it('refuses a configuration outside the protocol bounds at boot', () => {
    expect(() => startDevice(createLoopbackEnv().env, { slots: 0 })).toThrow(/slots/);
    expect(() => startDevice(createLoopbackEnv().env, { slots: maxSlotsFor(2048) + 1 })).toThrow(/slots/);
    expect(() => startDevice(createLoopbackEnv({ maxPacket: 1000 }).env)).toThrow(/maxPacket/);
    expect(maxSlotsFor(2048)).toBeGreaterThanOrEqual(16);
  });
});

describe('frames the device cannot answer normally get an ERROR frame with the same seq', () => {
  const t = startTestDevice();

  it('unsupported protocol version → UNSUPPORTED_VERSION', () => {
    const packet = encodePacket(FrameType.REQUEST, 0x1234, infoBody, 2);
    const [r, ...rest] = t.raw(new Uint8Array([...cobsEncode(packet), 0]));
    expect(rest).toEqual([]);
    expect(r.frame.type).toBe(FrameType.ERROR);
    expect(r.frame.seq).toBe(0x1234);
    expect(r.status).toBe(Status.UNSUPPORTED_VERSION);
    expect(r.message).toMatch(/version 2.*version 1/);
  });

  it.each([
    ['RESPONSE', FrameType.RESPONSE],
    ['KEEPALIVE', FrameType.KEEPALIVE],
    ['ERROR', FrameType.ERROR],
    ['unknown 0x77', 0x77],
  ])('a %s frame from the host → INVALID_FRAME', (_n, type) => {
    const [r, ...rest] = t.raw(encodeFrame(type, 77, infoBody));
    expect(rest).toEqual([]);
    expect(r.frame.type).toBe(FrameType.ERROR);
    expect(r.frame.seq).toBe(77);
    expect(r.status).toBe(Status.INVALID_FRAME);
    expect(r.message).toMatch(/REQUEST/);
  });

  it('an oversize frame → PACKET_TOO_LARGE, and the next frame is served', () => {
    const big = new Uint8Array(3000).fill(0x41);
    big[0] = Command.ECHO;
    const [r, ...rest] = t.raw(encodeFrame(FrameType.REQUEST, 4242, big));
    expect(rest).toEqual([]);
    expect(r.frame.type).toBe(FrameType.ERROR);
    expect(r.frame.seq).toBe(4242);
    expect(r.status).toBe(Status.PACKET_TOO_LARGE);
    expect(r.message).toContain('2048');
    expect(t.call(Command.INFO).status).toBe(Status.OK);
  });

  it('a CANCEL gets no answer (nothing runs long yet)', () => {
    expect(t.raw(encodeFrame(FrameType.CANCEL, 5, new Uint8Array(0)))).toEqual([]);
  });

  it('a bad CRC, console noise and empty frames are dropped silently', () => {
    const f = encodeFrame(FrameType.REQUEST, 9, infoBody);
    const bad = f.slice();
    bad[3] ^= 0x10;
    expect(t.raw(bad)).toEqual([]);
    expect(t.raw(new Uint8Array(Buffer.from('Espruino banner v2.20\r\n>', 'ascii')))).toEqual([]);
    expect(t.raw(new Uint8Array([0, 0, 0]))).toEqual([]);
    // noise immediately followed by a frame: the frame still gets its answer
    const noisy = new Uint8Array([0x01, 0x02, 0x03, 0x00, ...f]);
    const rs = t.raw(noisy);
    expect(rs.length).toBe(1);
    expect(rs[0].frame.seq).toBe(9);
    expect(rs[0].status).toBe(Status.OK);
  });
});

describe('stream handling', () => {
  it('a frame fed byte by byte is answered once; two frames in one chunk are answered in order', () => {
    const t = startTestDevice();
    const f = t.requestFrame(Command.ECHO, { 1: new Uint8Array([1, 2, 3]) }, 100);
    const seen = [];
    for (const b of f) seen.push(...t.raw(new Uint8Array([b])));
    expect(seen.length).toBe(1);
    expect(hex(field<Uint8Array>(seen[0], 1))).toBe('010203');
    const two = new Uint8Array([...t.requestFrame(Command.ECHO, { 1: new Uint8Array([7]) }, 200), ...t.requestFrame(Command.INFO, {}, 201)]);
    const rs = t.raw(two);
    expect(rs.map((r) => r.frame.seq)).toEqual([200, 201]);
  });
});

describe('one-entry reply cache', () => {
  it('the same KEY_GENERATE frame fed twice makes one key and both answers are byte-identical', () => {
    const t = startTestDevice();
    // a retransmitted envelope (same seq, same bytes) gets the cached answer, not SESSION_AUTH_FAILED (docs/protocol.md §6 "Retransmission")
    const frame = t.sealedFrame(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'once' }, 500);
    t.link.feed(frame);
    const first = t.link.take();
    t.link.feed(frame);
    const second = t.link.take();
    expect(first.length).toBeGreaterThan(0);
    expect(hex(second)).toBe(hex(first));
    expect(t.openReply(decodeReplies(first)[0]).status).toBe(Status.OK);
    const keys = field<Map<number, unknown>[]>(t.call(Command.KEY_LIST), 1);
    expect(keys.length).toBe(1);
  });

  it('a new seq or a different body with the same seq is executed', () => {
    const t = startTestDevice();
    const a = t.call(Command.KEY_GENERATE, { 1: Alg.X25519 }, 600);
    const b = t.call(Command.KEY_GENERATE, { 1: Alg.X25519 }, 601); // same body, new seq
    const c = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }, 601); // same seq, other body
    expect(new Set([field(a, 1), field(b, 1), field(c, 1)]).size).toBe(3);
    expect(field(t.call(Command.INFO), 7)).toBe(3);
  });

  it('a different body with the same seq, length and CRC-32 is executed, not answered from the cache (the cache keys on SHA-256)', () => {
    const t = startTestDevice();
    const a = requestBodyOf(Command.ECHO, { 1: new Uint8Array(24).fill(0x41) });
    const b = sameCrcOtherBody(a, a.length - 8);
    expect(crc32(b)).toBe(crc32(a));
    expect(b.length).toBe(a.length);
    expect(hex(b)).not.toBe(hex(a));
    const ra = t.raw(encodeFrame(FrameType.REQUEST, 900, a));
    const rb = t.raw(encodeFrame(FrameType.REQUEST, 900, b));
    expect(ra[0].status).toBe(Status.OK);
    expect(rb[0].status).toBe(Status.OK);
    // each ECHO gives back its own data: B was executed
    expect(hex(field<Uint8Array>(ra[0], 1))).toBe(hex(a.subarray(a.length - 24)));
    expect(hex(field<Uint8Array>(rb[0], 1))).toBe(hex(b.subarray(b.length - 24)));
  });

  it('an errored request is cached too (it is not re-executed)', () => {
    const t = startTestDevice({ slots: 1 });
    t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 });
    const full = t.sealedFrame(Command.KEY_GENERATE, { 1: Alg.ED25519 }, 700);
    const r1 = t.raw(full);
    const r2 = t.raw(full);
    expect(t.openReply(r1[0]).status).toBe(Status.STORAGE_FULL);
    expect(hex(r2[0].frame.body)).toBe(hex(r1[0].frame.body));
  });
});

describe('armor mode', () => {
  it('serves the same protocol as "*base64" lines and drops console noise', () => {
    const t = startTestDevice({ mode: 'armor' });
    t.link.feed(new Uint8Array(Buffer.from('Kaluma v1.2 >\r\n> some echo\n', 'ascii')));
    expect(t.link.take().length).toBe(0);
    const r = t.call(Command.INFO, {});
    expect(r.status).toBe(Status.OK);
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 });
    expect(g.status).toBe(Status.OK);
    const out = Buffer.concat(t.link.written).toString('latin1');
    for (const line of out.split('\n').filter(Boolean)) expect(line).toMatch(/^\*[A-Za-z0-9+/=]+$/);
    // a CRLF line ending from a terminal is accepted
    const line = encodeArmorLine(FrameType.REQUEST, 31, new Uint8Array([Command.INFO])).replace('\n', '\r\n');
    const rs = t.raw(new Uint8Array(Buffer.from(line, 'ascii')));
    expect(rs.length).toBe(1);
    expect(rs[0].frame.seq).toBe(31);
    // every answer written so far is a well-formed armor frame
    expect(decodeReplies(new Uint8Array(Buffer.from(out, 'latin1')), 'armor').length).toBeGreaterThanOrEqual(2);
  });

  it('an oversize armor line gets PACKET_TOO_LARGE with its seq, then the link works again', () => {
    const t = startTestDevice({ mode: 'armor' });
    const big = new Uint8Array(2100).fill(0x42);
    big[0] = Command.ECHO;
    const rs = t.raw(new Uint8Array(Buffer.from(encodeArmorLine(FrameType.REQUEST, 0xbadd, big), 'ascii')));
    expect(rs.length).toBe(1);
    expect(rs[0].frame.type).toBe(FrameType.ERROR);
    expect(rs[0].frame.seq).toBe(0xbadd);
    expect(rs[0].status).toBe(Status.PACKET_TOO_LARGE);
    expect(t.call(Command.INFO).status).toBe(Status.OK);
  });
});

describe('packet budget', () => {
  it('a full store of 32-byte labels and 65-byte keys still lists in one 2048-byte packet', () => {
    const t = startTestDevice({ slots: maxSlotsFor(2048) });
    for (let i = 0; i < maxSlotsFor(2048); i++) {
      const r = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_SECP256K1, 2: 'é'.repeat(16) });
      expect(r.status).toBe(Status.OK);
    }
    // the answer travels in a session envelope (16-byte tag and the outer map): the whole packet must fit
    t.link.feed(t.sealedFrame(Command.KEY_LIST, {}));
    const bytes = t.link.take();
    const rs = decodeReplies(bytes);
    expect(rs[0].status).toBe(Status.OK);
    expect(rs[0].frame.body.length + 8).toBeLessThanOrEqual(2048);
    const inner = t.openReply(rs[0]);
    expect(inner.status).toBe(Status.OK);
    expect(field<unknown[]>(inner, 1).length).toBe(maxSlotsFor(2048));
  });

  it('the largest ECHO fits; the CBOR of the request is accepted as sent by cbor-x', async () => {
    const { Encoder } = await import('cbor-x');
    // plain CBOR: no tag on byte strings (tag 64) or maps (tag 259)
    const enc = new Encoder({ mapsAsObjects: false, useRecords: false, variableMapSize: true, tagUint8Array: false });
    const t = startTestDevice();
    const data = new Uint8Array(1984).map((_, i) => i & 0xff);
    const body = enc.encode(new Map([[1, data]]));
    const f = encodeFrame(FrameType.REQUEST, 1, new Uint8Array([Command.ECHO, ...body]));
    const rs = t.raw(f);
    expect(rs[0].status).toBe(Status.OK);
    expect(hex(field<Uint8Array>(rs[0], 1))).toBe(hex(data));
    // the empty map from our encoder is 0xa0 like cbor-x's
    expect(hex(cborEncode(new Map()))).toBe(hex(enc.encode(new Map())));
  });
});

/** A Crypto whose Ed25519 gives wrong signatures: its self-test fails, as on an engine with broken BigInt. */
function brokenEd25519(): Crypto {
  const c = nobleCrypto();
  return {
    ...c,
    ed25519Sign: (m: Uint8Array, s: Uint8Array) => {
      const sig = c.ed25519Sign(m, s);
      sig[0] ^= 1;
      return sig;
    },
  };
}

describe('boot: the device id, identity and keys live in flash (docs/architecture.md §5, docs/storage.md §10)', () => {
  it('a reboot on the same flash keeps the device id, the identity and the keys, whatever the RNG says', () => {
    const flash = new NorFlash();
    const a = startTestDevice({ flash, seed: 'first boot' });
    const k = a.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'kept' });
    expect(k.status).toBe(Status.OK);
    const b = startTestDevice({ flash, seed: 'second boot' });
    expect(hex(b.device.deviceId)).toBe(hex(a.device.deviceId));
    expect(hex(b.device.identityPublicKey)).toBe(hex(a.device.identityPublicKey));
    expect(b.device.flashVolatile).toBe(false);
    const info = b.call(Command.INFO);
    expect(hex(field<Uint8Array>(info, 3))).toBe(hex(a.device.deviceId));
    expect(hex(field<Uint8Array>(info, 10))).toBe(hex(a.device.identityPublicKey));
    const list = field<Map<number, unknown>[]>(b.call(Command.KEY_LIST), 1);
    expect(list.map((e) => [e.get(1), e.get(3), hex(e.get(5) as Uint8Array)])).toEqual([[field(k, 1), 'kept', hex(field<Uint8Array>(k, 2))]]);
  });

  it('without a flash every boot is a first boot (a new id), and flashVolatile says so', () => {
    const a = startTestDevice({ seed: 'one' });
    const b = startTestDevice({ seed: 'two' });
    expect(hex(a.device.deviceId)).not.toBe(hex(b.device.deviceId));
    expect(a.device.flashVolatile).toBe(true);
  });

  it('where Ed25519 fails its self-test the id is stored alone; the first boot that offers Ed25519 makes the identity, once', () => {
    const flash = new NorFlash();
    const a = startTestDevice({ flash, seed: 'no ed25519', crypto: brokenEd25519() });
    expect(a.device.selftest.passed).not.toContain(Alg.ED25519);
    expect(a.device.identityPublicKey).toBeUndefined();
    expect(a.call(Command.INFO).map.has(10)).toBe(false);
    const b = startTestDevice({ flash, seed: 'ed25519 now' });
    expect(hex(b.device.deviceId)).toBe(hex(a.device.deviceId));
    expect(b.device.identityPublicKey).toBeDefined();
    // the RNG's first 32 bytes of this boot made it: the id was not drawn again
    const seed = new Uint8Array(32);
    seededRng('ed25519 now').fill(seed);
    expect(hex(b.device.identityPublicKey)).toBe(ed25519Public(seed));
    const c = startTestDevice({ flash, seed: 'third' });
    expect(hex(c.device.identityPublicKey)).toBe(hex(b.device.identityPublicKey));
    // a boot where Ed25519 fails again keeps the record but does not use it
    const d = startTestDevice({ flash, seed: 'broken again', crypto: brokenEd25519() });
    expect(d.device.identityPublicKey).toBeUndefined();
    expect(hex(startTestDevice({ flash }).device.identityPublicKey)).toBe(hex(b.device.identityPublicKey));
  });

  it('an identity or device id record that does not decode is kept, never replaced; the device still boots and answers', () => {
    const flash = new NorFlash();
    const store = Store.open(flash);
    expect(
      store.commit([
        { key: DEVICE_ID_RECORD, value: new Uint8Array(15) },
        { key: IDENTITY_RECORD, value: new Uint8Array([0xa0]) },
      ]).ok,
    ).toBe(true);
    const a = startTestDevice({ flash, seed: 'x' });
    expect(a.device.identityPublicKey).toBeUndefined();
    expect(bootText(a.device.bootProblem)).toMatch(/does not decode/);
    expect(a.call(Command.INFO).status).toBe(Status.OK);
    // without an identity no session can be opened, so gated commands stay refused (docs/protocol.md §6)
    const open = a.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) });
    expect(open.statusName).toBe('OPERATION_NOT_PERMITTED');
    expect(open.message).toMatch(/no identity key/);
    expect(a.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }).status).toBe(Status.SESSION_REQUIRED);
    const again = Store.open(flash);
    expect(hex(again.get(DEVICE_ID_RECORD)!)).toBe(hex(new Uint8Array(15)));
    expect(hex(again.get(IDENTITY_RECORD)!)).toBe('a0');
    const b = startTestDevice({ flash, seed: 'y' });
    expect(hex(b.device.deviceId)).not.toBe(hex(a.device.deviceId)); // RAM-only ids, as the problem says
    expect(field<number>(b.call(Command.INFO), 7)).toBe(0); // slotsUsed: the refused KEY_GENERATE made nothing
  });
});

/** A binary frame whose CRC-32 is wrong (the packet's last byte flipped). */
function badCrcFrame(type: number, seq: number, body: Uint8Array, version = 1): Uint8Array {
  const p = encodePacket(type, seq, body, version);
  p[p.length - 1] ^= 0xff;
  return new Uint8Array([...cobsEncode(p), 0]);
}

/** Frames (not oversize events) a host-side reader finds in these bytes. */
function framesIn(bytes: Uint8Array): Frame[] {
  const out: Frame[] = [];
  for (const ev of new FrameReader(65535).push(bytes)) if (ev.kind === 'frame') out.push(ev.frame);
  return out;
}

describe('a frame longer than the maximum packet (docs/protocol.md §1 "Maximum packet size")', () => {
  // L: the most bytes of a binary frame's encoding the device keeps, M + ⌈M/254⌉ + 1 for M = 2048
  const L = 2048 + Math.ceil(2048 / 254) + 1;
  const ECHO_BIG = (n: number) => {
    const b = new Uint8Array(n).fill(0x41);
    b[0] = Command.ECHO;
    return b;
  };

  it('an encoding longer than L is answered PACKET_TOO_LARGE with its seq although its CRC is wrong: that CRC is never checked', () => {
    const t = startTestDevice();
    const f = badCrcFrame(FrameType.REQUEST, 4243, ECHO_BIG(3000));
    expect(f.length - 1).toBeGreaterThan(L);
    const [r, ...rest] = t.raw(f);
    expect(rest).toEqual([]);
    expect([r.frame.type, r.frame.seq, r.status, r.reason, r.args]).toEqual([FrameType.ERROR, 4243, Status.PACKET_TOO_LARGE, Reason.FRAME_TOO_LARGE, [2048]]);
  });

  it('an encoding of at most L bytes whose packet is over the maximum has its CRC checked first: bad, dropped silently; good, PACKET_TOO_LARGE', () => {
    const t = startTestDevice();
    const body = ECHO_BIG(2049 - 8); // a 2049-byte packet
    const bad = badCrcFrame(FrameType.REQUEST, 0x1111, body);
    expect(bad.length - 1).toBeLessThanOrEqual(L);
    expect(t.raw(bad)).toEqual([]);
    const [r, ...rest] = t.raw(encodeFrame(FrameType.REQUEST, 0x1111, body));
    expect(rest).toEqual([]);
    expect([r.frame.type, r.frame.seq, r.status, r.args]).toEqual([FrameType.ERROR, 0x1111, Status.PACKET_TOO_LARGE, [2048]]);
  });

  it('only a REQUEST is answered, whatever its version byte: another frame type gets nothing, another version PACKET_TOO_LARGE', () => {
    const t = startTestDevice();
    expect(t.raw(encodeFrame(FrameType.RESPONSE, 77, ECHO_BIG(3000)))).toEqual([]);
    expect(t.raw(badCrcFrame(FrameType.CANCEL, 78, ECHO_BIG(3000)))).toEqual([]);
    expect(t.raw(encodeFrame(FrameType.KEEPALIVE, 79, ECHO_BIG(2049 - 8)))).toEqual([]);
    const [r] = t.raw(badCrcFrame(FrameType.REQUEST, 80, ECHO_BIG(3000), 2));
    expect([r.frame.type, r.frame.seq, r.status]).toEqual([FrameType.ERROR, 80, Status.PACKET_TOO_LARGE]);
    const [v] = t.raw(new Uint8Array([...cobsEncode(encodePacket(FrameType.REQUEST, 81, ECHO_BIG(2049 - 8), 2)), 0]));
    expect([v.frame.type, v.frame.seq, v.status]).toEqual([FrameType.ERROR, 81, Status.PACKET_TOO_LARGE]);
    expect(t.call(Command.INFO).status).toBe(Status.OK);
  });
});

describe('ERROR frames (docs/protocol.md §1 "ERROR frames")', () => {
  it('the statuses and reasons device.ts sends in ERROR frames are exactly the rows of the table in docs/protocol.md §1', () => {
    const src = readFileSync('firmware/core/device.ts', 'utf8');
    const sent = new Set([...src.matchAll(/sendError\([^,]+,\s*Status\.(\w+),\s*Reason\.(\w+)/g)].map((m) => m[1] + ' ' + m[2]));
    const doc = readFileSync('docs/protocol.md', 'utf8');
    const table = doc.slice(doc.indexOf('**ERROR frames.**'), doc.indexOf('### Text armor'));
    const documented = new Set([...table.matchAll(/^\| ([A-Z_]+) \(0x[0-9A-F]{2}\) \| \d+ ([A-Z_]+) /gm)].map((m) => m[1] + ' ' + m[2]));
    expect(sent.size).toBeGreaterThanOrEqual(5);
    expect([...documented].sort()).toEqual([...sent].sort());
  });

  it('an ERROR frame leaves the reply cache as it was: the last answer is still served for its retransmission', () => {
    const t = startTestDevice();
    const frame = t.sealedFrame(Command.KEY_GENERATE, { 1: Alg.ED25519 }, 520);
    t.link.feed(frame);
    const first = t.link.take();
    // ERROR frames for the same seq: another version, a frame type the host may not send
    expect(t.raw(new Uint8Array([...cobsEncode(encodePacket(FrameType.REQUEST, 520, infoBody, 2)), 0]))[0].status).toBe(Status.UNSUPPORTED_VERSION);
    expect(t.raw(encodeFrame(FrameType.RESPONSE, 520, infoBody))[0].status).toBe(Status.INVALID_FRAME);
    t.link.feed(frame);
    expect(hex(t.link.take())).toBe(hex(first));
    expect(field<number>(t.call(Command.INFO), 7)).toBe(1);
  });

  it('a request answered BUSY is not cached: the same frame sent after the wait runs and gets its RESPONSE', () => {
    const rig = new PresenceRig().setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    expect(rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: new Uint8Array([1]) }, q)).map((o) => o.type)).toEqual([FrameType.KEEPALIVE]);
    const q2 = rig.nextSeq();
    const list = rig.sealedFrame(Command.KEY_LIST, {}, q2);
    const busy = rig.feed(list);
    expect(busy.map((o) => [o.type, o.seq, o.reply && o.reply.statusName])).toEqual([[FrameType.ERROR, q2, 'BUSY']]);
    expect(busy[0].reply!.args).toEqual([q]);
    // the button ends the wait (pressed for one 100 ms period, then let go)
    rig.button!.down = true;
    const done = rig.advance(100);
    rig.button!.down = false;
    expect(done.map((o) => [o.type, o.seq])).toEqual([[FrameType.RESPONSE, q]]);
    const again = rig.feed(list);
    expect(again.map((o) => [o.type, o.seq])).toEqual([[FrameType.RESPONSE, q2]]);
    expect(rig.inner(again[0]).statusName).toBe('OK');
  });
});

describe('KEEPALIVE frames (docs/protocol.md §1 "Frame types")', () => {
  it('only SIGN and ECDH with a touch key send them, always with reason 0x02; nothing sends reason 0x01', () => {
    const rig = new PresenceRig().setUp();
    const ed = rig.touchKey(Alg.ED25519);
    const x = rig.touchKey(Alg.X25519);
    const plain = rig.call(Command.KEY_GENERATE, { 1: Alg.ED25519 });
    // rig.call() throws unless the one frame that comes back is a RESPONSE: none of these sends a KEEPALIVE
    for (const [code, params] of [
      [Command.KEY_LIST, {}],
      [Command.KEY_PUBLIC, { 1: ed.keyId }],
      [Command.KEY_ATTEST, { 1: ed.keyId, 2: new Uint8Array(16) }],
      [Command.KEY_SET_POLICY, { 1: x.keyId, 3: true }],
      [Command.SIGN, { 1: plain.map.get(1), 2: new Uint8Array([1]) }],
      [Command.RANDOM, { 1: 8 }],
      [Command.LOGIN, { 1: 1, 2: new Uint8Array(Buffer.from('wrong-user-pin')) }],
    ] as const)
      expect(rig.call(code, params).frame.type, 'command ' + code).toBe(FrameType.RESPONSE);
    const peer = new Uint8Array(32).fill(9);
    for (const [code, params] of [
      [Command.SIGN, { 1: ed.keyId, 2: new Uint8Array([1]) }],
      [Command.ECDH, { 1: x.keyId, 2: peer }],
    ] as const) {
      const q = rig.nextSeq();
      const outs = [...rig.feed(rig.sealedFrame(code, params, q)), ...rig.advance(300)];
      expect(outs.map((o) => [o.type, o.seq, hex(o.body)])).toEqual(new Array(4).fill([FrameType.KEEPALIVE, q, '02']));
      rig.button!.down = true;
      const done = rig.advance(100);
      rig.button!.down = false;
      expect(done.map((o) => o.type)).toEqual([FrameType.RESPONSE]);
      expect(rig.inner(done[0]).statusName).toBe('OK');
    }
    expect(rig.call(Command.KEY_DELETE, { 1: ed.keyId }).frame.type).toBe(FrameType.RESPONSE);
  });
});

describe('a tty that is not raw (docs/protocol.md §1 "Raw link")', () => {
  it('with echo on, the device gets its own frames back and answers each with an INVALID_FRAME ERROR frame of that seq, which the echo sends back again, without end', () => {
    const t = startTestDevice();
    t.link.feed(t.requestFrame(Command.ECHO, { 1: new Uint8Array([1, 2, 3]) }, 60));
    let back = t.link.take();
    expect(framesIn(back).map((f) => [f.type, f.seq])).toEqual([[FrameType.RESPONSE, 60]]);
    for (let i = 0; i < 5; i++) {
      const echoedType = framesIn(back)[0].type;
      t.link.feed(back);
      back = t.link.take();
      const [r, ...rest] = decodeReplies(back);
      expect(rest).toEqual([]);
      expect([r.frame.type, r.frame.seq, r.status, r.reason, r.args]).toEqual([
        FrameType.ERROR,
        60,
        Status.INVALID_FRAME,
        Reason.FRAME_TYPE_REFUSED,
        [echoedType],
      ]);
    }
  });

  it('with echo on during a button wait, the echoed KEEPALIVE brings an INVALID_FRAME ERROR frame with the waiting seq, though the wait goes on', () => {
    const rig = new PresenceRig().setUp();
    const { keyId } = rig.touchKey(Alg.ED25519);
    const q = rig.nextSeq();
    const [ka] = rig.feed(rig.sealedFrame(Command.SIGN, { 1: keyId, 2: new Uint8Array([1]) }, q));
    const err = rig.feed(encodeFrame(ka.type, ka.seq, ka.body));
    expect(err.map((o) => [o.type, o.seq, o.reply && o.reply.statusName])).toEqual([[FrameType.ERROR, q, 'INVALID_FRAME']]);
    expect(rig.advance(100).map((o) => [o.type, o.seq])).toEqual([[FrameType.KEEPALIVE, q]]);
  });

  it('CR/LF mapping spoils frames holding 0x0a or 0x0d: a request with LF sent as CR LF is dropped silently, an answer with CR read as LF does not decode', () => {
    const t = startTestDevice();
    const f = t.requestFrame(Command.ECHO, { 1: new Uint8Array([0x0a, 0x0d, 0x0a]) }, 62);
    const onlcr: number[] = [];
    for (const b of f) onlcr.push(...(b === 0x0a ? [0x0d, 0x0a] : [b]));
    expect(onlcr.length).toBeGreaterThan(f.length);
    expect(t.raw(new Uint8Array(onlcr))).toEqual([]);
    t.link.feed(f);
    const answer = t.link.take();
    expect(framesIn(answer).map((x) => x.seq)).toEqual([62]);
    const icrnl = answer.map((b) => (b === 0x0d ? 0x0a : b));
    expect(hex(icrnl)).not.toBe(hex(answer));
    expect(framesIn(icrnl)).toEqual([]);
  });
});

describe('the reply cache across host processes (docs/protocol.md §1 "Sequence number")', () => {
  it('a new process that sends the seq and body of the last answered request gets that answer, not a new run: RANDOM in the clear repeats its bytes', () => {
    // a device that cannot open sessions answers RANDOM in the clear (docs/protocol.md §6)
    const t = startTestDevice({ crypto: brokenEd25519() });
    const rng = t.link.env.rng as unknown as { calls: number };
    const a = t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 7))[0]; // process A's last request
    expect(a.status).toBe(Status.OK);
    const draws = rng.calls;
    // process B starts at seq 7 with the same request: A's bytes, and the RNG is not asked
    const b = t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 7))[0];
    expect(hex(field<Uint8Array>(b, 1))).toBe(hex(field<Uint8Array>(a, 1)));
    expect(rng.calls).toBe(draws);
    // another seq runs it
    const c = t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 8))[0];
    expect(hex(field<Uint8Array>(c, 1))).not.toBe(hex(field<Uint8Array>(a, 1)));
    // a request whose body nobody else sends (ECHO of fresh random bytes) replaces the entry: after it, even the
    // seq and body of the last RANDOM run again
    const e = t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 7))[0];
    expect(hex(field<Uint8Array>(t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 7))[0], 1))).toBe(hex(field<Uint8Array>(e, 1)));
    expect(t.raw(t.requestFrame(Command.ECHO, { 1: new Uint8Array(randomBytes(16)) }, 7))[0].status).toBe(Status.OK);
    const before = rng.calls;
    const d = t.raw(t.requestFrame(Command.RANDOM, { 1: 16 }, 7))[0];
    expect(hex(field<Uint8Array>(d, 1))).not.toBe(hex(field<Uint8Array>(e, 1)));
    expect(rng.calls).toBeGreaterThan(before);
  });
});

// Framing (firmware/protocol/frame.ts, cobs.ts, crc32.ts, base64.ts): published vectors, round trips, and a FrameReader fed the way a serial link feeds it.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../../firmware/protocol/crc32.ts';
import { cobsEncode, cobsDecode } from '../../firmware/protocol/cobs.ts';
import { base64Encode, base64Decode } from '../../firmware/protocol/base64.ts';
import {
  encodePacket,
  encodeFrame,
  encodeArmorLine,
  decodePacket,
  FrameReader,
  HEADER_LEN,
  CRC_LEN,
  DEFAULT_MAX_PACKET,
  ARMOR_PREFIX,
  type ReaderEvent,
  type Frame,
} from '../../firmware/protocol/frame.ts';
import { FrameType, PROTOCOL_VERSION, Status } from '../../firmware/protocol/codes.ts';
import crcVectors from '../vectors/crc32_check.json' with { type: 'json' };
import cobsVectors from '../vectors/cobs_examples.json' with { type: 'json' };
import b64Vectors from '../vectors/base64_rfc4648.json' with { type: 'json' };
import { hex, unhex, ascii } from './support.ts';

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const frames = (evs: ReaderEvent[]) => evs.filter((e) => e.kind === 'frame').map((e) => (e as { frame: Frame }).frame);
const picture = (f: Frame) => ({ version: f.version, type: f.type, seq: f.seq, body: hex(f.body) });

/** A body with no zero bytes: its COBS encoding has the most overhead. */
const zeroFree = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 255) + 1);

// ------------------------------------------------------------------ CRC-32

describe('crc32 (IEEE 802.3 / CRC-32/ISO-HDLC)', () => {
  it('check value from the CRC catalogue (test/vectors/crc32_check.json)', () => {
    for (const v of crcVectors.vectors) expect(crc32(ascii(v.ascii)).toString(16).padStart(8, '0')).toBe(v.crc);
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });
  it('agrees with zlib (node:zlib crc32) on arbitrary input and sub-ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (b, x, y) => {
        expect(crc32(b)).toBe(zlibCrc32(b));
        const s = b.length ? x % (b.length + 1) : 0;
        const e = s + (b.length - s ? y % (b.length - s + 1) : 0);
        expect(crc32(b, s, e)).toBe(zlibCrc32(b.subarray(s, e)));
      }),
      { numRuns: 300 },
    );
  });
  it('is an unsigned 32-bit value (0 for empty input)', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBe(zlibCrc32(new Uint8Array([0xff, 0xff, 0xff, 0xff])));
    expect(crc32(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toBeGreaterThan(0x7fffffff);
  });
});

// ------------------------------------------------------------------ COBS

describe('COBS (Cheshire & Baker 1999)', () => {
  type V = { name: string; decoded: string; encoded: string; encoded_paper_form?: string };
  for (const v of cobsVectors.vectors as V[]) {
    it('vector ' + v.name + ' (test/vectors/cobs_examples.json)', () => {
      const raw = unhex(v.decoded);
      // our encoder follows the paper's StuffData; where the paper's form differs (an empty final block) it is recorded
      expect(hex(cobsEncode(raw))).toBe(v.encoded_paper_form !== undefined ? v.encoded_paper_form : v.encoded);
      for (const form of [v.encoded, v.encoded_paper_form]) {
        if (form === undefined) continue;
        const d = cobsDecode(unhex(form));
        if (!d.ok) throw new Error(v.name + ': ' + msgOf(d));
        expect(hex(d.value)).toBe(v.decoded);
      }
    });
  }

  it('empty input encodes to the single code byte 01', () => {
    expect(hex(cobsEncode(new Uint8Array(0)))).toBe('01');
    const d = cobsDecode(unhex('01'));
    expect(d.ok && d.value.length).toBe(0);
  });

  /** Inputs that stress block boundaries: runs of 253/254/255/508 non-zero bytes, zeros, and all-zero inputs. */
  const runsArb = fc
    .array(
      fc.record({
        run: fc.oneof(fc.constantFrom(0, 1, 253, 254, 255, 256, 508, 509), fc.nat(600)),
        zeros: fc.nat(3),
        fill: fc.integer({ min: 1, max: 255 }),
      }),
      { maxLength: 5 },
    )
    .map((parts) => {
      const out: number[] = [];
      for (const p of parts) {
        for (let i = 0; i < p.run; i++) out.push(((p.fill + i) % 255) + 1);
        for (let i = 0; i < p.zeros; i++) out.push(0);
      }
      return Uint8Array.from(out);
    });
  const cobsInputArb = fc.oneof(
    fc.uint8Array({ maxLength: 1200 }),
    runsArb,
    fc.integer({ min: 0, max: 1200 }).map((n) => new Uint8Array(n)), // full of zeros
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 })), { maxLength: 800 }).map((a) => Uint8Array.from(a)),
  );

  it('round trips, never emits 0x00, and stays within len + ceil(len/254) + 1 bytes', () => {
    fc.assert(
      fc.property(cobsInputArb, (raw) => {
        const enc = cobsEncode(raw);
        expect(enc.includes(0)).toBe(false);
        expect(enc.length).toBeGreaterThanOrEqual(raw.length + 1);
        expect(enc.length).toBeLessThanOrEqual(raw.length + Math.ceil(raw.length / 254) + 1);
        const d = cobsDecode(enc);
        if (!d.ok) throw new Error(msgOf(d));
        expect(hex(d.value)).toBe(hex(raw));
      }),
      { numRuns: 500 },
    );
  });

  it('exact block boundaries: 254 and 508 non-zero bytes, each followed or not by a zero', () => {
    for (const n of [253, 254, 255, 507, 508, 509]) {
      for (const tail of [[], [0], [0, 0]]) {
        const raw = concat(zeroFree(n), Uint8Array.from(tail));
        const enc = cobsEncode(raw);
        // the first block holds at most 254 data bytes: its code is the run length + 1, capped at 0xFF
        expect(enc[0]).toBe(Math.min(n, 254) + 1);
        expect(enc.length).toBeLessThanOrEqual(raw.length + Math.ceil(raw.length / 254) + 1);
        const d = cobsDecode(enc);
        expect(d.ok && hex(d.value)).toBe(hex(raw));
      }
    }
  });

  it('rejects malformed input with INVALID_FRAME, without throwing', () => {
    const cases: [string, RegExp][] = [
      ['00', /zero byte/],
      ['0200', /zero byte/],
      ['03110022', /zero byte/],
      ['0511223344'.slice(0, 8), /past the end/], // code 05 promises 4 bytes, 3 follow
      ['05', /past the end/],
      ['ff' + '01'.repeat(253), /past the end/],
      ['0211' + '04aabb', /past the end/],
    ];
    for (const [h, re] of cases) {
      const d = cobsDecode(unhex(h));
      expect(d.ok, h).toBe(false);
      if (!d.ok) {
        expect(d.status).toBe(Status.INVALID_FRAME);
        expect(msgOf(d)).toMatch(re);
      }
    }
  });
});

// ------------------------------------------------------------------ base64

describe('base64 (RFC 4648)', () => {
  it('§10 test vectors both ways (test/vectors/base64_rfc4648.json)', () => {
    for (const v of b64Vectors.vectors) {
      expect(base64Encode(ascii(v.decoded))).toBe(v.encoded);
      const d = base64Decode(v.encoded);
      expect(d && Buffer.from(d).toString('latin1')).toBe(v.decoded);
    }
  });

  it('agrees with Node Buffer base64 on arbitrary bytes, both ways', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const s = base64Encode(b);
        expect(s).toBe(Buffer.from(b).toString('base64'));
        const d = base64Decode(s);
        expect(d && hex(d)).toBe(hex(b));
      }),
      { numRuns: 300 },
    );
  });

  it('strict decode rejects non-canonical padding bits, bad padding, whitespace and other alphabets', () => {
    const bad = [
      'Zh==', // 'f' with non-zero pad bits (canonical: Zg==)
      'Zm9=', // 'fo' with non-zero pad bits (canonical: Zm8=)
      'Zg', // missing padding
      'Zg=', // short padding
      'Zg===',
      '=Zg=',
      'Z===',
      '====',
      'Zm=8',
      'Zm9v\n',
      ' Zm9v',
      'Zm 9v',
      'Zm9v-_==', // base64url alphabet
      'Zm9vYg==Zm9v', // padding in the middle
      'Zm9vYg=\u0000',
      'Zm9\u00e9',
    ];
    for (const s of bad) expect(base64Decode(s), JSON.stringify(s)).toBeUndefined();
    // Node's lenient decoder accepts the non-canonical forms: ours must not
    expect(Buffer.from('Zh==', 'base64').toString()).toBe('f');
    expect(base64Decode('Zg==') && hex(base64Decode('Zg==') as Uint8Array)).toBe('66');
  });

  it('accepts only the canonical string of each byte sequence', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat(63), (b, bits) => {
        const s = base64Encode(b);
        if (!s.endsWith('=')) return;
        // change the last data character: only the canonical one decodes
        const i = s.indexOf('=') - 1;
        const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
        const alt = s.slice(0, i) + A[bits] + s.slice(i + 1);
        const d = base64Decode(alt);
        if (alt === s) expect(d && hex(d)).toBe(hex(b));
        else if (d !== undefined) expect(base64Encode(d)).toBe(alt);
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------ packets and frames

describe('packets (header | body | CRC-32 LE)', () => {
  it('lays out version, type, big-endian seq, body and a little-endian CRC over header and body', () => {
    const body = unhex('01a0');
    const p = encodePacket(FrameType.REQUEST, 0x1234, body);
    expect(p.length).toBe(HEADER_LEN + body.length + CRC_LEN);
    expect(hex(p.subarray(0, 6))).toBe('0101123401a0');
    const c = zlibCrc32(p.subarray(0, 6));
    expect(hex(p.subarray(6))).toBe(hex(Uint8Array.of(c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24)));
    expect(p[0]).toBe(PROTOCOL_VERSION);
  });

  it('encodeFrame is COBS(packet) then one 0x00, and nothing else is zero', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(FrameType)), fc.nat(0xffff), fc.uint8Array({ maxLength: 600 }), (t, seq, body) => {
        const f = encodeFrame(t, seq, body);
        expect(f[f.length - 1]).toBe(0);
        expect(f.subarray(0, f.length - 1).includes(0)).toBe(false);
        expect(hex(f.subarray(0, f.length - 1))).toBe(hex(cobsEncode(encodePacket(t, seq, body))));
      }),
      { numRuns: 200 },
    );
  });

  it('encodeFrame → cobsDecode → decodePacket gives back type, seq and body', () => {
    fc.assert(
      fc.property(fc.nat(0xff), fc.nat(0xffff), fc.uint8Array({ maxLength: 2040 }), (t, seq, body) => {
        const f = encodeFrame(t, seq, body);
        const c = cobsDecode(f.subarray(0, f.length - 1));
        if (!c.ok) throw new Error(msgOf(c));
        const p = decodePacket(c.value);
        if (!p.ok) throw new Error(msgOf(p));
        expect(picture(p.value)).toEqual({ version: PROTOCOL_VERSION, type: t, seq, body: hex(body) });
      }),
      { numRuns: 200 },
    );
  });

  it('decodePacket returns any version (the caller decides what it speaks)', () => {
    const p = decodePacket(encodePacket(FrameType.REQUEST, 7, unhex('02'), 9));
    expect(p.ok && p.value.version).toBe(9);
  });

  it('decodePacket rejects short packets and any single corrupted byte (CRC-32 catches every burst ≤ 32 bits)', () => {
    for (let n = 0; n < HEADER_LEN + CRC_LEN; n++) {
      const r = decodePacket(new Uint8Array(n));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.status).toBe(Status.INVALID_FRAME);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (body, at, x) => {
        const p = encodePacket(FrameType.REQUEST, 1, body);
        p[at % p.length] ^= x;
        const r = decodePacket(p);
        expect(r.ok).toBe(false);
        if (!r.ok) expect(msgOf(r)).toMatch(/CRC/);
      }),
      { numRuns: 300 },
    );
  });
});

// ------------------------------------------------------------------ FrameReader, binary mode

describe('FrameReader (binary)', () => {
  const sample = [
    { type: FrameType.REQUEST, seq: 1, body: unhex('01a0') },
    { type: FrameType.REQUEST, seq: 0x0100, body: new Uint8Array(300) }, // zeros: COBS code bytes everywhere
    { type: FrameType.CANCEL, seq: 0xffff, body: new Uint8Array(0) },
    { type: FrameType.REQUEST, seq: 0, body: zeroFree(600) }, // several 254-byte blocks
  ];
  const stream = concat(...sample.map((s) => encodeFrame(s.type, s.seq, s.body)));
  const want = sample.map((s) => ({ version: PROTOCOL_VERSION, type: s.type, seq: s.seq, body: hex(s.body) }));

  it('several frames in one chunk come out in order', () => {
    expect(frames(new FrameReader().push(stream)).map(picture)).toEqual(want);
  });

  it('frames split at every byte boundary come out the same', () => {
    for (let i = 0; i <= stream.length; i++) {
      const r = new FrameReader();
      const evs = [...r.push(stream.subarray(0, i)), ...r.push(stream.subarray(i))];
      expect(evs.map((e) => e.kind)).toEqual(['frame', 'frame', 'frame', 'frame']);
      expect(frames(evs).map(picture)).toEqual(want);
    }
  });

  it('byte by byte, and in random chunkings', () => {
    const r = new FrameReader();
    const evs: ReaderEvent[] = [];
    for (const b of stream) evs.push(...r.push(Uint8Array.of(b)));
    expect(frames(evs).map(picture)).toEqual(want);
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 12 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
        const rr = new FrameReader();
        const out: ReaderEvent[] = [];
        for (let i = 1; i < points.length; i++) out.push(...rr.push(stream.subarray(points[i - 1], points[i])));
        expect(frames(out).map(picture)).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });

  it('a frame body is a copy: the next push cannot change a frame already handed out', () => {
    const r = new FrameReader();
    const [ev] = r.push(encodeFrame(FrameType.REQUEST, 5, unhex('0102030405')));
    r.push(encodeFrame(FrameType.REQUEST, 6, unhex('ffffffffff')));
    expect(ev.kind === 'frame' && hex(ev.frame.body)).toBe('0102030405');
  });

  it('drops a banner or garbage that ends in a delimiter, and empty frames', () => {
    const banner = ascii('\r\n ____                 _\r\nEspruino 2v20 (c) 2023 G.Williams\r\n>');
    const evs = new FrameReader().push(concat(banner, Uint8Array.of(0, 0, 0), stream));
    expect(evs.map((e) => e.kind)).toEqual(['frame', 'frame', 'frame', 'frame']);
    expect(frames(evs).map(picture)).toEqual(want);
  });

  it('garbage glued to the front of a frame costs only that frame (send 0x00 first to flush a link)', () => {
    const garbage = ascii('Kaluma v1.2 hello');
    const r = new FrameReader();
    expect(r.push(concat(garbage, stream))).toEqual(
      frames(new FrameReader().push(stream))
        .slice(1)
        .map((frame) => ({ kind: 'frame', frame })),
    );
  });

  it('random garbage between frames never yields a bogus frame, and the frames around it survive', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        const r = new FrameReader();
        const first = encodeFrame(FrameType.REQUEST, 10, unhex('0a'));
        const last = encodeFrame(FrameType.REQUEST, 11, unhex('0b'));
        const evs = r.push(concat(first, junk, Uint8Array.of(0), last));
        // junk would need a valid CRC-32 to pass for a frame (odds 2^-32 per candidate)
        expect(evs.map((e) => e.kind === 'frame' && e.frame.seq)).toEqual([10, 11]);
      }),
      { numRuns: 200 },
    );
  });

  it('drops a frame with a bad CRC and keeps the next one', () => {
    const p = encodePacket(FrameType.REQUEST, 3, unhex('0102'));
    p[HEADER_LEN] ^= 0x40;
    const bad = concat(cobsEncode(p), Uint8Array.of(0));
    const good = encodeFrame(FrameType.REQUEST, 4, unhex('0102'));
    const evs = new FrameReader().push(concat(bad, good));
    expect(evs.length).toBe(1);
    expect(frames(evs).map((f) => f.seq)).toEqual([4]);
  });

  it('drops a frame whose COBS is malformed and keeps the next one', () => {
    const evs = new FrameReader().push(concat(unhex('05112200'), encodeFrame(FrameType.REQUEST, 9, unhex('09'))));
    expect(frames(evs).map((f) => f.seq)).toEqual([9]);
    expect(evs.length).toBe(1);
  });

  it('accepts a packet of exactly maxPacket bytes however it encodes (worst-case COBS overhead included)', () => {
    for (const max of [DEFAULT_MAX_PACKET, 254 * 9, 3136]) {
      const n = max - HEADER_LEN - CRC_LEN;
      for (const body of [zeroFree(n), new Uint8Array(n), zeroFree(n, 200)]) {
        const evs = new FrameReader(max).push(encodeFrame(FrameType.REQUEST, 0x0102, body));
        expect(evs.length, 'max ' + max).toBe(1);
        expect(evs[0].kind === 'frame' && hex(evs[0].frame.body)).toBe(hex(body));
      }
    }
  });

  it('reports a frame of maxPacket + 1 bytes as oversize with its seq and version, however it encodes', () => {
    for (const max of [DEFAULT_MAX_PACKET, 254 * 9, 3136]) {
      const n = max - HEADER_LEN - CRC_LEN + 1;
      // zero-free bodies overflow the reader's buffer; zero-filled ones fit it but still exceed the maximum
      for (const body of [zeroFree(n), new Uint8Array(n), zeroFree(n + 4000)]) {
        const r = new FrameReader(max);
        const evs = r.push(concat(encodeFrame(FrameType.REQUEST, 0xbeef, body), encodeFrame(FrameType.REQUEST, 0xbef0, unhex('01'))));
        expect(evs[0], 'max ' + max + ' body ' + body.length).toEqual({ kind: 'oversize', seq: 0xbeef, version: PROTOCOL_VERSION });
        // and the reader recovers for the next frame
        expect(evs.length).toBe(2);
        expect(evs[1].kind === 'frame' && evs[1].frame.seq).toBe(0xbef0);
      }
    }
  });

  it('an oversize frame that is not a request, or whose header is unreadable, is reported without a seq', () => {
    const r = new FrameReader();
    const evs = r.push(encodeFrame(FrameType.RESPONSE, 0x0a0b, zeroFree(3000)));
    expect(evs).toEqual([{ kind: 'oversize', seq: undefined, version: undefined }]);
    const junk = r.push(concat(new Uint8Array(5000).fill(0x01), Uint8Array.of(0)));
    expect(junk).toEqual([{ kind: 'oversize', seq: undefined, version: undefined }]);
  });

  it('keeps memory bounded: a megabyte without a delimiter grows nothing and yields one oversize event', () => {
    const r = new FrameReader();
    const internal = r as unknown as { buf: Uint8Array };
    const cap = internal.buf.length;
    expect(cap).toBeLessThan(DEFAULT_MAX_PACKET + 64);
    const head = encodeFrame(FrameType.REQUEST, 0x4242, zeroFree(100)).subarray(0, 20);
    expect(r.push(head)).toEqual([]);
    const chunk = new Uint8Array(64 * 1024).fill(0x5a);
    for (let i = 0; i < 16; i++) expect(r.push(chunk)).toEqual([]);
    expect(internal.buf.length).toBe(cap);
    expect(r.push(Uint8Array.of(0))).toEqual([{ kind: 'oversize', seq: 0x4242, version: PROTOCOL_VERSION }]);
    expect(frames(r.push(encodeFrame(FrameType.REQUEST, 1, unhex('01')))).length).toBe(1);
  });
});

// ------------------------------------------------------------------ FrameReader, armor mode

describe('FrameReader (armor: one packet per "*base64" line)', () => {
  const enc = new TextEncoder();
  const lines = [
    encodeArmorLine(FrameType.REQUEST, 1, unhex('01a0')),
    encodeArmorLine(FrameType.REQUEST, 2, new Uint8Array(100)),
    encodeArmorLine(FrameType.REQUEST, 0xfffe, zeroFree(1000)),
  ];
  const want = [
    { version: PROTOCOL_VERSION, type: FrameType.REQUEST, seq: 1, body: '01a0' },
    { version: PROTOCOL_VERSION, type: FrameType.REQUEST, seq: 2, body: hex(new Uint8Array(100)) },
    { version: PROTOCOL_VERSION, type: FrameType.REQUEST, seq: 0xfffe, body: hex(zeroFree(1000)) },
  ];

  it('encodeArmorLine is "*" base64(packet) "\\n", printable ASCII only', () => {
    const body = unhex('0003ff');
    const line = encodeArmorLine(FrameType.RESPONSE, 0x0203, body);
    expect(line).toBe(ARMOR_PREFIX + Buffer.from(encodePacket(FrameType.RESPONSE, 0x0203, body)).toString('base64') + '\n');
    for (const l of lines) expect(l).toMatch(/^\*[A-Za-z0-9+/=]+\n$/);
    // never the bytes Kaluma's REPL reacts to (0x03 stops the VM)
    for (const l of lines) for (const c of enc.encode(l)) expect(c === 0x0a || (c >= 0x20 && c < 0x7f)).toBe(true);
  });

  it('reads lines with console noise interleaved', () => {
    const text =
      'Kaluma v1.2.0 (rp2040)\n> \n' +
      lines[0] +
      'Uncaught Error: something printed by the board\n' +
      '*not base64 at all!\n' +
      '*Zm9v\n' + // valid base64 but no valid CRC
      lines[1] +
      '\n\n> .hi\n' +
      lines[2];
    const evs = new FrameReader(DEFAULT_MAX_PACKET, 'armor').push(enc.encode(text));
    expect(evs.map((e) => e.kind)).toEqual(['frame', 'frame', 'frame']);
    expect(frames(evs).map(picture)).toEqual(want);
  });

  it('accepts CRLF line endings', () => {
    const text = lines.map((l) => l.replace('\n', '\r\n')).join('');
    expect(frames(new FrameReader(DEFAULT_MAX_PACKET, 'armor').push(enc.encode(text))).map(picture)).toEqual(want);
  });

  it('lines split at every byte boundary come out the same', () => {
    const bytes = enc.encode('noise\r\n' + lines.join(''));
    for (let i = 0; i <= bytes.length; i++) {
      const r = new FrameReader(DEFAULT_MAX_PACKET, 'armor');
      const evs = [...r.push(bytes.subarray(0, i)), ...r.push(bytes.subarray(i))];
      expect(frames(evs).map(picture)).toEqual(want);
    }
  });

  it('accepts exactly maxPacket and reports maxPacket + 1 as oversize with its seq; recovers', () => {
    const ok = encodeArmorLine(FrameType.REQUEST, 3, zeroFree(DEFAULT_MAX_PACKET - HEADER_LEN - CRC_LEN));
    const evs1 = new FrameReader(DEFAULT_MAX_PACKET, 'armor').push(enc.encode(ok));
    expect(evs1.length).toBe(1);
    expect(evs1[0].kind).toBe('frame');
    for (const extra of [1, 3, 4000]) {
      const big = encodeArmorLine(FrameType.REQUEST, 0x0c0d, zeroFree(DEFAULT_MAX_PACKET - HEADER_LEN - CRC_LEN + extra));
      const r = new FrameReader(DEFAULT_MAX_PACKET, 'armor');
      const evs = r.push(enc.encode(big.replace('\n', '\r\n') + lines[0]));
      expect(evs[0], 'extra ' + extra).toEqual({ kind: 'oversize', seq: 0x0c0d, version: PROTOCOL_VERSION });
      expect(evs.length).toBe(2);
      expect(evs[1].kind === 'frame' && evs[1].frame.seq).toBe(1);
    }
  });

  it('an overlong noise line is dropped silently, and memory stays bounded', () => {
    const r = new FrameReader(DEFAULT_MAX_PACKET, 'armor');
    const internal = r as unknown as { buf: Uint8Array };
    const cap = internal.buf.length;
    expect(r.push(enc.encode('x'.repeat(100000) + '\n'))).toEqual([]);
    expect(internal.buf.length).toBe(cap);
    expect(frames(r.push(enc.encode(lines[0]))).map((f) => f.seq)).toEqual([1]);
  });

  it('a binary frame sent to an armor reader, or a line to a binary reader, yields no frame', () => {
    expect(frames(new FrameReader(DEFAULT_MAX_PACKET, 'armor').push(encodeFrame(FrameType.REQUEST, 1, unhex('01'))))).toEqual([]);
    expect(frames(new FrameReader().push(enc.encode(lines.join(''))))).toEqual([]);
  });
});

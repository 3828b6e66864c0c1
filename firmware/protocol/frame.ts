// Framing (docs/protocol.md §1): COBS(header | body | CRC-32 LE) 0x00, or the same packet in a text-safe armor line.
import { FrameType, PROTOCOL_VERSION, Status } from './codes.ts';
import { type Result, ok, err } from './result.ts';
import { Reason } from './reasons.ts';
import { crc32 } from './crc32.ts';
import { cobsDecode, cobsEncode } from './cobs.ts';
import { base64Decode, base64Encode } from './base64.ts';

/** Header: version (1), frame type (1), sequence number (2, big-endian). */
export const HEADER_LEN = 4;
export const CRC_LEN = 4;
/** The smallest maximum packet size a device may advertise (header + body + CRC). */
export const DEFAULT_MAX_PACKET = 2048;
/** Armor line prefix: a line that starts with anything else is console noise and is dropped. */
export const ARMOR_PREFIX = '*';

export interface Frame {
  version: number;
  type: number;
  seq: number;
  body: Uint8Array;
}

/** header | body | CRC-32 (little-endian, over header and body). */
export function encodePacket(type: number, seq: number, body: Uint8Array, version = PROTOCOL_VERSION): Uint8Array {
  const p = new Uint8Array(HEADER_LEN + body.length + CRC_LEN);
  p[0] = version;
  p[1] = type;
  p[2] = (seq >> 8) & 0xff;
  p[3] = seq & 0xff;
  p.set(body, HEADER_LEN);
  const c = crc32(p, 0, HEADER_LEN + body.length);
  const o = HEADER_LEN + body.length;
  p[o] = c & 0xff;
  p[o + 1] = (c >>> 8) & 0xff;
  p[o + 2] = (c >>> 16) & 0xff;
  p[o + 3] = (c >>> 24) & 0xff;
  return p;
}

/** A binary frame on the wire: COBS(packet) followed by the 0x00 delimiter. */
export function encodeFrame(type: number, seq: number, body: Uint8Array): Uint8Array {
  const c = cobsEncode(encodePacket(type, seq, body));
  const out = new Uint8Array(c.length + 1);
  out.set(c);
  return out;
}

/** The same packet as one armor line: '*' base64(packet) '\n' (for links that must stay printable, e.g. Kaluma's REPL). */
export function encodeArmorLine(type: number, seq: number, body: Uint8Array): string {
  return ARMOR_PREFIX + base64Encode(encodePacket(type, seq, body)) + '\n';
}

/** Check length and CRC and split the header. Any version is returned: the caller decides what it speaks. */
export function decodePacket(p: Uint8Array): Result<Frame> {
  if (p.length < HEADER_LEN + CRC_LEN) return err(Status.INVALID_FRAME, Reason.FRAME_SHORT);
  const n = p.length - CRC_LEN;
  const want = crc32(p, 0, n);
  const got = (p[n] | (p[n + 1] << 8) | (p[n + 2] << 16) | (p[n + 3] << 24)) >>> 0;
  if (want !== got) return err(Status.INVALID_FRAME, Reason.FRAME_CRC);
  return ok({ version: p[0], type: p[1], seq: (p[2] << 8) | p[3], body: p.slice(HEADER_LEN, n) });
}

/** What a reader hands on: a whole, CRC-checked frame, or the sequence number of a frame that was too large. */
export type ReaderEvent = { kind: 'frame'; frame: Frame } | { kind: 'oversize'; seq: number | undefined; version: number | undefined };

/**
 * Reassembles frames from a byte stream (binary mode) or from text lines (armor mode).
 * Bytes outside a valid frame and frames with a bad CRC are dropped silently (a board may print a banner).
 * Memory is bounded: a frame longer than the maximum is discarded up to its delimiter.
 */
export class FrameReader {
  private buf: Uint8Array;
  private len = 0;
  private overflow = false;
  private readonly limit: number;

  constructor(
    readonly maxPacket: number = DEFAULT_MAX_PACKET,
    readonly mode: 'binary' | 'armor' = 'binary',
  ) {
    // the largest encoding of a maximum packet: COBS adds 1 byte per 254, armor 4 chars per 3 bytes
    this.limit = mode === 'binary' ? maxPacket + Math.ceil(maxPacket / 254) + 1 : Math.ceil(maxPacket / 3) * 4 + 2;
    this.buf = new Uint8Array(this.limit);
  }

  /** Feed received bytes; returns the events they complete, in order. Never throws. */
  push(chunk: Uint8Array): ReaderEvent[] {
    const out: ReaderEvent[] = [];
    const delim = this.mode === 'binary' ? 0x00 : 0x0a;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === delim) {
        this.finish(out);
        // a request may carry a private key (KEY_IMPORT): do not keep its encoding after it is handled
        this.buf.fill(0, 0, this.len);
        this.len = 0;
        this.overflow = false;
      } else if (this.len < this.limit) {
        this.buf[this.len++] = c;
      } else this.overflow = true;
    }
    return out;
  }

  private finish(out: ReaderEvent[]): void {
    if (this.len === 0) return;
    let raw = this.buf.subarray(0, this.len);
    let packet: Uint8Array | undefined;
    if (this.mode === 'armor') {
      if (raw[0] !== ARMOR_PREFIX.charCodeAt(0)) return; // console noise
      if (raw[raw.length - 1] === 0x0d) raw = raw.subarray(0, raw.length - 1);
      if (this.overflow) {
        // the first 8 base64 characters carry the 4-byte header: recover seq so the device can answer it
        let h = '';
        for (let i = 1; i < 9 && i < raw.length; i++) h += String.fromCharCode(raw[i]);
        const head = base64Decode(h);
        out.push(oversizeFromHeader(head ? head : new Uint8Array(0)));
        return;
      }
      let s = '';
      for (let i = 1; i < raw.length; i++) s += String.fromCharCode(raw[i]);
      packet = base64Decode(s);
      if (!packet) return;
    } else {
      if (this.overflow) {
        out.push(oversizeFromPrefix(raw));
        return;
      }
      const d = cobsDecode(raw);
      if (!d.ok) return;
      packet = d.value;
    }
    const f = decodePacket(packet);
    if (!f.ok) return;
    // an encoding can fit the buffer while its packet exceeds maxPacket (zeros cost no COBS overhead,
    // base64 rounds up to 3 bytes): the advertised maximum still applies
    if (packet.length > this.maxPacket) out.push(oversizeFromHeader(packet));
    else out.push({ kind: 'frame', frame: f.value });
  }
}

/** An oversize event; seq and version only when the header is that of a request (the one frame a device answers). */
function oversizeFromHeader(head: ArrayLike<number>): ReaderEvent {
  if (head.length < HEADER_LEN || head[1] !== FrameType.REQUEST) return { kind: 'oversize', seq: undefined, version: undefined };
  return { kind: 'oversize', seq: (head[2] << 8) | head[3], version: head[0] };
}

/** Recover version and sequence number from the start of an oversized binary frame so the device can answer it. */
function oversizeFromPrefix(raw: Uint8Array): ReaderEvent {
  const head: number[] = [];
  let i = 0;
  while (i < raw.length && head.length < HEADER_LEN) {
    const code = raw[i++];
    if (code === 0) break;
    for (let k = 1; k < code && i < raw.length && head.length < HEADER_LEN; k++) head.push(raw[i++]);
    if (code !== 0xff && head.length < HEADER_LEN) head.push(0);
  }
  return oversizeFromHeader(head);
}

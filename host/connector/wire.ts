// The connector's pure frame work (docs/connector.md §2–§5): what a client request is, what a device answer says about sessions, and the frames the connector writes, for either link mode.
import { timingSafeEqual } from 'node:crypto';
import {
  Command,
  FrameType,
  KeepaliveReason,
  PROTOCOL_VERSION,
  Reason,
  Status,
  cborDecode,
  cborEncode,
  encodeArmorLine,
  encodeFrame,
  type CborValue,
} from '../../firmware/protocol/index.ts';

/** What the connector needs to know of a REQUEST body (docs/connector.md §3): never more than the USB link shows. */
export interface RequestInfo {
  /** The command byte (the first byte of the body); -1 for an empty body. */
  command: number;
  /** SESSION_MESSAGE: the session id its map names (key 1), when the map decodes and the id is an integer 1..255. */
  sessionId?: number;
  /** An INFO request in the clear: the one request whose answer the connector may cache (docs/connector.md §6). */
  clearInfo: boolean;
}

/** Classify a REQUEST body. Never throws: a body the connector cannot read is relayed as it is, and the device judges it. */
export function requestInfo(body: Uint8Array): RequestInfo {
  if (body.length === 0) return { command: -1, clearInfo: false };
  const command = body[0];
  if (command === Command.SESSION_MESSAGE) {
    const id = mapInteger(body.subarray(1), 1);
    return { command, sessionId: id !== undefined && id >= 1 && id <= 255 ? id : undefined, clearInfo: false };
  }
  return { command, clearInfo: command === Command.INFO };
}

/** What a device answer (a RESPONSE or ERROR frame's body) tells the connector. */
export interface AnswerInfo {
  /** The status byte; -1 for an empty body. */
  status: number;
  /** A SESSION_OPEN answered OK: the new session's id (key 1 of the map, sent in the clear, docs/protocol.md §6). */
  openedSession?: number;
}

/** Read the answer to a request of `command`. Never throws. */
export function answerInfo(command: number, body: Uint8Array): AnswerInfo {
  if (body.length === 0) return { status: -1 };
  const status = body[0];
  if (command !== Command.SESSION_OPEN || status !== Status.OK) return { status };
  const id = mapInteger(body.subarray(1), 1);
  return { status, openedSession: id !== undefined && id >= 1 && id <= 255 ? id : undefined };
}

/** The integer at `key` of the CBOR map `cbor`, or undefined (not a map, no such key, not an integer). */
function mapInteger(cbor: Uint8Array, key: number): number | undefined {
  const d = cborDecode(cbor);
  if (!d.ok || !(d.value instanceof Map)) return undefined;
  const v = (d.value as Map<CborValue, CborValue>).get(key);
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** An error body: status byte ‖ {1: reason, 2: arg0, …} (docs/protocol.md §2.1), as the device writes it. */
export function errorBody(status: number, reason: number, args: readonly number[] = []): Uint8Array {
  const m = new Map<number, CborValue>([[1, reason]]);
  args.forEach((a, i) => m.set(i + 2, a));
  const c = cborEncode(m);
  const out = new Uint8Array(1 + c.length);
  out[0] = status;
  out.set(c, 1);
  return out;
}

const ASCII = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/**
 * One frame as a link of `mode` carries it. A leading delimiter (0x00, or a newline in armor) ends any half frame
 * the reader on the other side still holds (docs/protocol.md §1); the reader ignores the empty frame it makes.
 */
export function frameBytes(mode: 'binary' | 'armor', type: number, seq: number, body: Uint8Array): Uint8Array {
  if (mode === 'armor') return ASCII('\n' + encodeArmorLine(type, seq, body));
  const f = encodeFrame(type, seq, body);
  const out = new Uint8Array(f.length + 1);
  out.set(f, 1);
  return out;
}

/** KEEPALIVE `01` (processing, docs/protocol.md §1): what a queued client receives about once a second. */
export const PROCESSING = Uint8Array.of(KeepaliveReason.PROCESSING);

/** The connector's own ERROR bodies (docs/connector.md §5). */
export const ConnectorAnswer = {
  /** The device's link closed while the request was at the device (it may have run), or before (it did not). */
  deviceGone: (mayHaveRun: boolean) => errorBody(Status.DEVICE_UNAVAILABLE, Reason.DEVICE_GONE, [mayHaveRun ? 1 : 0]),
  /** No device for `ms` milliseconds: the request never reached one. */
  deviceAbsent: (ms: number) => errorBody(Status.DEVICE_UNAVAILABLE, Reason.DEVICE_ABSENT, [ms]),
  /** A CANCEL for a request still in the queue. */
  queueCancelled: () => errorBody(Status.CANCELLED, Reason.QUEUE_CANCELLED),
  /** A version the connector does not speak: the same answer a device gives (docs/protocol.md §1). */
  versionUnsupported: (v: number) => errorBody(Status.UNSUPPORTED_VERSION, Reason.VERSION_UNSUPPORTED, [v, PROTOCOL_VERSION]),
  /** A frame type a host does not send: the same answer a device gives. */
  frameTypeRefused: (t: number) => errorBody(Status.INVALID_FRAME, Reason.FRAME_TYPE_REFUSED, [t]),
  /** A frame larger than the connector reads: the same answer a device gives, with the connector's limit. */
  tooLarge: (max: number) => errorBody(Status.PACKET_TOO_LARGE, Reason.FRAME_TOO_LARGE, [max]),
} as const;

/**
 * The RESPONSE body a device gives a SESSION_MESSAGE for a session it does not know (SESSION_INVALID, SESSION_UNKNOWN
 * [id]). The connector sends it for a session this client does not hold on the device as it is now (docs/connector.md
 * §4), so the client opens a new session (docs/protocol.md §6) instead of meeting another client's session.
 */
export function unknownSessionBody(id: number): Uint8Array {
  return errorBody(Status.SESSION_INVALID, Reason.SESSION_UNKNOWN, [id]);
}

/** Whether a request is a retransmission of another: constant-time over the bytes, which may be sealed secrets. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export { FrameType };

// Host side of the wire for board emulations: request bodies and frames from the protocol tables, and response decoding.
import {
  FrameReader,
  FrameType,
  MESSAGES,
  Status,
  cborDecode,
  cborEncode,
  decodeMessage,
  encodeArmorLine,
  encodeFrame,
  encodeMessage,
  nameOf,
  type Frame,
} from '../../../firmware/protocol/index.ts';

/** A request body: command code + deterministic CBOR map of the request schema. */
export function requestBody(code: number, fields: object): Uint8Array {
  const pair = MESSAGES[code];
  if (!pair) throw new Error(`no schema for command ${code}`);
  const map = cborEncode(encodeMessage(pair.request, fields));
  const out = new Uint8Array(1 + map.length);
  out[0] = code;
  out.set(map, 1);
  return out;
}

export const binaryRequest = (seq: number, code: number, fields: object = {}): Uint8Array =>
  encodeFrame(FrameType.REQUEST, seq, requestBody(code, fields));

export const armorRequest = (seq: number, code: number, fields: object = {}): string =>
  encodeArmorLine(FrameType.REQUEST, seq, requestBody(code, fields));

export interface Answer {
  frame: Frame;
  status: number;
  statusName: string;
  /** Decoded response fields when status is OK, else { message }. */
  fields: { [name: string]: unknown };
}

/** Decode a RESPONSE (or ERROR) frame for `code` with the shared schema; throws if the device broke the contract. */
export function decodeAnswer(code: number, frame: Frame): Answer {
  if (frame.type !== FrameType.RESPONSE && frame.type !== FrameType.ERROR) throw new Error(`unexpected frame type ${frame.type}`);
  const status = frame.body[0];
  const map = cborDecode(frame.body.subarray(1));
  if (!map.ok) throw new Error(`response body is not valid CBOR: ${map.message}`);
  const statusName = String(nameOf(Status, status));
  if (status !== Status.OK || frame.type === FrameType.ERROR) {
    const m = map.value instanceof Map ? map.value.get(1) : undefined;
    return { frame, status, statusName, fields: { message: m } };
  }
  const r = decodeMessage<{ [name: string]: unknown }>(MESSAGES[code].response, map.value);
  if (!r.ok) throw new Error(`response does not match the ${code} schema: ${r.message}`);
  return { frame, status, statusName, fields: r.value };
}

/** Collects answer frames (RESPONSE/ERROR; keepalives skipped) from a byte stream the device wrote. */
export class AnswerCollector {
  readonly frames: Frame[] = [];
  private reader: FrameReader;
  constructor(mode: 'binary' | 'armor') {
    this.reader = new FrameReader(65535, mode);
  }
  push(bytes: Uint8Array): void {
    for (const ev of this.reader.push(bytes)) {
      if (ev.kind !== 'frame') continue;
      if (ev.frame.type === FrameType.RESPONSE || ev.frame.type === FrameType.ERROR) this.frames.push(ev.frame);
    }
  }
}

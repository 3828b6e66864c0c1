// Host side of the wire for board emulations: request bodies and frames from the protocol tables, response decoding, and a session (host/session.ts) for gated commands.
import {
  FrameReader,
  FrameType,
  COMMANDS,
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
import { errorDetailOf, renderDetail, renderReason } from '../../../host/render.ts';
import { SessionHandshake, type HostSession } from '../../../host/session.ts';

/** A request body: command code + deterministic CBOR map of the request schema. */
export function requestBody(code: number, fields: object): Uint8Array {
  const pair = COMMANDS[code];
  if (!pair) throw new Error(`no schema for command ${code}`);
  const map = cborEncode(encodeMessage(pair.request, fields));
  const out = new Uint8Array(1 + map.length);
  out[0] = code;
  out.set(map, 1);
  return out;
}

export const binaryRequest = (seq: number, code: number, fields: object = {}): Uint8Array => encodeFrame(FrameType.REQUEST, seq, requestBody(code, fields));

export const armorRequest = (seq: number, code: number, fields: object = {}): string => encodeArmorLine(FrameType.REQUEST, seq, requestBody(code, fields));

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
  if (!map.ok) throw new Error(`response body is not valid CBOR: ${renderDetail(map)}`);
  const statusName = String(nameOf(Status, status));
  if (status !== Status.OK || frame.type === FrameType.ERROR) {
    const e = map.value instanceof Map ? errorDetailOf(map.value) : { reason: undefined, args: [] };
    return { frame, status, statusName, fields: { reason: e.reason, args: e.args, message: renderReason(e.reason, e.args) } };
  }
  const r = decodeMessage<{ [name: string]: unknown }>(COMMANDS[code].response, map.value);
  if (!r.ok) throw new Error(`response does not match the ${code} schema: ${renderDetail(r)}`);
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

/**
 * A test host's secure session over a board's wire (docs/protocol.md §6), with host/session.ts (node:crypto): an
 * implementation independent of the firmware's. Use: send `openFields()` as SESSION_OPEN, `finish()` with the
 * answer and the INFO answer (whose deviceId and identityPublicKey are pinned), then send `wrap(code, fields)` as
 * SESSION_MESSAGE and read the answer with `unwrap(code, answer)`.
 */
export class WireSession {
  private readonly handshake = SessionHandshake.create();
  private session: HostSession | undefined;

  /** SESSION_OPEN request fields. */
  openFields(): object {
    return { hostEphemeral: this.handshake.hostEphemeral };
  }

  /** Check the SESSION_OPEN answer against INFO's identity (throws SessionError if the signature is wrong) and derive the keys. */
  finish(open: Answer, info: Answer): void {
    if (open.status !== Status.OK) throw new Error(`SESSION_OPEN failed: ${open.statusName} ${String(open.fields.message)}`);
    const f = open.fields as { sessionId: number; deviceEphemeral: Uint8Array; signature: Uint8Array };
    this.session = this.handshake.finish(info.fields.deviceId as Uint8Array, info.fields.identityPublicKey as Uint8Array, f, {
      limits: { maxMessages: Number.MAX_SAFE_INTEGER, idleTimeoutMs: Number.MAX_SAFE_INTEGER },
      now: 0,
    });
  }

  /** SESSION_MESSAGE request fields carrying `code` + `fields` sealed with the next counter. */
  wrap(code: number, fields: object = {}): object {
    if (!this.session) throw new Error('WireSession: finish() the handshake first');
    const e = this.session.seal(requestBody(code, fields), 0);
    return { sessionId: e.sessionId, counter: e.counter, ciphertext: e.ciphertext };
  }

  /** The inner answer of a SESSION_MESSAGE answer (decoded with `code`'s response schema), or the outer one if it was refused. */
  unwrap(code: number, outer: Answer): Answer {
    if (outer.status !== Status.OK) return outer;
    if (!this.session) throw new Error('WireSession: no session');
    const plain = this.session.open(outer.fields.counter as number, outer.fields.ciphertext as Uint8Array);
    return decodeAnswer(code, { ...outer.frame, body: plain });
  }
}

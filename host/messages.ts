// One command's bodies (docs/protocol.md §2, §4): its request encoded with its schema from COMMANDS, and an answer decoded to a message or the HsmError it carries.
import {
  Command,
  COMMANDS,
  Status,
  cborDecode,
  cborEncode,
  decodeMessage,
  encodeMessage,
  nameOf,
  type CborMap,
  type CborValue,
  type CommandSpec,
  type Message,
  type Schema,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { errorDetailOf, renderDetail } from './render.ts';
import type { LinkRequest } from './link.ts';

/** A request body ready for the link (command byte ‖ CBOR map), with what the host knows of its command. */
export interface EncodedRequest {
  code: number;
  name: string;
  body: Uint8Array;
  /** The response schema; undefined for a command COMMANDS does not declare. */
  schema: Schema | undefined;
  spec: CommandSpec | undefined;
}

/**
 * `request` (fields by name, or a Map sent as the raw CBOR map) encoded with the command's schema from COMMANDS;
 * a BAD_ARGUMENT HsmError for an unknown command or fields the schema refuses.
 */
export function encodeRequest(command: number | keyof typeof Command, request: object): EncodedRequest | HsmError {
  const code = typeof command === 'number' ? command : Command[command];
  if (code === undefined || !Number.isInteger(code) || code < 0 || code > 255) return new HsmError('BAD_ARGUMENT', `unknown command ${String(command)}`);
  const name = String(nameOf(Command, code) || `command 0x${code.toString(16)}`);
  const spec = COMMANDS[code];
  let map: CborValue;
  let payload: Uint8Array;
  try {
    map = request instanceof Map ? (request as CborMap) : spec ? encodeMessage(spec.request, request) : new Map();
    payload = cborEncode(map);
  } catch (e) {
    return new HsmError('BAD_ARGUMENT', `${name}: the request cannot be encoded: ${(e as Error).message}`, { command: name });
  }
  const body = new Uint8Array(1 + payload.length);
  body[0] = code;
  body.set(payload, 1);
  return { code, name, body, schema: spec ? spec.response : undefined, spec };
}

/** Zero the body of a request that carried a PIN or a private key (COMMANDS' `secret`), once it is sent. */
export function wipeIfSecret(r: EncodedRequest): void {
  if (r.spec !== undefined && r.spec.secret) r.body.fill(0);
}

/** A response body (status byte + CBOR map) to a decoded message or the HsmError it carries. */
export function parseBody(name: string, schema: Schema | undefined, body: Uint8Array, errorFrame: boolean): Message | HsmError {
  const bad = (why: string) => new HsmError('BAD_RESPONSE', `${name}: ${why}`, { command: name });
  if (body.length < 1) return bad('empty response body');
  const status = body[0];
  const decoded = body.length > 1 ? cborDecode(body.subarray(1)) : { ok: true as const, value: new Map() as CborValue };
  if (!decoded.ok) return bad(`the response is not deterministic CBOR: ${renderDetail(decoded)}`);
  const map = decoded.value;
  if (!(map instanceof Map)) return bad('the response is not a CBOR map');
  if (errorFrame || status !== Status.OK) {
    if (status === Status.OK) return bad('an ERROR frame with status OK');
    const d = errorDetailOf(map);
    return HsmError.fromStatus(status, d.reason, d.args, name);
  }
  if (!schema) {
    const out: Message = {};
    map.forEach((v, k) => (out[String(k)] = v));
    return out;
  }
  const r = decodeMessage<Message>(schema, map);
  return r.ok ? r.value : bad(`the response does not match the ${name} schema: ${renderDetail(r, { schema })}`);
}

/** A request sent as it is, without a session (docs/protocol.md §6): its answer is the response to it. */
export function inClear(r: EncodedRequest): LinkRequest {
  return { name: r.name, body: r.body, answer: (body, errorFrame) => parseBody(r.name, r.schema, body, errorFrame) };
}

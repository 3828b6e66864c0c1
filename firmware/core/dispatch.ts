// Dispatcher: command byte → session gate → schema-checked request → pure handler → schema-encoded response (DESIGN.md "Wire protocol", issue 4 §1).
//
// Gate (issue 4 §1, docs/protocol.md "Sessions"): in the clear only INFO, ECHO, SESSION_OPEN and SESSION_MESSAGE
// run; every other command answers SESSION_REQUIRED without decoding its parameters. Inside a SESSION_MESSAGE
// every command runs except SESSION_OPEN and SESSION_MESSAGE (no nesting → INVALID_COMMAND).
//
// The only place that turns handler results and exceptions into wire bytes. A handler that throws
// yields INTERNAL_ERROR with a generic message: the exception text could quote key material. A change is
// committed to flash before any RAM state claims it (keystore.ts), so an exception never answers OK.
import { Command, Status, nameOf, type StatusCode } from '../protocol/codes.ts';
import { type CborValue, cborDecode, cborEncode } from '../protocol/cbor.ts';
import type { Result } from '../protocol/result.ts';
import { type Schema, decodeMessage, encodeMessage } from '../protocol/schema.ts';
import { MESSAGES } from '../protocol/messages/index.ts';
import type { DeviceContext } from './context.ts';
import { info } from './commands/info.ts';
import { echo } from './commands/echo.ts';
import { random } from './commands/random.ts';
import { keyGenerate } from './commands/key_generate.ts';
import { keyImport } from './commands/key_import.ts';
import { keyList } from './commands/key_list.ts';
import { keyPublic } from './commands/key_public.ts';
import { keyDelete } from './commands/key_delete.ts';
import { sign } from './commands/sign.ts';
import { ecdh } from './commands/ecdh.ts';
import { sessionOpen } from './commands/session_open.ts';
import { sessionMessage } from './commands/session_message.ts';
import { sessionClose } from './commands/session_close.ts';

/** A pure command handler: it validates with guard clauses, then acts; it never writes to the wire. */
export type Handler = (ctx: DeviceContext, request: any) => Result<object>;

/** Command code → handler. Add a line here with every new command in codes.ts and messages/index.ts. */
export const HANDLERS: { readonly [code: number]: Handler } = {
  [Command.INFO]: info,
  [Command.ECHO]: echo,
  [Command.RANDOM]: random,
  [Command.KEY_GENERATE]: keyGenerate,
  [Command.KEY_IMPORT]: keyImport,
  [Command.KEY_LIST]: keyList,
  [Command.KEY_PUBLIC]: keyPublic,
  [Command.KEY_DELETE]: keyDelete,
  [Command.SIGN]: sign,
  [Command.ECDH]: ecdh,
  [Command.SESSION_OPEN]: sessionOpen,
  // the envelope handler runs the inner body through this dispatcher, in session mode
  [Command.SESSION_MESSAGE]: (ctx: DeviceContext, req: any) => sessionMessage(ctx, req, dispatchInSession),
  [Command.SESSION_CLOSE]: sessionClose,
};

/** Commands that run without a session (issue 4 §1); SESSION_MESSAGE is how everything else gets in. */
const CLEAR: boolean[] = [];
CLEAR[Command.INFO] = true;
CLEAR[Command.ECHO] = true;
CLEAR[Command.SESSION_OPEN] = true;
CLEAR[Command.SESSION_MESSAGE] = true;

/** Commands that never run inside a session: a session cannot open or carry another one. */
const NOT_INNER: boolean[] = [];
NOT_INNER[Command.SESSION_OPEN] = true;
NOT_INNER[Command.SESSION_MESSAGE] = true;

interface Entry {
  name: string;
  handler: Handler;
  request: Schema;
  response: Schema;
}

// Built once at load: a request costs one array index, no table building (issue 2: bench).
const TABLE: (Entry | undefined)[] = [];
for (let code = 0; code < 256; code++) {
  const name = nameOf(Command, code);
  const pair = MESSAGES[code];
  const handler = HANDLERS[code];
  TABLE.push(name !== undefined && pair !== undefined && handler !== undefined ? { name: name as string, handler, request: pair.request, response: pair.response } : undefined);
}

/** Error messages on the wire are at most this many bytes of UTF-8 (issue 2 §3). */
export const MAX_MESSAGE = 160;

/** Cut a message to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let w: number;
    let units = 1;
    if (c < 0x80) w = 1;
    else if (c < 0x800) w = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        w = 4;
        units = 2;
      } else w = 3;
    } else w = 3;
    if (n + w > max) return s.slice(0, i);
    n += w;
    i += units - 1;
  }
  return s;
}

/** Body of an error answer: status byte + {1: message}. Used for RESPONSE and ERROR frames alike. */
export function errorBody(status: StatusCode, message: string): Uint8Array {
  const m = new Map<number, CborValue>();
  m.set(1, truncateUtf8(message, MAX_MESSAGE));
  return withStatus(status, cborEncode(m));
}

function withStatus(status: number, map: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + map.length);
  out[0] = status;
  out.set(map, 1);
  return out;
}

function hex2(n: number): string {
  return '0x' + (n < 16 ? '0' : '') + n.toString(16);
}

const EMPTY_MAP: CborValue = new Map<number, CborValue>();

/**
 * Execute one request body received in the clear (command byte + CBOR map) and return the response body
 * (status byte + CBOR map). Never throws.
 */
export function dispatch(ctx: DeviceContext, body: Uint8Array): Uint8Array {
  return run(ctx, body, false);
}

/** Execute an inner request body, opened from an authenticated SESSION_MESSAGE envelope. Never throws. */
export function dispatchInSession(ctx: DeviceContext, body: Uint8Array): Uint8Array {
  return run(ctx, body, true);
}

function run(ctx: DeviceContext, body: Uint8Array, inSession: boolean): Uint8Array {
  if (body.length === 0) return errorBody(Status.INVALID_COMMAND, 'empty request: the body must start with a command byte');
  const code = body[0];
  const entry = TABLE[code];
  if (entry === undefined) return errorBody(Status.INVALID_COMMAND, 'unknown command ' + hex2(code));
  if (inSession) {
    if (NOT_INNER[code] === true)
      return errorBody(Status.INVALID_COMMAND, entry.name + ' cannot be sent inside a session (no nesting); send it in the clear');
  } else if (CLEAR[code] !== true) {
    // checked before the parameters are even decoded: nothing of a gated request is looked at
    return errorBody(
      Status.SESSION_REQUIRED,
      entry.name + ' needs a secure session: send SESSION_OPEN, then this command inside SESSION_MESSAGE (docs/session.md)',
    );
  }
  let params: CborValue = EMPTY_MAP;
  if (body.length > 1) {
    const d = cborDecode(body.subarray(1));
    if (!d.ok) return errorBody(d.status, entry.name + ' parameters: ' + d.message);
    if (!(d.value instanceof Map)) return errorBody(Status.INVALID_CBOR, entry.name + ' parameters must be a CBOR map');
    params = d.value;
  }
  const req = decodeMessage<object>(entry.request, params);
  if (!req.ok) return errorBody(req.status, entry.name + ': ' + req.message);
  let res: Result<object>;
  try {
    res = entry.handler(ctx, req.value);
  } catch (e) {
    // A flash that throws mid-commit (a failing part; on a power cut nothing is answered anyway) is the one
    // exception with a known remedy: the boot scan restores the state before or after this command.
    if (ctx.keystore.storageFault)
      return errorBody(Status.INTERNAL_ERROR, entry.name + ': the flash failed while writing; power-cycle the device, it restarts with the state before or after this command');
    return errorBody(Status.INTERNAL_ERROR, entry.name + ' failed with an unexpected internal error');
  }
  if (!res.ok) return errorBody(res.status, res.message);
  try {
    return withStatus(Status.OK, cborEncode(encodeMessage(entry.response, res.value)));
  } catch (e) {
    return errorBody(Status.INTERNAL_ERROR, entry.name + ': the response could not be encoded');
  }
}

// p11-kit RPC codec (protocol version 0, p11-kit 0.24): socket frames, request decoding by call signature and response encoding; decoders return results and never throw (docs/pkcs11.md §3).
import { RPC_CALLS, UNAVAILABLE, valueKind } from './constants.ts';

/** Largest request body accepted (a C_Sign of a long EdDSA message is the biggest thing a client sends). */
export const MAX_RPC_BODY = 1 << 20;
/** Largest options block in a frame header (p11-kit sends none; it reads and ignores them). */
export const MAX_RPC_OPTIONS = 4096;
/** Most attributes one template may carry. */
export const MAX_ATTRIBUTES = 256;

/** A decoding result; `fatal` marks a message whose call id or signature is wrong, which p11-kit's server answers by closing the connection. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string; fatal: boolean };
const fail = <T>(error: string, fatal = true): Decoded<T> => ({ ok: false, error, fatal });

/** One attribute of a template as p11-kit sends it ('aA'): its value typed by p11-kit's table, or null when the sender marked it unavailable. */
export interface RpcAttribute {
  type: number;
  /** boolean for byte attributes, bigint for ulong ones, bytes for everything else we accept; null = "unavailable" (length −1). */
  value: boolean | bigint | Uint8Array | bigint[] | null;
  /** For 'byte' attributes the raw byte (PKCS#11 treats any non-zero byte as true). */
  byte?: number;
}

/** One requested attribute of C_GetAttributeValue ('fA'): the type and the size of the caller's buffer (0: length only). */
export interface AttributeRequest {
  type: number;
  length: number;
}

export interface RpcMechanism {
  type: number;
  /** The parameter bytes as sent; null when the client sent none. */
  param: Uint8Array | null;
}

/** A decoded argument, by signature code. */
export type RpcArg =
  | { t: 'u'; v: bigint }
  | { t: 'y'; v: number }
  | { t: 'ay'; v: Uint8Array | null }
  | { t: 'fy'; v: number }
  | { t: 'fu'; v: number }
  | { t: 'fA'; v: AttributeRequest[] }
  | { t: 'aA'; v: RpcAttribute[] }
  | { t: 'M'; v: RpcMechanism }
  | { t: 'z'; v: Uint8Array };

export interface RpcRequest {
  callId: number;
  name: string;
  args: RpcArg[];
}

/** A reader over one message body that records the first failure instead of throwing. */
class Reader {
  pos = 0;
  error: string | undefined;
  constructor(private readonly b: Uint8Array) {}
  private need(n: number, what: string): boolean {
    if (this.error) return false;
    if (n > this.b.length - this.pos) {
      this.error = `${what}: needs ${n} bytes at offset ${this.pos}, the message has ${this.b.length - this.pos} left`;
      return false;
    }
    return true;
  }
  get left(): number {
    return this.b.length - this.pos;
  }
  byte(what: string): number {
    if (!this.need(1, what)) return 0;
    return this.b[this.pos++];
  }
  u32(what: string): number {
    if (!this.need(4, what)) return 0;
    const b = this.b;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
  }
  u64(what: string): bigint {
    const hi = this.u32(what);
    const lo = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  /** p11-kit byte array: uint32 length (0xffffffff: NULL) then the bytes. Lengths of 0x7fffffff and up are refused, as p11-kit does. */
  bytes(what: string): Uint8Array | null {
    const len = this.u32(what);
    if (this.error) return null;
    if (len === 0xffffffff) return null;
    if (len >= 0x7fffffff) {
      this.error = `${what}: length ${len} is not allowed`;
      return null;
    }
    if (!this.need(len, what)) return null;
    const out = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  fail(msg: string): void {
    if (!this.error) this.error = msg;
  }
}

/** One attribute with its value ('aA' element; rpc-message.c p11_rpc_buffer_get_attribute). */
function readAttribute(r: Reader, i: number): RpcAttribute | undefined {
  const type = r.u32(`attribute ${i} type`);
  const validity = r.byte(`attribute ${i} validity`);
  if (r.error) return undefined;
  if (validity === 0) return { type, value: null };
  const length = r.u32(`attribute ${i} length`);
  if (r.error) return undefined;
  const kind = valueKind(type);
  const where = `attribute ${i} (0x${type.toString(16)})`;
  switch (kind) {
    case 'byte': {
      const b = r.byte(where);
      if (r.error) return undefined;
      if (length > 1) r.fail(`${where}: a CK_BBOOL value announced ${length} bytes`);
      return { type, value: b !== 0, byte: b };
    }
    case 'ulong': {
      const v = r.u64(where);
      if (r.error) return undefined;
      if (length > 8) r.fail(`${where}: a CK_ULONG value announced ${length} bytes`);
      return { type, value: v };
    }
    case 'bytes':
    case 'date': {
      const v = r.bytes(where);
      if (r.error) return undefined;
      const n = v === null ? 0 : v.length;
      if (n > length) r.fail(`${where}: ${n} bytes of value under an announced length of ${length}`);
      if (kind === 'date' && n !== 0 && n !== 8) r.fail(`${where}: a CK_DATE is 8 bytes, got ${n}`);
      return { type, value: v === null ? new Uint8Array(0) : v };
    }
    case 'mechanisms': {
      const count = r.u32(where);
      if (r.error) return undefined;
      if (count > r.left / 8) {
        r.fail(`${where}: ${count} mechanisms announced, the message holds at most ${Math.floor(r.left / 8)}`);
        return undefined;
      }
      const list: bigint[] = [];
      for (let k = 0; k < count; k++) list.push(r.u64(where));
      return { type, value: list };
    }
    case 'attributes': {
      // p11-kit's server refuses a template nested in a template ("recursive attribute array is not supported")
      r.fail(`${where}: an attribute array inside a template is not supported`);
      return undefined;
    }
  }
}

function failArg(r: Reader, msg: string): undefined {
  r.fail(msg);
  return undefined;
}

function readArg(r: Reader, code: string, n: number): RpcArg | undefined {
  const what = `argument ${n} (${code})`;
  switch (code) {
    case 'u':
      return { t: 'u', v: r.u64(what) };
    case 'y':
      return { t: 'y', v: r.byte(what) };
    case 'ay': {
      const valid = r.byte(what);
      if (r.error) return undefined;
      if (!valid) return { t: 'ay', v: null };
      const b = r.bytes(what);
      return { t: 'ay', v: b === null ? new Uint8Array(0) : b };
    }
    case 'fy':
      return { t: 'fy', v: r.u32(what) };
    case 'fu':
      return { t: 'fu', v: r.u32(what) };
    case 'z': {
      const b = r.bytes(what);
      return { t: 'z', v: b === null ? new Uint8Array(0) : b };
    }
    case 'M': {
      const type = r.u32(`${what} mechanism type`);
      const param = r.bytes(`${what} mechanism parameter`);
      return { t: 'M', v: { type, param } };
    }
    case 'fA': {
      const count = r.u32(what);
      if (r.error) return undefined;
      if (count > MAX_ATTRIBUTES) return failArg(r, `${what}: ${count} attributes, at most ${MAX_ATTRIBUTES} are accepted`);
      if (count > r.left / 8) return failArg(r, `${what}: ${count} attributes announced, the message holds at most ${Math.floor(r.left / 8)}`);
      const v: AttributeRequest[] = [];
      for (let i = 0; i < count; i++) v.push({ type: r.u32(`${what} type ${i}`), length: r.u32(`${what} length ${i}`) });
      return { t: 'fA', v };
    }
    case 'aA': {
      const count = r.u32(what);
      if (r.error) return undefined;
      if (count > MAX_ATTRIBUTES) return failArg(r, `${what}: ${count} attributes, at most ${MAX_ATTRIBUTES} are accepted`);
      // each attribute takes at least 5 bytes (type and validity)
      if (count > r.left / 5) return failArg(r, `${what}: ${count} attributes announced, the message holds at most ${Math.floor(r.left / 5)}`);
      const v: RpcAttribute[] = [];
      for (let i = 0; i < count; i++) {
        const a = readAttribute(r, i);
        if (!a) return undefined;
        v.push(a);
      }
      return { t: 'aA', v };
    }
  }
  r.fail(`signature code ${code} cannot appear in a request`);
  return undefined;
}

/** Split a signature string into its codes: 'ay', 'au', 'aA', 'fy', 'fu', 'fA' are two characters, the rest one. */
export function signatureCodes(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length; i++) {
    const c = sig[i];
    if ((c === 'a' || c === 'f') && i + 1 < sig.length) {
      out.push(c + sig[i + 1]);
      i++;
    } else out.push(c);
  }
  return out;
}

/**
 * Decode one request body: uint32 call id, the call's signature as a byte array (it must match the table), then the
 * arguments the signature names, and nothing after them. Never throws.
 */
export function decodeRequest(body: Uint8Array): Decoded<RpcRequest> {
  if (body.length > MAX_RPC_BODY) return fail(`the message is ${body.length} bytes; at most ${MAX_RPC_BODY} are accepted`);
  const r = new Reader(body);
  const callId = r.u32('call id');
  if (r.error) return fail(r.error);
  if (callId === 0 || callId >= RPC_CALLS.length) return fail(`call id ${callId} is not a request of protocol version 0 (1 to ${RPC_CALLS.length - 1})`);
  const call = RPC_CALLS[callId];
  const sig = r.bytes('signature');
  if (r.error) return fail(r.error);
  if (sig === null) return fail('the signature is missing');
  const sigText = String.fromCharCode(...sig.subarray(0, 64));
  if (sig.length !== call.request.length || sigText !== call.request) return fail(`${call.name}: signature "${sigText}" where "${call.request}" is expected`);
  const args: RpcArg[] = [];
  const codes = signatureCodes(call.request);
  for (let i = 0; i < codes.length; i++) {
    const a = readArg(r, codes[i], i + 1);
    if (r.error || !a) return fail(`${call.name}: ${r.error || 'malformed argument'}`, false);
    args.push(a);
  }
  if (r.left !== 0) return fail(`${call.name}: ${r.left} bytes after the last argument`, false);
  return { ok: true, value: { callId, name: call.name, args } };
}

// ---------------------------------------------------------------- encoding

/** A growing byte buffer with p11-kit's encodings. */
export class Writer {
  private chunks: number[] = [];
  byte(v: number): this {
    this.chunks.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    this.chunks.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    const b = BigInt.asUintN(64, BigInt(v));
    return this.u32(Number(b >> 32n)).u32(Number(b & 0xffffffffn));
  }
  /** Byte array: uint32 length then bytes; null → 0xffffffff. */
  bytes(v: Uint8Array | null): this {
    if (v === null) return this.u32(0xffffffff);
    this.u32(v.length);
    for (let i = 0; i < v.length; i++) this.chunks.push(v[i]);
    return this;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** A value this server answers with, by p11-kit's kind for its type. */
export type AttrValue = boolean | bigint | Uint8Array;

/** One attribute of a C_GetAttributeValue answer: a value, the length alone, or unavailable (−1). */
export type AttributeAnswer = { type: number; value: AttrValue; lengthOnly?: boolean } | { type: number; unavailable: true };

/** The encoded length of a value as PKCS#11 reports it (CK_BBOOL 1, CK_ULONG 8 on the 64-bit ABI p11-kit carries). */
export function valueLength(type: number, value: AttrValue): number {
  const kind = valueKind(type);
  if (kind === 'byte') return 1;
  if (kind === 'ulong') return 8;
  return value instanceof Uint8Array ? value.length : 0;
}

function writeAttribute(w: Writer, a: AttributeAnswer): void {
  w.u32(a.type);
  if ('unavailable' in a) {
    w.byte(0);
    return;
  }
  const kind = valueKind(a.type);
  w.byte(1).u32(valueLength(a.type, a.value));
  // a length-only answer carries p11-kit's "no value" form of the kind (rpc-message.c add_*_value with a NULL value)
  if (kind === 'byte') w.byte(a.lengthOnly ? 0 : a.value === true ? 1 : 0);
  else if (kind === 'ulong') w.u64(a.lengthOnly ? 0n : typeof a.value === 'bigint' ? a.value : 0n);
  else w.bytes(a.lengthOnly || !(a.value instanceof Uint8Array) ? null : a.value);
}

/** A response argument, by signature code. */
export type OutArg =
  | { t: 'u'; v: number | bigint }
  | { t: 'v'; major: number; minor: number }
  | { t: 's'; text: string; width: number }
  | { t: 'ay'; v: Uint8Array | null; length: number }
  | { t: 'au'; v: (number | bigint)[] | null; length: number }
  | { t: 'aA'; v: AttributeAnswer[] };

/** UTF-8 text cut at a character boundary to `width` bytes and padded with spaces (CK_UTF8CHAR fields). */
export function spacePadded(text: string, width: number): Uint8Array {
  const out = new Uint8Array(width).fill(0x20);
  let n = 0;
  for (const ch of text) {
    const b = Buffer.from(ch, 'utf8');
    if (n + b.length > width) break;
    out.set(b, n);
    n += b.length;
  }
  return out;
}

/** Encode a response of call `callId`: its id, its signature, then `args` in signature order. */
export function encodeResponse(callId: number, args: OutArg[]): Uint8Array {
  const sig = RPC_CALLS[callId].response;
  const w = new Writer().u32(callId).bytes(Buffer.from(sig, 'latin1'));
  for (const a of args) {
    switch (a.t) {
      case 'u':
        w.u64(a.v);
        break;
      case 'v':
        w.byte(a.major).byte(a.minor);
        break;
      case 's':
        w.bytes(spacePadded(a.text, a.width));
        break;
      case 'ay':
        // valid flag 0 with the length alone: the length-only and CKR_BUFFER_TOO_SMALL form (rpc-server.c proto_write_byte_array)
        if (a.v === null) w.byte(0).u32(a.length);
        else w.byte(1).bytes(a.v);
        break;
      case 'au':
        w.byte(a.v === null ? 0 : 1).u32(a.length);
        if (a.v !== null) for (const x of a.v) w.u64(x);
        break;
      case 'aA':
        w.u32(a.v.length);
        for (const x of a.v) writeAttribute(w, x);
        break;
    }
  }
  return w.done();
}

/** The error reply: call id 0, signature "u", the CK_RV. */
export function encodeError(rv: number): Uint8Array {
  return new Writer().u32(0).bytes(Buffer.from('u', 'latin1')).u64(rv).done();
}

export { UNAVAILABLE };

// ---------------------------------------------------------------- framing

/** One frame: the caller's code (echoed in the answer), options (ignored) and the message body. */
export interface RpcFrame {
  code: number;
  body: Uint8Array;
}

/** A frame header: uint32 code, uint32 options length, uint32 body length (rpc-transport.c). */
export function encodeFrame(code: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, code);
  dv.setUint32(4, 0);
  dv.setUint32(8, body.length);
  out.set(body, 12);
  return out;
}

/**
 * Splits a byte stream into frames. The lengths are checked against the limits from the header alone, before anything
 * is buffered: an oversized or zero-code header is a fatal error for the connection (its rest cannot be skipped).
 */
export class FrameReader {
  private buf: Uint8Array = new Uint8Array(0);
  error: string | undefined;

  /** Add bytes; returns the complete frames, or stops at the first error (then `error` says why). */
  push(chunk: Uint8Array): RpcFrame[] {
    const frames: RpcFrame[] = [];
    if (this.error) return frames;
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    let b = joined;
    while (b.length >= 12) {
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const code = dv.getUint32(0);
      const olen = dv.getUint32(4);
      const dlen = dv.getUint32(8);
      if (code === 0) {
        this.error = 'a frame with code 0 (p11-kit numbers its calls from 16): not a p11-kit client';
        break;
      }
      if (olen > MAX_RPC_OPTIONS) {
        this.error = `a frame announces ${olen} bytes of options; at most ${MAX_RPC_OPTIONS} are accepted`;
        break;
      }
      if (dlen > MAX_RPC_BODY) {
        this.error = `a frame announces a ${dlen}-byte message; at most ${MAX_RPC_BODY} are accepted`;
        break;
      }
      if (b.length < 12 + olen + dlen) break;
      frames.push({ code, body: b.slice(12 + olen, 12 + olen + dlen) });
      b = b.subarray(12 + olen + dlen);
    }
    this.buf = this.error ? new Uint8Array(0) : b.slice();
    // the bytes may hold a PIN (C_Login): the frames and the rest are copies, so the joined buffer is wiped
    joined.fill(0);
    return frames;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buf.length;
  }
}

/** The version byte to answer a client's offer with: ours (0) for any offer, as p11-kit 0.24's server clamps to its maximum. */
export function negotiateVersion(offered: number): number {
  return Math.min(offered, 0);
}

// ---------------------------------------------------------------- the client's side (tests, and a TypeScript client)

/** A request argument as a client writes it, by signature code. */
export type InArg =
  | { t: 'u'; v: number | bigint }
  | { t: 'y'; v: number }
  | { t: 'ay'; v: Uint8Array | null }
  | { t: 'fy'; v: number }
  | { t: 'fu'; v: number }
  | { t: 'fA'; v: AttributeRequest[] }
  | { t: 'aA'; v: { type: number; value: AttrValue | null }[] }
  | { t: 'M'; type: number; param: Uint8Array | null }
  | { t: 'z'; v: Uint8Array };

/** Encode a request as p11-kit-client does (rpc-client.c): call id, signature, arguments. */
export function encodeRequest(callId: number, args: InArg[]): Uint8Array {
  const sig = RPC_CALLS[callId].request;
  const w = new Writer().u32(callId).bytes(Buffer.from(sig, 'latin1'));
  for (const a of args) {
    switch (a.t) {
      case 'u':
        w.u64(a.v);
        break;
      case 'y':
        w.byte(a.v);
        break;
      case 'ay':
        if (a.v === null) w.byte(0);
        else w.byte(1).bytes(a.v);
        break;
      case 'fy':
      case 'fu':
        w.u32(a.v);
        break;
      case 'fA':
        w.u32(a.v.length);
        for (const x of a.v) w.u32(x.type).u32(x.length);
        break;
      case 'aA':
        w.u32(a.v.length);
        for (const x of a.v) writeAttribute(w, x.value === null ? { type: x.type, unavailable: true } : { type: x.type, value: x.value });
        break;
      case 'M':
        w.u32(a.type).bytes(a.param);
        break;
      case 'z':
        w.bytes(a.v);
        break;
    }
  }
  return w.done();
}

/** A decoded response argument. */
export type ResponseArg =
  | { t: 'u'; v: bigint }
  | { t: 'v'; major: number; minor: number }
  | { t: 's'; v: Uint8Array }
  | { t: 'ay'; v: Uint8Array | null; length: number }
  | { t: 'au'; v: bigint[] | null; length: number }
  | { t: 'aA'; v: RpcAttribute[]; lengths: number[] };

/** Decode a response: the error reply's CK_RV, or the call's arguments by its response signature. Never throws. */
export function decodeResponse(body: Uint8Array): Decoded<{ callId: number; rv?: bigint; args: ResponseArg[] }> {
  const r = new Reader(body);
  const callId = r.u32('call id');
  if (r.error) return fail(r.error);
  if (callId >= RPC_CALLS.length) return fail(`call id ${callId} is not of protocol version 0`);
  const sig = r.bytes('signature');
  const want = RPC_CALLS[callId].response;
  if (r.error || sig === null || Buffer.from(sig).toString('latin1') !== want) return fail(`signature where "${want}" is expected`);
  if (callId === 0) {
    const rv = r.u64('error code');
    if (r.error) return fail(r.error);
    return { ok: true, value: { callId, rv, args: [] } };
  }
  const args: ResponseArg[] = [];
  for (const code of signatureCodes(want)) {
    switch (code) {
      case 'u':
        args.push({ t: 'u', v: r.u64('ulong') });
        break;
      case 'v':
        args.push({ t: 'v', major: r.byte('version'), minor: r.byte('version') });
        break;
      case 's': {
        const b = r.bytes('string');
        args.push({ t: 's', v: b === null ? new Uint8Array(0) : b });
        break;
      }
      case 'ay': {
        const valid = r.byte('byte array');
        if (!valid) args.push({ t: 'ay', v: null, length: r.u32('byte array length') });
        else {
          const b = r.bytes('byte array');
          args.push({ t: 'ay', v: b, length: b === null ? 0 : b.length });
        }
        break;
      }
      case 'au': {
        const valid = r.byte('ulong array');
        const n = r.u32('ulong array length');
        if (!valid) args.push({ t: 'au', v: null, length: n });
        else {
          if (n > r.left / 8) return fail(`${n} ulongs announced, the message holds at most ${Math.floor(r.left / 8)}`);
          const v: bigint[] = [];
          for (let i = 0; i < n; i++) v.push(r.u64('ulong'));
          args.push({ t: 'au', v, length: n });
        }
        break;
      }
      case 'aA': {
        const n = r.u32('attribute count');
        if (n > MAX_ATTRIBUTES || n > r.left / 5) return fail(`${n} attributes announced`);
        const v: RpcAttribute[] = [];
        const lengths: number[] = [];
        for (let i = 0; i < n; i++) {
          const start = r.pos;
          const a = readAttribute(r, i);
          if (!a) break;
          // the announced length: bytes 5..9 of the attribute when it is valid
          lengths.push(a.value === null ? -1 : new DataView(body.buffer, body.byteOffset + start + 5, 4).getUint32(0));
          v.push(a);
        }
        args.push({ t: 'aA', v, lengths });
        break;
      }
    }
    if (r.error) return fail(r.error);
  }
  if (r.left !== 0) return fail(`${r.left} bytes after the last argument`);
  return { ok: true, value: { callId, args } };
}

// Result type for decoders and handlers: protocol code returns errors as values, never throws (OpenSK style); an error is a status, a reason and integer arguments, never text (docs/protocol.md "Error details").
import type { StatusCode } from './codes.ts';
import type { Reason } from './reasons.ts';

export type Ok<T> = { ok: true; value: T };
/** Why something failed: `reason` from reasons.ts and its arguments in order (wire keys 2, 3, …), each an integer. */
export type ErrorDetail = { reason: Reason; args: number[] };
export type Err = { ok: false; status: StatusCode } & ErrorDetail;
export type Result<T> = Ok<T> | Err;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err(status: StatusCode, reason: Reason, args?: number[]): Err {
  return { ok: false, status, reason, args: args || [] };
}

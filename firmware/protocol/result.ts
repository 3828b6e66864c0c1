// Result type for decoders and handlers: protocol code returns errors as values, never throws (OpenSK style).
import type { StatusCode } from './codes.ts';

export type Ok<T> = { ok: true; value: T };
export type Err = { ok: false; status: StatusCode; message: string };
export type Result<T> = Ok<T> | Err;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function err(status: StatusCode, message: string): Err {
  return { ok: false, status, message };
}

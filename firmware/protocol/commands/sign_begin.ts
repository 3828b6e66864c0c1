// SIGN_BEGIN: open a streamed Ed25519 signature over a message of any length, read twice by SIGN_UPDATE (docs/protocol.md §4.1).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_STREAM } from './limits.ts';

export const SignBeginRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  /** The message's length in bytes; each pass streams exactly this many. */
  { key: 2, name: 'length', type: { t: 'uint', min: 1, max: MAX_STREAM } },
  /** SHA-256 of the whole message: both passes must hash to it, or no signature leaves the device. */
  { key: 3, name: 'sha256', type: { t: 'bytes', min: 32, max: 32 } },
] as const satisfies Schema;
export type SignBeginRequest = MessageOf<typeof SignBeginRequestSchema>;

export const SignBeginResponseSchema = [] as const satisfies Schema;
export type SignBeginResponse = MessageOf<typeof SignBeginResponseSchema>;

/**
 * SIGN_BEGIN's declaration: the key's policy and button are checked here, and this is the request the audit log
 * records for the signature (its entry's hash covers the message's SHA-256: docs/audit.md §3.1).
 */
export const SignBeginCommand = { gate: Gate.USER, request: SignBeginRequestSchema, response: SignBeginResponseSchema } satisfies CommandSpec;

// SIGN: Ed25519 over the whole message (RFC 8032); ECDSA over SHA-256(message) or a given 32-byte digest, raw r‖s, low-S.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_DATA, MAX_KEY_ID } from './limits.ts';

export const SignRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'message', type: { t: 'bytes', max: MAX_DATA }, optional: true },
  { key: 3, name: 'digest', type: { t: 'bytes', min: 32, max: 32 }, optional: true },
] as const satisfies Schema;
/** Exactly one of `message` and `digest`. `digest` is for ECDSA keys only. */
export type SignRequest = MessageOf<typeof SignRequestSchema>;

export const SignResponseSchema = [
  /** 64 bytes: Ed25519 R‖S, or ECDSA r‖s (32 bytes each, big-endian, s ≤ n/2). */
  { key: 1, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
] as const satisfies Schema;
export type SignResponse = MessageOf<typeof SignResponseSchema>;

/** SIGN's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SignCommand = { gate: Gate.USER, request: SignRequestSchema, response: SignResponseSchema, resend: true } satisfies CommandSpec;

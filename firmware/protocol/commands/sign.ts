// SIGN: Ed25519 over the whole message (RFC 8032), or Ed25519ph over its SHA-512; ECDSA over SHA-256(message) or a given 32-byte digest, raw r‖s, low-S.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_DATA, MAX_KEY_ID } from './limits.ts';

export const SignRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'message', type: { t: 'bytes', max: MAX_DATA }, optional: true },
  /** ECDSA: SHA-256 of the message (32 bytes); Ed25519ph (`prehashed`): SHA-512 of the message (64 bytes). */
  { key: 3, name: 'digest', type: { t: 'bytes', min: 32, max: 64 }, optional: true },
  /** Ed25519 keys only: sign `digest` as Ed25519ph (RFC 8032 §5.1), not the message as PureEdDSA. */
  { key: 4, name: 'prehashed', type: { t: 'bool' }, optional: true },
  /** Ed25519ph's context string (RFC 8032 §5.1 dom2), 0–255 bytes; absent: empty. */
  { key: 5, name: 'context', type: { t: 'bytes', max: 255 }, optional: true },
] as const satisfies Schema;
/** Exactly one of `message` and `digest`. `digest` is for ECDSA keys, and for Ed25519 keys with `prehashed`. */
export type SignRequest = MessageOf<typeof SignRequestSchema>;

export const SignResponseSchema = [
  /** 64 bytes: Ed25519 R‖S, or ECDSA r‖s (32 bytes each, big-endian, s ≤ n/2). */
  { key: 1, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
] as const satisfies Schema;
export type SignResponse = MessageOf<typeof SignResponseSchema>;

/** SIGN's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SignCommand = { gate: Gate.USER, request: SignRequestSchema, response: SignResponseSchema, resend: true } satisfies CommandSpec;

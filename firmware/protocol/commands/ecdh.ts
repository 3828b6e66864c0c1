// ECDH: X25519 (RFC 7748) or P-256 shared secret between a device key and a peer public key.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';

export const EcdhRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  /** X25519: 32 bytes (RFC 7748 u-coordinate); P-256: SEC1, compressed (33) or uncompressed (65). */
  { key: 2, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
] as const satisfies Schema;
export type EcdhRequest = MessageOf<typeof EcdhRequestSchema>;

export const EcdhResponseSchema = [
  /** X25519: the 32-byte u-coordinate; P-256: the 32-byte x-coordinate of the shared point. */
  { key: 1, name: 'sharedSecret', type: { t: 'bytes', min: 32, max: 32 } },
] as const satisfies Schema;
export type EcdhResponse = MessageOf<typeof EcdhResponseSchema>;

/** ECDH's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const EcdhCommand = { gate: Gate.USER, request: EcdhRequestSchema, response: EcdhResponseSchema, resend: true } satisfies CommandSpec;

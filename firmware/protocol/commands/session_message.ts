// SESSION_MESSAGE: one ChaCha20-Poly1305 envelope carrying an inner request (command byte + CBOR map) or response.
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_ENVELOPE } from './limits.ts';

export const SessionMessageRequestSchema = [
  { key: 1, name: 'sessionId', type: { t: 'uint', min: 1, max: 255 } },
  { key: 2, name: 'counter', type: { t: 'uint', min: 1 } },
  { key: 3, name: 'ciphertext', type: { t: 'bytes', min: 16, max: MAX_ENVELOPE } },
] as const satisfies Schema;
export type SessionMessageRequest = MessageOf<typeof SessionMessageRequestSchema>;

export const SessionMessageResponseSchema = [
  { key: 1, name: 'counter', type: { t: 'uint', min: 1 } },
  { key: 2, name: 'ciphertext', type: { t: 'bytes', min: 16, max: MAX_ENVELOPE } },
] as const satisfies Schema;
/** The answer to request counter c carries counter c (device→host direction, its own key). */
export type SessionMessageResponse = MessageOf<typeof SessionMessageResponseSchema>;

/** SESSION_MESSAGE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SessionMessageCommand = {
  gate: Gate.OUTER,
  request: SessionMessageRequestSchema,
  response: SessionMessageResponseSchema,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

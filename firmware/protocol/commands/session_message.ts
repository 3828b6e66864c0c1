// SESSION_MESSAGE: one ChaCha20-Poly1305 envelope carrying an inner request (command byte + CBOR map) or response.
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_ENVELOPE } from './limits.ts';

export interface SessionMessageRequest {
  sessionId: number;
  counter: number;
  ciphertext: Uint8Array;
}
export const SessionMessageRequestSchema: Schema = [
  { key: 1, name: 'sessionId', type: { t: 'uint', min: 1, max: 255 } },
  { key: 2, name: 'counter', type: { t: 'uint', min: 1 } },
  { key: 3, name: 'ciphertext', type: { t: 'bytes', min: 16, max: MAX_ENVELOPE } },
];

/** The answer to request counter c carries counter c (device→host direction, its own key). */
export interface SessionMessageResponse {
  counter: number;
  ciphertext: Uint8Array;
}
export const SessionMessageResponseSchema: Schema = [
  { key: 1, name: 'counter', type: { t: 'uint', min: 1 } },
  { key: 2, name: 'ciphertext', type: { t: 'bytes', min: 16, max: MAX_ENVELOPE } },
];

/** SESSION_MESSAGE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SessionMessageCommand: CommandSpec = { gate: Gate.OUTER, request: SessionMessageRequestSchema, response: SessionMessageResponseSchema };

// KEY_ATTEST: a statement about one key (device id, key id, algorithm, public key, origin, policy, host nonce) signed by the identity key (docs/security.md §8).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_NONCE, MAX_STATEMENT, MIN_NONCE } from './limits.ts';

export const KeyAttestRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'nonce', type: { t: 'bytes', min: MIN_NONCE, max: MAX_NONCE } },
] as const satisfies Schema;
export type KeyAttestRequest = MessageOf<typeof KeyAttestRequestSchema>;

export const KeyAttestResponseSchema = [
  /** Deterministic CBOR of the statement map (AttestationStatementSchema). */
  { key: 1, name: 'statement', type: { t: 'bytes', min: 1, max: MAX_STATEMENT } },
  /** Ed25519 by the identity key over ATTEST_CONTEXT ‖ 0x00 ‖ statement (docs/security.md §8). */
  { key: 2, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
] as const satisfies Schema;
export type KeyAttestResponse = MessageOf<typeof KeyAttestResponseSchema>;

/** KEY_ATTEST's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyAttestCommand = {
  gate: Gate.LOGGED_IN,
  request: KeyAttestRequestSchema,
  response: KeyAttestResponseSchema,
  resend: true,
} satisfies CommandSpec;

// KEY_PUBLIC: one key's algorithm and public key.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';
import { protectedField, policyFields } from './policy.ts';

export const KeyPublicRequestSchema = [{ key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } }] as const satisfies Schema;
export type KeyPublicRequest = MessageOf<typeof KeyPublicRequestSchema>;

export const KeyPublicResponseSchema = [
  { key: 1, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 2, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', max: 255 } },
  ...policyFields(5),
  protectedField(10),
] as const satisfies Schema;
export type KeyPublicResponse = MessageOf<typeof KeyPublicResponseSchema>;

/** KEY_PUBLIC's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyPublicCommand = {
  gate: Gate.LOGGED_IN,
  request: KeyPublicRequestSchema,
  response: KeyPublicResponseSchema,
  resend: true,
} satisfies CommandSpec;

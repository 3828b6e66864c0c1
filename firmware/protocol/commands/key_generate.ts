// KEY_GENERATE: create a key pair inside the device; only the public key leaves it.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';
import { protectedField, policyRequestFields } from './policy.ts';

export const KeyGenerateRequestSchema = [
  { key: 1, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 2, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true },
  ...policyRequestFields(3),
  protectedField(6),
] as const satisfies Schema;
/** Absent policy fields take the defaults (docs/security.md §6): the algorithm's main use, sensitive, no touch. */
export type KeyGenerateRequest = MessageOf<typeof KeyGenerateRequestSchema>;

export const KeyGenerateResponseSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
] as const satisfies Schema;
export type KeyGenerateResponse = MessageOf<typeof KeyGenerateResponseSchema>;

/** KEY_GENERATE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyGenerateCommand = { gate: Gate.USER, request: KeyGenerateRequestSchema, response: KeyGenerateResponseSchema } satisfies CommandSpec;

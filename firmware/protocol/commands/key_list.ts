// KEY_LIST: every key's id, algorithm, label, origin and public key (never private material).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_LIST, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';
import { policyFields, protectedField } from './policy.ts';

export const KeyListRequestSchema = [] as const satisfies Schema;
export type KeyListRequest = MessageOf<typeof KeyListRequestSchema>;

export const KeyListEntrySchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', max: 255 } },
  { key: 5, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  ...policyFields(6),
  protectedField(11),
] as const satisfies Schema;
export type KeyListEntry = MessageOf<typeof KeyListEntrySchema>;

export const KeyListResponseSchema = [{ key: 1, name: 'keys', type: { t: 'list', max: MAX_LIST, of: KeyListEntrySchema } }] as const satisfies Schema;
export type KeyListResponse = MessageOf<typeof KeyListResponseSchema>;

/** KEY_LIST's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyListCommand = { gate: Gate.LOGGED_IN, request: KeyListRequestSchema, response: KeyListResponseSchema, resend: true } satisfies CommandSpec;

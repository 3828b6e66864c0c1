// KEY_DELETE: remove a key and wipe its private bytes from memory.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { KeyPublicRequestSchema, type KeyPublicRequest } from './key_public.ts';

export type KeyDeleteRequest = KeyPublicRequest;
export const KeyDeleteRequestSchema = KeyPublicRequestSchema;

export const KeyDeleteResponseSchema = [] as const satisfies Schema;
export type KeyDeleteResponse = MessageOf<typeof KeyDeleteResponseSchema>;

/** KEY_DELETE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyDeleteCommand = { gate: Gate.USER, request: KeyDeleteRequestSchema, response: KeyDeleteResponseSchema } satisfies CommandSpec;

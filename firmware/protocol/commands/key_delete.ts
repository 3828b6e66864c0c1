// KEY_DELETE: remove a key and wipe its private bytes from memory.
import type { Schema } from '../schema.ts';
import { KeyPublicRequestSchema, type KeyPublicRequest } from './key_public.ts';

export type KeyDeleteRequest = KeyPublicRequest;
export const KeyDeleteRequestSchema: Schema = KeyPublicRequestSchema;

export interface KeyDeleteResponse {}
export const KeyDeleteResponseSchema: Schema = [];

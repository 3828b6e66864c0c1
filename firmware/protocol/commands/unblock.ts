// UNBLOCK: the SO (logged in) sets a new user PIN and restores the user's tries (docs/security.md §4).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_PIN, MIN_PIN } from './limits.ts';

export const UnblockRequestSchema = [{ key: 1, name: 'newUserPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } }] as const satisfies Schema;
export type UnblockRequest = MessageOf<typeof UnblockRequestSchema>;

export const UnblockResponseSchema = [] as const satisfies Schema;
export type UnblockResponse = MessageOf<typeof UnblockResponseSchema>;

/** UNBLOCK's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const UnblockCommand = { gate: Gate.SO, request: UnblockRequestSchema, response: UnblockResponseSchema, secret: true } satisfies CommandSpec;

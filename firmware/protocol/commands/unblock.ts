// UNBLOCK: the SO (logged in) sets a new user PIN and restores the user's tries (docs/security.md §4).
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_PIN, MIN_PIN } from './limits.ts';

export interface UnblockRequest {
  newUserPin: Uint8Array;
}
export const UnblockRequestSchema: Schema = [{ key: 1, name: 'newUserPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } }];

export interface UnblockResponse {}
export const UnblockResponseSchema: Schema = [];

/** UNBLOCK's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const UnblockCommand: CommandSpec = { gate: Gate.SO, request: UnblockRequestSchema, response: UnblockResponseSchema, secret: true };

// SESSION_CLOSE: sent inside a session; the device answers (sealed) and forgets the session's keys.
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';

export interface SessionCloseRequest {}
export const SessionCloseRequestSchema: Schema = [];
export interface SessionCloseResponse {}
export const SessionCloseResponseSchema: Schema = [];

/** SESSION_CLOSE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SessionCloseCommand: CommandSpec = { gate: Gate.SESSION, request: SessionCloseRequestSchema, response: SessionCloseResponseSchema };

// LOGOUT: drop this session's role; the session stays open.
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';

export interface LogoutRequest {}
export const LogoutRequestSchema: Schema = [];
export interface LogoutResponse {}
export const LogoutResponseSchema: Schema = [];

/** LOGOUT's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const LogoutCommand: CommandSpec = { gate: Gate.SESSION, request: LogoutRequestSchema, response: LogoutResponseSchema, resend: true };

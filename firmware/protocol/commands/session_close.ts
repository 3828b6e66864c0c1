// SESSION_CLOSE: sent inside a session; the device answers (sealed) and forgets the session's keys.
import type { Schema } from '../schema.ts';

export interface SessionCloseRequest {}
export const SessionCloseRequestSchema: Schema = [];
export interface SessionCloseResponse {}
export const SessionCloseResponseSchema: Schema = [];

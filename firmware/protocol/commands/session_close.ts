// SESSION_CLOSE: sent inside a session; the device answers (sealed) and forgets the session's keys.
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';

export const SessionCloseRequestSchema = [] as const satisfies Schema;
export type SessionCloseRequest = MessageOf<typeof SessionCloseRequestSchema>;
export const SessionCloseResponseSchema = [] as const satisfies Schema;
export type SessionCloseResponse = MessageOf<typeof SessionCloseResponseSchema>;

/** SESSION_CLOSE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SessionCloseCommand = {
  gate: Gate.SESSION,
  request: SessionCloseRequestSchema,
  response: SessionCloseResponseSchema,
  audit: Audit.RESERVE,
} satisfies CommandSpec;

// LOGOUT: drop this session's role; the session stays open.
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';

export const LogoutRequestSchema = [] as const satisfies Schema;
export type LogoutRequest = MessageOf<typeof LogoutRequestSchema>;
export const LogoutResponseSchema = [] as const satisfies Schema;
export type LogoutResponse = MessageOf<typeof LogoutResponseSchema>;

/** LOGOUT's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const LogoutCommand = {
  gate: Gate.SESSION,
  request: LogoutRequestSchema,
  response: LogoutResponseSchema,
  resend: true,
  audit: Audit.RESERVE,
} satisfies CommandSpec;

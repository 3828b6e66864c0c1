// AUDIT_ACK: the auditor marks the entries up to an index as collected, so forced audit may overwrite them (docs/audit.md §6).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';

export const AuditAckRequestSchema = [
  /** The index of the last entry collected; every entry up to it is acknowledged. */
  { key: 1, name: 'through', type: { t: 'uint', max: 0xffffffff } },
] as const satisfies Schema;
export type AuditAckRequest = MessageOf<typeof AuditAckRequestSchema>;

export const AuditAckResponseSchema = [
  /** Entries acknowledged now: every index below this one (it never goes back). */
  { key: 1, name: 'acked', type: { t: 'uint', max: 0xffffffff } },
] as const satisfies Schema;
export type AuditAckResponse = MessageOf<typeof AuditAckResponseSchema>;

/** AUDIT_ACK's declaration: the auditor only; recorded, and run from the log's reserve when forced audit has no room. */
export const AuditAckCommand = {
  gate: Gate.AUDITOR,
  request: AuditAckRequestSchema,
  response: AuditAckResponseSchema,
  resend: true,
  audit: Audit.RESERVE,
} satisfies CommandSpec;

// AUDIT_SET: the SO turns forced audit on or off, locks it on until RESET, or sets the auditor PIN (docs/audit.md §6, §7).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_PIN, MIN_PIN } from './limits.ts';

export const AuditSetRequestSchema = [
  /** Forced audit on or off (off is refused once locked). */
  { key: 1, name: 'forced', type: { t: 'bool' }, optional: true },
  /** true: lock forced audit on until RESET (needs forced audit on). */
  { key: 2, name: 'lock', type: { t: 'bool' }, optional: true },
  /** A new auditor PIN; its tries go back to 8. */
  { key: 3, name: 'auditorPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN }, optional: true },
] as const satisfies Schema;
export type AuditSetRequest = MessageOf<typeof AuditSetRequestSchema>;

export const AuditSetResponseSchema = [] as const satisfies Schema;
export type AuditSetResponse = MessageOf<typeof AuditSetResponseSchema>;

/** AUDIT_SET's declaration: the SO; it may carry a PIN (secret); recorded, and run from the reserve (it is how a full log is fixed). */
export const AuditSetCommand = {
  gate: Gate.SO,
  request: AuditSetRequestSchema,
  response: AuditSetResponseSchema,
  secret: true,
  audit: Audit.RESERVE,
} satisfies CommandSpec;

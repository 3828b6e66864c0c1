// AUDIT_READ: the audit log's entries from an index, each the 80 bytes that its chain hashes (docs/audit.md §2, §4).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { AUDIT_ENTRY_LENGTH, MAX_AUDIT_READ } from './limits.ts';

export const AuditReadRequestSchema = [
  /** The index of the first entry wanted; an index older than the log's oldest entry starts at that entry. */
  { key: 1, name: 'from', type: { t: 'uint', max: 0xffffffff } },
  /** At most this many entries (default and most: MAX_AUDIT_READ, what one packet carries). */
  { key: 2, name: 'max', type: { t: 'uint', min: 1, max: MAX_AUDIT_READ }, optional: true },
] as const satisfies Schema;
export type AuditReadRequest = MessageOf<typeof AuditReadRequestSchema>;

export const AuditReadResponseSchema = [
  /** The entries, 80 bytes each, consecutive indices from the first one's; empty when `from` is at or past `next`. */
  { key: 1, name: 'entries', type: { t: 'bytes', max: MAX_AUDIT_READ * AUDIT_ENTRY_LENGTH } },
  /** The index the next entry will get: the number of entries ever written. */
  { key: 2, name: 'next', type: { t: 'uint', max: 0xffffffff } },
  /** The index of the oldest entry still in the log (the ring overwrote those before it). */
  { key: 3, name: 'oldest', type: { t: 'uint', max: 0xffffffff } },
] as const satisfies Schema;
export type AuditReadResponse = MessageOf<typeof AuditReadResponseSchema>;

/** AUDIT_READ's declaration: any logged-in role reads; reading is not itself recorded (the log would grow as it is read). */
export const AuditReadCommand = {
  gate: Gate.ANY_ROLE,
  request: AuditReadRequestSchema,
  response: AuditReadResponseSchema,
  resend: true,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

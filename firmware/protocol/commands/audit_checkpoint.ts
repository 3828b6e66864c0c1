// AUDIT_CHECKPOINT: the log's head index and digest, signed by the identity key over a host nonce, and the log's state (docs/audit.md §5).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';

export const AuditCheckpointRequestSchema = [
  /** The host's fresh random nonce, 16..32 bytes: the signature is then not one recorded earlier. */
  { key: 1, name: 'nonce', type: { t: 'bytes', min: 16, max: 32 } },
] as const satisfies Schema;
export type AuditCheckpointRequest = MessageOf<typeof AuditCheckpointRequestSchema>;

export const AuditCheckpointResponseSchema = [
  /** The index the next entry will get (the head entry is next − 1). */
  { key: 1, name: 'next', type: { t: 'uint', max: 0xffffffff } },
  /** SHA-256 of the head entry (32 zero bytes when next is 0). */
  { key: 2, name: 'head', type: { t: 'bytes', min: 32, max: 32 } },
  /** Ed25519 signature by the identity key over the checkpoint statement (docs/audit.md §5). */
  { key: 3, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
  /** The index of the oldest entry still in the log. */
  { key: 4, name: 'oldest', type: { t: 'uint', max: 0xffffffff } },
  /** Entries acknowledged by the auditor: every index below this one. */
  { key: 5, name: 'acked', type: { t: 'uint', max: 0xffffffff } },
  /** How many entries the ring holds. */
  { key: 6, name: 'capacity', type: { t: 'uint', max: 0xffff } },
  /** Forced audit is on: audited commands are refused when the log has no room (docs/audit.md §6). */
  { key: 7, name: 'forced', type: { t: 'bool' } },
  /** Forced audit is locked on until RESET. */
  { key: 8, name: 'locked', type: { t: 'bool' } },
  /** An auditor PIN is set. */
  { key: 9, name: 'auditor', type: { t: 'bool' } },
] as const satisfies Schema;
export type AuditCheckpointResponse = MessageOf<typeof AuditCheckpointResponseSchema>;

/** AUDIT_CHECKPOINT's declaration: any logged-in role; not recorded (it changes nothing). */
export const AuditCheckpointCommand = {
  gate: Gate.ANY_ROLE,
  request: AuditCheckpointRequestSchema,
  response: AuditCheckpointResponseSchema,
  resend: true,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

// BACKUP_IMPORT: restore the keys of a backup blob of this device's domain, with their policies, marked as restored (docs/quorum.md §9).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { approvalFields } from './approvals.ts';
import { BACKUP_HEADER_BYTES, MAX_BACKUP_BLOB, MAX_BACKUP_KEYS } from './domain.ts';

export const BackupImportRequestSchema = [
  { key: 1, name: 'blob', type: { t: 'bytes', min: BACKUP_HEADER_BYTES + 16, max: MAX_BACKUP_BLOB } },
  ...approvalFields(2),
] as const satisfies Schema;
export type BackupImportRequest = MessageOf<typeof BackupImportRequestSchema>;

export const BackupImportResponseSchema = [{ key: 1, name: 'keyIds', type: { t: 'uintList', max: MAX_BACKUP_KEYS } }] as const satisfies Schema;
export type BackupImportResponse = MessageOf<typeof BackupImportResponseSchema>;

/**
 * BACKUP_IMPORT's declaration: the SO with M officer approvals, on a device of the blob's domain. All of the blob's
 * keys are restored in one store transaction, or none.
 */
export const BackupImportCommand = {
  gate: Gate.SO,
  request: BackupImportRequestSchema,
  response: BackupImportResponseSchema,
} satisfies CommandSpec;

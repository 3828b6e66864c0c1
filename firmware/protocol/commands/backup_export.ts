// BACKUP_EXPORT: up to six keys whose policy allows export-under-wrap, with their policies and origins, in one blob sealed under the domain key (docs/quorum.md §9).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { approvalFields } from './approvals.ts';
import { BACKUP_HEADER_BYTES, MAX_BACKUP_BLOB, MAX_BACKUP_KEYS } from './domain.ts';

export const BackupExportRequestSchema = [
  { key: 1, name: 'keyIds', type: { t: 'uintList', max: MAX_BACKUP_KEYS } },
  ...approvalFields(2),
] as const satisfies Schema;
export type BackupExportRequest = MessageOf<typeof BackupExportRequestSchema>;

export const BackupExportResponseSchema = [
  { key: 1, name: 'blob', type: { t: 'bytes', min: BACKUP_HEADER_BYTES + 16, max: MAX_BACKUP_BLOB } },
] as const satisfies Schema;
export type BackupExportResponse = MessageOf<typeof BackupExportResponseSchema>;

/** BACKUP_EXPORT's declaration: the SO with M officer approvals, on a device in a domain. */
export const BackupExportCommand = { gate: Gate.SO, request: BackupExportRequestSchema, response: BackupExportResponseSchema } satisfies CommandSpec;

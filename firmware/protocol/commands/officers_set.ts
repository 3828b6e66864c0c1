// OFFICERS_SET: enrol the officers (Ed25519 public keys with labels) and the threshold M of them that gated commands need (docs/quorum.md §1).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_OFFICERS, MAX_OFFICER_LABEL, approvalFields } from './approvals.ts';

export const OfficerSchema = [
  { key: 1, name: 'publicKey', type: { t: 'bytes', min: 32, max: 32 } },
  { key: 2, name: 'label', type: { t: 'text', max: MAX_OFFICER_LABEL } },
] as const satisfies Schema;
export type Officer = MessageOf<typeof OfficerSchema>;

export const OfficersSetRequestSchema = [
  { key: 1, name: 'threshold', type: { t: 'uint', min: 1, max: MAX_OFFICERS } },
  { key: 2, name: 'officers', type: { t: 'list', max: MAX_OFFICERS, of: OfficerSchema } },
  ...approvalFields(3),
] as const satisfies Schema;
export type OfficersSetRequest = MessageOf<typeof OfficersSetRequestSchema>;

export const OfficersSetResponseSchema = [] as const satisfies Schema;
export type OfficersSetResponse = MessageOf<typeof OfficersSetResponseSchema>;

/**
 * OFFICERS_SET's declaration: the SO runs it; the first enrolment needs the SO alone, every later change also the
 * approval of M of the officers enrolled before it (docs/quorum.md §1).
 */
export const OfficersSetCommand = { gate: Gate.SO, request: OfficersSetRequestSchema, response: OfficersSetResponseSchema } satisfies CommandSpec;

// APPROVAL_CHALLENGE: a fresh single-use challenge that officers sign into their approvals (docs/quorum.md §2).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { CHALLENGE_BYTES } from './approvals.ts';

export const ApprovalChallengeRequestSchema = [] as const satisfies Schema;
export type ApprovalChallengeRequest = MessageOf<typeof ApprovalChallengeRequestSchema>;

export const ApprovalChallengeResponseSchema = [
  { key: 1, name: 'challenge', type: { t: 'bytes', min: CHALLENGE_BYTES, max: CHALLENGE_BYTES } },
] as const satisfies Schema;
export type ApprovalChallengeResponse = MessageOf<typeof ApprovalChallengeResponseSchema>;

/** APPROVAL_CHALLENGE's declaration: who may run it (docs/security.md §2), its flags and its schemas. Not resent: a new challenge replaces the last. */
export const ApprovalChallengeCommand = {
  gate: Gate.INITIALIZED,
  request: ApprovalChallengeRequestSchema,
  response: ApprovalChallengeResponseSchema,
} satisfies CommandSpec;

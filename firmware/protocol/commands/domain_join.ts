// DOMAIN_JOIN: take a domain's wrap key from M shares sealed to this device's identity key, with M officer approvals (docs/quorum.md §8).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_OFFICERS, approvalFields } from './approvals.ts';
import { DOMAIN_ID_BYTES, SealedShareSchema } from './domain.ts';

export const DomainJoinRequestSchema = [
  { key: 1, name: 'domainId', type: { t: 'bytes', min: DOMAIN_ID_BYTES, max: DOMAIN_ID_BYTES } },
  /** Shares of the domain each re-sealed by its officer to this device's identity key (docs/quorum.md §8.2). */
  { key: 2, name: 'shares', type: { t: 'list', max: MAX_OFFICERS, of: SealedShareSchema } },
  ...approvalFields(3),
] as const satisfies Schema;
export type DomainJoinRequest = MessageOf<typeof DomainJoinRequestSchema>;

export const DomainJoinResponseSchema = [
  { key: 1, name: 'domainId', type: { t: 'bytes', min: DOMAIN_ID_BYTES, max: DOMAIN_ID_BYTES } },
] as const satisfies Schema;
export type DomainJoinResponse = MessageOf<typeof DomainJoinResponseSchema>;

/** DOMAIN_JOIN's declaration: the SO with M approvals of this device's officers, on a device in no domain. */
export const DomainJoinCommand = { gate: Gate.SO, request: DomainJoinRequestSchema, response: DomainJoinResponseSchema } satisfies CommandSpec;

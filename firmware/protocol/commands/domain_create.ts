// DOMAIN_CREATE: make a domain wrap key on the device and split it into one share per officer, each sealed to that officer's key (docs/quorum.md §8).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_OFFICERS } from './approvals.ts';
import { DOMAIN_ID_BYTES, SealedShareSchema } from './domain.ts';

export const DomainCreateRequestSchema = [] as const satisfies Schema;
export type DomainCreateRequest = MessageOf<typeof DomainCreateRequestSchema>;

export const DomainCreateResponseSchema = [
  { key: 1, name: 'domainId', type: { t: 'bytes', min: DOMAIN_ID_BYTES, max: DOMAIN_ID_BYTES } },
  /** One sealed share per officer, in officer index order; share i has Shamir index i + 1 and opens with officer i's key. */
  { key: 2, name: 'shares', type: { t: 'list', max: MAX_OFFICERS, of: SealedShareSchema } },
] as const satisfies Schema;
export type DomainCreateResponse = MessageOf<typeof DomainCreateResponseSchema>;

/**
 * DOMAIN_CREATE's declaration: the SO, on a device with officers and no domain. It needs no approvals: the shares
 * go only to the enrolled officers, and every use of the domain (joining, backup, restore) needs M of them.
 */
export const DomainCreateCommand = { gate: Gate.SO, request: DomainCreateRequestSchema, response: DomainCreateResponseSchema } satisfies CommandSpec;

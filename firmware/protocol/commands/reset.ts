// RESET: erase every key, both PINs, the officers and the domain, leaving a factory-new device that keeps its id and identity (docs/quorum.md §4).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { approvalFields } from './approvals.ts';

export const ResetRequestSchema = [...approvalFields(1)] as const satisfies Schema;
export type ResetRequest = MessageOf<typeof ResetRequestSchema>;

export const ResetResponseSchema = [] as const satisfies Schema;
export type ResetResponse = MessageOf<typeof ResetResponseSchema>;

/**
 * RESET's declaration: in a session on an initialized device, with no login, because it is also the way out of a
 * blocked SO PIN; the handler asks for M officer approvals, or the SO role on a device without officers. It may use the
 * audit log's reserve: a full log under forced audit must never leave a device that nothing can reset.
 */
export const ResetCommand = { gate: Gate.INITIALIZED, request: ResetRequestSchema, response: ResetResponseSchema, audit: Audit.RESERVE } satisfies CommandSpec;

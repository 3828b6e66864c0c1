// KEY_DELETE: remove a key and wipe its private bytes from memory; a protected key needs M officer approvals (docs/quorum.md §3).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { approvalFields } from './approvals.ts';
import { MAX_KEY_ID } from './limits.ts';

export const KeyDeleteRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  // a protected key only: M officer approvals (docs/quorum.md §3)
  ...approvalFields(2),
] as const satisfies Schema;
export type KeyDeleteRequest = MessageOf<typeof KeyDeleteRequestSchema>;

export const KeyDeleteResponseSchema = [] as const satisfies Schema;
export type KeyDeleteResponse = MessageOf<typeof KeyDeleteResponseSchema>;

/** KEY_DELETE's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyDeleteCommand = { gate: Gate.USER, request: KeyDeleteRequestSchema, response: KeyDeleteResponseSchema } satisfies CommandSpec;

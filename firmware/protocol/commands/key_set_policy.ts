// KEY_SET_POLICY: tighten a key's policy (drop capabilities, set sensitive or touch); loosening needs M officer approvals (docs/security.md §6, docs/quorum.md §3).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID } from './limits.ts';
import { policyFields, policyRequestFields, protectedField } from './policy.ts';
import { approvalFields } from './approvals.ts';

export const KeySetPolicyRequestSchema = [
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  ...policyRequestFields(2),
  // loosening only: M officer approvals (docs/quorum.md §3)
  ...approvalFields(5),
  // true protects the key; false (a loosening) needs M officer approvals
  protectedField(7),
] as const satisfies Schema;
export type KeySetPolicyRequest = MessageOf<typeof KeySetPolicyRequestSchema>;

export const KeySetPolicyResponseSchema = [...policyFields(1), protectedField(6)] as const satisfies Schema;
/** The policy as stored after the change. */
export type KeySetPolicyResponse = MessageOf<typeof KeySetPolicyResponseSchema>;

/** KEY_SET_POLICY's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeySetPolicyCommand = {
  gate: Gate.USER,
  request: KeySetPolicyRequestSchema,
  response: KeySetPolicyResponseSchema,
  resend: true,
} satisfies CommandSpec;

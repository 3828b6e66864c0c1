// KEY_SET_POLICY: tighten a key's policy (drop capabilities, set sensitive or touch); any loosening is refused (docs/security.md §6).
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID } from './limits.ts';
import { policyFields, policyRequestFields, type KeyPolicy, type KeyPolicyRequest } from './policy.ts';

export interface KeySetPolicyRequest extends KeyPolicyRequest {
  keyId: number;
}
export const KeySetPolicyRequestSchema: Schema = [{ key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } }, ...policyRequestFields(2)];

/** The policy as stored after the change. */
export type KeySetPolicyResponse = KeyPolicy;
export const KeySetPolicyResponseSchema: Schema = policyFields(1);

/** KEY_SET_POLICY's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeySetPolicyCommand: CommandSpec = { gate: Gate.USER, request: KeySetPolicyRequestSchema, response: KeySetPolicyResponseSchema, resend: true };

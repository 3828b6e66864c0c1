// KEY_PUBLIC: one key's algorithm and public key.
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID, MAX_LABEL, MAX_PUBLIC_KEY, MIN_PUBLIC_KEY } from './limits.ts';
import { policyFields, type KeyPolicy } from './policy.ts';

export interface KeyPublicRequest {
  keyId: number;
}
export const KeyPublicRequestSchema: Schema = [{ key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } }];

export interface KeyPublicResponse extends KeyPolicy {
  alg: number;
  publicKey: Uint8Array;
  label: string;
  origin: number;
}
export const KeyPublicResponseSchema: Schema = [
  { key: 1, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 2, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL } },
  { key: 4, name: 'origin', type: { t: 'uint', max: 255 } },
  ...policyFields(5),
];

/** KEY_PUBLIC's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyPublicCommand: CommandSpec = { gate: Gate.LOGGED_IN, request: KeyPublicRequestSchema, response: KeyPublicResponseSchema, resend: true };

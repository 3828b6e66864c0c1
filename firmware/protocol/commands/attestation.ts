// The attestation statement's layout, shared by the device that signs it and the host that checks it (docs/security.md §8).
import type { MessageOf, Schema } from '../schema.ts';
import { MAX_KEY_ID, MAX_NONCE, MAX_PUBLIC_KEY, MIN_NONCE, MIN_PUBLIC_KEY } from './limits.ts';
import { policyFields, protectedField } from './policy.ts';

/** Signed bytes = utf8(ATTEST_CONTEXT) ‖ 0x00 ‖ statement: a label no session transcript starts with. */
export const ATTEST_CONTEXT = 'tinyhsm/attest/v1';
/** Field 1 of every statement: its format name. */
export const ATTEST_FORMAT = 'tinyhsm-attest-v1';

export const AttestationStatementSchema = [
  { key: 1, name: 'format', type: { t: 'text', max: 32 } },
  { key: 2, name: 'deviceId', type: { t: 'bytes', min: 16, max: 16 } },
  { key: 3, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 4, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 5, name: 'publicKey', type: { t: 'bytes', min: MIN_PUBLIC_KEY, max: MAX_PUBLIC_KEY } },
  /** codes.ts Origin: 1 generated on this device, 2 imported. */
  { key: 6, name: 'origin', type: { t: 'uint', min: 1, max: 4 } },
  ...policyFields(7),
  { key: 12, name: 'nonce', type: { t: 'bytes', min: MIN_NONCE, max: MAX_NONCE } },
  /** Present (true) only on a protected key: deleting it needs M officer approvals (docs/quorum.md §3). */
  protectedField(13),
] as const satisfies Schema;
export type AttestationStatement = MessageOf<typeof AttestationStatementSchema>;

// The key-policy fields every message that describes a key carries (docs/security.md §6): one definition, many key numbers.
import type { MessageOf, Schema } from '../schema.ts';
import { ALL_CAPABILITIES } from '../codes.ts';

/** The five policy fields at key numbers first..first+4, in KeyPolicy order. */
export function policyFields(first: number) {
  return [
    /** Capability bits (codes.ts Capability). May only lose bits. */
    { key: first, name: 'capabilities', type: { t: 'uint', max: ALL_CAPABILITIES } },
    /** PKCS#11 CKA_SENSITIVE: may only become true. */
    { key: first + 1, name: 'sensitive', type: { t: 'bool' } },
    /** A button press is needed for every use (SIGN, ECDH): may only become true. */
    { key: first + 2, name: 'touch', type: { t: 'bool' } },
    /** True when EXPORT_WRAPPED was never set on this key (PKCS#11 CKA_NEVER_EXTRACTABLE). */
    { key: first + 3, name: 'neverExtractable', type: { t: 'bool' } },
    /** True when the key was generated on this device (PKCS#11 CKA_LOCAL; origin = generated). */
    { key: first + 4, name: 'local', type: { t: 'bool' } },
  ] as const satisfies Schema;
}

/** A key's policy as the wire shows it. `neverExtractable` and `local` are derived by the device, never set. */
export type KeyPolicy = MessageOf<ReturnType<typeof policyFields>>;

/** The settable part of a policy, all optional, at key numbers first..first+2 (KEY_GENERATE, KEY_IMPORT, KEY_SET_POLICY). */
export function policyRequestFields(first: number) {
  return [
    { key: first, name: 'capabilities', type: { t: 'uint', max: ALL_CAPABILITIES }, optional: true },
    { key: first + 1, name: 'sensitive', type: { t: 'bool' }, optional: true },
    { key: first + 2, name: 'touch', type: { t: 'bool' }, optional: true },
  ] as const satisfies Schema;
}

/**
 * `protected` at key number `key` (docs/quorum.md §3): deleting the key needs M officer approvals, and clearing the flag
 * is a loosening. Kept outside policyFields so that the messages and the attestation statement that existed before it
 * keep their key numbers; a response carries it only when it is true.
 */
export function protectedField(key: number) {
  return { key, name: 'protected', type: { t: 'bool' }, optional: true } as const;
}

/** What a request may ask for; an absent field means the default (creation) or unchanged (KEY_SET_POLICY). */
export type KeyPolicyRequest = MessageOf<ReturnType<typeof policyRequestFields>>;

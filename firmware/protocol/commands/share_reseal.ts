// SHARE_RESEAL: an officer whose key lives on this device re-seals their domain share to a joining device, so the share never appears on a host (docs/quorum.md §8.2).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_KEY_ID } from './limits.ts';
import { DOMAIN_ID_BYTES, SEALED_SHARE_BYTES } from './domain.ts';

export const ShareResealRequestSchema = [
  /** The officer's Ed25519 key on this device (it needs `sign`: the key that approves also opens its share). */
  { key: 1, name: 'keyId', type: { t: 'uint', min: 1, max: MAX_KEY_ID } },
  { key: 2, name: 'domainId', type: { t: 'bytes', min: DOMAIN_ID_BYTES, max: DOMAIN_ID_BYTES } },
  /** The share sealed to that key (DOMAIN_CREATE's answer, docs/quorum.md §8.1). */
  { key: 3, name: 'sealed', type: { t: 'bytes', min: SEALED_SHARE_BYTES, max: SEALED_SHARE_BYTES } },
  /** The joining device's identity key, which the officer checked on that device. */
  { key: 4, name: 'recipient', type: { t: 'bytes', min: 32, max: 32 } },
] as const satisfies Schema;
export type ShareResealRequest = MessageOf<typeof ShareResealRequestSchema>;

export const ShareResealResponseSchema = [
  { key: 1, name: 'sealed', type: { t: 'bytes', min: SEALED_SHARE_BYTES, max: SEALED_SHARE_BYTES } },
] as const satisfies Schema;
export type ShareResealResponse = MessageOf<typeof ShareResealResponseSchema>;

/** SHARE_RESEAL's declaration: the user role, as any use of a key; the key's policy and button apply. */
export const ShareResealCommand = { gate: Gate.USER, request: ShareResealRequestSchema, response: ShareResealResponseSchema } satisfies CommandSpec;

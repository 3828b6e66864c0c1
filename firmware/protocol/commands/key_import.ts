// KEY_IMPORT: store a private key made elsewhere; the key is marked imported (origin) for ever.
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_LABEL } from './limits.ts';
import { KeyGenerateResponseSchema, type KeyGenerateResponse } from './key_generate.ts';
import { protectedField, policyRequestFields } from './policy.ts';

export const KeyImportRequestSchema = [
  { key: 1, name: 'alg', type: { t: 'uint', max: 255 } },
  { key: 2, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true },
  /** Ed25519: the 32-byte seed (RFC 8032 §5.1.5); X25519: the 32-byte scalar; ECDSA: the 32-byte big-endian scalar. */
  { key: 3, name: 'privateKey', type: { t: 'bytes', min: 32, max: 32 } },
  ...policyRequestFields(4),
  protectedField(7),
] as const satisfies Schema;
/** Needs the SO role (docs/security.md §6). The key's origin is imported for ever: never `local`, and its statement says so. */
export type KeyImportRequest = MessageOf<typeof KeyImportRequestSchema>;

export type KeyImportResponse = KeyGenerateResponse;
export const KeyImportResponseSchema = KeyGenerateResponseSchema;

/** KEY_IMPORT's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const KeyImportCommand = { gate: Gate.SO, request: KeyImportRequestSchema, response: KeyImportResponseSchema, secret: true } satisfies CommandSpec;

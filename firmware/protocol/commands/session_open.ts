// SESSION_OPEN: X25519 key agreement bound to the device's Ed25519 identity (docs/session.md §2; docs/protocol.md §6).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';

export const SessionOpenRequestSchema = [{ key: 1, name: 'hostEphemeral', type: { t: 'bytes', min: 32, max: 32 } }] as const satisfies Schema;
export type SessionOpenRequest = MessageOf<typeof SessionOpenRequestSchema>;

export const SessionOpenResponseSchema = [
  { key: 1, name: 'sessionId', type: { t: 'uint', min: 1, max: 255 } },
  { key: 2, name: 'deviceEphemeral', type: { t: 'bytes', min: 32, max: 32 } },
  /** Ed25519 identity signature over the transcript (docs/session.md §2). */
  { key: 3, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
  { key: 4, name: 'deviceId', type: { t: 'bytes', min: 16, max: 16 } },
  { key: 5, name: 'identityPublicKey', type: { t: 'bytes', min: 32, max: 32 } },
] as const satisfies Schema;
export type SessionOpenResponse = MessageOf<typeof SessionOpenResponseSchema>;

/** SESSION_OPEN's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const SessionOpenCommand = {
  gate: Gate.OUTER,
  request: SessionOpenRequestSchema,
  response: SessionOpenResponseSchema,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

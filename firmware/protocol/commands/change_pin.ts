// CHANGE_PIN: a logged-in role replaces its own PIN, giving the old one again (counted as a PIN try); both roles get a new master key and every key is sealed again, in one transaction (docs/security.md §4).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_PIN, MIN_PIN } from './limits.ts';

export const ChangePinRequestSchema = [
  /** codes.ts Role: must be the role this session is logged in as. */
  { key: 1, name: 'role', type: { t: 'uint', min: 1, max: 2 } },
  { key: 2, name: 'oldPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
  { key: 3, name: 'newPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
] as const satisfies Schema;
export type ChangePinRequest = MessageOf<typeof ChangePinRequestSchema>;

export const ChangePinResponseSchema = [] as const satisfies Schema;
export type ChangePinResponse = MessageOf<typeof ChangePinResponseSchema>;

/** CHANGE_PIN's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const ChangePinCommand = {
  gate: Gate.LOGGED_IN,
  request: ChangePinRequestSchema,
  response: ChangePinResponseSchema,
  secret: true,
} satisfies CommandSpec;

// LOGIN: give this session a role (user or SO) by its PIN; the retry counter is spent before the PIN is compared (docs/security.md §4).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_PIN, MIN_PIN } from './limits.ts';

export const LoginRequestSchema = [
  /** codes.ts Role: 1 user, 2 SO, 3 auditor. */
  { key: 1, name: 'role', type: { t: 'uint', min: 1, max: 3 } },
  { key: 2, name: 'pin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
] as const satisfies Schema;
export type LoginRequest = MessageOf<typeof LoginRequestSchema>;

export const LoginResponseSchema = [] as const satisfies Schema;
export type LoginResponse = MessageOf<typeof LoginResponseSchema>;

/** LOGIN's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const LoginCommand = {
  gate: Gate.INITIALIZED,
  request: LoginRequestSchema,
  response: LoginResponseSchema,
  secret: true,
  audit: Audit.RESERVE,
} satisfies CommandSpec;

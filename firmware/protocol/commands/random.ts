// RANDOM: bytes from the device's RNG (the HAL rng; seeded only in the simulator's test mode).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_RANDOM } from './limits.ts';

export const RandomRequestSchema = [{ key: 1, name: 'length', type: { t: 'uint', min: 1, max: MAX_RANDOM } }] as const satisfies Schema;
export type RandomRequest = MessageOf<typeof RandomRequestSchema>;

export const RandomResponseSchema = [{ key: 1, name: 'bytes', type: { t: 'bytes', min: 1, max: MAX_RANDOM } }] as const satisfies Schema;
export type RandomResponse = MessageOf<typeof RandomResponseSchema>;

/** RANDOM's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const RandomCommand = {
  gate: Gate.SESSION_IF_CAPABLE,
  request: RandomRequestSchema,
  response: RandomResponseSchema,
  resend: true,
} satisfies CommandSpec;

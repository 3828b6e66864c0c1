// RANDOM: bytes from the device's RNG (the HAL rng; seeded only in the simulator's test mode).
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_RANDOM } from './limits.ts';

export interface RandomRequest {
  length: number;
}
export const RandomRequestSchema: Schema = [{ key: 1, name: 'length', type: { t: 'uint', min: 1, max: MAX_RANDOM } }];

export interface RandomResponse {
  bytes: Uint8Array;
}
export const RandomResponseSchema: Schema = [{ key: 1, name: 'bytes', type: { t: 'bytes', min: 1, max: MAX_RANDOM } }];

/** RANDOM's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const RandomCommand: CommandSpec = { gate: Gate.SESSION_IF_CAPABLE, request: RandomRequestSchema, response: RandomResponseSchema, resend: true };

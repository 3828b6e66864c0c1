// INIT: give a factory-new device its user PIN, SO PIN and label; makes the master key (docs/security.md §3).
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_LABEL, MAX_PIN, MIN_PIN } from './limits.ts';

export interface InitRequest {
  userPin: Uint8Array;
  soPin: Uint8Array;
  label?: string;
}
export const InitRequestSchema: Schema = [
  { key: 1, name: 'userPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
  { key: 2, name: 'soPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true },
];

export interface InitResponse {}
export const InitResponseSchema: Schema = [];

/** INIT's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const InitCommand: CommandSpec = { gate: Gate.UNINITIALIZED, request: InitRequestSchema, response: InitResponseSchema, secret: true };

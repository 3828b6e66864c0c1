// INIT: give a factory-new device its user PIN, SO PIN, label and optionally its officers; makes the master key (docs/security.md §3, docs/quorum.md §1).
import type { MessageOf, Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_LABEL, MAX_PIN, MIN_PIN } from './limits.ts';
import { MAX_OFFICERS } from './approvals.ts';
import { OfficerSchema } from './officers_set.ts';

export const InitRequestSchema = [
  { key: 1, name: 'userPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
  { key: 2, name: 'soPin', type: { t: 'bytes', min: MIN_PIN, max: MAX_PIN } },
  { key: 3, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true },
  /** Officers enrolled with the PINs, so no SO-alone enrolment ever happens (docs/quorum.md §1): both or neither. */
  { key: 4, name: 'threshold', type: { t: 'uint', min: 1, max: MAX_OFFICERS }, optional: true },
  { key: 5, name: 'officers', type: { t: 'list', max: MAX_OFFICERS, of: OfficerSchema }, optional: true },
] as const satisfies Schema;
export type InitRequest = MessageOf<typeof InitRequestSchema>;

export const InitResponseSchema = [] as const satisfies Schema;
export type InitResponse = MessageOf<typeof InitResponseSchema>;

/** INIT's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const InitCommand = { gate: Gate.UNINITIALIZED, request: InitRequestSchema, response: InitResponseSchema, secret: true } satisfies CommandSpec;

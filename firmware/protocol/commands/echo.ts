// ECHO: returns its data unchanged; a link check that needs no session.
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_DATA } from './limits.ts';

export const EchoRequestSchema = [{ key: 1, name: 'data', type: { t: 'bytes', max: MAX_DATA } }] as const satisfies Schema;
export type EchoRequest = MessageOf<typeof EchoRequestSchema>;

export const EchoResponseSchema = EchoRequestSchema;
export type EchoResponse = MessageOf<typeof EchoResponseSchema>;

/** ECHO's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const EchoCommand = {
  gate: Gate.CLEAR,
  request: EchoRequestSchema,
  response: EchoResponseSchema,
  resend: true,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

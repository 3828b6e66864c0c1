// ECHO: returns its data unchanged; a link check that needs no session.
import type { Schema } from '../schema.ts';
import { type CommandSpec, Gate } from './spec.ts';
import { MAX_DATA } from './limits.ts';

export interface EchoRequest {
  data: Uint8Array;
}
export const EchoRequestSchema: Schema = [{ key: 1, name: 'data', type: { t: 'bytes', max: MAX_DATA } }];

export interface EchoResponse {
  data: Uint8Array;
}
export const EchoResponseSchema: Schema = EchoRequestSchema;

/** ECHO's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const EchoCommand: CommandSpec = { gate: Gate.CLEAR, request: EchoRequestSchema, response: EchoResponseSchema, resend: true };

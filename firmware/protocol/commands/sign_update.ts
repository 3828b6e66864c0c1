// SIGN_UPDATE: the next chunk of a streamed signature's message; the last chunk of the second pass answers with the signature (docs/protocol.md §4.1).
import type { MessageOf, Schema } from '../schema.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_DATA, MAX_STREAM } from './limits.ts';

export const SignUpdateRequestSchema = [
  /** 1: the pass that hashes the nonce; 2: the pass that hashes the challenge. */
  { key: 1, name: 'pass', type: { t: 'uint', min: 1, max: 2 } },
  /** Where this chunk starts in the message: the bytes this pass has received so far. */
  { key: 2, name: 'offset', type: { t: 'uint', min: 0, max: MAX_STREAM } },
  { key: 3, name: 'data', type: { t: 'bytes', min: 1, max: MAX_DATA } },
] as const satisfies Schema;
export type SignUpdateRequest = MessageOf<typeof SignUpdateRequestSchema>;

export const SignUpdateResponseSchema = [
  /** Only in the answer to the chunk that ends pass 2: Ed25519 R‖S, 64 bytes. */
  { key: 1, name: 'signature', type: { t: 'bytes', min: 64, max: 64 }, optional: true },
] as const satisfies Schema;
export type SignUpdateResponse = MessageOf<typeof SignUpdateResponseSchema>;

/**
 * SIGN_UPDATE's declaration. Not recorded: a 50 MB message is 50,000 chunks, and the signature they make is the one
 * SIGN_BEGIN's entry already records, for the message whose SHA-256 it names (docs/audit.md §3.1).
 */
export const SignUpdateCommand = {
  gate: Gate.USER,
  request: SignUpdateRequestSchema,
  response: SignUpdateResponseSchema,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

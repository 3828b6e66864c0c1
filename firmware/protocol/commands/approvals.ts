// Officer approvals (docs/quorum.md §2): the fields a quorum-gated request carries and the exact bytes each officer signs.
import type { MessageOf, Schema } from '../schema.ts';
import { encodeMessage } from '../schema.ts';
import { cborEncode } from '../cbor.ts';
import { concatBytes, utf8Encode } from '../bytes.ts';

/** At most this many officers (and so approvals on one request). */
export const MAX_OFFICERS = 16;
/** An officer's label, in UTF-8 bytes: short, so that 16 officers and 16 approvals fit the smallest packet. */
export const MAX_OFFICER_LABEL = 12;
/** The device's single-use approval challenge, in bytes. */
export const CHALLENGE_BYTES = 16;
/** Domain separation: the first bytes of every approval message; no other message a tinyhsm key signs starts so. */
export const APPROVAL_DOMAIN = 'tinyhsm approval v1';
/** Bytes of an officer fingerprint in INFO: the first 8 bytes of SHA-256 of the officer's Ed25519 public key. */
export const FINGERPRINT_BYTES = 8;

/** One officer's approval: which officer (index in INFO's list) and its Ed25519 signature of approvalMessage(). */
export const ApprovalSchema = [
  { key: 1, name: 'officer', type: { t: 'uint', max: MAX_OFFICERS - 1 } },
  { key: 2, name: 'signature', type: { t: 'bytes', min: 64, max: 64 } },
] as const satisfies Schema;
export type Approval = MessageOf<typeof ApprovalSchema>;

/**
 * The two fields every quorum-gated request ends with, at keys first and first+1: the challenge the officers signed
 * over (APPROVAL_CHALLENGE's answer) and their approvals. Both optional: a request without them is refused with
 * APPROVAL_REQUIRED wherever officers are enrolled and the command needs them.
 */
export function approvalFields(first: number) {
  return [
    { key: first, name: 'challenge', type: { t: 'bytes', min: CHALLENGE_BYTES, max: CHALLENGE_BYTES }, optional: true },
    { key: first + 1, name: 'approvals', type: { t: 'list', max: MAX_OFFICERS, of: ApprovalSchema }, optional: true },
  ] as const satisfies Schema;
}

/**
 * The parameters an approval covers: the request's deterministic CBOR map without its challenge and approvals
 * fields (docs/quorum.md §2). An officer hashes these bytes with SHA-256; so does the device.
 */
export function approvalParams(schema: Schema, request: object): Uint8Array {
  const rest = schema.filter((f) => f.name !== 'challenge' && f.name !== 'approvals');
  return cborEncode(encodeMessage(rest, request));
}

/**
 * What an officer signs with Ed25519 (85 bytes, docs/quorum.md §2): "tinyhsm approval v1", a zero byte, the device
 * id (16), the challenge (16), the command code (1) and SHA-256 of approvalParams() (32).
 */
export function approvalMessage(deviceId: Uint8Array, challenge: Uint8Array, command: number, paramsDigest: Uint8Array): Uint8Array {
  return concatBytes(utf8Encode(APPROVAL_DOMAIN), new Uint8Array([0]), deviceId, challenge, new Uint8Array([command]), paramsDigest);
}

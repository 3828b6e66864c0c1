// Checking a KEY_ATTEST answer on the host (docs/security.md §8): decode the statement, verify the identity signature with node:crypto, match nonce, device id and key id.
//
// The statement is the device's claim about one key; it is worth something only when it verifies under the identity
// key this host pinned (docs/session.md §9) and answers the nonce this host just picked, so a recorded statement
// cannot be replayed. node:crypto (OpenSSL) checks the Ed25519 signature: an implementation independent of the
// device's noble code.
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import {
  ATTEST_CONTEXT,
  ATTEST_FORMAT,
  AttestationStatementSchema,
  Capability,
  Origin,
  cborDecode,
  decodeMessage,
  toHex,
  type AttestationStatement,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { renderDetail } from './render.ts';

/** RFC 8410 SubjectPublicKeyInfo prefix of a raw Ed25519 public key. */
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

/** What the host expects the statement to say; every given field must match exactly. */
export interface AttestationExpectation {
  /** The device's Ed25519 identity public key as this host pinned it (32 bytes). Required. */
  identityKey: Uint8Array;
  /** The nonce this host sent in KEY_ATTEST. */
  nonce?: Uint8Array;
  /** The device id (16 bytes) this host opened its session with. */
  deviceId?: Uint8Array;
  /** The key the host asked about. */
  keyId?: number;
  /** The public key the host already knows for this key (KEY_PUBLIC, KEY_LIST). */
  publicKey?: Uint8Array;
}

/** A statement that verified, with the exact bytes and signature so it can be handed to a relying party. */
export interface VerifiedAttestation extends AttestationStatement {
  /** The deterministic CBOR statement as the device signed it. */
  statementBytes: Uint8Array;
  /** Ed25519 over utf8(ATTEST_CONTEXT) ‖ 0x00 ‖ statementBytes. */
  signature: Uint8Array;
}

/** The bytes the identity key signs: utf8("tinyhsm/attest/v1") ‖ 0x00 ‖ statement (docs/security.md §8). */
export function attestationSignedBytes(statement: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(ATTEST_CONTEXT, 'utf8'), Buffer.of(0), statement]);
}

function invalid(why: string): HsmError {
  return new HsmError('ATTESTATION_INVALID', why, { command: 'KEY_ATTEST' });
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/**
 * Decode a statement without checking its signature (to show what an unverified statement claims). Throws an
 * ATTESTATION_INVALID HsmError when the bytes are not a deterministic CBOR map of the statement schema.
 */
export function decodeAttestation(statement: Uint8Array): AttestationStatement {
  const d = cborDecode(statement);
  if (!d.ok) throw invalid(`the statement is not deterministic CBOR: ${renderDetail(d)}`);
  const m = decodeMessage<AttestationStatement>(AttestationStatementSchema, d.value);
  if (!m.ok) throw invalid(`the statement does not match the attestation schema: ${renderDetail(m, { schema: AttestationStatementSchema })}`);
  return m.value;
}

/**
 * Verify a KEY_ATTEST answer and return the decoded statement. Throws an ATTESTATION_INVALID HsmError that says
 * which check failed: the signature (not made by the pinned identity key, or the statement was altered), the
 * nonce (a replayed statement), the device id, key id or public key (a statement about something else), or a
 * statement that contradicts itself (`local` must equal origin = generated; `neverExtractable` cannot hold while
 * export-under-wrap is allowed).
 */
export function verifyAttestation(answer: { statement: Uint8Array; signature: Uint8Array }, expect: AttestationExpectation): VerifiedAttestation {
  const { statement, signature } = answer;
  if (!(expect.identityKey instanceof Uint8Array) || expect.identityKey.length !== 32) throw new TypeError('identityKey must be a 32-byte Ed25519 public key');
  if (!(signature instanceof Uint8Array) || signature.length !== 64)
    throw invalid(`the signature has ${signature ? signature.length : 0} bytes; an Ed25519 signature has 64`);
  // the signature first: nothing in an unsigned statement is worth reading
  const identity = createPublicKey({ key: Buffer.concat([ED25519_SPKI, expect.identityKey]), format: 'der', type: 'spki' });
  if (!nodeVerify(null, attestationSignedBytes(statement), identity, signature))
    throw invalid(`the statement is not signed by the pinned identity key ${toHex(expect.identityKey)}: another device made it, or it was altered on the way`);
  const s = decodeAttestation(statement);
  if (s.format !== ATTEST_FORMAT) throw invalid(`the statement's format is "${s.format}"; this host understands "${ATTEST_FORMAT}"`);
  if (expect.nonce && !same(s.nonce, expect.nonce))
    throw invalid(`the statement answers nonce ${toHex(s.nonce)}, not the nonce ${toHex(expect.nonce)} this host sent: a replayed statement`);
  if (expect.deviceId && !same(s.deviceId, expect.deviceId))
    throw invalid(`the statement is about device ${toHex(s.deviceId)}, not device ${toHex(expect.deviceId)}`);
  if (expect.keyId !== undefined && s.keyId !== expect.keyId) throw invalid(`the statement is about key ${s.keyId}, not key ${expect.keyId}`);
  if (expect.publicKey && !same(s.publicKey, expect.publicKey))
    throw invalid(`the statement's public key ${toHex(s.publicKey)} is not the public key ${toHex(expect.publicKey)} of key ${s.keyId}`);
  if (s.local !== (s.origin === Origin.GENERATED)) throw invalid(`the statement contradicts itself: origin ${s.origin} with local ${s.local}`);
  if (s.neverExtractable && (s.capabilities & Capability.EXPORT_WRAPPED) !== 0)
    throw invalid('the statement contradicts itself: never-extractable while export-under-wrap is allowed');
  return { ...s, statementBytes: new Uint8Array(statement), signature: new Uint8Array(signature) };
}

// Officer approvals on the host (docs/quorum.md §2): what an officer signs for a gated request, signed with node:crypto Ed25519.
import { createHash, createPrivateKey, createPublicKey, sign as edSign, type KeyObject } from 'node:crypto';
import { COMMANDS, FINGERPRINT_BYTES, approvalMessage, approvalParams, type Approval } from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';

/** What the officers are asked to approve: one request of one command, on one device, over its current challenge. */
export interface ApprovalRequest {
  deviceId: Uint8Array;
  challenge: Uint8Array;
  command: number;
  /** The request's fields by name, without challenge and approvals. */
  request: object;
}

/** The approvals a gated request carries (protocol/commands/approvals.ts approvalFields). */
export interface ApprovalSet {
  challenge: Uint8Array;
  approvals: Approval[];
}

/** SHA-256 of the request's parameters as the device hashes them. */
export function approvalDigest(command: number, request: object): Uint8Array {
  const spec = COMMANDS[command];
  if (spec === undefined) throw new HsmError('BAD_ARGUMENT', `command ${command} is not in the command table`);
  return new Uint8Array(createHash('sha256').update(approvalParams(spec.request, request)).digest());
}

/** The 85 bytes an officer signs for `req` (docs/quorum.md §2). */
export function approvalBytes(req: ApprovalRequest): Uint8Array {
  return approvalMessage(req.deviceId, req.challenge, req.command, approvalDigest(req.command, req.request));
}

/** The 32-byte Ed25519 public key of an officer's key (a private or public KeyObject). */
export function officerPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new HsmError('BAD_ARGUMENT', `an officer key must be Ed25519, not ${pub.asymmetricKeyType}`);
  const spki = pub.export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

/** An officer's fingerprint as INFO shows it: the first 8 bytes of SHA-256 of the public key. */
export function officerFingerprint(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest().subarray(0, FINGERPRINT_BYTES));
}

/** One officer's approval of `req`: its index on the device and its signature. */
export function signApproval(req: ApprovalRequest, officer: number, privateKey: KeyObject): Approval {
  return { officer, signature: new Uint8Array(edSign(null, approvalBytes(req), privateKey)) };
}

/** An Ed25519 private key from a PKCS#8 PEM, for officer keys kept by the caller. */
export function officerKeyFromPem(pem: string): KeyObject {
  const k = createPrivateKey(pem);
  officerPublicKey(k);
  return k;
}

// Officer approvals on the host (docs/quorum.md §2): what an officer signs for a gated request, signed with node:crypto Ed25519.
import { createHash, createPublicKey, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import {
  CHALLENGE_BYTES,
  COMMANDS,
  Command,
  FINGERPRINT_BYTES,
  approvalMessage,
  approvalParams,
  cborDecode,
  decodeMessage,
  fromHex,
  nameOf,
  toHex,
  type Approval,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';

/** DER SubjectPublicKeyInfo prefix of an Ed25519 public key (RFC 8410 §4). */
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

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

// ---------------------------------------------------------------- the ceremony file (docs/quorum.md §6)

export const REQUEST_FORMAT = 'tinyhsm-approval-request-v1';

/**
 * One gated request on its way round the officers: what the device asked to be signed, who may sign, and the
 * approvals so far. `params` is the request's deterministic CBOR without challenge and approvals, exactly what is
 * hashed; everything a signer is shown comes from decoding it, never from text in the file.
 */
export interface RequestFile {
  format: typeof REQUEST_FORMAT;
  deviceId: string;
  challenge: string;
  command: string;
  code: number;
  params: string;
  threshold: number;
  officers: { fingerprint: string; label: string }[];
  approvals: { officer: number; label: string; signature: string }[];
}

/** A new ceremony file for `req` on a device whose INFO lists these officers. */
export function requestFile(req: ApprovalRequest, threshold: number, officers: { fingerprint: Uint8Array; label: string }[]): RequestFile {
  const spec = COMMANDS[req.command];
  return {
    format: REQUEST_FORMAT,
    deviceId: toHex(req.deviceId),
    challenge: toHex(req.challenge),
    command: commandName(req.command),
    code: req.command,
    params: toHex(approvalParams(spec.request, req.request)),
    threshold,
    officers: officers.map((o) => ({ fingerprint: toHex(o.fingerprint), label: o.label })),
    approvals: [],
  };
}

function commandName(code: number): string {
  return nameOf(Command, code) || String(code);
}

/** The request a ceremony file stands for, checked: known command, canonical params that decode by its schema. */
export function readRequestFile(v: unknown, where: string): { file: RequestFile; request: ApprovalRequest } {
  const f = v as RequestFile;
  const bad = (why: string) => new HsmError('BAD_ARGUMENT', `${where}: ${why}`);
  if (!f || f.format !== REQUEST_FORMAT) throw bad(`not an approval request (format ${REQUEST_FORMAT} expected)`);
  const spec = COMMANDS[f.code];
  if (spec === undefined || commandName(f.code) !== f.command) throw bad(`unknown command ${f.command} (${f.code})`);
  const deviceId = fromHex(f.deviceId);
  const challenge = fromHex(f.challenge);
  const params = fromHex(f.params);
  if (!deviceId || deviceId.length !== 16 || !challenge || challenge.length !== CHALLENGE_BYTES || !params)
    throw bad('deviceId, challenge or params is damaged');
  const d = cborDecode(params);
  if (!d.ok) throw bad('params is not deterministic CBOR');
  const m = decodeMessage<object>(spec.request, d.value);
  if (!m.ok) throw bad(`params do not fit ${f.command}'s request`);
  if ('challenge' in m.value || 'approvals' in m.value) throw bad('params must not carry a challenge or approvals');
  if (toHex(approvalParams(spec.request, m.value)) !== f.params) throw bad('params are not in canonical form');
  if (!Array.isArray(f.officers) || !Array.isArray(f.approvals) || !(f.threshold >= 1)) throw bad('officers, threshold or approvals is damaged');
  return { file: f, request: { deviceId, challenge, command: f.code, request: m.value } };
}

/**
 * Add one officer's approval to a ceremony file: the officer is found by its public key's fingerprint in the file's
 * list, and `sign` signs the approval bytes (node:crypto for a key file, or another tinyhsm holding the key). The
 * signature is checked with node:crypto against that public key before it goes into the file.
 */
export async function addApproval(
  file: RequestFile,
  req: ApprovalRequest,
  publicKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): Promise<{ officer: number; label: string }> {
  const fp = toHex(officerFingerprint(publicKey));
  const officer = file.officers.findIndex((o) => o.fingerprint === fp);
  if (officer < 0)
    throw new HsmError(
      'BAD_ARGUMENT',
      `this key (fingerprint ${fp}) is not one of the device's officers: ${file.officers.map((o) => o.label + ' ' + o.fingerprint).join(', ')}`,
    );
  if (file.approvals.some((a) => a.officer === officer))
    throw new HsmError('BAD_ARGUMENT', `officer ${officer} (${file.officers[officer].label}) has already approved this request`);
  const message = approvalBytes(req);
  const signature = await sign(message);
  const spki = createPublicKey({ key: Buffer.concat([ED25519_SPKI, Buffer.from(publicKey)]), format: 'der', type: 'spki' });
  if (!edVerify(null, message, spki, signature))
    throw new HsmError('BAD_RESPONSE', `the signature made for officer ${officer} does not verify with its public key`);
  file.approvals.push({ officer, label: file.officers[officer].label, signature: toHex(signature) });
  file.approvals.sort((x, y) => x.officer - y.officer);
  return { officer, label: file.officers[officer].label };
}

/** A signer for addApproval from an officer key file's private key. */
export function keySigner(privateKey: KeyObject): (message: Uint8Array) => Uint8Array {
  return (message) => new Uint8Array(edSign(null, message, privateKey));
}

/** The approvals of a ceremony file, as a gated request carries them. */
export function approvalSetOf(file: RequestFile): ApprovalSet {
  return {
    challenge: fromHex(file.challenge) as Uint8Array,
    approvals: file.approvals.map((a) => ({ officer: a.officer, signature: fromHex(a.signature) as Uint8Array })),
  };
}

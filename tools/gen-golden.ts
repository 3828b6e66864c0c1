// Writes test/vectors/golden-frames.json: example frames for docs/protocol.md, frozen so any change to the bytes is seen.
// Run from the repository root: npx esbuild tools/gen-golden.ts --bundle --platform=node --format=esm --packages=external | node --input-type=module
import { writeFileSync } from 'node:fs';
import { createNobleCrypto } from '../firmware/hal/crypto_noble.ts';
import { ed25519, ed25519ph } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import {
  Reason,
  Alg,
  approvalMessage,
  approvalParams,
  backupKey,
  domainIdOf,
  sealShare,
  ATTEST_CONTEXT,
  ATTEST_FORMAT,
  AttestationStatementSchema,
  Capability,
  Command,
  FrameType,
  KeepaliveReason,
  COMMANDS,
  Role,
  Status,
  cborEncode,
  encodeFrame,
  encodeMessage,
  encodePacket,
  fromHex,
  toHex,
  utf8Encode,
  type CborMap,
  type CborValue,
  type Schema,
} from '../firmware/protocol/index.ts';

const h = (s: string) => fromHex(s) as Uint8Array;
// RFC 8032 §7.1 TEST 1 and RFC 7748 §6.1 values, so the examples are real keys and signatures.
const ED_PUB = h('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const ED_SEED = h('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const ED_SIG = h('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
/** The message of the streamed and Ed25519ph examples (RFC 8032 §7.3 signs the same three bytes). */
const ABC = utf8Encode('abc');
const BOB_PUB = h('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
const SHARED = h('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');

// The secure-session worked example (docs/session.md §7, test/vectors/session-example.json): fixed ephemeral keys,
// so SESSION_OPEN and the first SESSION_MESSAGE (an ECHO "hello" inside) are reproducible.
const S_DEVICE_ID = h('00112233445566778899aabbccddeeff');
const S_HOST_EPH = h('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
const S_SIG = h('bae3cc3cc6adce0d3f00ec8615daba8acdc854c642814979ae35126ab41d5270717267bcd6650f1d947dca6e588c7acdf2134bcc20461c09e7b97c0f72bbf508');
const S_REQ_ENVELOPE = h('c020e85b1ca05445d8f39b8ae8c6a2a308a8b580e0240493de');
const S_RES_ENVELOPE = h('8b2b9a45e3332b1224b2ad21a4dec924b16049220cf8d5ebc6');
// docs/session.md §4.1: ChaCha20-Poly1305(k_h2d, 00000001 ‖ BE64(1), empty, aad 01 ‖ BE64(1) ‖ 03), the tag alone
const S_CANCEL_TOKEN = h('6736210c007d6530d4a5ef4b4972efe5');

// PINs of the examples (6..64 bytes on the wire, and above the floor of docs/security.md §4.1; the CLI sends the UTF-8 of what it is given)
const USER_PIN = utf8Encode('user-PIN-1729');
const SO_PIN = utf8Encode('so-secret');
const NEW_PIN = utf8Encode('new-PIN-4096');
// a generated Ed25519 key's policy with the defaults (docs/security.md §6)
const POLICY = { capabilities: Capability.SIGN, sensitive: true, touch: false, neverExtractable: true, local: true };
// KEY_ATTEST: a real statement about key 1 (the RFC 8032 key), signed by the same key acting as the identity
const NONCE = h('000102030405060708090a0b0c0d0e0f');
const STATEMENT = cborEncode(
  encodeMessage(AttestationStatementSchema, {
    format: ATTEST_FORMAT,
    deviceId: h('000102030405060708090a0b0c0d0e0f'),
    keyId: 1,
    alg: Alg.ED25519,
    publicKey: ED_PUB,
    origin: 1,
    ...POLICY,
    nonce: NONCE,
  }) as CborMap,
);
const ATTEST_SIG = ed25519.sign(new Uint8Array([...utf8Encode(ATTEST_CONTEXT), 0, ...STATEMENT]), ED_SEED);
// Officers (docs/quorum.md §5 worked example): the RFC 8032 key as officer 0 approves a RESET of the attestation example's
// device over the challenge below; the parameters without challenge and approvals are the empty map a0.
const CHALLENGE = h('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
const RESET_APPROVAL = ed25519.sign(
  approvalMessage(h('000102030405060708090a0b0c0d0e0f'), CHALLENGE, Command.RESET, sha256(approvalParams(COMMANDS[Command.RESET].request, {}))),
  ED_SEED,
);

// The domain (docs/quorum.md §5–§6 worked example): officer 0 (the RFC 8032 key) alone, threshold 1, so the one share is
// the wrap key itself; sealed with RFC 7748 §6.1 Alice's private key as the ephemeral. The backup holds the attestation
// example's Ed25519 key (id 1) with a fixed nonce; a device draws both at random.
const DEVICE_ID = h('000102030405060708090a0b0c0d0e0f');
const NOBLE = createNobleCrypto();
const WRAP = h('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f');
const DOMAIN_ID = domainIdOf(NOBLE, WRAP);
const SEALED_SHARE = sealShare(NOBLE, h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), ED_PUB, DOMAIN_ID, 1, WRAP);
const BACKUP_NONCE = h('b0b1b2b3b4b5b6b7b8b9babb');
const BACKUP_CLEAR = cborEncode(
  new Map<number, CborValue>([
    [1, 1],
    [2, Alg.ED25519],
    [3, 'ed'],
    [4, 1],
    [5, 0x11],
    [6, true],
    [7, false],
  ]),
);
const BACKUP_PLAIN = new Uint8Array([...DEVICE_ID, 1, BACKUP_CLEAR.length, ...BACKUP_CLEAR, ...ED_SEED]);
const BACKUP_HEADER = new Uint8Array([1, ...DOMAIN_ID, ...BACKUP_NONCE]);
const BACKUP_BLOB = new Uint8Array([...BACKUP_HEADER, ...NOBLE.aeadSeal(backupKey(NOBLE, WRAP, DOMAIN_ID), BACKUP_NONCE, BACKUP_PLAIN, BACKUP_HEADER)]);
const approvalOf = (command: number, request: object) =>
  ed25519.sign(approvalMessage(DEVICE_ID, CHALLENGE, command, sha256(approvalParams(COMMANDS[command].request, request))), ED_SEED);
const JOIN_REQUEST = { domainId: DOMAIN_ID, shares: [{ sealed: SEALED_SHARE }] };
const EXPORT_REQUEST = { keyIds: [1] };
const IMPORT_REQUEST = { blob: BACKUP_BLOB };
// SHARE_RESEAL: the device holding officer 0's key (as key 1) re-seals the share above to RFC 8032 §7.1 TEST 2's public
// key, with RFC 7748 §6.1 Bob's private key as the ephemeral
const RECIPIENT = h('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
const RESEALED = sealShare(NOBLE, h('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'), RECIPIENT, DOMAIN_ID, 1, WRAP);

// The audit log (docs/audit.md §10 worked example): the attestation example's device with two entries, its BOOT
// (index 0, at 12 ms) and a SIGN with key 1 of the empty message (index 1, at 3000 ms, session 1, user), whose request
// hash is SHA-256 of that SIGN request's body; the RFC 8032 key acting as the identity signs the checkpoint.
function auditEntry(
  index: number,
  time: number,
  event: number,
  command: number,
  keyId: number,
  session: number,
  role: number,
  requestHash: Uint8Array,
  prev: Uint8Array,
): Uint8Array {
  const b = new Uint8Array(80);
  const v = new DataView(b.buffer);
  v.setUint32(0, index);
  v.setUint32(4, time);
  b[8] = event;
  b[9] = command;
  v.setUint16(12, keyId);
  b[14] = session;
  b[15] = role;
  b.set(requestHash, 16);
  b.set(prev, 48);
  return b;
}
const AUDIT_0 = auditEntry(0, 12, 3, 0, 0, 0, 0, new Uint8Array(32), new Uint8Array(32));
const SIGN_BODY = new Uint8Array([
  Command.SIGN,
  ...cborEncode(encodeMessage(COMMANDS[Command.SIGN].request, { keyId: 1, message: new Uint8Array(0) }) as CborMap),
]);
const AUDIT_1 = auditEntry(1, 3000, 1, Command.SIGN, 1, 1, Role.USER, sha256(SIGN_BODY), sha256(AUDIT_0));
const AUDIT_HEAD = sha256(AUDIT_1);
const AUDIT_STATEMENT = new Uint8Array([...utf8Encode('tinyhsm/audit/v1'), 0, ...DEVICE_ID, 0, 0, 0, 2, ...AUDIT_HEAD, ...NONCE]);
const AUDIT_SIG = ed25519.sign(AUDIT_STATEMENT, ED_SEED);

type Example = {
  name: string;
  frameType: number;
  seq: number;
  code: number;
  fields: object;
  kind: 'request' | 'response' | 'error' | 'empty' | 'raw';
  raw?: Uint8Array;
};

const examples: Example[] = [
  { name: 'INFO request', kind: 'request', frameType: FrameType.REQUEST, seq: 1, code: Command.INFO, fields: {} },
  {
    name: 'INFO response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 1,
    code: Command.INFO,
    fields: {
      firmwareVersion: '0.1.0',
      protocolVersion: 1,
      deviceId: h('000102030405060708090a0b0c0d0e0f'),
      maxPacket: 2048,
      algorithms: [1, 2, 3, 4],
      slotsUsed: 0,
      slotsFree: 16,
      platform: 'node-sim',
      identityPublicKey: ED_PUB,
      flashPageSize: 4096,
      flashPages: 32,
      flashBytesUsed: 116,
      flashBytesFree: 122728,
      flashEraseCounts: new Array(32).fill(1),
      initialized: true,
      label: 'ca',
      userPinTries: 8,
      soPinTries: 8,
      pinIterations: 10000,
      presence: true,
      pinMinBits: 48,
      rollbackProtection: true,
    },
  },
  { name: 'ECHO request', kind: 'request', frameType: FrameType.REQUEST, seq: 2, code: Command.ECHO, fields: { data: h('00ff00') } },
  { name: 'ECHO response', kind: 'response', frameType: FrameType.RESPONSE, seq: 2, code: Command.ECHO, fields: { data: h('00ff00') } },
  { name: 'RANDOM request', kind: 'request', frameType: FrameType.REQUEST, seq: 3, code: Command.RANDOM, fields: { length: 16 } },
  {
    name: 'KEY_GENERATE request',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 4,
    code: Command.KEY_GENERATE,
    fields: { alg: Alg.ED25519, label: 'ca' },
  },
  {
    name: 'KEY_GENERATE response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 4,
    code: Command.KEY_GENERATE,
    fields: { keyId: 1, publicKey: ED_PUB },
  },
  {
    name: 'KEY_IMPORT request',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 5,
    code: Command.KEY_IMPORT,
    fields: { alg: Alg.ED25519, privateKey: ED_SEED },
  },
  { name: 'KEY_LIST request', kind: 'request', frameType: FrameType.REQUEST, seq: 6, code: Command.KEY_LIST, fields: {} },
  {
    name: 'KEY_LIST response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 6,
    code: Command.KEY_LIST,
    fields: { keys: [{ keyId: 1, alg: Alg.ED25519, label: 'ca', origin: 1, publicKey: ED_PUB, ...POLICY }] },
  },
  { name: 'KEY_PUBLIC request', kind: 'request', frameType: FrameType.REQUEST, seq: 7, code: Command.KEY_PUBLIC, fields: { keyId: 1 } },
  {
    name: 'KEY_PUBLIC response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 7,
    code: Command.KEY_PUBLIC,
    fields: { alg: Alg.ED25519, publicKey: ED_PUB, label: 'ca', origin: 1, ...POLICY },
  },
  {
    name: 'SIGN request (Ed25519, empty message)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 8,
    code: Command.SIGN,
    fields: { keyId: 1, message: new Uint8Array(0) },
  },
  { name: 'SIGN response', kind: 'response', frameType: FrameType.RESPONSE, seq: 8, code: Command.SIGN, fields: { signature: ED_SIG } },
  {
    name: 'SIGN request (ECDSA, given digest)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 9,
    code: Command.SIGN,
    fields: { keyId: 2, digest: h('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad') },
  },
  { name: 'ECDH request (X25519)', kind: 'request', frameType: FrameType.REQUEST, seq: 10, code: Command.ECDH, fields: { keyId: 3, publicKey: BOB_PUB } },
  { name: 'ECDH response', kind: 'response', frameType: FrameType.RESPONSE, seq: 10, code: Command.ECDH, fields: { sharedSecret: SHARED } },
  { name: 'KEY_DELETE request', kind: 'request', frameType: FrameType.REQUEST, seq: 11, code: Command.KEY_DELETE, fields: { keyId: 1 } },
  { name: 'KEY_DELETE response', kind: 'response', frameType: FrameType.RESPONSE, seq: 11, code: Command.KEY_DELETE, fields: {} },
  {
    name: 'Error response (KEY_NOT_FOUND)',
    kind: 'error',
    frameType: FrameType.RESPONSE,
    seq: 12,
    code: Status.KEY_NOT_FOUND,
    fields: { reason: Reason.KEY_NOT_FOUND, arg0: 7 },
  },
  {
    name: 'ERROR frame (UNSUPPORTED_VERSION)',
    kind: 'error',
    frameType: FrameType.ERROR,
    seq: 13,
    code: Status.UNSUPPORTED_VERSION,
    fields: { reason: Reason.VERSION_UNSUPPORTED, arg0: 2, arg1: 1 },
  },
  { name: 'SESSION_OPEN request', kind: 'request', frameType: FrameType.REQUEST, seq: 15, code: Command.SESSION_OPEN, fields: { hostEphemeral: S_HOST_EPH } },
  {
    name: 'SESSION_OPEN response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 15,
    code: Command.SESSION_OPEN,
    fields: { sessionId: 1, deviceEphemeral: BOB_PUB, signature: S_SIG, deviceId: S_DEVICE_ID, identityPublicKey: ED_PUB },
  },
  {
    name: 'SESSION_MESSAGE request (ECHO "hello" inside, counter 1)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 16,
    code: Command.SESSION_MESSAGE,
    fields: { sessionId: 1, counter: 1, ciphertext: S_REQ_ENVELOPE },
  },
  {
    name: 'SESSION_MESSAGE response (ECHO answer inside, counter 1)',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 16,
    code: Command.SESSION_MESSAGE,
    fields: { counter: 1, ciphertext: S_RES_ENVELOPE },
  },
  {
    name: 'SESSION_CLOSE inner request body, as a clear frame (the device answers SESSION_REQUIRED)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 17,
    code: Command.SESSION_CLOSE,
    fields: {},
  },
  {
    name: 'Error response (SESSION_REQUIRED)',
    kind: 'error',
    frameType: FrameType.RESPONSE,
    seq: 17,
    code: Status.SESSION_REQUIRED,
    fields: { reason: Reason.SESSION_NEEDED },
  },
  {
    name: 'KEEPALIVE frame (waiting for the button)',
    kind: 'raw',
    frameType: FrameType.KEEPALIVE,
    seq: 14,
    code: -1,
    fields: {},
    raw: new Uint8Array([KeepaliveReason.PRESENCE_NEEDED]),
  },
  {
    name: 'CANCEL frame (for the request of seq 16, counter 1, in session 1 of the worked example)',
    kind: 'raw',
    frameType: FrameType.CANCEL,
    seq: 16,
    code: -1,
    fields: {},
    raw: cborEncode(
      new Map<number, CborValue>([
        [1, 1],
        [2, 1],
        [3, S_CANCEL_TOKEN],
      ]),
    ),
  },
  {
    name: 'INIT request',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 18,
    code: Command.INIT,
    fields: { userPin: USER_PIN, soPin: SO_PIN, label: 'ca' },
  },
  { name: 'INIT response', kind: 'response', frameType: FrameType.RESPONSE, seq: 18, code: Command.INIT, fields: {} },
  { name: 'LOGIN request (user)', kind: 'request', frameType: FrameType.REQUEST, seq: 19, code: Command.LOGIN, fields: { role: Role.USER, pin: USER_PIN } },
  {
    name: 'Error response (PIN_INCORRECT)',
    kind: 'error',
    frameType: FrameType.RESPONSE,
    seq: 19,
    code: Status.PIN_INCORRECT,
    fields: { reason: Reason.PIN_WRONG, arg0: 1, arg1: 7 },
  },
  { name: 'LOGOUT request', kind: 'request', frameType: FrameType.REQUEST, seq: 20, code: Command.LOGOUT, fields: {} },
  {
    name: 'CHANGE_PIN request',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 21,
    code: Command.CHANGE_PIN,
    fields: { role: Role.USER, oldPin: USER_PIN, newPin: NEW_PIN },
  },
  { name: 'UNBLOCK request', kind: 'request', frameType: FrameType.REQUEST, seq: 22, code: Command.UNBLOCK, fields: { newUserPin: NEW_PIN } },
  {
    name: 'KEY_SET_POLICY request (add touch)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 23,
    code: Command.KEY_SET_POLICY,
    fields: { keyId: 1, touch: true },
  },
  {
    name: 'KEY_SET_POLICY response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 23,
    code: Command.KEY_SET_POLICY,
    fields: { ...POLICY, touch: true },
  },
  { name: 'KEY_ATTEST request', kind: 'request', frameType: FrameType.REQUEST, seq: 24, code: Command.KEY_ATTEST, fields: { keyId: 1, nonce: NONCE } },
  {
    name: 'KEY_ATTEST response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 24,
    code: Command.KEY_ATTEST,
    fields: { statement: STATEMENT, signature: ATTEST_SIG },
  },
  { name: 'APPROVAL_CHALLENGE request', kind: 'request', frameType: FrameType.REQUEST, seq: 25, code: Command.APPROVAL_CHALLENGE, fields: {} },
  {
    name: 'APPROVAL_CHALLENGE response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 25,
    code: Command.APPROVAL_CHALLENGE,
    fields: { challenge: CHALLENGE },
  },
  {
    name: 'OFFICERS_SET request (one officer, threshold 1)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 26,
    code: Command.OFFICERS_SET,
    fields: { threshold: 1, officers: [{ publicKey: ED_PUB, label: 'alice' }] },
  },
  { name: 'OFFICERS_SET response', kind: 'response', frameType: FrameType.RESPONSE, seq: 26, code: Command.OFFICERS_SET, fields: {} },
  {
    name: 'RESET request (approved by officer 0)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 27,
    code: Command.RESET,
    fields: { challenge: CHALLENGE, approvals: [{ officer: 0, signature: RESET_APPROVAL }] },
  },
  { name: 'RESET response', kind: 'response', frameType: FrameType.RESPONSE, seq: 27, code: Command.RESET, fields: {} },
  { name: 'DOMAIN_CREATE request', kind: 'request', frameType: FrameType.REQUEST, seq: 28, code: Command.DOMAIN_CREATE, fields: {} },
  {
    name: 'DOMAIN_CREATE response (one officer)',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 28,
    code: Command.DOMAIN_CREATE,
    fields: { domainId: DOMAIN_ID, shares: [{ sealed: SEALED_SHARE }] },
  },
  {
    name: 'DOMAIN_JOIN request (approved by officer 0)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 29,
    code: Command.DOMAIN_JOIN,
    fields: { ...JOIN_REQUEST, challenge: CHALLENGE, approvals: [{ officer: 0, signature: approvalOf(Command.DOMAIN_JOIN, JOIN_REQUEST) }] },
  },
  { name: 'DOMAIN_JOIN response', kind: 'response', frameType: FrameType.RESPONSE, seq: 29, code: Command.DOMAIN_JOIN, fields: { domainId: DOMAIN_ID } },
  {
    name: 'BACKUP_EXPORT request (approved by officer 0)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 30,
    code: Command.BACKUP_EXPORT,
    fields: { ...EXPORT_REQUEST, challenge: CHALLENGE, approvals: [{ officer: 0, signature: approvalOf(Command.BACKUP_EXPORT, EXPORT_REQUEST) }] },
  },
  { name: 'BACKUP_EXPORT response', kind: 'response', frameType: FrameType.RESPONSE, seq: 30, code: Command.BACKUP_EXPORT, fields: { blob: BACKUP_BLOB } },
  {
    name: 'BACKUP_IMPORT request (approved by officer 0)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 31,
    code: Command.BACKUP_IMPORT,
    fields: { ...IMPORT_REQUEST, challenge: CHALLENGE, approvals: [{ officer: 0, signature: approvalOf(Command.BACKUP_IMPORT, IMPORT_REQUEST) }] },
  },
  { name: 'BACKUP_IMPORT response', kind: 'response', frameType: FrameType.RESPONSE, seq: 31, code: Command.BACKUP_IMPORT, fields: { keyIds: [1] } },
  {
    name: 'SHARE_RESEAL request',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 32,
    code: Command.SHARE_RESEAL,
    fields: { keyId: 1, domainId: DOMAIN_ID, sealed: SEALED_SHARE, recipient: RECIPIENT },
  },
  { name: 'SHARE_RESEAL response', kind: 'response', frameType: FrameType.RESPONSE, seq: 32, code: Command.SHARE_RESEAL, fields: { sealed: RESEALED } },
  { name: 'AUDIT_READ request', kind: 'request', frameType: FrameType.REQUEST, seq: 33, code: Command.AUDIT_READ, fields: { from: 0 } },
  {
    name: 'AUDIT_READ response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 33,
    code: Command.AUDIT_READ,
    fields: { entries: new Uint8Array([...AUDIT_0, ...AUDIT_1]), next: 2, oldest: 0 },
  },
  { name: 'AUDIT_CHECKPOINT request', kind: 'request', frameType: FrameType.REQUEST, seq: 34, code: Command.AUDIT_CHECKPOINT, fields: { nonce: NONCE } },
  {
    name: 'AUDIT_CHECKPOINT response',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 34,
    code: Command.AUDIT_CHECKPOINT,
    fields: { next: 2, head: AUDIT_HEAD, signature: AUDIT_SIG, oldest: 0, acked: 0, capacity: 256, forced: false, locked: false, auditor: true },
  },
  { name: 'AUDIT_ACK request', kind: 'request', frameType: FrameType.REQUEST, seq: 35, code: Command.AUDIT_ACK, fields: { through: 1 } },
  { name: 'AUDIT_ACK response', kind: 'response', frameType: FrameType.RESPONSE, seq: 35, code: Command.AUDIT_ACK, fields: { acked: 2 } },
  { name: 'AUDIT_SET request', kind: 'request', frameType: FrameType.REQUEST, seq: 36, code: Command.AUDIT_SET, fields: { forced: true } },
  { name: 'AUDIT_SET response', kind: 'response', frameType: FrameType.RESPONSE, seq: 36, code: Command.AUDIT_SET, fields: {} },
  {
    name: 'SIGN request (Ed25519ph of "abc")',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 37,
    code: Command.SIGN,
    fields: { keyId: 1, digest: sha512(ABC), prehashed: true },
  },
  {
    name: 'SIGN response (Ed25519ph)',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 37,
    code: Command.SIGN,
    fields: { signature: ed25519ph.sign(ABC, ED_SEED) },
  },
  {
    name: 'SIGN_BEGIN request (stream "abc")',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 38,
    code: Command.SIGN_BEGIN,
    fields: { keyId: 1, length: 3, sha256: sha256(ABC) },
  },
  { name: 'SIGN_BEGIN response', kind: 'response', frameType: FrameType.RESPONSE, seq: 38, code: Command.SIGN_BEGIN, fields: {} },
  {
    name: 'SIGN_UPDATE request (pass 1)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 39,
    code: Command.SIGN_UPDATE,
    fields: { pass: 1, offset: 0, data: ABC },
  },
  { name: 'SIGN_UPDATE response (pass 1)', kind: 'response', frameType: FrameType.RESPONSE, seq: 39, code: Command.SIGN_UPDATE, fields: {} },
  {
    name: 'SIGN_UPDATE request (pass 2)',
    kind: 'request',
    frameType: FrameType.REQUEST,
    seq: 40,
    code: Command.SIGN_UPDATE,
    fields: { pass: 2, offset: 0, data: ABC },
  },
  {
    name: 'SIGN_UPDATE response (pass 2: the signature)',
    kind: 'response',
    frameType: FrameType.RESPONSE,
    seq: 40,
    code: Command.SIGN_UPDATE,
    fields: { signature: ed25519.sign(ABC, ED_SEED) },
  },
];

// docs/protocol.md "Error details": {1: reason, 2: arg0, 3: arg1}; the device sends no text
const ERROR_SCHEMA: Schema = [
  { key: 1, name: 'reason', type: { t: 'uint' } },
  { key: 2, name: 'arg0', type: { t: 'uint' }, optional: true },
  { key: 3, name: 'arg1', type: { t: 'uint' }, optional: true },
];

const out = examples.map((e) => {
  let cbor: Uint8Array = new Uint8Array(0);
  let body: Uint8Array = new Uint8Array(0);
  if (e.kind === 'raw') body = e.raw as Uint8Array;
  else if (e.kind !== 'empty') {
    const schema = e.kind === 'error' ? ERROR_SCHEMA : e.kind === 'request' ? COMMANDS[e.code].request : COMMANDS[e.code].response;
    cbor = cborEncode(encodeMessage(schema, e.fields) as CborMap);
    body = new Uint8Array(1 + cbor.length);
    body[0] = e.kind === 'response' ? Status.OK : e.code;
    body.set(cbor, 1);
  }
  const jsonFields = JSON.parse(JSON.stringify(e.fields, (_k, v) => (v instanceof Uint8Array ? { hex: toHex(v) } : v)));
  return {
    name: e.name,
    kind: e.kind,
    frameType: e.frameType,
    seq: e.seq,
    ...(e.kind === 'request' || e.kind === 'response' ? { command: e.code } : {}),
    ...(e.kind === 'response' ? { status: 0 } : e.kind === 'error' ? { status: e.code } : {}),
    fields: jsonFields,
    cbor: toHex(cbor),
    body: toHex(body),
    packet: toHex(encodePacket(e.frameType, e.seq, body)),
    frame: toHex(encodeFrame(e.frameType, e.seq, body)),
  };
});

writeFileSync(
  'test/vectors/golden-frames.json',
  JSON.stringify(
    { source: 'tinyhsm protocol v1 examples (docs/protocol.md); keys, signature and shared secret from RFC 8032 §7.1 TEST 1 and RFC 7748 §6.1', frames: out },
    null,
    1,
  ) + '\n',
);
for (const f of out) console.log(`${f.name}\n  cbor   ${f.cbor}\n  packet ${f.packet}\n  frame  ${f.frame}`);

// INFO: what the device is and can do; allowed without a session (docs/protocol.md §6).
import type { MessageOf, Schema } from '../schema.ts';
import { DOMAIN_ID_BYTES } from './domain.ts';
import { Audit, type CommandSpec, Gate } from './spec.ts';
import { MAX_LABEL, MAX_LIST, MAX_PAGES } from './limits.ts';
import { FINGERPRINT_BYTES, MAX_OFFICERS, MAX_OFFICER_LABEL } from './approvals.ts';

export const InfoRequestSchema = [] as const satisfies Schema;
export type InfoRequest = MessageOf<typeof InfoRequestSchema>;

/** An enrolled officer as INFO shows it: the first 8 bytes of SHA-256 of its public key, and its label. */
export const OfficerInfoSchema = [
  { key: 1, name: 'fingerprint', type: { t: 'bytes', min: FINGERPRINT_BYTES, max: FINGERPRINT_BYTES } },
  { key: 2, name: 'label', type: { t: 'text', max: MAX_OFFICER_LABEL } },
] as const satisfies Schema;

export const InfoResponseSchema = [
  { key: 1, name: 'firmwareVersion', type: { t: 'text', max: 32 } },
  { key: 2, name: 'protocolVersion', type: { t: 'uint', max: 255 } },
  { key: 3, name: 'deviceId', type: { t: 'bytes', min: 16, max: 16 } },
  { key: 4, name: 'maxPacket', type: { t: 'uint', min: 2048, max: 65535 } },
  /** Algorithm ids whose power-on self-test passed: the only ones the device offers. */
  { key: 5, name: 'algorithms', type: { t: 'uintList', max: MAX_LIST } },
  /** Algorithm id → why its self-test failed; absent when all passed. */
  { key: 6, name: 'selftestFailures', type: { t: 'uintTextMap', max: MAX_LIST }, optional: true },
  { key: 7, name: 'slotsUsed', type: { t: 'uint' } },
  { key: 8, name: 'slotsFree', type: { t: 'uint' } },
  { key: 9, name: 'platform', type: { t: 'text', max: 32 } },
  /** Ed25519 identity public key, made at first boot (absent where Ed25519 is not offered). */
  { key: 10, name: 'identityPublicKey', type: { t: 'bytes', min: 32, max: 32 }, optional: true },
  /** Flash store (docs/storage.md §8–§9): geometry, use, and erase count per page. */
  { key: 11, name: 'flashPageSize', type: { t: 'uint' } },
  { key: 12, name: 'flashPages', type: { t: 'uint' } },
  { key: 13, name: 'flashBytesUsed', type: { t: 'uint' } },
  { key: 14, name: 'flashBytesFree', type: { t: 'uint' } },
  { key: 15, name: 'flashEraseCounts', type: { t: 'uintList', max: MAX_PAGES } },
  /** True when the platform has no flash and the store lives in RAM (everything is lost at power-off). */
  { key: 16, name: 'flashVolatile', type: { t: 'bool' }, optional: true },
  /** False on a factory-new device: only INIT (in a session) makes it usable (docs/security.md §1). */
  { key: 17, name: 'initialized', type: { t: 'bool' } },
  /** The label given at INIT. */
  { key: 18, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true },
  /** Wrong user / SO PIN tries left before that PIN blocks (present once initialized). */
  { key: 19, name: 'userPinTries', type: { t: 'uint', max: 255 }, optional: true },
  { key: 20, name: 'soPinTries', type: { t: 'uint', max: 255 }, optional: true },
  /** True after 3 wrong PINs in a row: no PIN is tried until a power cycle. */
  { key: 21, name: 'pinLocked', type: { t: 'bool' }, optional: true },
  /** PBKDF2-SHA256 iterations this device uses for PIN records (chosen per target). */
  { key: 22, name: 'pinIterations', type: { t: 'uint', min: 1, max: 0xffffffff } },
  /** True when the board has a user-presence button (keys with `touch` need one). */
  { key: 23, name: 'presence', type: { t: 'bool' } },
  /** The floor, in estimated bits, a new PIN must clear at INIT, CHANGE_PIN and UNBLOCK (docs/security.md §4.1). */
  { key: 24, name: 'pinMinBits', type: { t: 'uint', max: 512 } },
  /** True when the store is bound to a monotonic counter, so an old flash image written back is refused (docs/storage.md §12). */
  { key: 25, name: 'rollbackProtection', type: { t: 'bool' } },
  /** Present (true) when this boot found such an old image: only INFO and ECHO are served. */
  { key: 26, name: 'rolledBack', type: { t: 'bool' }, optional: true },
  /** M: how many officers must approve a gated command (docs/quorum.md §1). Absent while no officers are enrolled. */
  { key: 27, name: 'threshold', type: { t: 'uint', min: 1, max: MAX_OFFICERS }, optional: true },
  /** The enrolled officers in index order (approvals name them by index). Absent while none are enrolled. */
  { key: 28, name: 'officers', type: { t: 'list', max: MAX_OFFICERS, of: OfficerInfoSchema }, optional: true },
  /** The domain this device is in (docs/quorum.md §8). Absent while it is in none. */
  { key: 29, name: 'domainId', type: { t: 'bytes', min: DOMAIN_ID_BYTES, max: DOMAIN_ID_BYTES }, optional: true },
  /** Present (true) when this board's build leaves DOMAIN_CREATE, DOMAIN_JOIN, BACKUP_EXPORT, BACKUP_IMPORT and SHARE_RESEAL out (docs/boards.md). */
  { key: 30, name: 'withoutDomain', type: { t: 'bool' }, optional: true },
] as const satisfies Schema;
export type InfoResponse = MessageOf<typeof InfoResponseSchema>;

/** INFO's declaration: who may run it (docs/security.md §2), its flags and its schemas. */
export const InfoCommand = {
  gate: Gate.CLEAR,
  request: InfoRequestSchema,
  response: InfoResponseSchema,
  resend: true,
  audit: Audit.NOT_RECORDED,
} satisfies CommandSpec;

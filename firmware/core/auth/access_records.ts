// Flash encoding of the access state (docs/security.md §3–§5, docs/session.md §8.3): PIN records, tries-left counters and the settings map, schema-checked when read.
//
// Record keys (store/record_keys.ts, never reused):
//   recordKey(ROLE, 1)       user role record  CBOR {1: role (1), 2: iterations, 3: salt(16), 4: verifier(32),
//   recordKey(ROLE, 2)       SO role record       5: wrapNonce(12), 6: wrappedSecrets(80), 7: rolePublic(32),
//                                                 8: publicTag(32), 9: envelope(80)}
//   recordKey(COUNTERS, 1)   user tries left   CBOR uint 0..8
//   recordKey(COUNTERS, 2)   SO tries left     CBOR uint 0..8
//   recordKey(ROLE, 3)       auditor record    CBOR {1: role (3), 2: iterations, 3: salt(16), 4: verifier(32)}: no master
//                                              key, no secrets under the PIN (docs/audit.md §7)
//   recordKey(COUNTERS, 4)   auditor tries     CBOR uint 0..8 (index 3 is the rollback binding, docs/storage.md §12)
//   recordKey(SETTINGS, 0)   settings          CBOR {1: label (text, ≤ 32 bytes of UTF-8)}; absent without a label
// No PIN is stored: only the salted PBKDF2/HKDF verifier, the role's secrets wrapped under the PIN's kek, and the
// master key sealed to the role's public key (pin.ts).
// A value that does not decode, or a PIN record whose role field is not its index, gives undefined: the caller
// treats that role as damaged (blocked), never trusts it and never crashes (docs/security.md §4).
import { Role } from '../../protocol/codes.ts';
import { type CborMap, type CborValue, cborDecode, cborEncode } from '../../protocol/cbor.ts';
import { type Schema, decodeMessage } from '../../protocol/schema.ts';
import { MAX_LABEL } from '../../protocol/commands/limits.ts';
import { RecordKind, recordKey } from '../store/index.ts';
import { ENVELOPE_LENGTH, PIN_SALT_LENGTH, WRAP_NONCE_LENGTH, WRAPPED_SECRETS_LENGTH, type PinRecord, type RoleName } from './pin.ts';

/** Tries left after INIT, after a right PIN and after UNBLOCK, for both roles (docs/security.md §4). */
export const MAX_TRIES = 8;
/** Wrong PINs in a row (any role) after which the device takes no PIN until it is power-cycled (RAM only). */
export const MAX_WRONG_IN_A_ROW = 3;
/** Verifier length (HKDF output, pin.ts). */
export const VERIFIER_LENGTH = 32;

export function pinRecordKey(role: number): number {
  return recordKey(RecordKind.ROLE, role);
}

export function triesRecordKey(role: number): number {
  return recordKey(RecordKind.COUNTERS, role === Role.AUDITOR ? 4 : role);
}

export const SETTINGS_RECORD = recordKey(RecordKind.SETTINGS, 0);

/** codes.ts Role id → pin.ts role name (the name is part of every role-bound AAD and tag). */
export function pinRoleName(role: number): RoleName {
  return role === Role.SO ? 'so' : 'user';
}

function mapOf(entries: [number, CborValue][]): CborMap {
  const m: CborMap = new Map();
  for (let i = 0; i < entries.length; i++) m.set(entries[i][0], entries[i][1]);
  return m;
}

function decodeMap<T>(v: Uint8Array, schema: Schema): T | undefined {
  const d = cborDecode(v);
  if (!d.ok || !(d.value instanceof Map)) return undefined;
  const m = decodeMessage<T>(schema, d.value);
  return m.ok ? m.value : undefined;
}

// ------------------------------------------------------------------ PIN records

const PinRecordSchema: Schema = [
  { key: 1, name: 'role', type: { t: 'uint', min: Role.USER, max: Role.SO } },
  { key: 2, name: 'iterations', type: { t: 'uint', min: 1, max: 0xffffffff } },
  { key: 3, name: 'salt', type: { t: 'bytes', min: PIN_SALT_LENGTH, max: PIN_SALT_LENGTH } },
  { key: 4, name: 'verifier', type: { t: 'bytes', min: VERIFIER_LENGTH, max: VERIFIER_LENGTH } },
  { key: 5, name: 'wrapNonce', type: { t: 'bytes', min: WRAP_NONCE_LENGTH, max: WRAP_NONCE_LENGTH } },
  { key: 6, name: 'wrappedSecrets', type: { t: 'bytes', min: WRAPPED_SECRETS_LENGTH, max: WRAPPED_SECRETS_LENGTH } },
  { key: 7, name: 'rolePublic', type: { t: 'bytes', min: 32, max: 32 } },
  { key: 8, name: 'publicTag', type: { t: 'bytes', min: 32, max: 32 } },
  { key: 9, name: 'envelope', type: { t: 'bytes', min: ENVELOPE_LENGTH, max: ENVELOPE_LENGTH } },
];

export function encodePinRecord(r: PinRecord): Uint8Array {
  return cborEncode(
    mapOf([
      [1, r.role === 'so' ? Role.SO : Role.USER],
      [2, r.iterations],
      [3, r.salt],
      [4, r.verifier],
      [5, r.wrapNonce],
      [6, r.wrappedSecrets],
      [7, r.rolePublic],
      [8, r.publicTag],
      [9, r.envelope],
    ]),
  );
}

/** The PIN record stored under index `role`, or undefined if it does not decode or names another role. */
export function decodePinRecord(v: Uint8Array, role: number): PinRecord | undefined {
  const d = decodeMap<Omit<PinRecord, 'role'> & { role: number }>(v, PinRecordSchema);
  if (d === undefined || d.role !== role) return undefined;
  return { ...d, role: pinRoleName(role) };
}

// ------------------------------------------------------------------ the auditor's record

/** The auditor's PIN verifier: it opens nothing, it only lets a session read and acknowledge the audit log. */
export interface AuditorRecord {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly verifier: Uint8Array;
}

const AuditorRecordSchema: Schema = [
  { key: 1, name: 'role', type: { t: 'uint', min: Role.AUDITOR, max: Role.AUDITOR } },
  PinRecordSchema[1],
  PinRecordSchema[2],
  PinRecordSchema[3],
];

export function encodeAuditorRecord(r: AuditorRecord): Uint8Array {
  return cborEncode(
    mapOf([
      [1, Role.AUDITOR],
      [2, r.iterations],
      [3, r.salt],
      [4, r.verifier],
    ]),
  );
}

export function decodeAuditorRecord(v: Uint8Array): AuditorRecord | undefined {
  return decodeMap<AuditorRecord>(v, AuditorRecordSchema);
}

// ------------------------------------------------------------------ tries left

export function encodeTries(n: number): Uint8Array {
  return cborEncode(n);
}

/** Tries left 0..MAX_TRIES, or undefined if the value is not such a number. */
export function decodeTries(v: Uint8Array): number | undefined {
  const d = cborDecode(v);
  if (!d.ok || typeof d.value !== 'number' || !(d.value >= 0 && d.value <= MAX_TRIES)) return undefined;
  return d.value;
}

// ------------------------------------------------------------------ settings

export interface Settings {
  label?: string;
}

const SettingsSchema: Schema = [{ key: 1, name: 'label', type: { t: 'text', max: MAX_LABEL }, optional: true }];

export function encodeSettings(s: Settings): Uint8Array {
  const m: CborMap = new Map();
  if (s.label !== undefined) m.set(1, s.label);
  return cborEncode(m);
}

export function decodeSettings(v: Uint8Array): Settings | undefined {
  return decodeMap<Settings>(v, SettingsSchema);
}

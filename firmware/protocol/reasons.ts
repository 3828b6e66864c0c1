// The reason table of error details: why a request failed, as a number the host renders into words (docs/protocol.md "Error details"). Add at the end; never renumber or reuse.
//
// docs/architecture.md §3: human-readable text costs board heap, so an error response carries
// status byte + {1: reason, 2: arg0, 3: arg1, …} and the host (host/render.ts) writes the sentence, as CTAP2
// and YubiHSM do. Each line below gives the status the reason comes with and its arguments in order
// (arg0 at key 2, arg1 at key 3, …); every argument is an integer. docs/protocol.md has the same table.

/**
 * Error reasons (key 1 of an error response's map). Add at the end. A TypeScript enum, not an `as const` table
 * like codes.ts: esbuild inlines each member as its number, so no reason name reaches a device bundle (~2 KB).
 */
export enum Reason {
  // ---- requests and frames (core/dispatch.ts, core/device.ts)
  /** INVALID_COMMAND. The body has no command byte. */
  EMPTY_REQUEST = 1,
  /** INVALID_COMMAND. [command byte] */
  UNKNOWN_COMMAND = 2,
  /** SESSION_REQUIRED. The command runs only inside SESSION_MESSAGE. */
  SESSION_NEEDED = 3,
  /** INVALID_COMMAND. SESSION_OPEN or SESSION_MESSAGE inside a session. */
  NOT_IN_SESSION = 4,
  /** ALREADY_INITIALIZED. INIT on an initialized device. */
  ALREADY_INITIALIZED = 5,
  /** NOT_INITIALIZED. The command needs INIT first. */
  NOT_INITIALIZED = 6,
  /** LOGIN_REQUIRED. [role wanted: 0 user or SO, 1 user, 2 SO] */
  LOGIN_NEEDED = 7,
  /** WRONG_ROLE. [role wanted, role of the session] */
  ROLE_NEEDED = 8,
  /** INVALID_CBOR. The parameters are CBOR but not a map. */
  PARAMETERS_NOT_MAP = 9,
  /** INTERNAL_ERROR. The handler failed unexpectedly; nothing is known to have changed. */
  HANDLER_FAILED = 10,
  /** INTERNAL_ERROR. The flash failed while writing; a power cycle restores the state before or after the command. */
  FLASH_WRITE_FAILED = 11,
  /** INTERNAL_ERROR. The response could not be encoded. */
  RESPONSE_NOT_ENCODED = 12,
  /** INTERNAL_ERROR (ERROR frame). Handling the frame failed unexpectedly. */
  FRAME_FAILED = 13,
  /** INTERNAL_ERROR (ERROR frame). The button wait failed unexpectedly; nothing was done. */
  WAIT_FAILED = 14,
  /** PACKET_TOO_LARGE (ERROR frame). [largest packet in bytes] */
  FRAME_TOO_LARGE = 15,
  /** UNSUPPORTED_VERSION (ERROR frame). [version received, version the device speaks] */
  VERSION_UNSUPPORTED = 16,
  /** INVALID_FRAME (ERROR frame). [frame type received] */
  FRAME_TYPE_REFUSED = 17,
  /** BUSY (ERROR frame). [seq of the request that waits for the button] */
  WAITING_FOR_BUTTON = 18,

  // ---- framing (protocol/frame.ts, protocol/cobs.ts: such frames are dropped, never answered)
  /** INVALID_FRAME. The packet is shorter than header and CRC. */
  FRAME_SHORT = 19,
  /** INVALID_FRAME. The CRC-32 does not match. */
  FRAME_CRC = 20,
  /** INVALID_FRAME. A zero byte inside a COBS frame. */
  COBS_ZERO = 21,
  /** INVALID_FRAME. A COBS block runs past the end of the frame. */
  COBS_OVERRUN = 22,

  // ---- CBOR (protocol/cbor.ts; RFC 8949 §4.2.1)
  /** INVALID_CBOR. An indefinite length. */
  CBOR_INDEFINITE = 23,
  /** INVALID_CBOR. [additional information value] reserved (28–30). */
  CBOR_RESERVED = 24,
  /** INVALID_CBOR. [byte offset] the item ends early. */
  CBOR_TRUNCATED = 25,
  /** INVALID_CBOR. An integer beyond ±(2^53 − 1). */
  CBOR_INTEGER_RANGE = 26,
  /** INVALID_CBOR. An integer or length not in its shortest form. */
  CBOR_NOT_SHORTEST = 27,
  /** INVALID_CBOR. A float, or a simple value other than false, true and null. */
  CBOR_FLOAT_OR_SIMPLE = 28,
  /** INVALID_CBOR. A tag. */
  CBOR_TAG = 29,
  /** INVALID_CBOR. [declared length] a string, array or map runs past the end. */
  CBOR_LENGTH_PAST_END = 30,
  /** INVALID_CBOR. A text string that is not UTF-8. */
  CBOR_BAD_UTF8 = 31,
  /** INVALID_CBOR. [deepest nesting allowed] */
  CBOR_TOO_DEEP = 32,
  /** INVALID_CBOR. A map key that is not an integer. */
  CBOR_KEY_NOT_INTEGER = 33,
  /** INVALID_CBOR. [key] a duplicate map key. */
  CBOR_DUPLICATE_KEY = 34,
  /** INVALID_CBOR. [key] map keys out of deterministic order at this key. */
  CBOR_KEY_ORDER = 35,
  /** INVALID_CBOR. [count of bytes] after the item. */
  CBOR_TRAILING = 36,

  // ---- parameters (protocol/schema.ts); "field" is the request field's CBOR key (the message schema names it)
  /** UNKNOWN_PARAMETER. [field] */
  UNKNOWN_FIELD = 37,
  /** MISSING_PARAMETER. [field] */
  MISSING_FIELD = 38,
  /** INVALID_PARAMETER. [field] not an unsigned integer. */
  EXPECTED_UINT = 39,
  /** INVALID_PARAMETER. [field] not a byte string. */
  EXPECTED_BYTES = 40,
  /** INVALID_PARAMETER. [field] not a text string. */
  EXPECTED_TEXT = 41,
  /** INVALID_PARAMETER. [field] not true or false. */
  EXPECTED_BOOL = 42,
  /** INVALID_PARAMETER. [field] not an array. */
  EXPECTED_ARRAY = 43,
  /** INVALID_PARAMETER. [field] not a map; [list field, index]: that entry of a list is not a map; no argument: the parameters themselves. */
  EXPECTED_MAP = 44,
  /** INVALID_PARAMETER. [field, value, min, max] max absent: no upper bound. */
  VALUE_OUT_OF_RANGE = 45,
  /** INVALID_PARAMETER. [field, length in bytes, min, max] max absent: no upper bound. */
  LENGTH_OUT_OF_RANGE = 46,
  /** INVALID_PARAMETER. [field, length in UTF-8 bytes, max] */
  TEXT_TOO_LONG = 47,
  /** INVALID_PARAMETER. [field, entries, max] */
  TOO_MANY_ENTRIES = 48,
  /** INVALID_PARAMETER. [field, index] an array entry that is not an unsigned integer. */
  ENTRY_NOT_UINT = 49,
  /** INVALID_PARAMETER. [field] a map whose keys are not unsigned or whose values are not text. */
  ENTRY_TYPES = 50,

  // ---- algorithms and keys (core/algorithms.ts, core/keystore.ts, commands/key_*.ts)
  /** UNSUPPORTED_ALGORITHM. [algorithm id] not in the algorithm table. */
  ALG_UNKNOWN = 51,
  /** UNSUPPORTED_ALGORITHM. [algorithm id] its power-on self-test failed (INFO lists the failures). */
  ALG_SELFTEST_FAILED = 52,
  /** UNSUPPORTED_ALGORITHM. [algorithm id] no key policy is defined for it. */
  ALG_NO_POLICY = 53,
  /** KEY_NOT_FOUND. [key id] */
  KEY_NOT_FOUND = 54,
  /** STORAGE_FULL. [key slots] every slot holds a key. */
  SLOTS_FULL = 55,
  /** STORAGE_FULL. [algorithm id, bytes free] no room on flash for another key. */
  NO_ROOM_FOR_KEY = 56,
  /** STORAGE_FULL. [key id, bytes free] no room on flash to rewrite the key. */
  NO_ROOM_TO_REWRITE = 57,
  /** INTERNAL_ERROR. The flash failed during an earlier write; a power cycle brings back the last committed state. */
  FLASH_FAULTED = 58,
  /** INVALID_KEY. [key id] its sealed private key does not open with its clear part: damaged or altered on flash. */
  KEY_RECORD_DAMAGED = 59,
  /** INVALID_KEY. [key id] its stored public key does not belong to its private key. */
  KEY_PAIR_MISMATCH = 60,
  /** LOGIN_REQUIRED. The master key is locked: no session is logged in any more. */
  MASTER_KEY_LOCKED = 61,
  /** INTERNAL_ERROR. [algorithm id, draws] the RNG gave only invalid keys. */
  RNG_BAD_KEYS = 62,
  /** INVALID_KEY. [algorithm id] privateKey is not a valid private key (ECDSA: scalar not in 1..n−1). */
  PRIVATE_KEY_INVALID = 63,

  // ---- key policy (core/policy.ts; capability bits as in the Capability table)
  /** INVALID_PARAMETER. [algorithm id, capabilities it can have] a new key needs at least one capability. */
  NO_CAPABILITIES = 64,
  /** INVALID_PARAMETER. [algorithm id, capabilities it can have] no algorithm offers encrypt or decrypt yet. */
  ENCRYPT_NOT_OFFERED = 65,
  /** INVALID_PARAMETER. [algorithm id, capabilities refused, capabilities it can have] */
  CAPABILITY_NOT_FOR_ALG = 66,
  /** POLICY_LOOSENING. [key id, capabilities added, flags cleared: 1 sensitive, 2 touch, 4 protected] nothing changed. */
  POLICY_LOOSENS = 67,
  /** POLICY_DENIED. [key id, capability needed, the key's capabilities] */
  CAPABILITY_MISSING = 68,

  // ---- user presence (core/presence.ts; docs/security.md §7)
  /** POLICY_DENIED. [key id] the key needs a button press and the board has no button. */
  NO_BUTTON = 69,
  /** PRESENCE_TIMEOUT. [key id] nobody pressed the button in time; nothing was done. */
  PRESS_TIMEOUT = 70,
  /** CANCELLED. [key id] the host cancelled the button wait; nothing was done. */
  PRESS_CANCELLED = 71,
  /** Retired, never produced: was an internal placeholder while a request waited for the button (now core/presence.ts NeedPresence). Not reused. */
  PRESS_PENDING = 72,

  // ---- SIGN, ECDH, KEY_ATTEST, SESSION_OPEN
  /** INVALID_PARAMETER. Both message (key 2) and digest (key 3). */
  MESSAGE_AND_DIGEST = 73,
  /** INVALID_PARAMETER. Neither message (key 2) nor digest (key 3). */
  NO_MESSAGE_OR_DIGEST = 74,
  /** OPERATION_NOT_PERMITTED. [key id, algorithm id] the algorithm cannot sign. */
  CANNOT_SIGN = 75,
  /** OPERATION_NOT_PERMITTED. [key id] Ed25519 signs the whole message (RFC 8032), not a digest. */
  ED25519_NEEDS_MESSAGE = 76,
  /** OPERATION_NOT_PERMITTED. [key id, algorithm id] ECDH needs an x25519 or ecdsa-p256 key. */
  CANNOT_ECDH = 77,
  /** INVALID_KEY. [algorithm id, length] publicKey has the wrong length (x25519: 32; P-256 SEC1: 33 or 65). */
  PEER_KEY_LENGTH = 78,
  /** INVALID_KEY. publicKey is a low-order x25519 point (RFC 7748 §6.1). */
  PEER_KEY_LOW_ORDER = 79,
  /** INVALID_KEY. publicKey is not a valid P-256 point. */
  PEER_KEY_NOT_ON_CURVE = 80,
  /** INTERNAL_ERROR. [algorithm id, length] SHA-256 gave a digest of the wrong length. */
  DIGEST_LENGTH = 81,
  /** UNSUPPORTED_ALGORITHM. Ed25519 is not offered on this engine: no identity key, no session (only INFO, ECHO and RANDOM, in the clear). */
  NO_IDENTITY_ENGINE = 82,
  /** OPERATION_NOT_PERMITTED. No identity key this boot (its record could not be read or stored): no session. */
  NO_IDENTITY_RECORD = 83,
  /** UNSUPPORTED_ALGORITHM. No identity key this boot, so no attestation. */
  ATTEST_NO_IDENTITY = 84,

  // ---- PINs and roles (core/auth/state.ts, commands/login.ts, commands/change_pin.ts; docs/security.md §4)
  /** PIN_INCORRECT. [role, tries left, 1 when this try locked the device until a power cycle (else absent)] */
  PIN_WRONG = 85,
  /** PIN_BLOCKED. [role, wrong tries allowed] this wrong PIN blocked the role. */
  PIN_NOW_BLOCKED = 86,
  /** PIN_BLOCKED. [role, wrong tries allowed] the role was blocked already. */
  PIN_IS_BLOCKED = 87,
  /** PIN_BLOCKED. [role, what: 1 PIN record missing, 2 PIN record damaged, 3 retry counter missing, 4 retry counter damaged, 5 PIN record altered] */
  PIN_STATE_DAMAGED = 88,
  /** PIN_LOCKED_UNTIL_POWER_CYCLE. [wrong PINs in a row] */
  PIN_LOCKOUT = 89,
  /** INTERNAL_ERROR. [role] the PIN is right but unwraps another master key than the one in use. */
  MASTER_KEY_MISMATCH = 90,
  /** ALREADY_LOGGED_IN. [role of the session] no PIN was tried. */
  ALREADY_LOGGED_IN = 91,
  /** SESSION_INVALID. LOGIN in a session that is over. */
  LOGIN_SESSION_OVER = 92,
  /** WRONG_ROLE. [role asked, role of the session] CHANGE_PIN changes only the session's own PIN; no PIN was tried. */
  OTHER_ROLE_PIN = 93,

  // ---- the flash store (core/store/store.ts)
  /** STORAGE_FULL. [bytes needed, bytes free, bytes in all] */
  STORE_FULL = 94,
  /** STORAGE_FULL. The store used up its sequence numbers: it must be erased and set up again. */
  STORE_SEQUENCE_EXHAUSTED = 95,
  /** INVALID_PARAMETER (internal). [entry index] a store entry with a bad key or value. */
  STORE_BAD_ENTRY = 96,
  /** INVALID_PARAMETER (internal). [record key, length, max] a value larger than one record holds. */
  STORE_VALUE_TOO_LARGE = 97,

  // ---- sessions (core/session/; docs/session.md §5)
  /** INVALID_PARAMETER. [length] hostEphemeral must be a 32-byte X25519 public key. */
  EPHEMERAL_LENGTH = 98,
  /** INVALID_PARAMETER. hostEphemeral is a low-order point (the shared secret is all zero). */
  EPHEMERAL_LOW_ORDER = 99,
  /** UNSUPPORTED_ALGORITHM. The device cannot compute X25519. */
  SESSION_NO_X25519 = 100,
  /** UNSUPPORTED_ALGORITHM. The identity key cannot sign the transcript. */
  SESSION_NO_SIGNATURE = 101,
  /** SESSION_LIMIT. [sessions allowed, idle timeout in ms] */
  SESSIONS_FULL = 102,
  /** SESSION_INVALID. [session id] no such session (the device restarted, or the id is wrong). */
  SESSION_UNKNOWN = 103,
  /** SESSION_INVALID. [session id] */
  SESSION_CLOSED = 104,
  /** SESSION_INVALID. [session id, idle timeout in ms] */
  SESSION_IDLE = 105,
  /** SESSION_INVALID. [session id, requests allowed] */
  SESSION_CAP = 106,
  /** SESSION_AUTH_FAILED. [counter] not an integer in 1..2^53 − 1. */
  COUNTER_INVALID = 107,
  /** SESSION_AUTH_FAILED. [session id, counter] already used: a replayed request, not executed. */
  COUNTER_REPLAYED = 108,
  /** SESSION_AUTH_FAILED. [session id, counter, last accepted counter] a replayed or reordered request, not executed. */
  COUNTER_BEHIND = 109,
  /** SESSION_AUTH_FAILED. [length] the envelope is shorter than its 16-byte tag. */
  ENVELOPE_SHORT = 110,
  /** SESSION_AUTH_FAILED. [session id] the envelope does not authenticate, and was not executed. */
  ENVELOPE_NOT_AUTHENTIC = 111,
  /** INTERNAL_ERROR. [session id, counter] no request with this counter awaits a response. */
  RESPONSE_NOT_PENDING = 112,
  /** Retired, never produced: was an internal placeholder while a session request waited for the button. Not reused. */
  SESSION_REQUEST_WAITING = 113,
  /** Retired, never produced: was the answer to a resume with nothing waiting, which can no longer happen. Not reused. */
  NOTHING_WAITING = 114,

  // ---- boot problems (Device.bootProblem; never on the wire)
  /** [what: 1 the device id, 2 the identity, 3 both; the store's reason] could not be stored this boot. */
  IDENTITY_NOT_STORED = 115,
  /** The device id record does not decode; this boot uses a RAM-only id. */
  DEVICE_ID_UNREADABLE = 116,
  /** The identity record does not decode; it is kept, and the device runs without an identity. */
  IDENTITY_UNREADABLE = 117,
  /** SESSION_INVALID. [session id] the table was full and a new session took this one's slot: it had not logged in. */
  SESSION_EVICTED = 118,
  /** INVALID_PARAMETER. [field, estimated bits, floor in bits] a new PIN too easy to guess from a flash dump (docs/security.md §4.1). */
  PIN_TOO_WEAK = 119,
  /** ROLLBACK_DETECTED. [value in flash, monotonic counter] the flash is older than the counter (docs/storage.md §12). */
  STORE_ROLLED_BACK = 120,

  // ---- officers and approvals (docs/quorum.md)
  /** APPROVAL_REQUIRED. [command, valid approvals given, threshold] nothing was done. */
  APPROVALS_SHORT = 121,
  /** APPROVAL_INVALID. No challenge is outstanding: none was asked for since power-on, or a request already used it. */
  NO_CHALLENGE = 122,
  /** APPROVAL_INVALID. The request names another challenge than the device's current one (an older one, another device's, or a replay); that one is now used up. */
  CHALLENGE_MISMATCH = 123,
  /** APPROVAL_INVALID. [officer index, officers enrolled] no such officer. */
  OFFICER_UNKNOWN = 124,
  /** APPROVAL_INVALID. [officer index] two approvals from one officer. */
  OFFICER_TWICE = 125,
  /** APPROVAL_INVALID. [officer index, command] the signature does not verify over this device, challenge, command and parameters. */
  APPROVAL_BAD_SIGNATURE = 126,
  /** INVALID_PARAMETER. [threshold, officers given] the threshold must be 1..the number of officers. */
  THRESHOLD_OUT_OF_RANGE = 127,
  /** INVALID_PARAMETER. [officer index, earlier officer index] two officers with one public key. */
  OFFICER_KEY_REPEATED = 128,
  /** APPROVAL_INVALID. The officers record does not decode: gated commands are refused (fail closed), never run without a quorum. */
  OFFICERS_UNREADABLE = 129,
  /** WRONG_ROLE / LOGIN_REQUIRED. [role of the session] on a device without officers, RESET needs the SO logged in. */
  RESET_NEEDS_SO = 130,
  /** POLICY_DENIED. [key id] a protected key, on a device without officers: only RESET removes it. */
  KEY_PROTECTED = 131,

  // ---- the domain, backup and restore (docs/quorum.md §8–§9)
  /** OPERATION_NOT_PERMITTED. [command] the command needs officers enrolled: the domain's shares go to them and its uses need their approvals. */
  NO_OFFICERS = 132,
  /** OPERATION_NOT_PERMITTED. The device is in a domain already; only RESET leaves it. */
  DOMAIN_EXISTS = 133,
  /** OPERATION_NOT_PERMITTED. [command] the device is in no domain: DOMAIN_CREATE or DOMAIN_JOIN first. */
  NO_DOMAIN = 134,
  /** INVALID_KEY. The domain record does not decode or its wrap key does not open under the master key. */
  DOMAIN_DAMAGED = 135,
  /** INVALID_PARAMETER. [share index] the share does not open with this device's identity key for this domain. */
  SHARE_UNREADABLE = 136,
  /** INVALID_PARAMETER. [shares given] the shares do not rebuild the named domain's wrap key: too few, repeated, or from another domain. */
  SHARES_WRONG = 137,
  /** INVALID_PARAMETER. The backup belongs to another domain than this device's. */
  DOMAIN_MISMATCH = 138,
  /** INVALID_PARAMETER. The backup does not open under the domain key: altered, truncated, or not a backup. */
  BACKUP_DAMAGED = 139,
  /** POLICY_DENIED. [key id] the key's policy does not allow export-under-wrap: it never leaves the device. */
  NOT_EXPORTABLE = 140,
  /** INVALID_PARAMETER. [key id] this device has a key with that id already: delete it first or restore elsewhere. */
  KEY_ID_TAKEN = 141,
  /** INVALID_PARAMETER. [key id] a key id named twice in one request. */
  KEY_REPEATED = 142,
  /** INVALID_PARAMETER. [officer index] the officer's public key is not a point of Ed25519, so nothing can be sealed to it. */
  OFFICER_KEY_INVALID = 143,
  /** INVALID_COMMAND. This board's build leaves the command out (INFO withoutDomain; docs/boards.md). */
  NOT_IN_THIS_BUILD = 144,
  /** OPERATION_NOT_PERMITTED. [key id, algorithm] SHARE_RESEAL needs an officer key: Ed25519. */
  NOT_ED25519 = 145,
  /** INVALID_PARAMETER. The recipient of SHARE_RESEAL is not an Ed25519 public key (a point of the curve). */
  RECIPIENT_INVALID = 146,

  // ---- the audit log (docs/audit.md)
  /** AUDIT_FULL. [entries not yet acknowledged, capacity] forced audit is on and the log has no room left for this command. */
  AUDIT_LOG_FULL = 147,
  /** OPERATION_NOT_PERMITTED. No auditor PIN is set: the SO sets one first (AUDIT_SET). */
  NO_AUDITOR = 148,
  /** OPERATION_NOT_PERMITTED. Forced audit is locked on; only RESET turns it off. */
  AUDIT_LOCKED = 149,
  /** INVALID_PARAMETER. [index acknowledged, index of the newest entry] an entry that does not exist yet cannot be acknowledged. */
  ACK_AHEAD = 150,
  /** STORAGE_FULL. [command] the audit entry for this request could not be written, so its result is withheld and nothing changed. */
  AUDIT_NOT_RECORDED = 151,
  /** INVALID_PARAMETER. Locking forced audit needs forced audit on in the same request or already. */
  LOCK_NEEDS_FORCED = 152,

  // ---- SIGN's digests, and the streamed SIGN (SIGN_BEGIN, SIGN_UPDATE: docs/protocol.md §4.1)
  /** INVALID_PARAMETER. [length given, length wanted] the digest has the wrong length: ECDSA takes SHA-256 (32), Ed25519ph SHA-512 (64). */
  DIGEST_WRONG_LENGTH = 153,
  /** INVALID_PARAMETER. prehashed (Ed25519ph) signs a digest: send digest (the 64-byte SHA-512 of the message), not message. */
  PREHASH_NEEDS_DIGEST = 154,
  /** INVALID_PARAMETER. context (key 5) is only for prehashed (Ed25519ph). */
  CONTEXT_NEEDS_PREHASH = 155,
  /** OPERATION_NOT_PERMITTED. [key id, algorithm id] prehashed (Ed25519ph) is for Ed25519 keys; ECDSA signs a digest as it is. */
  PREHASH_ED25519_ONLY = 156,
  /** OPERATION_NOT_PERMITTED. [key id, algorithm id] only Ed25519 streams; for ECDSA the host hashes the message and sends its SHA-256 to SIGN. */
  STREAM_ED25519_ONLY = 157,
  /** OPERATION_NOT_PERMITTED. No streamed signature is open in this session: SIGN_BEGIN first (a stream ends with its signature, an error, a new SIGN_BEGIN, a logout or its session). */
  NO_SIGN_STREAM = 158,
  /** INVALID_PARAMETER. [pass expected, offset expected] the chunk is not the next one; nothing changed. */
  STREAM_POSITION = 159,
  /** INVALID_PARAMETER. [length] the chunk runs past the length given to SIGN_BEGIN; nothing changed. */
  STREAM_PAST_END = 160,
  /** INVALID_PARAMETER. [pass] the bytes streamed are not the message whose SHA-256 SIGN_BEGIN gave: the stream is ended, no signature. */
  STREAM_MISMATCH = 161,
  /** KEY_NOT_FOUND. [key id] the key was deleted or its policy changed while the stream was open: the stream is ended, no signature. */
  STREAM_KEY_CHANGED = 162,

  // ---- the connector's own answers (host/connector/; docs/connector.md §5): never sent by a device
  /** DEVICE_UNAVAILABLE (ERROR frame). [1: the request was at the device and may have run, 0: it never reached the device] the device's link closed. */
  DEVICE_GONE = 163,
  /** DEVICE_UNAVAILABLE (ERROR frame). [ms waited] the connector had no device for that long; nothing ran. */
  DEVICE_ABSENT = 164,
  /** CANCELLED (ERROR frame). The request was cancelled while it waited in the connector's queue; it never reached the device. */
  QUEUE_CANCELLED = 165,
}
export type ReasonName = keyof typeof Reason;

/** Every reason as [name, code], in code order (the enum object also maps codes back to names). */
export function reasonEntries(): [ReasonName, number][] {
  const out: [ReasonName, number][] = [];
  for (const k in Reason) {
    const v = (Reason as unknown as { [k: string]: unknown })[k];
    if (typeof v === 'number') out.push([k as ReasonName, v]);
  }
  return out.sort((a, b) => a[1] - b[1]);
}

/** What PIN_STATE_DAMAGED's second argument says is wrong (docs/protocol.md "Error details"). */
export enum PinDamage {
  RECORD_MISSING = 1,
  RECORD_DAMAGED = 2,
  COUNTER_MISSING = 3,
  COUNTER_DAMAGED = 4,
  RECORD_ALTERED = 5,
}

/** POLICY_LOOSENS' third argument: the flags the request would clear. */
export enum LooseFlag {
  SENSITIVE = 1,
  TOUCH = 2,
  PROTECTED = 4,
}

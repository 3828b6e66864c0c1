// The host's words for a device error: (status, reason, arguments) from the wire rendered as the sentence a person reads (docs/protocol.md "Error details"); host only, never imported by firmware.
//
// docs/protocol.md §2.1: the device sends numbers, the host writes the text (as CTAP2 and YubiHSM do). One
// rendering per reason of firmware/protocol/reasons.ts (test/protocol/reasons.test.ts checks that none is missing);
// a reason this host does not know (a newer device) is rendered generically with its number and arguments.
import { ALG_NAMES, CAPABILITY_NAMES, Command, COMMANDS, Reason, nameOf, type ErrorDetail, type Schema } from '../firmware/protocol/index.ts';

/** What the host knows about the request that failed: its command name, or the schema whose fields the keys refer to. */
export interface RenderContext {
  /** The command that failed ('SIGN'); its request schema names the fields. */
  command?: string;
  /** The schema the field keys refer to, when not the command's request (a response the host checked). */
  schema?: Schema;
}

type Args = readonly number[];
type Render = (a: Args, c: RenderContext) => string;

/** "ecdsa-p256 (2)"; "algorithm 9" for an id the host does not know. */
export function algText(id: number | undefined): string {
  if (id === undefined) return 'an algorithm';
  const n = ALG_NAMES[id];
  return n === undefined ? `algorithm ${id}` : `${n} (${id})`;
}

/** "sign, derive"; "none" for 0; unknown bits as "bit 0x40". */
export function capabilitiesText(bits: number | undefined): string {
  const out: string[] = [];
  const b = bits || 0;
  for (let bit = 1; bit <= b && bit > 0; bit *= 2) if ((b & bit) !== 0) out.push(CAPABILITY_NAMES[bit] || `bit 0x${bit.toString(16)}`);
  return out.length ? out.join(', ') : 'none';
}

function roleText(r: number | undefined): string {
  return r === 1 ? 'user' : r === 2 ? 'SO' : r === 3 ? 'auditor' : r === 4 ? 'user, SO or auditor' : r === 0 ? 'user or SO' : `role ${r}`;
}

function tries(n: number | undefined): string {
  return `${n} ${n === 1 ? 'try' : 'tries'}`;
}

/** What a person can do about a blocked role (docs/security.md §4). */
function remedy(role: number | undefined): string {
  return role === 1
    ? 'the SO can set a new user PIN with UNBLOCK (`tinyhsm unblock`)'
    : 'only a reset that erases every key remains (`tinyhsm reset`), with the approval of a quorum of officers (docs/quorum.md §4)';
}

/** A request field by its CBOR key: "keyId (key 1)" when the schema knows it, else "key 1". */
export function fieldText(key: number | undefined, c: RenderContext): string {
  if (key === undefined) return 'the parameters';
  let schema = c.schema;
  if (!schema && c.command !== undefined) {
    const code = (Command as { [k: string]: number })[c.command];
    const pair = code === undefined ? undefined : COMMANDS[code];
    schema = pair ? pair.request : undefined;
  }
  const f = schema ? schema.find((x) => x.key === key) : undefined;
  return f ? `${f.name} (key ${key})` : `key ${key}`;
}

function cmd(c: RenderContext, fallback = 'this command'): string {
  return c.command || fallback;
}

function hex2(n: number | undefined): string {
  return `0x${(n || 0).toString(16).padStart(2, '0')}`;
}

function between(min: number | undefined, max: number | undefined): string {
  return max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min}..${max}`;
}

const PIN_DAMAGE: { readonly [what: number]: string } = {
  1: 'PIN record in flash is missing',
  2: 'PIN record in flash is damaged',
  3: 'PIN retry counter in flash is missing',
  4: 'PIN retry counter in flash is damaged',
  5: 'PIN record in flash is damaged or altered (the PIN is right but the master key does not open)',
};

const FRAME_TYPES: { readonly [t: number]: string } = { 1: 'REQUEST', 2: 'RESPONSE', 3: 'KEEPALIVE', 4: 'CANCEL', 5: 'ERROR' };

/** One rendering per reason (firmware/protocol/reasons.ts), in code order. */
export const RENDER: { readonly [reason: number]: Render } = {
  [Reason.EMPTY_REQUEST]: () => 'empty request: the body must start with a command byte',
  [Reason.UNKNOWN_COMMAND]: (a) => `unknown command ${hex2(a[0])}`,
  [Reason.SESSION_NEEDED]: (a, c) => `${cmd(c)} needs a secure session: send SESSION_OPEN, then this command inside SESSION_MESSAGE (docs/session.md)`,
  [Reason.NOT_IN_SESSION]: (a, c) => `${cmd(c)} cannot be sent inside a session (no nesting); send it in the clear`,
  [Reason.ALREADY_INITIALIZED]: () => 'the device is already initialized; INIT runs only on a factory-new device',
  [Reason.NOT_INITIALIZED]: (a, c) => `${cmd(c)} needs an initialized device: send INIT with a user PIN and an SO PIN first (\`tinyhsm init\`)`,
  [Reason.LOGIN_NEEDED]: (a, c) =>
    `${cmd(c)} needs a login: send LOGIN with ${
      a[0] === 1
        ? 'the user PIN'
        : a[0] === 2
          ? 'the SO PIN'
          : a[0] === 3
            ? 'the auditor PIN'
            : a[0] === 4
              ? 'the user, SO or auditor PIN'
              : 'the user or SO PIN'
    } in this session first`,
  [Reason.ROLE_NEEDED]: (a, c) =>
    `${cmd(c)} is for the ${roleText(a[0])} role; this session is logged in as the ${roleText(a[1])} (LOGOUT, then LOGIN as ${roleText(a[0])})`,
  [Reason.PARAMETERS_NOT_MAP]: (a, c) => `${cmd(c, 'the request')} parameters must be a CBOR map`,
  [Reason.HANDLER_FAILED]: (a, c) => `${cmd(c)} failed with an unexpected internal error`,
  [Reason.FLASH_WRITE_FAILED]: (a, c) =>
    `${cmd(c)}: the flash failed while writing; power-cycle the device, it restarts with the state before or after this command`,
  [Reason.RESPONSE_NOT_ENCODED]: (a, c) => `${cmd(c)}: the response could not be encoded`,
  [Reason.FRAME_FAILED]: () => 'the device hit an unexpected error handling this frame',
  [Reason.WAIT_FAILED]: () => 'the device hit an unexpected error while waiting for the button; nothing was done',
  [Reason.FRAME_TOO_LARGE]: (a) => `frame larger than the maximum packet of ${a[0]} bytes (header, body and CRC)`,
  [Reason.VERSION_UNSUPPORTED]: (a) => `protocol version ${a[0]} is not supported; this device speaks version ${a[1]}`,
  [Reason.FRAME_TYPE_REFUSED]: (a) =>
    `a host may send REQUEST (0x01) or CANCEL (0x04) frames, not ${hex2(a[0])}${FRAME_TYPES[a[0]] ? ` (${FRAME_TYPES[a[0]]})` : ''}`,
  [Reason.WAITING_FOR_BUTTON]: (a) =>
    `the device waits for a button press for the request with seq ${a[0]}; press the button or send CANCEL for seq ${a[0]}, then retry`,
  [Reason.FRAME_SHORT]: () => 'packet shorter than header and CRC',
  [Reason.FRAME_CRC]: () => 'CRC mismatch',
  [Reason.COBS_ZERO]: () => 'COBS: zero byte inside a frame',
  [Reason.COBS_OVERRUN]: () => 'COBS: block runs past the end of the frame',
  [Reason.CBOR_INDEFINITE]: () => 'indefinite lengths are not allowed',
  [Reason.CBOR_RESERVED]: (a) => `reserved additional information ${a[0]}`,
  [Reason.CBOR_TRUNCATED]: (a) => `truncated at byte ${a[0]}`,
  [Reason.CBOR_INTEGER_RANGE]: () => 'integer outside -(2^53-1)..2^53-1',
  [Reason.CBOR_NOT_SHORTEST]: () => 'integer not in shortest form',
  [Reason.CBOR_FLOAT_OR_SIMPLE]: () => 'floats and simple values other than false, true and null are not allowed',
  [Reason.CBOR_TAG]: () => 'tags are not allowed',
  [Reason.CBOR_LENGTH_PAST_END]: (a) => `length ${a[0]} runs past the end`,
  [Reason.CBOR_BAD_UTF8]: () => 'text string is not valid UTF-8',
  [Reason.CBOR_TOO_DEEP]: (a) => `containers nested deeper than ${a[0]}`,
  [Reason.CBOR_KEY_NOT_INTEGER]: () => 'map keys must be integers',
  [Reason.CBOR_DUPLICATE_KEY]: (a) => `duplicate map key ${a[0]}`,
  [Reason.CBOR_KEY_ORDER]: (a) => `map keys out of deterministic order at key ${a[0]}`,
  [Reason.CBOR_TRAILING]: (a) => `${a[0]} trailing bytes after the CBOR item`,
  [Reason.UNKNOWN_FIELD]: (a) => `unknown parameter key ${a[0]}`,
  [Reason.MISSING_FIELD]: (a, c) => `${fieldText(a[0], c)} is required`,
  [Reason.EXPECTED_UINT]: (a, c) => `${fieldText(a[0], c)}: expected an unsigned integer`,
  [Reason.EXPECTED_BYTES]: (a, c) => `${fieldText(a[0], c)}: expected a byte string`,
  [Reason.EXPECTED_TEXT]: (a, c) => `${fieldText(a[0], c)}: expected a text string`,
  [Reason.EXPECTED_BOOL]: (a, c) => `${fieldText(a[0], c)}: expected true or false`,
  [Reason.EXPECTED_ARRAY]: (a, c) => `${fieldText(a[0], c)}: expected an array`,
  [Reason.EXPECTED_MAP]: (a, c) => `${a.length ? fieldText(a[0], c) + (a.length > 1 ? `[${a[1]}]` : '') : 'message'}: expected a map`,
  [Reason.VALUE_OUT_OF_RANGE]: (a, c) => `${fieldText(a[0], c)}: ${a[1]} is outside ${a[2]}..${a[3] === undefined ? 'any' : a[3]}`,
  [Reason.LENGTH_OUT_OF_RANGE]: (a, c) => `${fieldText(a[0], c)}: expected ${between(a[2], a[3])} bytes, got ${a[1]}`,
  [Reason.TEXT_TOO_LONG]: (a, c) => `${fieldText(a[0], c)}: at most ${a[2]} bytes of UTF-8, got ${a[1]}`,
  [Reason.TOO_MANY_ENTRIES]: (a, c) => `${fieldText(a[0], c)}: at most ${a[2]} entries, got ${a[1]}`,
  [Reason.ENTRY_NOT_UINT]: (a, c) => `${fieldText(a[0], c)}[${a[1]}]: expected an unsigned integer`,
  [Reason.ENTRY_TYPES]: (a, c) => `${fieldText(a[0], c)}: expected unsigned keys and text values`,
  [Reason.ALG_UNKNOWN]: (a) =>
    `unknown algorithm id ${a[0]} (known: ${Object.keys(ALG_NAMES)
      .map((k) => `${k} ${ALG_NAMES[Number(k)]}`)
      .join(', ')})`,
  [Reason.ALG_SELFTEST_FAILED]: (a) => `${algText(a[0])} is not offered: its power-on self-test failed (\`tinyhsm info\` shows why)`,
  [Reason.ALG_NO_POLICY]: (a) => `no key policy is defined for ${algText(a[0])}`,
  [Reason.KEY_NOT_FOUND]: (a) => `no key with id ${a[0]}`,
  [Reason.SLOTS_FULL]: (a) => `all ${a[0]} key slots are in use; delete a key first`,
  [Reason.NO_ROOM_FOR_KEY]: (a) => `the flash store has no room for another ${ALG_NAMES[a[0]] || algText(a[0])} key (${a[1]} bytes free); delete a key first`,
  [Reason.NO_ROOM_TO_REWRITE]: (a) => `the flash store has no room to rewrite key ${a[0]} (${a[1]} bytes free); delete a key first`,
  [Reason.FLASH_FAULTED]: () => 'the flash failed during an earlier write; power-cycle the device (it comes back with its last committed state)',
  [Reason.KEY_RECORD_DAMAGED]: (a) =>
    `key ${a[0]} is damaged or was altered on flash: its sealed private key does not open with its label, origin, public key and policy; delete it`,
  [Reason.KEY_PAIR_MISMATCH]: (a) => `key ${a[0]} is damaged: its stored public key does not belong to its private key; delete it`,
  [Reason.MASTER_KEY_LOCKED]: () => 'the master key is locked (no session is logged in any more); LOGIN again, then retry',
  [Reason.RNG_BAD_KEYS]: (a) => `the random generator gave ${a[1]} invalid ${algText(a[0])} keys in a row; nothing was stored`,
  [Reason.PRIVATE_KEY_INVALID]: (a) =>
    `privateKey is not a valid ${algText(a[0])} private key: ${
      a[0] === 2 || a[0] === 3 ? 'the scalar must be in 1..n-1 (big-endian, 32 bytes)' : 'it was rejected by the crypto engine'
    }`,
  [Reason.NO_CAPABILITIES]: (a) =>
    `capabilities: a new key needs at least one (${algText(a[0])} can have ${capabilitiesText(a[1])}); leave the field out for the default`,
  [Reason.ENCRYPT_NOT_OFFERED]: (a) => `capabilities: no algorithm offers encrypt or decrypt yet; ${algText(a[0])} can have ${capabilitiesText(a[1])}`,
  [Reason.CAPABILITY_NOT_FOR_ALG]: (a) => `capabilities: ${algText(a[0])} cannot ${capabilitiesText(a[1])}; it can have ${capabilitiesText(a[2])}`,
  [Reason.POLICY_LOOSENS]: (a) => {
    const loose: string[] = [];
    if (a[1]) loose.push(`adds ${capabilitiesText(a[1])}`);
    if ((a[2] || 0) & 1) loose.push('clears sensitive');
    if ((a[2] || 0) & 2) loose.push('clears touch');
    if ((a[2] || 0) & 4) loose.push('clears protected');
    return `key ${a[0]}: a policy can only be tightened, and this ${loose.join(' and ') || 'loosens it'}; nothing was changed (without officers nobody can loosen a policy; with officers, M of them must approve: docs/quorum.md §3)`;
  },
  [Reason.CAPABILITY_MISSING]: (a, c) =>
    `${cmd(c, 'this use')} needs the ${capabilitiesText(a[1])} capability and key ${a[0]} has ${capabilitiesText(a[2])} (docs/security.md §6)`,
  [Reason.NO_BUTTON]: (a, c) => `${cmd(c, 'this use')} with key ${a[0]} needs a button press (the key has touch set) and this board has no button`,
  [Reason.PRESS_TIMEOUT]: (a, c) => `${cmd(c, 'this use')} with key ${a[0]}: nobody pressed the button in time; nothing was done`,
  [Reason.PRESS_CANCELLED]: (a, c) => `${cmd(c, 'this use')} with key ${a[0]}: the host cancelled while the device waited for the button; nothing was done`,
  [Reason.PRESS_PENDING]: (a, c) => `${cmd(c, 'this use')} with key ${a[0]} waits for the button`,
  [Reason.MESSAGE_AND_DIGEST]: () => 'give either message (key 2) or digest (key 3), not both',
  [Reason.NO_MESSAGE_OR_DIGEST]: () => 'give exactly one of message (key 2) or digest (key 3); neither was sent',
  [Reason.CANNOT_SIGN]: (a) => `key ${a[0]} is an ${ALG_NAMES[a[1]] || algText(a[1])} key: it can do ECDH, not sign`,
  [Reason.ED25519_NEEDS_MESSAGE]: (a) => `key ${a[0]} is an ed25519 key: Ed25519 signs the whole message (RFC 8032), send message, not digest`,
  [Reason.CANNOT_ECDH]: (a) => `key ${a[0]} is an ${algText(a[1])} key: ECDH needs an x25519 or ecdsa-p256 key`,
  [Reason.PEER_KEY_LENGTH]: (a) =>
    a[0] === 4
      ? `publicKey: an x25519 public key is 32 bytes (RFC 7748 u-coordinate), got ${a[1]}`
      : `publicKey: a P-256 point is SEC1, 33 bytes compressed or 65 uncompressed, got ${a[1]}`,
  [Reason.PEER_KEY_LOW_ORDER]: () => 'publicKey is a low-order x25519 point: the shared secret would be all zeros (RFC 7748 §6.1)',
  [Reason.PEER_KEY_NOT_ON_CURVE]: () => 'publicKey is not a valid P-256 point (bad SEC1 encoding or not on the curve)',
  [Reason.DIGEST_LENGTH]: (a) => `SHA-256 gave ${a[1]} bytes for ${algText(a[0])}`,
  [Reason.NO_IDENTITY_ENGINE]: () =>
    'this device cannot open a secure session: Ed25519 is not offered on this engine, so it has no identity key; only INFO, ECHO and RANDOM (in the clear, unauthenticated) work here',
  [Reason.NO_IDENTITY_RECORD]: () =>
    'this device has no identity key this boot (its identity record could not be read or stored; see INFO), so it cannot open a secure session',
  [Reason.ATTEST_NO_IDENTITY]: () =>
    'this device has no identity key this boot (Ed25519 is not offered, or its identity record could not be read), so it cannot sign an attestation',
  [Reason.PIN_WRONG]: (a) =>
    `the ${roleText(a[0])} PIN is wrong; ${tries(a[1])} left` +
    (a[2] === 1 ? '; that was 3 wrong PINs in a row: no more tries until the device is power-cycled' : ''),
  [Reason.PIN_NOW_BLOCKED]: (a) => `the ${roleText(a[0])} PIN is wrong and is now blocked after ${a[1]} wrong tries; ${remedy(a[0])}`,
  [Reason.PIN_IS_BLOCKED]: (a) => `the ${roleText(a[0])} PIN is blocked after ${a[1]} wrong tries; ${remedy(a[0])}`,
  [Reason.PIN_STATE_DAMAGED]: (a) =>
    `the ${roleText(a[0])} ${PIN_DAMAGE[a[1]] || 'PIN state in flash is unusable'}; the ${roleText(a[0])} role is blocked: ${remedy(a[0])}`,
  [Reason.PIN_LOCKOUT]: (a) =>
    `${a[0]} wrong PINs in a row since power-on: the device takes no more PIN tries until it is power-cycled (unplug it and plug it in again)`,
  [Reason.MASTER_KEY_MISMATCH]: (a) =>
    `the ${roleText(a[0])} PIN is right, but it opens another master key than the one in use: the role records in flash were altered, or one was put back from an older image`,
  [Reason.ALREADY_LOGGED_IN]: (a) => `this session is already logged in as ${roleText(a[0])}; send LOGOUT first to change role (no PIN was tried)`,
  [Reason.LOGIN_SESSION_OVER]: () => 'LOGIN needs a live session; open a new one',
  [Reason.OTHER_ROLE_PIN]: (a) =>
    `this session is logged in as the ${roleText(a[1])} and can change only that PIN; for the ${roleText(a[0])} PIN, LOGOUT and LOGIN as ${roleText(a[0])} (no PIN was tried)`,
  [Reason.STORE_FULL]: (a) =>
    `the flash store is full: this change needs ${a[0]} bytes and about ${a[1]} of ${a[2]} are free; delete records you no longer need`,
  [Reason.STORE_SEQUENCE_EXHAUSTED]: () => 'the flash store has used up its sequence numbers; it must be erased and set up again',
  [Reason.STORE_BAD_ENTRY]: (a) =>
    a.length ? `store commit: entry ${a[0]} needs a record key and a value of bytes, or null to delete` : 'store commit: the entries must be a list',
  [Reason.STORE_VALUE_TOO_LARGE]: (a) =>
    `store: a ${a[1]}-byte value for record key 0x${(a[0] || 0).toString(16)} is larger than the ${a[2]} bytes one record can hold`,
  [Reason.EPHEMERAL_LENGTH]: (a) => `the host ephemeral key must be a 32-byte X25519 public key; got ${a[0]} bytes`,
  [Reason.EPHEMERAL_LOW_ORDER]: () => 'the host ephemeral key is a low-order point (the X25519 shared secret is all zero); use a fresh key pair',
  [Reason.SESSION_NO_X25519]: () => 'this device cannot compute X25519 (sessions need elliptic-curve support; see `tinyhsm info`)',
  [Reason.SESSION_NO_SIGNATURE]: () => 'the device identity key could not sign the session transcript (Ed25519 unavailable on this engine)',
  [Reason.SESSIONS_FULL]: (a) => `all ${a[0]} sessions are in use; close one (SESSION_CLOSE) or wait until one has been idle for ${a[1]} ms`,
  [Reason.SESSION_UNKNOWN]: (a) => `no session ${a[0]} on this device (it restarted, or the id is wrong); open one with SESSION_OPEN`,
  [Reason.SESSION_CLOSED]: (a) => `session ${a[0]} was closed; open a new session`,
  [Reason.SESSION_IDLE]: (a) => `session ${a[0]} expired: no request for more than ${a[1]} ms; open a new session`,
  [Reason.SESSION_CAP]: (a) => `session ${a[0]} has carried its maximum of ${a[1]} requests; open a new session`,
  [Reason.PIN_TOO_WEAK]: (a, c) =>
    `${fieldText(a[0], c)}: this PIN is too easy to guess from a copy of the flash (about ${a[1]} bits; at least ${a[2]} needed): use a longer one, or mix digits, lower and upper case letters and other characters (a 15-digit number, or 8 characters of all four kinds)`,
  [Reason.STORE_ROLLED_BACK]: (a) =>
    `the flash was bound to counter value ${a[0]}, but the device's monotonic counter is at ${a[1]}: an older flash image was written back, so no PIN, key or policy in it is used; write back the newest image, or reset the device`,
  [Reason.SESSION_EVICTED]: (a) =>
    `session ${a[0]} was ended to make room for a new session because it had not logged in; open a new session and log in at once`,
  [Reason.COUNTER_INVALID]: (a) => `the request counter must be an integer from 1 to 2^53-1; got ${a[0]}`,
  [Reason.COUNTER_REPLAYED]: (a) => `request counter ${a[1]} was already used in session ${a[0]} (a replayed request); it was not executed`,
  [Reason.COUNTER_BEHIND]: (a) =>
    `request counter ${a[1]} is below the last accepted counter ${a[2]} of session ${a[0]} (a replayed or reordered request); it was not executed`,
  [Reason.ENVELOPE_SHORT]: (a) => `the envelope has ${a[0]} bytes, fewer than its 16-byte tag`,
  [Reason.ENVELOPE_NOT_AUTHENTIC]: (a) =>
    `the envelope does not authenticate in session ${a[0]} (tampered, or sealed for another session or counter); it was not executed`,
  [Reason.RESPONSE_NOT_PENDING]: (a) => `no request with counter ${a[1]} awaits a response in session ${a[0]}`,
  [Reason.SESSION_REQUEST_WAITING]: (a) => `request ${a[1]} of session ${a[0]} waits for the button`,
  [Reason.NOTHING_WAITING]: () => 'no session request waits for the button',
  [Reason.IDENTITY_NOT_STORED]: (a) =>
    `${a[0] === 3 ? 'the device id and identity' : a[0] === 1 ? 'the device id' : 'the identity'} could not be stored (${renderReason(a[1], [], {})})` +
    ((a[0] || 0) & 1 ? '; the id lives in RAM only until the next boot' : '; the device runs without an identity'),
  [Reason.DEVICE_ID_UNREADABLE]: () => 'the device id record does not decode; it is kept, and this boot uses a RAM-only id',
  [Reason.IDENTITY_UNREADABLE]: () => 'the identity record does not decode; it is kept, and the device runs without an identity',
  [Reason.APPROVALS_SHORT]: (a) =>
    `${commandText(a[0])} needs the approval of ${a[2]} officer${a[2] === 1 ? '' : 's'} and got ${a[1]}; nothing was done. Collect ${(a[2] || 0) - (a[1] || 0)} more over the same challenge and send it again (docs/quorum.md §2)`,
  [Reason.NO_CHALLENGE]: () =>
    'the device has no approval challenge outstanding (none was asked for since it started, or an earlier request used it up); ask for a new one (APPROVAL_CHALLENGE) and have the officers sign again',
  [Reason.CHALLENGE_MISMATCH]: () =>
    "the approvals were signed over another challenge than this device's current one (an older challenge, another device's, or a replay); that challenge is now used up: ask for a new one and have the officers sign again",
  [Reason.OFFICER_UNKNOWN]: (a) =>
    `approval from officer ${a[0]}, but this device has ${a[1]} officer${a[1] === 1 ? '' : 's'} (numbered from 0; \`tinyhsm info\` lists them)`,
  [Reason.OFFICER_TWICE]: (a) => `officer ${a[0]} approved twice; each officer counts once, so M distinct officers must approve`,
  [Reason.APPROVAL_BAD_SIGNATURE]: (a) =>
    `officer ${a[0]}'s approval does not verify over this device, its challenge, ${commandText(a[1])} and these parameters: it was signed for another command or other parameters, or with another key; nothing was done`,
  [Reason.THRESHOLD_OUT_OF_RANGE]: (a) =>
    `threshold ${a[0]} with ${a[1]} officer${a[1] === 1 ? '' : 's'}: the threshold must be from 1 to the number of officers`,
  [Reason.OFFICER_KEY_REPEATED]: (a) => `officers ${a[1]} and ${a[0]} have the same public key; each officer needs a key of their own`,
  [Reason.OFFICERS_UNREADABLE]: () =>
    'the officers record in flash does not decode, so no approval can be checked and every command that needs one is refused (fail closed); the flash is damaged',
  [Reason.KEY_PROTECTED]: (a) => `key ${a[0]} is protected and this device has no officers to approve its deletion; only a reset erases it (docs/quorum.md §3)`,
  [Reason.RESET_NEEDS_SO]: (a) =>
    `on a device without officers, RESET needs the SO logged in (this session is ${a[0] ? roleText(a[0]) : 'not logged in'}); log in with the SO PIN`,
  [Reason.NO_OFFICERS]: (a) =>
    `${commandText(a[0])} needs officers: the domain's shares go to them and its uses need their approval; enrol them first (\`tinyhsm officer set\`)`,
  [Reason.DOMAIN_EXISTS]: () => 'this device is in a domain already; only a reset (approved by M officers) leaves it',
  [Reason.NO_DOMAIN]: (a) => `${commandText(a[0])} needs the device in a domain: \`tinyhsm domain create\` here, or join one (docs/quorum.md §8)`,
  [Reason.DOMAIN_DAMAGED]: () => "the domain record does not open under this device's master key: the flash is damaged or was altered; a reset clears it",
  [Reason.SHARE_UNREADABLE]: (a) =>
    `share ${a[0]} does not open with this device's identity key for this domain: the officer sealed it to another device or for another domain; nothing was done`,
  [Reason.SHARES_WRONG]: (a) =>
    `the ${a[0]} share${a[0] === 1 ? '' : 's'} given do not rebuild the domain's wrap key: too few (M officers must each re-seal theirs), one repeated, or of another domain; nothing was done`,
  [Reason.DOMAIN_MISMATCH]: () => "the backup belongs to another domain than this device's; restore it on a device of its domain",
  [Reason.BACKUP_DAMAGED]: () => 'the backup does not open under the domain key: it was altered or truncated, or is not a tinyhsm backup; nothing was restored',
  [Reason.NOT_EXPORTABLE]: (a) => `key ${a[0]} does not allow export-under-wrap: it never leaves this device; nothing was exported`,
  [Reason.KEY_ID_TAKEN]: (a) => `this device has a key with id ${a[0]} already; delete it first or restore on another device; nothing was restored`,
  [Reason.KEY_REPEATED]: (a) => `key ${a[0]} is named twice in the request; name each key once`,
  [Reason.OFFICER_KEY_INVALID]: (a) => `officer ${a[0]}'s public key is not an Ed25519 point, so no share could be sealed to it; check the .pub file`,
  [Reason.NOT_ED25519]: (a) => `key ${a[0]} is ${algText(a[1])}; only an Ed25519 officer key opens a domain share`,
  [Reason.RECIPIENT_INVALID]: () => "the recipient is not an Ed25519 public key (not a point of the curve); give the joining device's identity key",
  [Reason.AUDIT_LOG_FULL]: (a, c) =>
    `${cmd(c)} was refused: forced audit is on and ${a[0]} of the audit log's ${a[1]} entries are not collected yet; the auditor runs \`tinyhsm audit pull --ack\`, then retry`,
  [Reason.NO_AUDITOR]: () => 'no auditor PIN is set; the SO sets one first (`tinyhsm audit settings --new-auditor-pin PIN`)',
  [Reason.AUDIT_LOCKED]: () => 'forced audit is locked on; only a RESET turns it off',
  [Reason.ACK_AHEAD]: (a) => `entry ${a[0]} does not exist yet: the newest entry is ${a[1]}; acknowledge only entries you have pulled`,
  [Reason.AUDIT_NOT_RECORDED]: (a) =>
    `the audit entry for ${commandText(a[0])} could not be written (the flash store is full), so its result was withheld and nothing changed; delete a key to make room`,
  [Reason.LOCK_NEEDS_FORCED]: () => 'locking forced audit needs forced audit on: give --forced on with --lock',
  [Reason.DIGEST_WRONG_LENGTH]: (a) =>
    `the digest is ${a[0]} bytes; this key signs a ${a[1]}-byte one (${a[1] === 64 ? 'Ed25519ph: SHA-512 of the message' : 'ECDSA: SHA-256 of the message'})`,
  [Reason.PREHASH_NEEDS_DIGEST]: () => 'prehashed (Ed25519ph) signs a digest: send the 64-byte SHA-512 of the message as digest (key 3), not the message',
  [Reason.CONTEXT_NEEDS_PREHASH]: () => 'a context (key 5) is only for prehashed (Ed25519ph) signatures; drop it or set prehashed',
  [Reason.PREHASH_ED25519_ONLY]: (a) => `key ${a[0]} is ${algText(a[1])}: prehashed (Ed25519ph) is for Ed25519 keys; ECDSA signs the digest as it is`,
  [Reason.STREAM_ED25519_ONLY]: (a) =>
    `key ${a[0]} is ${algText(a[1])}: only Ed25519 streams a message; for ECDSA hash the message on the host and send its SHA-256 to SIGN (HsmClient.sign does)`,
  [Reason.NO_SIGN_STREAM]: () =>
    'no streamed signature is open in this session: send SIGN_BEGIN first (a stream ends with its signature, an error, a new SIGN_BEGIN, a logout or the session)',
  [Reason.STREAM_POSITION]: (a) => `that chunk is not the next one: the device expects pass ${a[0]} at offset ${a[1]}; nothing changed`,
  [Reason.STREAM_PAST_END]: (a) => `that chunk runs past the ${a[0]} bytes SIGN_BEGIN announced; nothing changed`,
  [Reason.STREAM_MISMATCH]: (a) =>
    `pass ${a[0]} did not stream the message whose SHA-256 SIGN_BEGIN gave (did the file change?): the stream is ended and no signature was made; sign again`,
  [Reason.STREAM_KEY_CHANGED]: (a) => `key ${a[0]} was deleted or its policy changed while its message streamed: the stream is ended and no signature was made`,
  [Reason.DEVICE_GONE]: (a) =>
    a[0] === 1
      ? "the connector's device went away (unplugged, or its simulator stopped) while it had this request: it may have run; check before you repeat a change"
      : "the connector's device went away before this request reached it: it did not run; retry once the device is back",
  [Reason.DEVICE_ABSENT]: (a) => `the connector has had no device for ${a[0]} ms: this request did not run`,
  [Reason.QUEUE_CANCELLED]: () => "cancelled while it waited in the connector's queue: it never reached the device",
  [Reason.NOT_IN_THIS_BUILD]: (_a, c) =>
    `this board's firmware build leaves ${c.command ?? 'this command'} out (docs/boards.md "What each board leaves out": the domain, backup and restore on the Pico and Espruino, INFO withoutDomain; the streamed SIGN on Espruino); use a board that carries it`,
};

/** A command by its code: "RESET (0x17)". */
function commandText(code: number | undefined): string {
  const name = code === undefined ? undefined : nameOf(Command, code);
  return name ? `${name} (${hex2(code)})` : `command ${hex2(code)}`;
}

/**
 * The sentence for a reason and its arguments. An unknown reason (a newer device) renders generically with its
 * number and arguments, so nothing the device said is lost.
 */
export function renderReason(reason: number | undefined, args: readonly number[], c: RenderContext = {}): string {
  if (reason === undefined) return 'the device gave no reason';
  const r = RENDER[reason];
  if (r === undefined) return `reason ${reason}${args.length ? ` (${args.join(', ')})` : ''}, which this host does not know; update the host`;
  return r(args, c);
}

/** renderReason for a decoded ErrorDetail (a protocol decoder's Err, a boot problem). */
export function renderDetail(d: ErrorDetail, c: RenderContext = {}): string {
  return renderReason(d.reason, d.args, c);
}

/**
 * The details map of an error response ({1: reason, 2: arg0, …}, docs/protocol.md "Error details") as
 * reason and arguments. Arguments stop at the first missing key; anything that is not an integer is left out.
 */
export function errorDetailOf(map: Map<number, unknown>): { reason: number | undefined; args: number[] } {
  const r = map.get(1);
  const args: number[] = [];
  for (let k = 2; ; k++) {
    const v = map.get(k);
    if (typeof v !== 'number') break;
    args.push(v);
  }
  return { reason: typeof r === 'number' ? r : undefined, args };
}

// HsmClient: one typed async method per command, each request encoded from its COMMANDS declaration; the link (host/link.ts) carries it, in the clear or in the secure session that host/session-keeper.ts keeps (docs/architecture.md §7).
import { randomBytes } from 'node:crypto';
import {
  ALG_NAMES,
  Alg,
  Command,
  sentInClear,
  ROLE_NAMES,
  Role,
  algId,
  type InfoResponse,
  type KeyListEntry,
  type KeyPolicy,
  type KeySetPolicyResponse,
  type KeyPublicResponse,
  type Message,
  type AuditCheckpointResponse,
} from '../firmware/protocol/index.ts';
import { HsmError } from './errors.ts';
import { verifyAttestation, type VerifiedAttestation } from './attest.ts';
import { capabilityBits } from './policy.ts';
import type { HostSession } from './session.ts';
import type { HostTransport } from './transports/types.ts';
import { Link, type CallOptions, type LinkOptions } from './link.ts';
import { SessionKeeper, type PinState, type SessionOptions } from './session-keeper.ts';
import { encodeRequest, inClear, wipeIfSecret } from './messages.ts';
import { loginCredentials, pinBytes, roleId, type Credentials, type PinInput, type RoleName } from './credentials.ts';
import { openDevice, type DeviceOptions } from './open-device.ts';
import type { ApprovalRequest, ApprovalSet } from './approvals.ts';
import { checkpointVerifies, splitEntries, type AuditEntry } from './audit.ts';
import { bytesSource, hashSource, pieces, readAll, type MessageSource } from './message-source.ts';
import { MAX_DATA, MAX_STREAM } from '../firmware/protocol/commands/limits.ts';

/** An AUDIT_CHECKPOINT answer whose signature verified, with what it was checked against. */
export interface VerifiedCheckpoint extends AuditCheckpointResponse {
  nonce: Uint8Array;
  deviceId: Uint8Array;
  identityKey: Uint8Array;
}

export type { CallOptions, KeepaliveEvent } from './link.ts';
export type { PinState } from './session-keeper.ts';
export type { PinInput, RoleName } from './credentials.ts';
export { pinBytes, roleId } from './credentials.ts';
export { openTransport } from './open-device.ts';

export interface ClientOptions extends LinkOptions, SessionOptions {
  /**
   * Log in with this role and PIN before the first command that needs a role, and again in every new session the
   * client has to open (idle timeout, device restart). Same as calling login() first, but lazy.
   */
  login?: { role: RoleName | number; pin: PinInput };
}

/** Policy fields a new key may ask for (absent: the device's defaults, docs/security.md §6). */
export interface KeyPolicyOptions {
  /** Bits (codes.ts Capability) or names: 'sign', 'derive', 'encrypt', 'decrypt', 'export-under-wrap'. */
  capabilities?: number | readonly string[];
  /** PKCS#11 CKA_SENSITIVE (default true; only ever becomes true). */
  sensitive?: boolean;
  /** A button press for every SIGN / ECDH (default false; only ever becomes true). */
  touch?: boolean;
  /** Deleting the key needs M officer approvals (default false; clearing it needs them too: docs/quorum.md §3). */
  protected?: boolean;
}

export interface KeyOptions extends CallOptions, KeyPolicyOptions {}

export interface AttestOptions extends CallOptions {
  /** The host nonce (16–64 bytes); default 32 fresh random bytes. */
  nonce?: Uint8Array;
  /** Also require the statement's public key to be this one. */
  publicKey?: Uint8Array;
}

/** HsmClient.open's options: the client's, and how to open the device (host/open-device.ts). */
export interface OpenOptions extends ClientOptions, DeviceOptions {}

export interface KeyPair {
  keyId: number;
  publicKey: Uint8Array;
}

/**
 * What SIGN signs: a message (bytes, or a MessageSource of any length: host/message-source.ts), or a digest the caller
 * made (ECDSA: SHA-256, 32 bytes; Ed25519 with `prehashed`: SHA-512, 64 bytes). `prehashed` signs Ed25519ph
 * (RFC 8032 §5.1) with an optional `context` (≤ 255 bytes); given a message, the host hashes it with SHA-512.
 */
export type SignInput =
  | { message: Uint8Array | MessageSource; digest?: undefined; prehashed?: boolean; context?: Uint8Array }
  | { digest: Uint8Array; message?: undefined; prehashed?: boolean; context?: Uint8Array };

export interface SignOptions extends CallOptions {
  /** Progress of a long message: bytes read so far (by the host's hash and the device's passes) out of `total`. */
  onProgress?: (done: number, total: number) => void;
}

/** An algorithm's host-facing name ('ed25519', …) from its wire id; the number as text if unknown. */
export function algName(id: number): string {
  return ALG_NAMES[id] || String(id);
}

/** Wire id of an algorithm given by name or id; throws a BAD_ARGUMENT HsmError for anything else. */
export function resolveAlg(alg: string | number): number {
  if (typeof alg === 'number') return alg;
  const id = algId(alg.toLowerCase());
  if (id === undefined) throw new HsmError('BAD_ARGUMENT', `unknown algorithm "${alg}": use one of ${Object.values(ALG_NAMES).join(', ')}`);
  return id;
}

export class HsmClient {
  readonly transport: HostTransport;
  private readonly link: Link;
  private readonly keeper: SessionKeeper;
  /** Key id → algorithm, for sign() to choose how a long message goes (algOf). */
  private readonly algs = new Map<number, number>();

  constructor(transport: HostTransport, opts: ClientOptions = {}) {
    this.transport = transport;
    // checked before the link takes the transport's data: a constructor that throws leaves the transport as it was
    const credentials = opts.login ? loginCredentials(opts.login) : undefined;
    this.link = new Link(transport, opts);
    this.keeper = new SessionKeeper(this.link, opts, credentials);
  }

  /**
   * Connect to a device. `device` (else $HSM_DEVICE): 'sim' boots an in-process simulator; 'unix:PATH'
   * or a path that is a unix socket connects to `tinyhsm sim --socket`; 'armor:PATH' opens a serial port
   * in text-armor mode (Kaluma); any other path is a serial port or pty (raw binary, 115200 baud).
   * Nothing given: discovery picks the first serial port that answers INFO.
   */
  static async open(device?: string, opts: OpenOptions = {}): Promise<HsmClient> {
    return new HsmClient(await openDevice(device, opts), opts);
  }

  // The keeper's state under the names this class has always used for it (tests look at them too).
  private get session(): HostSession | undefined {
    return this.keeper.session;
  }
  private get pinned(): { deviceId: string; identityKey: string } | undefined {
    return this.keeper.pinned;
  }
  private get credentials(): Credentials | undefined {
    return this.keeper.credentials;
  }

  // ---------------------------------------------------------------- commands

  /** INFO travels in the clear (docs/protocol.md §6): it works before a device is pinned. */
  info(opts?: CallOptions): Promise<InfoResponse> {
    return this.callClear(Command.INFO, {}, opts) as Promise<unknown> as Promise<InfoResponse>;
  }

  async echo(data: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.callClear(Command.ECHO, { data }, opts)).data as Uint8Array;
  }

  async random(length: number, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.RANDOM, { length }, opts)).bytes as Uint8Array;
  }

  // ---- initialization and roles (docs/security.md §1–§4)

  /**
   * INIT a factory-new device: user PIN, SO PIN (6–64 bytes each; a string is sent as UTF-8) and an optional
   * label, and optionally the officers and their threshold, enrolled in the same transaction (docs/quorum.md §1). It
   * does not log in. ALREADY_INITIALIZED on a device that has PINs.
   */
  async init(
    p: { userPin: PinInput; soPin: PinInput; label?: string; officers?: { threshold: number; officers: { publicKey: Uint8Array; label: string }[] } },
    opts?: CallOptions,
  ): Promise<void> {
    const userPin = pinBytes(p.userPin, 'the user PIN');
    let soPin: Uint8Array | undefined;
    try {
      soPin = pinBytes(p.soPin, 'the SO PIN');
      const quorum = p.officers ? this.officersRequest(p.officers.threshold, p.officers.officers) : {};
      await this.call(Command.INIT, { userPin, soPin, label: p.label, ...quorum }, opts);
    } finally {
      userPin.fill(0);
      if (soPin) soPin.fill(0);
    }
  }

  /**
   * Log this client's session in as `role` ('user' for key use, 'so' for administration). The client keeps the PIN
   * (in a buffer it wipes on logout(), close() and at exit) to log in again by itself whenever it has to open a new
   * session. A session holds one role: a client logged in as the other role logs out first. A wrong PIN spends a try
   * (PIN_INCORRECT says how many are left) and is not kept.
   */
  async login(role: RoleName | number, pin: PinInput, opts: CallOptions = {}): Promise<void> {
    const r = roleId(role);
    const bytes = pinBytes(pin, `the ${ROLE_NAMES[r] === 'so' ? 'SO' : ROLE_NAMES[r]} PIN`);
    return this.keeper.login(r, bytes, opts);
  }

  /** Drop the session's role (LOGOUT) and wipe the kept PIN; the session stays open. */
  async logout(opts: CallOptions = {}): Promise<void> {
    return this.keeper.logout(opts);
  }

  /** The role this client logs in with ('user', 'so'), or undefined when it holds no PIN. */
  get role(): RoleName | undefined {
    return this.credentials ? (ROLE_NAMES[this.credentials.role] as RoleName) : undefined;
  }

  /**
   * Replace the PIN of `role` (CHANGE_PIN). The old PIN is checked as a LOGIN would check it (it spends a try first).
   * The device wants the session logged in as `role`: the client logs in with `oldPin` first unless it already is.
   * Afterwards the client keeps the new PIN for logging in again.
   */
  async changePin(role: RoleName | number, oldPin: PinInput, newPin: PinInput, opts: CallOptions = {}): Promise<void> {
    const r = roleId(role);
    const oldBytes = pinBytes(oldPin, 'the old PIN');
    let newBytes: Uint8Array | undefined;
    try {
      newBytes = pinBytes(newPin, 'the new PIN');
      if (!this.credentials || this.credentials.role !== r) await this.login(r, oldBytes, opts);
      await this.run(Command.CHANGE_PIN, { role: r, oldPin: oldBytes, newPin: newBytes }, opts);
      if (this.keeper.keepNewPin(r, newBytes)) newBytes = undefined; // kept: not wiped below
    } finally {
      oldBytes.fill(0);
      if (newBytes) newBytes.fill(0);
    }
  }

  /** UNBLOCK: the SO (logged in as 'so') sets a new user PIN and restores the user's tries. */
  async unblock(newUserPin: PinInput, opts?: CallOptions): Promise<void> {
    const pin = pinBytes(newUserPin, 'the new user PIN');
    try {
      await this.call(Command.UNBLOCK, { newUserPin: pin }, opts);
    } finally {
      pin.fill(0);
    }
  }

  // ---- keys

  /** A key pair made inside the device; only the public key comes back. Policy fields left out take the device's defaults. */
  async generateKey(alg: string | number, label?: string, opts: KeyOptions = {}): Promise<KeyPair> {
    const r = await this.call(Command.KEY_GENERATE, { alg: resolveAlg(alg), label, ...policyRequest(opts) }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Store a private key made elsewhere (marked imported for ever; needs the SO role). The caller should wipe its copy. */
  async importKey(alg: string | number, privateKey: Uint8Array, label?: string, opts: KeyOptions = {}): Promise<KeyPair> {
    const r = await this.call(Command.KEY_IMPORT, { alg: resolveAlg(alg), label, privateKey, ...policyRequest(opts) }, opts);
    return { keyId: r.keyId as number, publicKey: r.publicKey as Uint8Array };
  }

  /** Every key with its policy; `alg` is the wire id (algName() gives its name). */
  async listKeys(opts?: CallOptions): Promise<KeyListEntry[]> {
    return (await this.call(Command.KEY_LIST, {}, opts)).keys as KeyListEntry[];
  }

  /** One key: algorithm, public key, label, origin and policy. */
  async publicKey(keyId: number, opts?: CallOptions): Promise<KeyPublicResponse> {
    const r = (await this.call(Command.KEY_PUBLIC, { keyId }, opts)) as unknown as KeyPublicResponse;
    // sign() chooses by algorithm: a caller that read the key first spares it asking again
    this.algs.set(keyId, r.alg);
    return r;
  }

  /**
   * Tighten a key's policy (KEY_SET_POLICY, user role): `capabilities` is the new set and may only lose bits,
   * `sensitive` and `touch` may only become true; anything looser is POLICY_LOOSENING and changes nothing.
   * Resolves with the policy as stored.
   */
  async keySetPolicy(keyId: number, policy: KeyPolicyOptions, opts?: CallOptions, approvals?: ApprovalSet): Promise<KeySetPolicyResponse> {
    return (await this.call(Command.KEY_SET_POLICY, { keyId, ...policyRequest(policy), ...approvals }, opts)) as unknown as KeySetPolicyResponse;
  }

  /** The request a loosening KEY_SET_POLICY sends, for the officers to approve (docs/quorum.md §3). */
  keySetPolicyRequest(keyId: number, policy: KeyPolicyOptions): object {
    return { keyId, ...policyRequest(policy) };
  }

  /**
   * APPROVAL_CHALLENGE, and with it what the officers sign for `command` with `request` (docs/quorum.md §2): the device
   * id, this fresh challenge (it replaces any earlier one), the command and its parameters. Any session, no login.
   */
  async approvalRequest(command: number, request: object, opts?: CallOptions): Promise<ApprovalRequest> {
    const { message, session } = await this.run(Command.APPROVAL_CHALLENGE, {}, opts || {});
    return { deviceId: session.deviceId, challenge: message.challenge as Uint8Array, command, request };
  }

  /**
   * Enrol officers (OFFICERS_SET, SO role): their Ed25519 public keys and labels, and the threshold M of them that
   * gated commands need. The first enrolment is the SO's alone; a later one needs `approvals` from M current officers
   * over the request officersRequest() gives.
   */
  async setOfficers(threshold: number, officers: { publicKey: Uint8Array; label: string }[], approvals?: ApprovalSet, opts?: CallOptions): Promise<void> {
    await this.call(Command.OFFICERS_SET, { ...this.officersRequest(threshold, officers), ...approvals }, opts);
  }

  /** The request setOfficers sends, for the officers to approve. */
  officersRequest(threshold: number, officers: { publicKey: Uint8Array; label: string }[]): object {
    return { threshold, officers: officers.map((o) => ({ publicKey: o.publicKey, label: o.label })) };
  }

  /**
   * RESET: erase every key, both PINs, the label and the officers; the device is factory-new with its id and identity
   * (docs/quorum.md §4). With officers enrolled it needs `approvals` from M of them (and no login); without, the SO.
   */
  async reset(approvals?: ApprovalSet, opts: CallOptions = {}): Promise<void> {
    const { session } = await this.run(Command.RESET, { ...approvals }, opts);
    // the device logged every session out and the PINs are gone: so is the role, and the kept PIN is wiped
    this.keeper.noteLogout(session);
  }

  /**
   * KEY_ATTEST with a fresh nonce, VERIFIED before it is returned (docs/security.md §8): the statement must be signed
   * by the identity key this client pinned (known-devices file, or in memory for its own simulator), answer this
   * nonce, and be about this device and this key. Throws ATTESTATION_INVALID otherwise.
   */
  async keyAttest(keyId: number, opts: AttestOptions = {}): Promise<VerifiedAttestation> {
    const nonce = opts.nonce ? new Uint8Array(opts.nonce) : new Uint8Array(randomBytes(32));
    const { message, session } = await this.run(Command.KEY_ATTEST, { keyId, nonce }, opts);
    const pinned = this.pinned;
    if (!pinned) throw new HsmError('ATTESTATION_INVALID', 'no identity key is pinned for this device', { command: 'KEY_ATTEST' });
    return verifyAttestation(
      { statement: message.statement as Uint8Array, signature: message.signature as Uint8Array },
      { identityKey: Buffer.from(pinned.identityKey, 'hex'), deviceId: session.deviceId, keyId, nonce, publicKey: opts.publicKey },
    );
  }

  /**
   * DOMAIN_CREATE (SO, officers enrolled, no domain yet): a wrap key made on the device, split M-of-N, one share sealed
   * to each officer's key (docs/quorum.md §8.1). Resolves with the domain id and the sealed shares in officer order.
   */
  async domainCreate(opts?: CallOptions): Promise<{ domainId: Uint8Array; shares: Uint8Array[] }> {
    const r = await this.call(Command.DOMAIN_CREATE, {}, opts);
    return { domainId: r.domainId as Uint8Array, shares: (r.shares as { sealed: Uint8Array }[]).map((s) => s.sealed) };
  }

  /** The request DOMAIN_JOIN sends, for this device's officers to approve: the domain id and the shares sealed to this device. */
  domainJoinRequest(domainId: Uint8Array, shares: Uint8Array[]): object {
    return { domainId, shares: shares.map((sealed) => ({ sealed })) };
  }

  /** DOMAIN_JOIN (SO, M approvals over domainJoinRequest()): take the domain's wrap key from shares sealed to this device's identity (docs/quorum.md §8.2). */
  async domainJoin(domainId: Uint8Array, shares: Uint8Array[], approvals: ApprovalSet, opts?: CallOptions): Promise<void> {
    await this.call(Command.DOMAIN_JOIN, { ...this.domainJoinRequest(domainId, shares), ...approvals }, opts);
  }

  /** BACKUP_EXPORT (SO, M approvals over { keyIds }): up to six keys allowing export-under-wrap, in one blob under the domain key (docs/quorum.md §9.1). */
  async backupExport(keyIds: number[], approvals: ApprovalSet, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.BACKUP_EXPORT, { keyIds, ...approvals }, opts)).blob as Uint8Array;
  }

  /** BACKUP_IMPORT (SO, M approvals over { blob }): restore a blob's keys on a device of its domain; resolves with their ids (docs/quorum.md §9.2). */
  async backupImport(blob: Uint8Array, approvals: ApprovalSet, opts?: CallOptions): Promise<number[]> {
    return (await this.call(Command.BACKUP_IMPORT, { blob, ...approvals }, opts)).keyIds as number[];
  }

  /**
   * SHARE_RESEAL (user): the officer key `keyId` on this device opens its domain share and seals it again to
   * `recipient`, a joining device's identity key, inside the device (docs/quorum.md §8.2); its policy and button apply.
   */
  async shareReseal(keyId: number, domainId: Uint8Array, sealed: Uint8Array, recipient: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.SHARE_RESEAL, { keyId, domainId, sealed, recipient }, opts)).sealed as Uint8Array;
  }

  /** AUDIT_READ (any role): up to 16 entries from index `from` (docs/audit.md §4), decoded; `next` and `oldest` say where the log stands. */
  async auditRead(from: number, opts?: CallOptions & { max?: number }): Promise<{ entries: AuditEntry[]; next: number; oldest: number }> {
    const r = await this.call(Command.AUDIT_READ, opts && opts.max !== undefined ? { from, max: opts.max } : { from }, opts);
    return { entries: splitEntries(r.entries as Uint8Array), next: r.next as number, oldest: r.oldest as number };
  }

  /** Every entry from index `from` (or the oldest held) up to the device's `next`, read 16 at a time with AUDIT_READ. */
  async auditReadAll(from: number, opts?: CallOptions): Promise<{ entries: AuditEntry[]; next: number; oldest: number }> {
    const entries: AuditEntry[] = [];
    let r = await this.auditRead(from, opts);
    const oldest = r.oldest;
    for (;;) {
      entries.push(...r.entries);
      const after = entries.length > 0 ? entries[entries.length - 1].index + 1 : r.next;
      if (r.entries.length === 0 || after >= r.next) return { entries, next: r.next, oldest };
      r = await this.auditRead(after, opts);
    }
  }

  /**
   * AUDIT_CHECKPOINT (any role) with a fresh nonce, VERIFIED before it is returned (docs/audit.md §5): signed by the
   * identity key this client pinned, over this device id and this nonce. Throws AUDIT_INVALID otherwise.
   */
  async auditCheckpoint(opts?: CallOptions): Promise<VerifiedCheckpoint> {
    const nonce = new Uint8Array(randomBytes(32));
    const { message, session } = await this.run(Command.AUDIT_CHECKPOINT, { nonce }, opts ?? {});
    const pinned = this.pinned;
    if (!pinned) throw new HsmError('AUDIT_INVALID', 'no identity key is pinned for this device', { command: 'AUDIT_CHECKPOINT' });
    const m = message as unknown as AuditCheckpointResponse;
    const identityKey = Buffer.from(pinned.identityKey, 'hex');
    if (!checkpointVerifies(identityKey, session.deviceId, m.next, m.head, nonce, m.signature))
      throw new HsmError('AUDIT_INVALID', `the checkpoint is not signed by the pinned identity key ${pinned.identityKey} over this nonce: refused`, {
        command: 'AUDIT_CHECKPOINT',
      });
    return { ...m, nonce, deviceId: session.deviceId, identityKey: new Uint8Array(identityKey) };
  }

  /** AUDIT_ACK (auditor): every entry up to `through` is collected; resolves with the new mark (docs/audit.md §6). */
  async auditAck(through: number, opts?: CallOptions): Promise<number> {
    return (await this.call(Command.AUDIT_ACK, { through }, opts)).acked as number;
  }

  /** AUDIT_SET (SO): forced audit on or off, locked on until RESET, and/or a new auditor PIN (docs/audit.md §6–§7). */
  async auditSet(settings: { forced?: boolean; lock?: boolean; auditorPin?: PinInput }, opts?: CallOptions): Promise<void> {
    const req: { forced?: boolean; lock?: boolean; auditorPin?: Uint8Array } = {};
    if (settings.forced !== undefined) req.forced = settings.forced;
    if (settings.lock !== undefined) req.lock = settings.lock;
    if (settings.auditorPin !== undefined) req.auditorPin = pinBytes(settings.auditorPin, 'the auditor PIN');
    try {
      await this.call(Command.AUDIT_SET, req, opts);
    } finally {
      if (req.auditorPin) req.auditorPin.fill(0);
    }
  }

  async deleteKey(keyId: number, opts?: CallOptions, approvals?: ApprovalSet): Promise<void> {
    await this.call(Command.KEY_DELETE, { keyId, ...approvals }, opts);
  }

  /**
   * Ed25519: over the whole message (PureEdDSA), of any length: one that does not fit a SIGN is streamed through the
   * device twice (SIGN_BEGIN, SIGN_UPDATE: docs/protocol.md §4.1), so neither side holds it whole. ECDSA: over
   * SHA-256(message), which the host computes when the message does not fit a SIGN, or over a given 32-byte digest;
   * raw r‖s, low-S. `prehashed`: Ed25519ph over SHA-512(message). The signature is 64 bytes.
   */
  async sign(keyId: number, input: SignInput, opts: SignOptions = {}): Promise<Uint8Array> {
    const { message, digest, prehashed, context } = input;
    const one = async (req: object) => (await this.call(Command.SIGN, { keyId, ...req }, opts)).signature as Uint8Array;
    if (message === undefined) return one({ digest, prehashed, context });
    if (message instanceof Uint8Array && message.length <= MAX_DATA && !prehashed) return one({ message });
    const src = message instanceof Uint8Array ? bytesSource(message) : message;
    if (src.length > MAX_STREAM) throw new HsmError('BAD_ARGUMENT', `the message is ${src.length} bytes; a signature covers at most ${MAX_STREAM}`);
    let done = 0;
    const total = prehashed ? src.length : 3 * src.length;
    const progress = (n: number) => {
      done += n;
      if (opts.onProgress) opts.onProgress(done, total);
    };
    if (prehashed) return one({ digest: await hashSource(src, 'sha512', progress), prehashed, context });
    if ((await this.algOf(keyId, opts)) !== Alg.ED25519) {
      // ECDSA signs SHA-256(message) (FIPS 186-5): the host hashes what does not fit, and the device signs the digest
      return one({ digest: await hashSource(src, 'sha256', src.length > MAX_DATA ? progress : undefined) });
    }
    if (src.length <= MAX_DATA) return one({ message: await readAll(src) });
    // docs/protocol.md §4.1: both passes must hash to this, or the device gives no signature
    const sha256 = await hashSource(src, 'sha256', progress);
    await this.call(Command.SIGN_BEGIN, { keyId, length: src.length, sha256 }, opts);
    for (const pass of [1, 2]) {
      let offset = 0;
      for await (const data of pieces(src, MAX_DATA)) {
        const r = await this.call(Command.SIGN_UPDATE, { pass, offset, data }, opts);
        offset += data.length;
        progress(data.length);
        if (r.signature instanceof Uint8Array) return r.signature;
      }
    }
    throw new HsmError('BAD_RESPONSE', 'the device took the whole streamed message twice and gave no signature');
  }

  /** A key's algorithm id, asked once per key id (ids are never reused: docs/protocol.md §4). */
  private async algOf(keyId: number, opts: CallOptions): Promise<number> {
    const known = this.algs.get(keyId);
    return known !== undefined ? known : (await this.publicKey(keyId, opts)).alg;
  }

  /** Shared secret between a device key (x25519 or ecdsa-p256) and a peer public key. */
  async ecdh(keyId: number, peerPublicKey: Uint8Array, opts?: CallOptions): Promise<Uint8Array> {
    return (await this.call(Command.ECDH, { keyId, publicKey: peerPublicKey }, opts)).sharedSecret as Uint8Array;
  }

  /**
   * Any command. `request` holds the fields by name and is encoded with the command's schema from
   * firmware/protocol/commands (a Map is sent as the raw CBOR map instead). Resolves with the decoded
   * response; rejects with an HsmError. A command goes in the clear when its gate allows it without a session
   * (COMMANDS' sentInClear: INFO, ECHO, SESSION_OPEN, SESSION_MESSAGE, as written); every other one travels inside
   * a secure session, which this opens (and verifies against the pinned identity) by itself. SESSION_CLOSE given
   * here closes that session.
   */
  async call(command: number | keyof typeof Command, request: object = {}, opts: CallOptions = {}): Promise<Message> {
    const r = encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.keeper.closing) throw this.keeper.closing;
    if (r.spec !== undefined && sentInClear(r.spec)) return this.link.send(inClear(r), opts);
    try {
      const { message, session } = await this.keeper.callInSession(r, opts);
      // a LOGIN or LOGOUT sent by hand changes the session's role all the same
      if (r.code === Command.LOGIN) {
        const role = (request as { role?: unknown }).role;
        if (typeof role === 'number') this.keeper.noteLogin(session, role);
      }
      if (r.code === Command.LOGOUT) this.keeper.noteLogout(session);
      return message;
    } finally {
      wipeIfSecret(r);
    }
  }

  /** A gated command through the session, returning the session it ran in; the plaintext body is wiped when it carried a secret. */
  private async run(command: number, request: object, opts: CallOptions): Promise<{ message: Message; session: HostSession }> {
    const r = encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.keeper.closing) throw this.keeper.closing;
    try {
      return await this.keeper.callInSession(r, opts);
    } finally {
      wipeIfSecret(r);
    }
  }

  /**
   * Any command in the clear, without a session, as call() encodes it. For INFO and ECHO, and for tests and
   * tools that must see what the device does with a bare request (a gated one is refused with SESSION_REQUIRED).
   */
  async callClear(command: number | keyof typeof Command, request: object = {}, opts: CallOptions = {}): Promise<Message> {
    const r = encodeRequest(command, request);
    if (r instanceof HsmError) throw r;
    if (this.keeper.closing) throw this.keeper.closing;
    return this.link.send(inClear(r), opts);
  }

  /** The device id and identity key (hex) this client accepted at its first handshake (checked against the pin), if any. */
  get pinnedIdentity(): { deviceId: string; identityKey: string } | undefined {
    return this.pinned ? { ...this.pinned } : undefined;
  }

  /** The session the next gated command will use, if one is open (tests, diagnostics). */
  get sessionId(): number | undefined {
    return this.session && !this.session.closed ? this.session.sessionId : undefined;
  }

  /** Whether a device (as INFO reports it) is pinned on this host; reads the known-devices file. */
  pinState(deviceId: Uint8Array, identityKey: Uint8Array): PinState {
    return this.keeper.pinState(deviceId, identityKey);
  }

  /**
   * Close the session (SESSION_CLOSE, best effort: the device also drops it at its idle timeout), wipe the
   * session keys, fail whatever is still waiting, and close the link.
   */
  async close(): Promise<void> {
    await this.keeper.close();
    await this.transport.close();
  }

  /**
   * What close() does, synchronously, for a process that is ending (ClientOptions.closeOnExit): SESSION_CLOSE sealed
   * and written at once where the link can write synchronously (no answer awaited), the PIN and the session keys
   * wiped. Where the link cannot write synchronously the device drops the session at its idle timeout.
   */
  closeSync(): void {
    this.keeper.closeSync();
  }
}

/** The policy fields of a request (KEY_GENERATE, KEY_IMPORT, KEY_SET_POLICY); absent fields stay absent. */
function policyRequest(p: KeyPolicyOptions): { capabilities?: number; sensitive?: boolean; touch?: boolean; protected?: boolean } {
  const out: { capabilities?: number; sensitive?: boolean; touch?: boolean; protected?: boolean } = {};
  if (p.capabilities !== undefined) out.capabilities = capabilityBits(p.capabilities);
  if (p.sensitive !== undefined) out.sensitive = p.sensitive;
  if (p.touch !== undefined) out.touch = p.touch;
  if (p.protected !== undefined) out.protected = p.protected;
  return out;
}

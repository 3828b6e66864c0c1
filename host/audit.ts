// The host's side of the audit log (docs/audit.md): decode entries, check the hash chain and a signed checkpoint with node:crypto, and keep a pulled log as JSON lines.
//
// Everything here is checked against bytes: an entry's digest is SHA-256 of its 80 bytes, entry i's prev is entry
// i−1's digest, and the checkpoint is Ed25519 over "tinyhsm/audit/v1" ‖ 0x00 ‖ device id ‖ next ‖ head ‖ nonce under
// the identity key this host pinned. A problem is named: a gap, an edit, a reorder, a rollback, a forged checkpoint.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Alg, Command, Status, nameOf, toHex } from '../firmware/protocol/index.ts';
import { publicKeyToSpkiDer } from './pubkey-format.ts';

export const ENTRY_LENGTH = 80;
const ZERO32 = '0'.repeat(64);

/** Event names by code (docs/audit.md §2). */
export const AUDIT_EVENTS: { readonly [code: number]: string } = { 1: 'request', 2: 'pin-try', 3: 'boot', 4: 'recovered' };
const ROLES: { readonly [code: number]: string } = { 0: 'none', 1: 'user', 2: 'so', 3: 'auditor' };

/** One entry, decoded; `entry` is its 80 bytes in hex, the only field the checks read. */
export interface AuditEntry {
  type: 'entry';
  index: number;
  /** ms since that boot of the device */
  time: number;
  event: string;
  command: string | undefined;
  status: string;
  reason: number;
  keyId: number;
  session: number;
  role: string;
  requestHash: string;
  prev: string;
  digest: string;
  entry: string;
}

/** A checkpoint as the device signed it, kept in the file so the file can be checked again offline. */
export interface AuditCheckpoint {
  type: 'checkpoint';
  next: number;
  head: string;
  nonce: string;
  signature: string;
  time: string;
}

/** The first line of a pulled file: which device the log belongs to. */
export interface AuditHeader {
  type: 'device';
  deviceId: string;
  identityKey: string;
}

/** A gap the pull found: entries overwritten on the device before anyone pulled them. */
export interface AuditGap {
  type: 'gap';
  from: number;
  to: number;
}

export type AuditLine = AuditHeader | AuditEntry | AuditCheckpoint | AuditGap;

/** What a check found wrong, named so a person can act: which entry, and what it means. */
export interface AuditProblem {
  kind: 'gap' | 'edit' | 'reorder' | 'rollback' | 'checkpoint' | 'format';
  index?: number;
  message: string;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Decode 80 entry bytes (docs/audit.md §2). Throws a TypeError on another length. */
export function decodeEntry(b: Uint8Array): AuditEntry {
  if (b.length !== ENTRY_LENGTH) throw new TypeError(`an audit entry has ${ENTRY_LENGTH} bytes, not ${b.length}`);
  const v = Buffer.from(b);
  const command = v[9];
  return {
    type: 'entry',
    index: v.readUInt32BE(0),
    time: v.readUInt32BE(4),
    event: AUDIT_EVENTS[v[8]] ?? `event ${v[8]}`,
    command: command === 0 ? undefined : (nameOf(Command, command) ?? `0x${command.toString(16)}`),
    status: nameOf(Status, v[10]) ?? `0x${v[10].toString(16)}`,
    reason: v[11],
    keyId: v.readUInt16BE(12),
    session: v[14],
    role: ROLES[v[15]] ?? `role ${v[15]}`,
    requestHash: v.subarray(16, 48).toString('hex'),
    prev: v.subarray(48, 80).toString('hex'),
    digest: sha256Hex(b),
    entry: v.toString('hex'),
  };
}

/** Split AUDIT_READ's entries field into decoded entries. */
export function splitEntries(bytes: Uint8Array): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (let i = 0; i + ENTRY_LENGTH <= bytes.length; i += ENTRY_LENGTH) out.push(decodeEntry(bytes.subarray(i, i + ENTRY_LENGTH)));
  return out;
}

/** The bytes the identity key signs for a checkpoint (docs/audit.md §5). */
export function checkpointStatement(deviceId: Uint8Array, next: number, head: Uint8Array, nonce: Uint8Array): Buffer {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(next >>> 0);
  return Buffer.concat([Buffer.from('tinyhsm/audit/v1', 'utf8'), Buffer.of(0), deviceId, n, head, nonce]);
}

/** Whether `signature` is the identity key's over the checkpoint (node:crypto, not the device's code). */
export function checkpointVerifies(
  identityKey: Uint8Array,
  deviceId: Uint8Array,
  next: number,
  head: Uint8Array,
  nonce: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (identityKey.length !== 32 || signature.length !== 64) return false;
  const key = createPublicKey({ key: Buffer.from(publicKeyToSpkiDer(Alg.ED25519, identityKey)), format: 'der', type: 'spki' });
  return nodeVerify(null, checkpointStatement(deviceId, next, head, nonce), key, signature);
}

/** The chain's state after some entries: the last index seen and its digest. */
export interface ChainTip {
  index: number;
  digest: string;
}

/**
 * Check entries in order: each one's fields are its bytes, its index follows, its prev is the digest before it.
 * `tip` is where a file (or an earlier pull) ended; `gaps` are the gaps a pull already recorded (reported, not
 * errors of the chain). Returns the problems and the new tip.
 */
export function checkChain(entries: AuditEntry[], tip: ChainTip | undefined): { problems: AuditProblem[]; tip: ChainTip | undefined } {
  const problems: AuditProblem[] = [];
  let t = tip;
  for (const e of entries) {
    let bytes: Buffer;
    try {
      bytes = Buffer.from(e.entry, 'hex');
      if (bytes.length !== ENTRY_LENGTH) throw new Error('length');
    } catch {
      problems.push({ kind: 'format', index: e.index, message: `the line for entry ${e.index} holds no 80-byte entry: it was altered` });
      continue;
    }
    const d = decodeEntry(bytes);
    // a field changed in the JSON but not in the bytes is an edit too: the bytes are what the chain signs
    for (const k of ['index', 'time', 'event', 'command', 'status', 'reason', 'keyId', 'session', 'role', 'requestHash', 'prev'] as const)
      if (JSON.stringify(d[k]) !== JSON.stringify(e[k])) {
        problems.push({
          kind: 'edit',
          index: d.index,
          message: `entry ${d.index}: its ${k} says ${JSON.stringify(e[k])} but its bytes say ${JSON.stringify(d[k])}: the line was altered`,
        });
        break;
      }
    if (t !== undefined) {
      if (d.index <= t.index) {
        problems.push({ kind: 'reorder', index: d.index, message: `entry ${d.index} comes after entry ${t.index}: entries were reordered or repeated` });
        continue;
      }
      if (d.index > t.index + 1)
        problems.push({
          kind: 'gap',
          index: t.index + 1,
          message: `entries ${t.index + 1}..${d.index - 1} are missing: dropped from the file, or overwritten on the device before they were pulled`,
        });
      else if (d.prev !== t.digest)
        problems.push({
          kind: 'edit',
          index: d.index,
          message: `entry ${d.index} does not chain to entry ${t.index}: one of them was altered, or an entry between them replaced`,
        });
    } else if (d.index === 0 && d.prev !== ZERO32) problems.push({ kind: 'edit', index: 0, message: 'entry 0 names a previous entry: it was altered' });
    t = { index: d.index, digest: d.digest };
  }
  return { problems, tip: t };
}

/** A checkpoint held against a chain tip: the signature under the pinned identity, and the head it names. */
export function checkCheckpoint(
  cp: { next: number; head: string; nonce: string; signature: string },
  who: { deviceId: string; identityKey: string },
  digestAt: (index: number) => string | undefined,
): AuditProblem[] {
  const ok = checkpointVerifies(
    Buffer.from(who.identityKey, 'hex'),
    Buffer.from(who.deviceId, 'hex'),
    cp.next,
    Buffer.from(cp.head, 'hex'),
    Buffer.from(cp.nonce, 'hex'),
    Buffer.from(cp.signature, 'hex'),
  );
  if (!ok)
    return [
      {
        kind: 'checkpoint',
        message: `the checkpoint at ${cp.next} is not signed by identity ${who.identityKey} of device ${who.deviceId}: forged, or another device's`,
      },
    ];
  if (cp.next === 0) return [];
  const mine = digestAt(cp.next - 1);
  if (mine !== undefined && mine !== cp.head)
    return [{ kind: 'edit', index: cp.next - 1, message: `entry ${cp.next - 1} is not the entry the device signed in its checkpoint: the log was altered` }];
  return [];
}

/** Read a pulled file (JSON lines). Throws an Error naming the line that does not parse. */
export function readAuditFile(path: string): AuditLine[] {
  if (!existsSync(path)) return [];
  return parseAuditLines(readFileSync(path, 'utf8'), path);
}

/** The lines of a pulled file's text (`name` for messages: its path, or "standard input"). */
export function parseAuditLines(text: string, name: string): AuditLine[] {
  const out: AuditLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    try {
      out.push(JSON.parse(lines[i]) as AuditLine);
    } catch {
      throw new Error(`${name}:${i + 1} is not JSON: the file was damaged`);
    }
  }
  return out;
}

/**
 * Verify a whole pulled file offline: the header, the chain of its entries (gaps the pull recorded are named as
 * gaps), and every checkpoint in it against the header's identity key. Returns the problems and the tip.
 */
export function verifyAuditLines(lines: AuditLine[]): {
  header: AuditHeader | undefined;
  problems: AuditProblem[];
  tip: ChainTip | undefined;
  entries: number;
  digests: Map<number, string>;
} {
  const header = lines[0] && lines[0].type === 'device' ? lines[0] : undefined;
  const problems: AuditProblem[] = header
    ? []
    : [{ kind: 'format', message: 'the file does not start with its device line: it was altered or is not a tinyhsm audit log' }];
  let tip: ChainTip | undefined;
  let entries = 0;
  const digests = new Map<number, string>();
  for (const line of lines) {
    if (line.type === 'entry') {
      const r = checkChain([line], tip);
      problems.push(...r.problems);
      tip = r.tip;
      if (tip) digests.set(tip.index, tip.digest);
      entries++;
    } else if (line.type === 'gap') {
      // recorded by the pull: the entries after it start a new stretch of the chain
      problems.push({ kind: 'gap', index: line.from, message: `entries ${line.from}..${line.to} were overwritten on the device before they were pulled` });
      tip = undefined;
    } else if (line.type === 'checkpoint' && header) problems.push(...checkCheckpoint(line, header, (i) => digests.get(i)));
  }
  return { header, problems, tip, entries, digests };
}

export { toHex };

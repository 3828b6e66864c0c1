// An independent verifier of the audit log, written from docs/audit.md alone: §2 (the 80-byte entry, its digest, the
// events, the request hash), §4 (AUDIT_READ: entries, next, oldest) and §5 (AUDIT_CHECKPOINT, the signed statement,
// and the verifying steps with their named failures: gap, edit, reorder, rollback). It uses node:crypto and Buffer
// only; nothing of host/ or firmware/core/ parses or checks anything here. The device is only driven through the
// test helpers (transport), and the verifier must agree with it byte for byte.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { createHash, createPublicKey, randomBytes, verify as edVerify } from 'node:crypto';
import { Alg, Command, Role, Status } from '../../firmware/protocol/codes.ts';
import { TEST_USER_PIN_TEXT, field, requestBodyOf, startTestDevice, type Reply, type TestDevice } from '../helpers/loopback.ts';
import { inSession, loggedIn, newSession, pin } from '../helpers/auth-cut.ts';
import { NorFlash } from '../helpers/nor-flash.ts';

// ───────────────────────────── the verifier (docs/audit.md §2, §4, §5) ─────────────────────────────

/** §2: an entry is exactly 80 bytes, every number big-endian. */
const ENTRY_SIZE = 80;
const ZERO32 = Buffer.alloc(32);
/** §2 events. */
const EV = { REQUEST: 1, PIN_TRY: 2, BOOT: 3, RECOVERED: 4 } as const;

interface Entry {
  /** The 80 bytes as pulled (a copy). */
  bytes: Buffer;
  index: number;
  time: number;
  event: number;
  command: number;
  status: number;
  reason: number;
  keyId: number;
  session: number;
  role: number;
  requestHash: Buffer;
  prev: Buffer;
  /** §2: SHA-256 over all 80 bytes. */
  digest: Buffer;
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** §2: decode one 80-byte entry (offsets from the table). */
function decodeEntry(raw: Uint8Array): Entry {
  if (raw.length !== ENTRY_SIZE) throw new Error('an entry is 80 bytes, got ' + raw.length);
  const b = Buffer.from(raw); // a copy
  return {
    bytes: b,
    index: b.readUInt32BE(0),
    time: b.readUInt32BE(4),
    event: b[8],
    command: b[9],
    status: b[10],
    reason: b[11],
    keyId: b.readUInt16BE(12),
    session: b[14],
    role: b[15],
    requestHash: b.subarray(16, 48),
    prev: b.subarray(48, 80),
    digest: sha256(b),
  };
}

/** §4: AUDIT_READ's `entries` is consecutive 80-byte entries; cut them apart (raw bytes, undecoded). */
function splitEntries(bytes: Uint8Array): Buffer[] {
  if (bytes.length % ENTRY_SIZE !== 0) throw new Error('entries field is not a multiple of 80 bytes: ' + bytes.length);
  const out: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += ENTRY_SIZE) out.push(Buffer.from(bytes.subarray(o, o + ENTRY_SIZE)));
  return out;
}

/** §5: statement = utf8("tinyhsm/audit/v1") ‖ 0x00 ‖ deviceId (16) ‖ next (4, big-endian) ‖ head (32) ‖ nonce. */
function checkpointStatement(deviceId: Uint8Array, next: number, head: Uint8Array, nonce: Uint8Array): Buffer {
  if (deviceId.length !== 16) throw new Error('deviceId is 16 bytes');
  if (head.length !== 32) throw new Error('head is 32 bytes');
  const n = Buffer.alloc(4);
  n.writeUInt32BE(next >>> 0);
  return Buffer.concat([Buffer.from('tinyhsm/audit/v1', 'utf8'), Buffer.from([0x00]), Buffer.from(deviceId), n, Buffer.from(head), Buffer.from(nonce)]);
}

/** Ed25519 (RFC 8032, pure) with node:crypto, the raw 32-byte public key wrapped in its SPKI DER prefix. */
function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKey)]);
  try {
    return edVerify(null, Buffer.from(message), createPublicKey({ key: spki, format: 'der', type: 'spki' }), Buffer.from(signature));
  } catch {
    return false;
  }
}

interface Checkpoint {
  next: number;
  head: Uint8Array;
  signature: Uint8Array;
}

/** §5 step 1: the signature over the statement, with the pinned identity key, this device's id and this nonce. */
function checkpointVerifies(identityKey: Uint8Array, deviceId: Uint8Array, nonce: Uint8Array, cp: Checkpoint): boolean {
  if (cp.head.length !== 32 || cp.signature.length !== 64) return false;
  return ed25519Verify(identityKey, checkpointStatement(deviceId, cp.next, cp.head, nonce), cp.signature);
}

type Kind = 'gap' | 'edit' | 'reorder' | 'rollback' | 'checkpoint';
interface Problem {
  kind: Kind;
  /** The index the problem is about (for an edit: the entry whose digest is not what the chain or head commits to). */
  index: number;
  detail: string;
}

/** What a host kept from an earlier pull: its last entry's index and digest (§5 step 3). */
interface Held {
  index: number;
  digest: Buffer;
}

/**
 * §5 "Verifying", steps 1 to 4, over a pulled copy: `entries` are the 80-byte entries in the order they were pulled,
 * `cp` the checkpoint answer, `nonce` the one this host sent, `held` what an earlier pull left (or nothing: then the
 * copy must start at entry 0). Every failure is named: gap (an index missing), edit (a prev that does not match, or a
 * head that does not), reorder (an index not above the one before), rollback (next not above an index held, or
 * another entry at an index held), checkpoint (the signature does not verify: not this device's, or replayed).
 */
function verifyPull(args: { entries: Uint8Array[]; cp: Checkpoint; nonce: Uint8Array; identityKey: Uint8Array; deviceId: Uint8Array; held?: Held }): Problem[] {
  const { cp, held } = args;
  const problems: Problem[] = [];
  // step 1
  if (!checkpointVerifies(args.identityKey, args.deviceId, args.nonce, cp))
    problems.push({ kind: 'checkpoint', index: cp.next, detail: 'the checkpoint signature does not verify for this device, key and nonce' });
  // rollback: the device's next is not above the index already held
  if (held !== undefined && cp.next <= held.index) {
    problems.push({ kind: 'rollback', index: held.index, detail: 'the device says next = ' + cp.next + ', not above index ' + held.index + ' already held' });
    return problems;
  }
  const entries = args.entries.map(decodeEntry);
  // reorder: an index not above the one before (in the order pulled)
  let highest = -1;
  for (const e of entries) {
    if (e.index <= highest) problems.push({ kind: 'reorder', index: e.index, detail: 'entry ' + e.index + ' comes after entry ' + highest });
    else highest = e.index;
  }
  const byIndex = new Map<number, Entry>();
  for (const e of entries) if (!byIndex.has(e.index)) byIndex.set(e.index, e);
  // where this pull must start: the held entry (which the device must still hold unchanged), else entry 0
  const start = held !== undefined ? held.index : 0;
  if (held !== undefined) {
    const again = byIndex.get(held.index);
    if (again !== undefined && !again.digest.equals(held.digest))
      problems.push({ kind: 'rollback', index: held.index, detail: 'the device holds another entry at index ' + held.index + ' than the one pulled before' });
  }
  // gaps: indices from where we stand up to next − 1 that the copy lacks
  let gapFrom = -1;
  for (let i = start; i <= cp.next; i++) {
    const missing = i < cp.next && !byIndex.has(i) && !(held !== undefined && i === held.index);
    if (missing && gapFrom < 0) gapFrom = i;
    if (!missing && gapFrom >= 0) {
      problems.push({ kind: 'gap', index: gapFrom, detail: 'entries ' + gapFrom + '..' + (i - 1) + ' are missing' });
      gapFrom = -1;
    }
  }
  // entries beyond what the signed head covers
  for (const e of entries)
    if (e.index >= cp.next) problems.push({ kind: 'edit', index: e.index, detail: 'entry ' + e.index + ' is beyond the signed next ' + cp.next });
  // links, in index order: entry i's prev is the digest of entry i − 1; entry 0's prev is zero
  for (const [i, e] of [...byIndex.entries()].sort((a, b) => a[0] - b[0])) {
    if (i >= cp.next) continue;
    if (i === 0) {
      if (!e.prev.equals(ZERO32)) problems.push({ kind: 'edit', index: 0, detail: "entry 0's prev is not 32 zero bytes" });
      continue;
    }
    const before = byIndex.get(i - 1);
    const beforeDigest = before !== undefined ? before.digest : held !== undefined && i - 1 === held.index ? held.digest : undefined;
    if (beforeDigest === undefined) continue; // not checkable: a gap (named above) or before where we stand
    if (!e.prev.equals(beforeDigest))
      problems.push({
        kind: held !== undefined && i - 1 === held.index && before === undefined ? 'rollback' : 'edit',
        index: i - 1,
        detail: 'entry ' + i + "'s prev is not the digest of entry " + (i - 1),
      });
  }
  // step 4: the digest of entry next − 1 is the signed head (next = 0: the head is zero)
  if (cp.next === 0) {
    if (!Buffer.from(cp.head).equals(ZERO32)) problems.push({ kind: 'edit', index: 0, detail: 'next is 0 but the head is not zero' });
  } else {
    const last = byIndex.get(cp.next - 1);
    const lastDigest = last !== undefined ? last.digest : held !== undefined && held.index === cp.next - 1 ? held.digest : undefined;
    if (lastDigest !== undefined && !lastDigest.equals(Buffer.from(cp.head)))
      problems.push({ kind: 'edit', index: cp.next - 1, detail: 'the digest of entry ' + (cp.next - 1) + ' is not the signed head' });
  }
  return problems;
}

// ───────────────────────────── driving the device (test helpers: transport only) ─────────────────────────────

/** A session of the test host (whatever type the helper gives). */
type HostSession = ReturnType<typeof newSession>;

const kinds = (ps: Problem[]): Kind[] => [...new Set(ps.map((p) => p.kind))].sort();
const named = (ps: Problem[]): [Kind, number][] => ps.map((p) => [p.kind, p.index]);

interface Pull {
  /** The raw 80-byte entries, in the order AUDIT_READ gave them. */
  entries: Buffer[];
  /** AUDIT_READ's `next` and `oldest` (the last answer's). */
  next: number;
  oldest: number;
}

/** §4: read every entry from `from` with AUDIT_READ (16 at most per answer), following `next`. */
function pull(t: TestDevice, s: HostSession, from = 0): Pull {
  const entries: Buffer[] = [];
  let at = from;
  for (let round = 0; round < 10000; round++) {
    const r = inSession(t, s, Command.AUDIT_READ, { 1: at, 2: 16 });
    expect(r.statusName, r.message).toBe('OK');
    const got = splitEntries(field<Uint8Array>(r, 1));
    expect(got.length).toBeLessThanOrEqual(16);
    entries.push(...got);
    const next = field<number>(r, 2);
    const oldest = field<number>(r, 3);
    if (got.length === 0) return { entries, next, oldest };
    at = decodeEntry(got[got.length - 1]).index + 1;
    if (at >= next) return { entries, next, oldest };
  }
  throw new Error('AUDIT_READ never reached next');
}

interface CheckpointReply extends Checkpoint {
  nonce: Buffer;
  reply: Reply;
}

/** §5: AUDIT_CHECKPOINT with a fresh random 32-byte nonce. */
function checkpoint(t: TestDevice, s: HostSession, nonce: Buffer = randomBytes(32)): CheckpointReply {
  const r = inSession(t, s, Command.AUDIT_CHECKPOINT, { 1: nonce });
  expect(r.statusName, r.message).toBe('OK');
  return { next: field<number>(r, 1), head: field<Uint8Array>(r, 2), signature: field<Uint8Array>(r, 3), nonce, reply: r };
}

function identity(t: TestDevice): { identityKey: Uint8Array; deviceId: Uint8Array } {
  expect(t.device.identityPublicKey, 'the device has an identity key').toBeDefined();
  return { identityKey: t.device.identityPublicKey!, deviceId: t.device.deviceId };
}

const newFlash = () => new NorFlash({ pageSize: 4096, pageCount: 16 });

/** A device that ran KEY_GENERATE (Ed25519), SIGN, a LOGIN with a wrong PIN and KEY_DELETE. */
function scenario() {
  const flash = newFlash();
  const t = startTestDevice({ flash });
  const made = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'indep' });
  expect(made.statusName, made.message).toBe('OK');
  const keyId = field<number>(made, 1);
  const message = new Uint8Array([0x61, 0x75, 0x64, 0x69, 0x74]);
  const signed = t.call(Command.SIGN, { 1: keyId, 2: message });
  expect(signed.statusName, signed.message).toBe('OK');
  const wrong = inSession(t, newSession(t), Command.LOGIN, { 1: Role.USER, 2: pin('wrong-pin-123') });
  expect(wrong.status).toBe(Status.PIN_INCORRECT);
  const deleted = t.call(Command.KEY_DELETE, { 1: keyId });
  expect(deleted.statusName, deleted.message).toBe('OK');
  const s = loggedIn(t, Role.USER, TEST_USER_PIN_TEXT);
  const p = pull(t, s, 0);
  const cp = checkpoint(t, s);
  return { flash, t, s, keyId, message, pull: p, cp };
}

// ───────────────────────────── the tests ─────────────────────────────

describe('the worked example of docs/audit.md §10 (golden frames seq 33–34)', () => {
  it('verifies with this verifier: two entries, their chain, the head and the checkpoint signed by the RFC 8032 §7.1 TEST 1 key', () => {
    const golden = JSON.parse(readFileSync('test/vectors/golden-frames.json', 'utf8')) as {
      frames: { name: string; fields: Record<string, { hex?: string } | number> }[];
    };
    const f = (name: string) => golden.frames.find((g) => g.name === name)!.fields;
    const hexOf = (v: { hex?: string } | number) => Buffer.from((v as { hex: string }).hex, 'hex');
    const read = f('AUDIT_READ response');
    const cp = f('AUDIT_CHECKPOINT response');
    const nonce = hexOf(f('AUDIT_CHECKPOINT request').nonce);
    const entries = splitEntries(hexOf(read.entries));
    expect(entries.map((e) => decodeEntry(e).index)).toEqual([0, 1]);
    // the identity is RFC 8032 §7.1 TEST 1's public key; the device id the attestation example's
    const identityKey = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    const deviceId = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const checkpoint = { next: cp.next as number, head: hexOf(cp.head), signature: hexOf(cp.signature) };
    expect(verifyPull({ entries, cp: checkpoint, nonce, identityKey, deviceId })).toEqual([]);
    // the SIGN entry's request hash is SHA-256 of 09 a2 01 01 02 40 (SIGN {1: 1, 2: h''}), as §10 says
    expect(decodeEntry(entries[1]).requestHash.toString('hex')).toBe(createHash('sha256').update(Buffer.from('09a201010240', 'hex')).digest('hex'));
    // and one flipped bit anywhere is named
    const bad = Buffer.from(entries[0]);
    bad[20] ^= 1;
    expect(verifyPull({ entries: [bad, entries[1]], cp: checkpoint, nonce, identityKey, deviceId }).map((p) => p.kind)).toContain('edit');
  });
});

describe('an audit verifier written from docs/audit.md alone agrees with the device', () => {
  it('a KEY_GENERATE, SIGN, wrong-PIN LOGIN and KEY_DELETE log: every link, the signed head and the §2 fields check out', () => {
    const { t, keyId, message, pull: p, cp } = scenario();
    const id = identity(t);
    // §5 step 1: the signature over the statement built as §5 writes it
    expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, cp), 'the device signed the §5 statement').toBe(true);
    // §4/§5: AUDIT_READ and AUDIT_CHECKPOINT agree on next; the ring still holds entry 0
    expect(cp.next).toBe(p.next);
    expect(p.oldest).toBe(0);
    expect(field<number>(cp.reply, 4)).toBe(0);
    expect(p.entries.length).toBe(cp.next);
    // the whole verifier: no problem at all
    expect(verifyPull({ entries: p.entries, cp, nonce: cp.nonce, ...id })).toEqual([]);
    const es = p.entries.map(decodeEntry);
    // step 3 by hand: indices 0, 1, 2, … and every prev is the digest of the entry before
    es.forEach((e, i) => {
      expect(e.index).toBe(i);
      expect(e.prev.equals(i === 0 ? ZERO32 : es[i - 1].digest), 'prev of entry ' + i).toBe(true);
    });
    // step 4: the head is the digest of entry next − 1
    expect(es[cp.next - 1].digest.equals(Buffer.from(cp.head))).toBe(true);
    // §2: entry 0 is BOOT, command 0, status 0, prev zero
    expect([es[0].event, es[0].command, es[0].status, es[0].reason, es[0].keyId]).toEqual([EV.BOOT, 0, 0, 0, 0]);
    // §2/§3.2: KEY_GENERATE names the id it gave; SIGN names its key, user role, in a session, hashed as §2 says
    const gen = es.find((e) => e.event === EV.REQUEST && e.command === Command.KEY_GENERATE)!;
    expect([gen.status, gen.keyId, gen.role]).toEqual([Status.OK, keyId, Role.USER]);
    const sign = es.find((e) => e.event === EV.REQUEST && e.command === 0x09)!;
    expect(sign, 'a SIGN entry').toBeDefined();
    expect([sign.status, sign.reason, sign.keyId, sign.role]).toEqual([Status.OK, 0, keyId, Role.USER]);
    expect(sign.session).toBeGreaterThan(0);
    expect(
      sign.requestHash.equals(sha256(requestBodyOf(Command.SIGN, { 1: keyId, 2: message }))),
      "SIGN's requestHash is SHA-256(0x09 ‖ CBOR {1: keyId, 2: message})",
    ).toBe(true);
    // exactly one SIGN entry (§3.2: one REQUEST, no commit)
    expect(es.filter((e) => e.command === Command.SIGN).length).toBe(1);
    // the wrong PIN: PIN_TRY (event 2, status 0), then REQUEST (event 1) PIN_INCORRECT 0x18, role asked for = user
    const bad = es.findIndex((e) => e.event === EV.REQUEST && e.command === Command.LOGIN && e.status === 0x18);
    expect(bad, 'a LOGIN entry with PIN_INCORRECT').toBeGreaterThan(0);
    expect([es[bad - 1].event, es[bad - 1].command, es[bad - 1].status, es[bad - 1].role]).toEqual([EV.PIN_TRY, Command.LOGIN, 0, Role.USER]);
    expect(es[bad].role).toBe(Role.USER);
    expect(es[bad].session).toBe(es[bad - 1].session);
    // KEY_DELETE names the key
    const del = es.find((e) => e.event === EV.REQUEST && e.command === Command.KEY_DELETE)!;
    expect([del.status, del.keyId]).toEqual([Status.OK, keyId]);
    // the order written: KEY_GENERATE, SIGN, the wrong LOGIN, KEY_DELETE
    expect(gen.index < sign.index && sign.index < es[bad].index && es[bad].index < del.index).toBe(true);
    // §2: a request that carries a PIN records 32 zero bytes (LOGIN, INIT); one that does not, a real hash
    const pinCarrying = es.filter((e) => e.command === Command.LOGIN || e.command === Command.INIT);
    expect(pinCarrying.length).toBeGreaterThanOrEqual(4); // the INIT, the logins, the wrong one
    for (const e of pinCarrying) expect(e.requestHash.equals(ZERO32), 'entry ' + e.index + ' (command ' + e.command + ') hashes no PIN').toBe(true);
    for (const e of [gen, sign, del]) expect(e.requestHash.equals(ZERO32)).toBe(false);
    // §2: BOOT, RECOVERED and PIN_TRY carry status 0; BOOT and RECOVERED command 0
    for (const e of es) {
      expect([EV.REQUEST, EV.PIN_TRY, EV.BOOT, EV.RECOVERED]).toContain(e.event);
      if (e.event !== EV.REQUEST) expect(e.status, 'entry ' + e.index).toBe(0);
      if (e.event === EV.BOOT || e.event === EV.RECOVERED) expect(e.command, 'entry ' + e.index).toBe(0);
      if (e.status === 0) expect(e.reason, 'entry ' + e.index + ': reason 0 with OK').toBe(0);
    }
    // reading the log is not recorded (§3.1): a second pull and checkpoint see the same next and head
    const s2 = loggedIn(t, Role.USER, TEST_USER_PIN_TEXT); // a LOGIN is recorded: two entries (PIN_TRY, REQUEST)
    const again = checkpoint(t, s2);
    pull(t, s2, 0);
    const third = checkpoint(t, s2);
    expect(again.next).toBe(cp.next + 2);
    expect([third.next, Buffer.from(third.head).toString('hex')]).toEqual([again.next, Buffer.from(again.head).toString('hex')]);
  });

  it('a pulled copy with one byte edited in any entry, at any offset, is named: an edit of that entry (the last one by the signed head)', () => {
    const { t, pull: p, cp } = scenario();
    const id = identity(t);
    expect(p.entries.length).toBeGreaterThanOrEqual(8);
    for (let i = 0; i < p.entries.length; i++) {
      for (let off = 0; off < ENTRY_SIZE; off++) {
        const copy = p.entries.map((b) => Buffer.from(b));
        copy[i][off] ^= 0x01;
        const ps = verifyPull({ entries: copy, cp, nonce: cp.nonce, ...id });
        const where = 'entry ' + i + ' byte ' + off + ': ' + JSON.stringify(named(ps));
        expect(ps.length, where).toBeGreaterThan(0);
        if (off >= 4) {
          // not the index: the chain (or the head) no longer commits to these bytes
          expect(kinds(ps), where).toEqual(['edit']);
          expect(
            ps.map((x) => x.index),
            where,
          ).toContain(i);
          // a prev edited also breaks the link into it (the entry before is named too); nothing else is
          const allowed = off >= 48 && i > 0 ? [i - 1, i] : [i];
          for (const x of ps) expect(allowed, where).toContain(x.index);
        } else {
          // the index itself: the index no longer where it should be (a gap, a reorder) or past the head
          for (const k of kinds(ps)) expect(['edit', 'gap', 'reorder'], where).toContain(k);
          expect(kinds(ps), where).toContain('gap'); // index i is no longer in the copy
          expect(ps.find((x) => x.kind === 'gap')!.index, where).toBe(i);
        }
      }
    }
  });

  it('a pulled copy with any entry dropped is named a gap at that index, and two adjacent entries swapped a reorder', () => {
    const { t, pull: p, cp } = scenario();
    const id = identity(t);
    const n = p.entries.length;
    for (let i = 0; i < n; i++) {
      const copy = p.entries.filter((_, j) => j !== i);
      expect(named(verifyPull({ entries: copy, cp, nonce: cp.nonce, ...id })), 'drop ' + i).toEqual([['gap', i]]);
    }
    for (let i = 0; i + 1 < n; i++) {
      const copy = p.entries.slice();
      [copy[i], copy[i + 1]] = [copy[i + 1], copy[i]];
      expect(named(verifyPull({ entries: copy, cp, nonce: cp.nonce, ...id })), 'swap ' + i + ',' + (i + 1)).toEqual([['reorder', i]]);
    }
    // a whole entry rewritten at the end (its index kept, everything else replaced) is caught only by the signed head
    const forged = p.entries.slice();
    const last = Buffer.from(forged[n - 1]);
    last.fill(0x5a, 4, 48); // a different command, status, key id, request hash… same index and prev
    forged[n - 1] = last;
    expect(named(verifyPull({ entries: forged, cp, nonce: cp.nonce, ...id }))).toEqual([['edit', n - 1]]);
    // and the untouched copy is clean (so each case above fails for its own reason)
    expect(verifyPull({ entries: p.entries, cp, nonce: cp.nonce, ...id })).toEqual([]);
  });

  it('a checkpoint is refused with a wrong nonce, another device id, a flipped signature bit, or another next or head', () => {
    const { t, s, pull: p, cp } = scenario();
    const id = identity(t);
    const ok = (over: Partial<{ nonce: Uint8Array; deviceId: Uint8Array; identityKey: Uint8Array; cp: Checkpoint }>) =>
      verifyPull({
        entries: p.entries,
        cp: over.cp || cp,
        nonce: over.nonce || cp.nonce,
        identityKey: over.identityKey || id.identityKey,
        deviceId: over.deviceId || id.deviceId,
      });
    expect(ok({})).toEqual([]);
    // a wrong nonce (a replayed answer)
    const otherNonce = Buffer.from(cp.nonce);
    otherNonce[0] ^= 0x80;
    expect(checkpointVerifies(id.identityKey, id.deviceId, otherNonce, cp)).toBe(false);
    expect(named(ok({ nonce: otherNonce }))).toEqual([['checkpoint', cp.next]]);
    // another checkpoint of the same device, replayed as the answer to a new nonce
    const another = checkpoint(t, s);
    expect(checkpointVerifies(id.identityKey, id.deviceId, another.nonce, another)).toBe(true);
    expect(checkpointVerifies(id.identityKey, id.deviceId, randomBytes(32), another)).toBe(false);
    // another device id
    const otherId = Buffer.from(id.deviceId);
    otherId[15] ^= 0x01;
    expect(named(ok({ deviceId: otherId }))).toEqual([['checkpoint', cp.next]]);
    // another device altogether (its own identity key)
    const other = startTestDevice({ flash: newFlash() });
    other.call(Command.KEY_LIST);
    expect(named(ok({ identityKey: other.device.identityPublicKey!, deviceId: other.device.deviceId }))).toEqual([['checkpoint', cp.next]]);
    // each bit of the signature flipped in turn
    for (let bit = 0; bit < 512; bit++) {
      const sig = Buffer.from(cp.signature);
      sig[bit >> 3] ^= 1 << (bit & 7);
      expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, { ...cp, signature: sig }), 'signature bit ' + bit).toBe(false);
    }
    const flipped = Buffer.from(cp.signature);
    flipped[10] ^= 0x04;
    expect(named(ok({ cp: { ...cp, signature: flipped } }))).toEqual([['checkpoint', cp.next]]);
    // the signed fields: another next, another head
    expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, { ...cp, next: cp.next + 1 })).toBe(false);
    const head = Buffer.from(cp.head);
    head[31] ^= 0x01;
    expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, { ...cp, head })).toBe(false);
    // a statement built with the label without its 0x00 separator is not what the device signed
    const n4 = Buffer.alloc(4);
    n4.writeUInt32BE(cp.next);
    const noSep = Buffer.concat([Buffer.from('tinyhsm/audit/v1'), Buffer.from(id.deviceId), n4, Buffer.from(cp.head), cp.nonce]);
    expect(ed25519Verify(id.identityKey, noSep, cp.signature)).toBe(false);
  });

  /**
   * Pull 1, keep the flash image, `more` SIGNs, pull 2 (the host holds its last entry), then the image written back
   * and a reboot: what the device says now, checked from what the host held.
   */
  function restoredOldImage(more: number) {
    const flash = newFlash();
    const t = startTestDevice({ flash });
    const keyId = field<number>(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1);
    const s = t.session!;
    const id = identity(t);
    const p1 = pull(t, s, 0);
    const cp1 = checkpoint(t, s);
    expect(verifyPull({ entries: p1.entries, cp: cp1, nonce: cp1.nonce, ...id })).toEqual([]);
    const oldImage = flash.snapshot();
    for (let i = 0; i < more; i++) expect(t.call(Command.SIGN, { 1: keyId, 2: new Uint8Array([i]) }).status).toBe(Status.OK);
    const p2 = pull(t, s, 0);
    const cp2 = checkpoint(t, s);
    expect(verifyPull({ entries: p2.entries, cp: cp2, nonce: cp2.nonce, ...id })).toEqual([]);
    expect(cp2.next).toBe(cp1.next + more);
    const last2 = decodeEntry(p2.entries[p2.entries.length - 1]);
    const held: Held = { index: last2.index, digest: last2.digest };
    expect(held.index).toBe(cp2.next - 1);
    expect(held.digest.equals(Buffer.from(cp2.head))).toBe(true);
    return { flash, id, cp1, cp2, held, oldImage };
  }

  it('a plain reboot (no image written back) continues the chain from the entry the host holds: no problem named', () => {
    const { flash, id, held } = restoredOldImage(2);
    const again = startTestDevice({ flash });
    const s = loggedIn(again, Role.USER, TEST_USER_PIN_TEXT);
    const cp = checkpoint(again, s);
    const p = pull(again, s, held.index);
    expect(decodeEntry(p.entries[0]).index).toBe(held.index);
    expect(decodeEntry(p.entries[1]).event).toBe(EV.BOOT);
    expect(verifyPull({ entries: p.entries, cp, nonce: cp.nonce, ...id, held })).toEqual([]);
  });

  it('an older flash image written back is named a rollback: the device holds another entry at the index the host holds', () => {
    const { flash, id, cp1, held, oldImage } = restoredOldImage(2);
    flash.restore(oldImage);
    const t2 = startTestDevice({ flash });
    const s2 = loggedIn(t2, Role.USER, TEST_USER_PIN_TEXT);
    const cp = checkpoint(t2, s2);
    expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, cp), 'still this device').toBe(true);
    // the new BOOT and the LOGIN took the indices the SIGNs had: next is above the index held…
    expect(cp.next).toBeGreaterThan(held.index);
    const p = pull(t2, s2, held.index);
    const ps = verifyPull({ entries: p.entries, cp, nonce: cp.nonce, ...id, held });
    // …but the entry there is another one
    expect(named(ps)).toEqual([['rollback', held.index]]);
    // on its own (no earlier pull held) the restored log is a sound chain: only a host that pulled before sees it
    const whole = pull(t2, s2, 0);
    expect(verifyPull({ entries: whole.entries, cp, nonce: cp.nonce, ...id })).toEqual([]);
    const boot = decodeEntry(whole.entries[cp1.next]);
    expect(boot.event).toBe(EV.BOOT); // the new boot sits right after what the old image held
    expect(boot.prev.equals(Buffer.from(cp1.head))).toBe(true);
  });

  it("an older flash image written back is named a rollback: the device's signed next is not above the index the host holds", () => {
    const { flash, id, held, oldImage } = restoredOldImage(8);
    flash.restore(oldImage);
    const t2 = startTestDevice({ flash });
    const s2 = loggedIn(t2, Role.USER, TEST_USER_PIN_TEXT);
    const cp = checkpoint(t2, s2);
    expect(checkpointVerifies(id.identityKey, id.deviceId, cp.nonce, cp), 'still this device').toBe(true);
    expect(cp.next).toBeLessThanOrEqual(held.index);
    const p = pull(t2, s2, Math.min(held.index, cp.next));
    expect(named(verifyPull({ entries: p.entries, cp, nonce: cp.nonce, ...id, held }))).toEqual([['rollback', held.index]]);
  });
});

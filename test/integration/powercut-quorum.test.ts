// Power cut at every word write of BACKUP_IMPORT, OFFICERS_SET (a change approved by the officers), DOMAIN_JOIN and RESET: the device boots with the old state or the new one, never a mix, and no cut leaves the domain's wrap key in flash (docs/quorum.md §4, §8–§9).
//
// Each run boots the saved image, asks for a fresh challenge, has the officers (node:crypto Ed25519) approve the
// request over it, arms the cut and sends it. CI cuts every 5th word (and the first and last); `npm run
// test:powercut` (POWERCUT_FULL=1) every word.
import { describe, it, expect } from 'vitest';
import { createHash, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import { Alg, Capability, Command } from '../../firmware/protocol/codes.ts';
import { COMMANDS, approvalMessage, approvalParams } from '../../firmware/protocol/commands/index.ts';
import { encodeMessage } from '../../firmware/protocol/schema.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { checkKeysWork, field, listKeys, startTestDevice, sweepPoints, sweepStride, type TestDevice } from '../helpers/loopback.ts';
import { officerPublicKey } from '../../host/approvals.ts';
import { openShare, sealShare } from '../../host/domain.ts';
import { combineShares } from '../helpers/shamir.ts';

const PAGE = 4096;
const SEED = 'powercut quorum';
const officerKeys = [0, 1, 2].map(() => generateKeyPairSync('ed25519').privateKey);
const officers = officerKeys.map(
  (k, i) =>
    new Map<number, unknown>([
      [1, officerPublicKey(k)],
      [2, 'o' + i],
    ]),
);

const ok = (t: TestDevice, command: number, params: object = {}) => {
  const r = t.call(command, params);
  if (r.status !== 0) throw new Error(`${r.statusName}: ${r.message}`);
  return r;
};

/** The request map with M approvals over a fresh challenge of `t`, signed as docs/quorum.md §2 says. */
function approved(t: TestDevice, command: number, request: object, signers: number[]): Map<number, unknown> {
  const challenge = field<Uint8Array>(ok(t, Command.APPROVAL_CHALLENGE), 1);
  const digest = new Uint8Array(createHash('sha256').update(approvalParams(COMMANDS[command].request, request)).digest());
  const msg = approvalMessage(t.device.deviceId, challenge, command, digest);
  const approvals = signers.map((i) => ({ officer: i, signature: new Uint8Array(nodeSign(null, msg, officerKeys[i] as KeyObject)) }));
  return encodeMessage(COMMANDS[command].request, { ...request, challenge, approvals }) as Map<number, unknown>;
}

/** What the sweep compares: INFO's initialized, officers and domain, and the keys (when initialized). */
function state(t: TestDevice): string {
  const info = ok(t, Command.INFO);
  const initialized = info.map.get(17) === true;
  const officersNow = ((info.map.get(28) as Map<number, unknown>[] | undefined) || []).map((o) => Buffer.from(o.get(1) as Uint8Array).toString('hex'));
  const domain = info.map.get(29) ? Buffer.from(info.map.get(29) as Uint8Array).toString('hex') : null;
  const keys = initialized ? listKeys(t).map((k) => [k.keyId, k.origin, k.publicKey]) : [];
  return JSON.stringify({ initialized, threshold: info.map.get(27) ?? null, officers: officersNow, domain, keys });
}

/** A device with three officers (M = 2), a domain, a key backed up and deleted, and the backup and shares for the sweeps. */
function setup() {
  const flash = new NorFlash({ pageSize: PAGE, pageCount: 8 });
  const t = startTestDevice({ flash, seed: SEED + ' setup' });
  ok(t, Command.OFFICERS_SET, { 1: 2, 2: officers });
  const kept = field<number>(ok(t, Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'kept' }), 1);
  const gone = field<number>(ok(t, Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'backed up', 3: Capability.SIGN | Capability.EXPORT_WRAPPED }), 1);
  const dom = ok(t, Command.DOMAIN_CREATE);
  const domainId = field<Uint8Array>(dom, 1);
  const sealed = (field<Map<number, unknown>[]>(dom, 2) || []).map((m) => m.get(1) as Uint8Array);
  const shares = sealed.map((s, i) => openShare(s, officerKeys[i], domainId)!);
  const wrap = combineShares([shares[0], shares[1]]);
  const blob = field<Uint8Array>(ok(t, Command.BACKUP_EXPORT, approved(t, Command.BACKUP_EXPORT, { keyIds: [gone] }, [0, 1])), 1);
  ok(t, Command.KEY_DELETE, { 1: gone });
  void kept;
  return { image: flash.snapshot(), domainId, shares, wrap, blob };
}

const base = setup();

/**
 * Cut `command` at every stride-th word of its uncut run on `image`: each cut boots to the state before or after, a
 * cut that loses the change lets the retried command succeed, every key still works, and the wrap key is never in
 * flash. `prepare` runs first on each boot (logins, and for RESET logging out); `request` builds the approved request.
 */
function sweep(image: Uint8Array, command: number, request: (t: TestDevice) => Map<number, unknown>, stride: number) {
  const flash = NorFlash.fromBytes(image, { pageSize: PAGE });
  const t0 = startTestDevice({ flash, seed: SEED });
  const before = state(t0);
  t0.ready(command);
  const req0 = request(t0);
  const w0 = flash.wordWrites;
  ok(t0, command, req0);
  const words = flash.wordWrites - w0;
  const after = state(t0);
  expect(after, 'the command changes the state').not.toBe(before);
  const seen = { before: 0, after: 0 };
  const problems: string[] = [];
  for (const n of sweepPoints(words, stride)) {
    const bad = (m: string) => problems.push(`N=${n}: ${m}`);
    flash.restore(image);
    flash.powerOn();
    const t = startTestDevice({ flash, seed: SEED + ' ' + n });
    t.ready(command);
    const req = request(t);
    flash.cutAfterWords(n);
    let answer;
    try {
      answer = t.call(command, req);
    } catch {
      // the device may go quiet when its flash dies; it must never say OK
    }
    if (!flash.isCut) bad('the command finished before the cut');
    if (answer && answer.status === 0) bad('OK although power was cut');
    flash.powerOn();
    const t2 = startTestDevice({ flash, seed: SEED + ' after ' + n });
    const now = state(t2);
    if (Buffer.from(flash.bytes).indexOf(Buffer.from(base.wrap)) >= 0) bad('the wrap key is in flash');
    if (now === before) {
      seen.before++;
      t2.ready(command);
      const again = t2.call(command, request(t2));
      if (again.status !== 0) bad('the retry after recovery fails: ' + again.statusName + ' ' + again.message);
    } else if (now === after) {
      seen.after++;
      if (JSON.parse(now).initialized) for (const p of checkKeysWork(t2, listKeys(t2), 'N=' + n)) bad(p);
    } else bad('neither the old nor the new state: ' + now);
  }
  expect(problems).toEqual([]);
  expect(words).toBeGreaterThan(3);
  // a cut at the last word loses a change whose commit record's CRC is that word; a command that keeps writing after its
  // commit (RESET wipes the records it deleted) also has cuts that keep the change
  expect(seen.before).toBeGreaterThan(0);
  expect(seen.before + seen.after).toBe(sweepPoints(words, stride).length);
  return { before, after, words, seen };
}

describe('power cut at every word of the quorum commands (docs/quorum.md §4, §8–§9)', () => {
  const stride = sweepStride(5);

  it(`BACKUP_IMPORT (cut every ${stride === 1 ? '' : stride + 'th '}word): the backed-up key is restored whole or not at all`, () => {
    const r = sweep(base.image, Command.BACKUP_IMPORT, (t) => approved(t, Command.BACKUP_IMPORT, { blob: base.blob }, [0, 2]), stride);
    expect(JSON.parse(r.after).keys.length).toBe(JSON.parse(r.before).keys.length + 1);
  });

  it('OFFICERS_SET approved by two officers: the old officers or the new ones', () => {
    const next = [officers[1], officers[2]];
    const r = sweep(
      base.image,
      Command.OFFICERS_SET,
      (t) => approved(t, Command.OFFICERS_SET, { threshold: 1, officers: next.map((o) => ({ publicKey: o.get(1), label: o.get(2) })) }, [0, 1]),
      stride,
    );
    expect(JSON.parse(r.after).officers.length).toBe(2);
  });

  it('RESET approved by two officers: the whole device, or a factory-new one keeping its id and identity', () => {
    const r = sweep(base.image, Command.RESET, (t) => approved(t, Command.RESET, {}, [1, 2]), stride);
    expect(r.seen.after, 'cuts during the wipes after the commit keep the reset').toBeGreaterThan(0);
    expect(JSON.parse(r.after)).toEqual({ initialized: false, threshold: null, officers: [], domain: null, keys: [] });
  });

  it('DOMAIN_JOIN on a device in no domain: in the domain or not, never half', () => {
    // the same device after a RESET and a new INIT with the same officers: it joins with shares sealed to its identity
    const flash = NorFlash.fromBytes(base.image, { pageSize: PAGE });
    const t = startTestDevice({ flash, seed: SEED + ' rejoin' });
    ok(t, Command.RESET, approved(t, Command.RESET, {}, [0, 1]));
    const fresh = startTestDevice({ flash, seed: SEED + ' re-init' });
    ok(fresh, Command.OFFICERS_SET, { 1: 2, 2: officers });
    const identity = fresh.device.identityPublicKey as Uint8Array;
    const sealed = [0, 2].map((i) => new Map<number, unknown>([[1, sealShare(base.shares[i], identity, base.domainId)]]));
    const r = sweep(
      flash.snapshot(),
      Command.DOMAIN_JOIN,
      (d) => approved(d, Command.DOMAIN_JOIN, { domainId: base.domainId, shares: sealed.map((m) => ({ sealed: m.get(1) })) }, [0, 2]),
      stride,
    );
    expect(JSON.parse(r.after).domain).toBe(Buffer.from(base.domainId).toString('hex'));
  });
});

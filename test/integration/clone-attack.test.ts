// The attack tinyhsm exists for, on two simulators (docs/quorum.md §10): an insider with both PINs and one officer's key cannot clone, back up, reset or loosen; M officers clone device A to device B, and B signs with the cloned keys.
//
// The officers' side runs on node:crypto (host/domain.ts), a second implementation of the share format; Shamir's
// interpolation is written again in test/helpers/shamir.ts, so the domain id check below does not trust the firmware's shamir.ts. Every
// response the clients decode and both raw flash images are searched for the wrap key, the shares and the private
// key bytes.
import { describe, it, expect } from 'vitest';
import { createHash, generateKeyPairSync, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { Command } from '../../firmware/protocol/index.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { SimFlash } from '../../sim/flash.ts';
import type { HsmClient } from '../../host/client.ts';
import { approvalBytes, officerPublicKey, signApproval, type ApprovalRequest } from '../../host/approvals.ts';
import { openShare, reshare } from '../../host/domain.ts';
import { SIM_SO_PIN, SIM_USER_PIN, inProcessSims, nodePublicKey } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';
import { combineShares, domainIdOf } from '../helpers/shamir.ts';

const sims = inProcessSims();
const officerKeys = [0, 1, 2].map(() => generateKeyPairSync('ed25519').privateKey);
const officers = officerKeys.map((k, i) => ({ publicKey: officerPublicKey(k), label: 'officer-' + i }));
const approve = (req: ApprovalRequest, signers: [number, KeyObject][]) => ({
  challenge: req.challenge,
  approvals: signers.map(([i, k]) => signApproval(req, i, k)),
});
const QUORUM: [number, KeyObject][] = [
  [0, officerKeys[0]],
  [2, officerKeys[2]],
];

/**
 * Every byte string in the decoded responses `c` receives (through call, callClear and the approval and reset paths),
 * and after each of them a copy of every flash in `flashes`, kept for the scan at the end: so the scan covers the
 * flash during the whole run, not only at its end.
 */
function recordResponses(c: HsmClient, into: Uint8Array[], flashes: SimFlash[] = []): HsmClient {
  const collect = (v: unknown): void => {
    if (v instanceof Uint8Array) into.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
    else if (v && typeof v === 'object' && !(v instanceof Map)) Object.values(v).forEach(collect);
    else if (v instanceof Map) v.forEach(collect);
  };
  const patched = c as unknown as { [k: string]: (...a: unknown[]) => Promise<unknown> };
  for (const name of ['call', 'callClear', 'run']) {
    const original = patched[name].bind(c);
    patched[name] = async (...args: unknown[]) => {
      const r = await original(...args);
      collect(name === 'run' ? (r as { message: unknown }).message : r);
      for (const f of flashes) into.push(f.image());
      return r;
    };
  }
  return c;
}

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

describe('the clone attack on two simulators (docs/quorum.md §10)', () => {
  it('one officer with both PINs is refused everything; two officers clone A to B, and B signs', async () => {
    const flashA = SimFlash.memory({ pages: 32 });
    const flashB = SimFlash.memory({ pages: 32 });
    const simA = await sims.boot({ flash: flashA }, false);
    const simB = await sims.boot({ flash: flashB }, false);
    const seen: Uint8Array[] = [];
    const a = recordResponses(sims.client(simA), seen, [flashA, flashB]);
    const b = recordResponses(sims.client(simB), seen, [flashA, flashB]);
    await a.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 2, officers } });
    // the insider set B up: B's only officer is the insider's own key, threshold 1
    await b.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 1, officers: [officers[0]] } });

    // A's keys: an imported Ed25519 key whose private bytes the test knows, a generated P-256 key, both allowing
    // export-under-wrap, and a key that does not
    await a.login('so', SIM_SO_PIN);
    const edPrivate = new Uint8Array(createHash('sha256').update('clone-attack ed25519 key').digest());
    const ed = await a.importKey('ed25519', edPrivate.slice(), 'ed', { capabilities: ['sign', 'export-under-wrap'] });
    await a.logout();
    await a.login('user', SIM_USER_PIN);
    const p256 = await a.generateKey('ecdsa-p256', 'p256', { capabilities: ['sign', 'export-under-wrap'], protected: true });
    const stay = await a.generateKey('ed25519', 'stays', { capabilities: ['sign'] });

    await a.logout();
    await a.login('so', SIM_SO_PIN);
    // DOMAIN_CREATE: one sealed share per officer; officers 0 and 2 together rebuild a key with the domain's id
    const dom = await a.domainCreate();
    expect((await a.info()).domainId).toEqual(dom.domainId);
    expect((await hsmFailure(a.domainCreate())).reason).toBe(Reason.DOMAIN_EXISTS);
    const plainShares = dom.shares.map((s, i) => openShare(s, officerKeys[i], dom.domainId)!);
    expect(plainShares.map((s) => s.index)).toEqual([1, 2, 3]);
    expect(openShare(dom.shares[1], officerKeys[0], dom.domainId), "officer 0's key does not open officer 1's share").toBeUndefined();
    const wrap = combineShares([plainShares[0], plainShares[2]]);
    expect(domainIdOf(wrap)).toEqual(dom.domainId);
    expect(domainIdOf(combineShares([plainShares[1]])), 'one share alone rebuilds nothing').not.toEqual(dom.domainId);

    const identityB = (await b.info()).identityPublicKey!;

    // ---- the insider: both PINs of A and B, and officer 0's key
    const one: [number, KeyObject][] = [[0, officerKeys[0]]];
    let req = await a.approvalRequest(Command.BACKUP_EXPORT, { keyIds: [ed.keyId] });
    expect((await hsmFailure(a.backupExport([ed.keyId], approve(req, one)))).code, 'backup with one officer').toBe('APPROVAL_REQUIRED');
    req = await a.approvalRequest(Command.BACKUP_EXPORT, { keyIds: [ed.keyId] });
    const twice = { challenge: req.challenge, approvals: [signApproval(req, 0, officerKeys[0]), signApproval(req, 0, officerKeys[0])] };
    expect((await hsmFailure(a.backupExport([ed.keyId], twice))).reason, 'one officer twice').toBe(Reason.OFFICER_TWICE);
    req = await a.approvalRequest(Command.RESET, {});
    expect((await hsmFailure(a.reset(approve(req, one)))).code, 'reset with one officer').toBe('APPROVAL_REQUIRED');
    await a.logout();
    await a.login('user', SIM_USER_PIN);
    await a.keySetPolicy(stay.keyId, { capabilities: 0 });
    req = await a.approvalRequest(Command.KEY_SET_POLICY, a.keySetPolicyRequest(stay.keyId, { capabilities: ['sign'] }));
    expect((await hsmFailure(a.keySetPolicy(stay.keyId, { capabilities: ['sign'] }, undefined, approve(req, one)))).code, 'loosening with one officer').toBe(
      'APPROVAL_REQUIRED',
    );
    // clone: B's officers are the insider's, so B approves anything; but one share rebuilds no domain
    await b.login('so', SIM_SO_PIN);
    const stolen = [reshare(dom.shares[0], officerKeys[0], dom.domainId, identityB)!];
    req = await b.approvalRequest(Command.DOMAIN_JOIN, b.domainJoinRequest(dom.domainId, stolen));
    expect((await hsmFailure(b.domainJoin(dom.domainId, stolen, approve(req, one)))).reason, 'join with one share').toBe(Reason.SHARES_WRONG);
    // the share sealed to officer 0 is not sealed to B
    req = await b.approvalRequest(Command.DOMAIN_JOIN, b.domainJoinRequest(dom.domainId, [dom.shares[0]]));
    expect((await hsmFailure(b.domainJoin(dom.domainId, [dom.shares[0]], approve(req, one)))).reason).toBe(Reason.SHARE_UNREADABLE);
    expect((await b.info()).domainId, 'B is still in no domain').toBeUndefined();
    // nothing changed on A: same domain, same keys, the loosened key still without capabilities
    expect((await a.info()).domainId).toEqual(dom.domainId);
    expect((await a.listKeys()).map((k) => [k.keyId, k.capabilities])).toEqual([
      [ed.keyId, 0x11],
      [p256.keyId, 0x11],
      [stay.keyId, 0],
    ]);

    // ---- two officers: B takes a fresh set of officers (the real ones, threshold 2) through its insider quorum of one
    req = await b.approvalRequest(Command.OFFICERS_SET, b.officersRequest(2, officers));
    await b.setOfficers(2, officers, approve(req, one));
    // officers 0 and 2 export A's two exportable keys; the key without export-under-wrap never leaves
    await a.logout();
    await a.login('so', SIM_SO_PIN);
    // a key named twice, or one that is not there, is refused before any approval is looked at
    const noApprovals = { challenge: new Uint8Array(16), approvals: [] };
    expect((await hsmFailure(a.backupExport([ed.keyId, ed.keyId], noApprovals))).reason).toBe(Reason.KEY_REPEATED);
    expect((await hsmFailure(a.backupExport([999], noApprovals))).reason).toBe(Reason.KEY_NOT_FOUND);
    req = await a.approvalRequest(Command.BACKUP_EXPORT, { keyIds: [stay.keyId] });
    expect((await hsmFailure(a.backupExport([stay.keyId], approve(req, QUORUM)))).reason).toBe(Reason.NOT_EXPORTABLE);
    req = await a.approvalRequest(Command.BACKUP_EXPORT, { keyIds: [ed.keyId, p256.keyId] });
    const blob = await a.backupExport([ed.keyId, p256.keyId], approve(req, QUORUM));
    // B without the domain cannot import
    req = await b.approvalRequest(Command.BACKUP_IMPORT, { blob });
    expect((await hsmFailure(b.backupImport(blob, approve(req, QUORUM)))).reason, 'import before the join').toBe(Reason.NO_DOMAIN);
    // officers 0 and 2 check B's identity and seal their shares to it; B's officers approve the join
    const shares = [reshare(dom.shares[0], officerKeys[0], dom.domainId, identityB)!, reshare(dom.shares[2], officerKeys[2], dom.domainId, identityB)!];
    req = await b.approvalRequest(Command.DOMAIN_JOIN, b.domainJoinRequest(dom.domainId, shares));
    await b.domainJoin(dom.domainId, shares, approve(req, QUORUM));
    expect((await b.info()).domainId).toEqual(dom.domainId);
    // joining again, even with the same shares and a quorum, is refused: only a reset leaves a domain
    req = await b.approvalRequest(Command.DOMAIN_JOIN, b.domainJoinRequest(dom.domainId, shares));
    expect((await hsmFailure(b.domainJoin(dom.domainId, shares, approve(req, QUORUM)))).reason).toBe(Reason.DOMAIN_EXISTS);
    // a blob altered in one byte, or replayed approvals, are refused
    const bad = blob.slice();
    bad[bad.length - 1] ^= 1;
    req = await b.approvalRequest(Command.BACKUP_IMPORT, { blob: bad });
    expect((await hsmFailure(b.backupImport(bad, approve(req, QUORUM)))).reason).toBe(Reason.BACKUP_DAMAGED);
    req = await b.approvalRequest(Command.BACKUP_IMPORT, { blob });
    const approvals = approve(req, QUORUM);
    expect(await b.backupImport(blob, approvals)).toEqual([ed.keyId, p256.keyId]);
    expect((await hsmFailure(b.backupImport(blob, approvals))).reason, 'the same approvals again').toBe(Reason.NO_CHALLENGE);
    req = await b.approvalRequest(Command.BACKUP_IMPORT, { blob });
    expect((await hsmFailure(b.backupImport(blob, approve(req, QUORUM)))).reason, 'the same keys again').toBe(Reason.KEY_ID_TAKEN);

    // B's keys: the same public keys and policies, marked restored
    const listA = await a.listKeys();
    const listB = await b.listKeys();
    const pick = (l: typeof listA, id: number) => l.find((k) => k.keyId === id)!;
    for (const id of [ed.keyId, p256.keyId]) {
      expect(pick(listB, id).publicKey).toEqual(pick(listA, id).publicKey);
      expect([pick(listB, id).capabilities, pick(listB, id).touch, pick(listB, id).protected]).toEqual([
        pick(listA, id).capabilities,
        pick(listA, id).touch,
        pick(listA, id).protected,
      ]);
    }
    expect([pick(listB, ed.keyId).origin, pick(listB, p256.keyId).origin]).toEqual([4, 3]);
    // and they sign on B, verified by node:crypto against A's public keys
    await b.logout();
    await b.login('user', SIM_USER_PIN);
    const msg = new TextEncoder().encode('signed by the clone');
    const sigEd = await b.sign(ed.keyId, { message: msg });
    expect(nodeVerify(null, msg, nodePublicKey('ed25519', ed.publicKey), sigEd)).toBe(true);
    const digest = createHash('sha256').update(msg).digest();
    const sigP = await b.sign(p256.keyId, { digest: new Uint8Array(digest) });
    expect(nodeVerify('sha256', msg, { key: nodePublicKey('ecdsa-p256', p256.publicKey), dsaEncoding: 'ieee-p1363' }, sigP)).toBe(true);
    // B's id counter moved past the restored ids: a key made after deleting a restored one never takes its id
    await b.deleteKey(ed.keyId);
    expect((await b.generateKey('ed25519', 'made on B')).keyId).toBeGreaterThan(p256.keyId);
    // A device of another domain refuses the blob
    const simC = await sims.boot({}, false);
    const c = sims.client(simC);
    await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 2, officers } });
    await c.login('so', SIM_SO_PIN);
    await c.domainCreate();
    req = await c.approvalRequest(Command.BACKUP_IMPORT, { blob });
    expect((await hsmFailure(c.backupImport(blob, approve(req, QUORUM)))).reason).toBe(Reason.DOMAIN_MISMATCH);

    // ---- nothing secret anywhere: not in a response, not in either flash image
    const secrets = [wrap, edPrivate, ...plainShares.map((s) => s.share)];
    for (const [what, hay] of [['flash A', flashA.image()], ['flash B', flashB.image()], ...seen.map((v, i) => ['response value ' + i, v] as const)] as const)
      for (const s of secrets) expect(contains(hay, s), what).toBe(false);
    expect(
      seen.some((v) => contains(v, ed.publicKey)),
      'the scan sees the responses',
    ).toBe(true);
    expect(
      seen.some((v) => v.length === flashB.image().length && contains(v, ed.publicKey)),
      'the scan sees flash copies that hold the key records',
    ).toBe(true);
  });
});

describe('an officer whose key lives on a tinyhsm (docs/quorum.md §8.2)', () => {
  it('re-seals its share inside that device (SHARE_RESEAL) and signs its approval there; the share never reaches the host', async () => {
    const [simA, simB, simD] = [await sims.boot({}, false), await sims.boot({}, false), await sims.boot({}, false)];
    const seen: Uint8Array[] = [];
    const [a, b, d] = [sims.client(simA), sims.client(simB), recordResponses(sims.client(simD), seen)];
    // officer 2's key is made on device D and never leaves it
    await d.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
    await d.login('user', SIM_USER_PIN);
    const dKey = await d.generateKey('ed25519', 'officer-2', { capabilities: ['sign'] });
    const list = [officers[0], officers[1], { publicKey: dKey.publicKey, label: 'on-device' }];
    for (const c of [a, b]) await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 2, officers: list } });
    await a.login('so', SIM_SO_PIN);
    const dom = await a.domainCreate();
    const identityB = (await b.info()).identityPublicKey!;

    // the refusals change nothing and say why
    const x = await d.generateKey('x25519', 'not an officer key', { capabilities: ['derive'] });
    expect((await hsmFailure(d.shareReseal(x.keyId, dom.domainId, dom.shares[2], identityB))).reason).toBe(Reason.NOT_ED25519);
    expect((await hsmFailure(d.shareReseal(dKey.keyId, dom.domainId, dom.shares[0], identityB))).reason, "officer 0's share").toBe(Reason.SHARE_UNREADABLE);
    const notAPoint = new Uint8Array(32).fill(0xff);
    notAPoint[31] = 0x7f;
    expect((await hsmFailure(d.shareReseal(dKey.keyId, dom.domainId, dom.shares[2], notAPoint))).reason).toBe(Reason.RECIPIENT_INVALID);
    const noSign = await d.generateKey('ed25519', 'cannot sign', { capabilities: ['export-under-wrap'] });
    expect((await hsmFailure(d.shareReseal(noSign.keyId, dom.domainId, dom.shares[2], identityB))).code).toBe('POLICY_DENIED');

    const fromDevice = await d.shareReseal(dKey.keyId, dom.domainId, dom.shares[2], identityB);
    const fromFile = reshare(dom.shares[0], officerKeys[0], dom.domainId, identityB)!;
    await b.login('so', SIM_SO_PIN);
    const req = await b.approvalRequest(Command.DOMAIN_JOIN, b.domainJoinRequest(dom.domainId, [fromFile, fromDevice]));
    const onDevice = { officer: 2, signature: await d.sign(dKey.keyId, { message: approvalBytes(req) }) };
    await b.domainJoin(dom.domainId, [fromFile, fromDevice], { challenge: req.challenge, approvals: [signApproval(req, 0, officerKeys[0]), onDevice] });
    expect((await b.info()).domainId).toEqual(dom.domainId);
    // nothing D answered holds the wrap key (rebuilt here from the file officers' shares only to know its bytes)
    const wrapKey = combineShares([openShare(dom.shares[0], officerKeys[0], dom.domainId)!, openShare(dom.shares[1], officerKeys[1], dom.domainId)!]);
    expect(domainIdOf(wrapKey)).toEqual(dom.domainId);
    for (const v of seen) expect(contains(v, wrapKey), 'the wrap key in a response of D').toBe(false);
  });
});

describe('the domain across PIN changes (docs/quorum.md §8.1)', () => {
  it('CHANGE_PIN and UNBLOCK seal the wrap key again under the new master key: backups still work, and a restart does not change that', async () => {
    const flash = SimFlash.memory({ pages: 32 });
    const sim = await sims.boot({ flash }, false);
    const c = sims.client(sim);
    await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, officers: { threshold: 2, officers } });
    await c.login('user', SIM_USER_PIN);
    const k = await c.generateKey('ed25519', 'k', { capabilities: ['sign', 'export-under-wrap'] });
    await c.logout();
    await c.login('so', SIM_SO_PIN);
    const dom = await c.domainCreate();
    const backup = async () => {
      const req = await c.approvalRequest(Command.BACKUP_EXPORT, { keyIds: [k.keyId] });
      return c.backupExport([k.keyId], approve(req, QUORUM));
    };
    expect((await backup()).subarray(1, 17)).toEqual(dom.domainId);
    await c.changePin('so', SIM_SO_PIN, 'so-pin-after-change');
    expect((await backup()).subarray(1, 17), 'after the SO PIN change').toEqual(dom.domainId);
    await c.unblock('user-pin-after-unblock');
    expect((await backup()).subarray(1, 17), 'after UNBLOCK').toEqual(dom.domainId);
    // a power cycle: the device reads the resealed record from flash
    sim.reboot();
    await c.login('so', 'so-pin-after-change');
    expect((await backup()).subarray(1, 17), 'after a power cycle').toEqual(dom.domainId);
    // the sealed wrap key of before the changes is not left in flash: every DOMAIN record but the live one is wiped
    const records = Buffer.from(flash.image()).toString('hex').split(Buffer.from(dom.domainId).toString('hex')).length - 1;
    expect(records, 'copies of the domain id in flash').toBe(1);
  });
});

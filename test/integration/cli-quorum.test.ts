// The officer ceremony through the CLI on a pty simulator (docs/quorum.md §6): keygen, enrolment, a stolen SO PIN and one officer key refused, a ceremony file passed from officer to officer, loosening a policy and an approved reset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshKnownDevices, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';

const USER = 'user-pin-4821';
const SO = 'so-pin-93007';
const PASS = 'correct horse battery staple';

let dir: string;
let sim: SimProcess;
let known: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-quorum-'));
  known = freshKnownDevices();
  sim = await spawnSim(['--pty', '--flash', join(dir, 'q.img')], { init: false });
});
afterAll(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({ HSM_KNOWN_DEVICES: known, HSM_PIN: '', HSM_SO_PIN: '', HSM_OFFICER_PASSPHRASE: PASS, ...extra });

async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = await runCli([...args, '--device', sim.device, '--json', '--trust'], env(extra));
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r;
}
async function ok(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = await cli(args, extra);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim());
}
async function refused(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = await cli(args, extra);
  expect(r.code, r.stdout).toBe(1);
  return JSON.parse(r.stderr.trim()).error as { status: string; message: string };
}

describe('tinyhsm officer, approval and reset', () => {
  const key = (n: string) => join(dir, n + '.key');

  it('runs the whole ceremony, and refuses one officer and the SO PIN alone', async () => {
    // three officers make their keys; the key file is owner-only and encrypted, the .pub has the public half
    const made: { [n: string]: { publicKey: string; fingerprint: string } } = {};
    for (const n of ['alice', 'bob', 'carol']) {
      const r = await runCli(['officer', 'keygen', '--label', n, '--out', key(n), '--json'], env());
      expect(r.code, r.stderr).toBe(0);
      made[n] = JSON.parse(r.stdout);
      expect(statSync(key(n)).mode & 0o777).toBe(0o600);
      expect(made[n].fingerprint).toBe(createHash('sha256').update(Buffer.from(made[n].publicKey, 'hex')).digest().subarray(0, 8).toString('hex'));
      expect(readFileSync(key(n), 'utf8')).not.toContain('"seed"');
    }
    expect(
      (await runCli(['officer', 'keygen', '--label', 'alice', '--out', key('alice'), '--json'], env())).code,
      'an existing key file is never overwritten',
    ).not.toBe(0);

    await ok(['init', '--pin', USER, '--so-pin', SO]);
    const k = await ok(['keygen', '--alg', 'ed25519', '--capabilities', 'sign', '--pin', USER]);
    await ok([
      'officer',
      'set',
      '--threshold',
      '2',
      '--officer',
      key('alice') + '.pub',
      '--officer',
      key('bob') + '.pub',
      '--officer',
      key('carol') + '.pub',
      '--so-pin',
      SO,
    ]);
    const list = await ok(['officer', 'list']);
    expect(list.threshold).toBe(2);
    expect(list.officers.map((o: { label: string; fingerprint: string }) => [o.label, o.fingerprint])).toEqual(
      ['alice', 'bob', 'carol'].map((n) => [n, made[n].fingerprint]),
    );

    // the insider: user PIN, SO PIN and one officer key
    expect((await refused(['reset', '--force', '--so-pin', SO])).status).toBe('APPROVAL_REQUIRED');
    expect((await refused(['reset', '--force', '--approve', key('alice')])).status).toBe('APPROVAL_REQUIRED');
    expect((await refused(['officer', 'set', '--threshold', '1', '--officer', key('alice') + '.pub', '--so-pin', SO, '--approve', key('alice')])).status).toBe(
      'APPROVAL_REQUIRED',
    );
    expect((await refused(['policy', '--key', String(k.id), '--exportable', '--pin', USER, '--approve', key('alice')])).status).toBe('APPROVAL_REQUIRED');
    // a wrong passphrase is refused before anything is sent
    const wrong = await cli(['reset', '--force', '--approve', key('alice'), '--approve', key('bob')], { HSM_OFFICER_PASSPHRASE: 'not it' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/wrong passphrase/);
    expect((await ok(['info'])).initialized).toBe(true);

    // two officers loosen the policy in one process
    const loose = await ok(['policy', '--key', String(k.id), '--exportable', '--pin', USER, '--approve', key('alice'), '--approve', key('carol')]);
    expect(loose.capabilities).toEqual(['sign', 'export-under-wrap']);

    // a protected key: listed so; deleted only with M approvals
    const pk = await ok(['keygen', '--alg', 'ed25519', '--protected', '--pin', USER]);
    const listedKeys = (await ok(['list', '--pin', USER])).keys as { id: number; protected: boolean }[];
    expect(listedKeys.find((x) => x.id === pk.id)!.protected).toBe(true);
    expect((await refused(['delete', '--key', String(pk.id), '--force', '--pin', USER])).status).toBe('APPROVAL_REQUIRED');
    expect((await refused(['delete', '--key', String(pk.id), '--force', '--pin', USER, '--approve', key('bob')])).status).toBe('APPROVAL_REQUIRED');
    expect((await ok(['delete', '--key', String(pk.id), '--force', '--pin', USER, '--approve', key('alice'), '--approve', key('bob')])).deleted).toBe(pk.id);

    // and through a ceremony file, which logs in as the command's gate asks (the user, for KEY_DELETE)
    const pk2 = await ok(['keygen', '--alg', 'ed25519', '--protected', '--pin', USER]);
    const del = join(dir, 'delete.json');
    await ok(['approval', 'request', 'delete', '--key', String(pk2.id), '--out', del]);
    for (const n of ['alice', 'carol']) expect((await runCli(['approval', 'sign', del, '--officer-key', key(n)], env())).code).toBe(0);
    expect((await ok(['approval', 'submit', del, '--pin', USER])).submitted).toBe('KEY_DELETE');
    expect(((await ok(['list', '--pin', USER])).keys as { id: number }[]).some((x) => x.id === pk2.id)).toBe(false);

    // tightening needs nobody's approval
    expect((await ok(['policy', '--key', String(k.id), '--remove-capabilities', 'export-under-wrap', '--pin', USER])).capabilities).toEqual(['sign']);

    // a ceremony file goes from officer to officer and the operator submits it: no officer key leaves its owner
    const file = join(dir, 'policy.json');
    const req = await ok(['approval', 'request', 'policy', '--key', String(k.id), '--capabilities', 'sign', '--exportable', '--out', file]);
    expect([req.command, req.threshold, req.approvals]).toEqual(['KEY_SET_POLICY', 2, []]);
    const first = await runCli(['approval', 'sign', file, '--officer-key', key('bob')], env());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/parameters +\{"keyId":\d+,"capabilities":17\}/);
    expect(first.stdout).toMatch(/approvals +1 of 2 needed: bob/);
    expect(first.stdout).toMatch(/next +1 more: one of alice, carol/);
    // the same officer twice is refused by the tool (the device refuses it too: OFFICER_TWICE)
    expect((await runCli(['approval', 'sign', file, '--officer-key', key('bob')], env())).code).not.toBe(0);
    // a file whose parameters were changed after signing: the device refuses the approvals, and nothing changes
    const signedTwo = await runCli(['approval', 'sign', file, '--officer-key', key('carol')], env());
    expect(signedTwo.stdout).toMatch(/enough approvals/);
    const f = JSON.parse(readFileSync(file, 'utf8'));
    const tampered = join(dir, 'tampered.json');
    // the same change for another key: {1: other key id, 2: sign | export-under-wrap}
    const otherKey = (await ok(['keygen', '--alg', 'ed25519', '--capabilities', 'sign', '--pin', USER])).id;
    writeFileSync(tampered, JSON.stringify({ ...f, params: Buffer.from([0xa2, 0x01, otherKey, 0x02, 0x11]).toString('hex') }));
    const bad = await refused(['approval', 'submit', tampered, '--pin', USER]);
    expect(bad.status).toBe('APPROVAL_INVALID');
    expect(bad.message).toMatch(/does not verify/);
    // that refusal used the challenge up, so the honest file now needs a new ceremony
    expect((await refused(['approval', 'submit', file, '--pin', USER])).status).toBe('APPROVAL_INVALID');
    const file2 = join(dir, 'policy2.json');
    await ok(['approval', 'request', 'policy', '--key', String(k.id), '--capabilities', 'sign', '--exportable', '--out', file2]);
    for (const n of ['alice', 'carol']) expect((await runCli(['approval', 'sign', file2, '--officer-key', key(n)], env())).code).toBe(0);
    const done = await ok(['approval', 'submit', file2, '--pin', USER]);
    expect(done.approvals).toEqual(['alice', 'carol']);
    expect((await ok(['policy', '--key', String(k.id), '--pin', USER])).capabilities).toEqual(['sign', 'export-under-wrap']);
    expect((await ok(['policy', '--key', String(otherKey), '--pin', USER])).capabilities).toEqual(['sign']);
    // a replay of the submitted file once the key was tightened again: its challenge is used up (replayed over the
    // loosened policy it would change nothing, so the device needs no approval for it then)
    await ok(['policy', '--key', String(k.id), '--remove-capabilities', 'export-under-wrap', '--pin', USER]);
    expect((await refused(['approval', 'submit', file2, '--pin', USER])).status).toBe('APPROVAL_INVALID');

    // two officers reset the device with no PIN at all
    const reset = await ok(['reset', '--force', '--approve', key('alice'), '--approve', key('bob')]);
    expect(reset.reset).toBe(true);
    const after = await ok(['info']);
    expect([after.initialized, after.threshold, after.officers]).toEqual([false, null, []]);
  });

  it('an officer whose key lives on another tinyhsm: officer export there, approval sign --officer-device', async () => {
    const b = await spawnSim(['--pty'], { init: false });
    try {
      const onB = async (args: string[]) => {
        const r = await runCli([...args, '--device', b.device, '--json', '--trust'], env());
        expect(r.code, r.stderr).toBe(0);
        return JSON.parse(r.stdout.trim());
      };
      await onB(['init', '--pin', 'dave-pin-7731', '--so-pin', 'dave-so-pin-9']);
      const dk = await onB(['keygen', '--alg', 'ed25519', '--label', 'officer', '--pin', 'dave-pin-7731']);
      const davePub = join(dir, 'dave.pub');
      const exported = await onB(['officer', 'export', '--key', String(dk.id), '--label', 'dave', '--out', davePub, '--pin', 'dave-pin-7731']);
      expect(exported.publicKey).toBe(dk.publicKey);
      // the device of the first test was reset: initialize it again with alice (key file) and dave (on device B) as officers
      const initialized = await ok(['init', '--pin', USER, '--so-pin', SO, '--threshold', '2', '--officer', key('alice') + '.pub', '--officer', davePub]);
      expect([initialized.threshold, initialized.officers.map((o: { label: string }) => o.label)]).toEqual([2, ['alice', 'dave']]);
      const file = join(dir, 'reset2.json');
      await ok(['approval', 'request', 'reset', '--out', file]);
      expect((await runCli(['approval', 'sign', file, '--officer-key', key('alice')], env())).code).toBe(0);
      const signed = await runCli(['approval', 'sign', file, '--officer-device', b.device, '--key', String(dk.id), '--pin', 'dave-pin-7731', '--trust'], env());
      expect(signed.code, signed.stderr).toBe(0);
      expect(signed.stdout).toMatch(/approved as officer 1 \(dave\)/);
      const done = await ok(['approval', 'submit', file]);
      expect(done.approvals).toEqual(['alice', 'dave']);
      expect((await ok(['info'])).initialized).toBe(false);
    } finally {
      await b.stop();
    }
  });
});

// The domain ceremony through the CLI on two pty simulators (docs/quorum.md §8–§10): domain create, join-request, reshare with the identity check, the join through an approval file, backup, restore, and clone of what is left; one officer alone is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verify as nodeVerify } from 'node:crypto';
import { freshKnownDevices, nodePublicKey, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';

const USER = 'user-pin-4821';
const SO = 'so-pin-93007';
const PASS = 'correct horse battery staple';

let dir: string;
let a: SimProcess;
let b: SimProcess;
let d: SimProcess;
let known: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-domain-'));
  known = freshKnownDevices();
  a = await spawnSim(['--pty', '--flash', join(dir, 'a.img')], { init: false });
  b = await spawnSim(['--pty', '--flash', join(dir, 'b.img')], { init: false });
  d = await spawnSim(['--pty'], { init: false });
});
afterAll(async () => {
  await a.stop();
  await b.stop();
  await d.stop();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ HSM_KNOWN_DEVICES: known, HSM_PIN: USER, HSM_SO_PIN: SO, HSM_OFFICER_PASSPHRASE: PASS });
const p = (n: string) => join(dir, n);

async function cli(args: string[], device?: SimProcess) {
  const r = await runCli([...args, ...(device ? ['--device', device.device, '--trust'] : []), '--json'], env());
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r;
}
async function ok(args: string[], device?: SimProcess) {
  const r = await cli(args, device);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim());
}

describe('tinyhsm domain, backup, restore and clone', () => {
  it('creates a domain on A, joins B through officers who check its identity, backs up, restores and clones', async () => {
    for (const n of ['alice', 'bob', 'carol']) await ok(['officer', 'keygen', '--label', n, '--out', p(n + '.key')]);
    // dave's officer key lives on device D
    await ok(['init', '--pin', 'dave-pin-7731', '--so-pin', 'dave-so-pin-9'], d);
    const dk = await ok(['keygen', '--alg', 'ed25519', '--label', 'officer', '--pin', 'dave-pin-7731'], d);
    await ok(['officer', 'export', '--key', String(dk.id), '--label', 'dave', '--out', p('dave.pub'), '--pin', 'dave-pin-7731'], d);
    const officerFlags = [...['alice', 'bob', 'carol'].flatMap((n) => ['--officer', p(n + '.key.pub')]), '--officer', p('dave.pub')];
    for (const d of [a, b]) await ok(['init', '--pin', USER, '--so-pin', SO, '--threshold', '2', ...officerFlags], d);
    const k1 = await ok(['keygen', '--alg', 'ed25519', '--label', 'one', '--capabilities', 'sign', '--exportable'], a);
    const k2 = await ok(['keygen', '--alg', 'ecdsa-p256', '--label', 'two', '--capabilities', 'sign', '--exportable'], a);
    await ok(['keygen', '--alg', 'ed25519', '--label', 'stays', '--capabilities', 'sign'], a);

    const dom = await ok(['domain', 'create', '--out', p('domain.json')], a);
    expect(dom.officers.map((o: { label: string }) => o.label)).toEqual(['alice', 'bob', 'carol', 'dave']);
    expect((await ok(['info'], a)).domainId).toBe(dom.domainId);

    // B asks to join; an officer given another identity key refuses to seal its share
    const join = await ok(['domain', 'join-request', '--domain', p('domain.json'), '--out', p('join.json')], b);
    const wrong = await cli([
      'domain',
      'reshare',
      p('join.json'),
      '--domain',
      p('domain.json'),
      '--officer-key',
      p('alice.key'),
      '--identity',
      '00'.repeat(32),
    ]);
    expect(wrong.code).toBe(1); // a check that failed (README "Using the CLI", exit codes)
    expect(JSON.parse(wrong.stderr).error.message).toMatch(/do not seal your share/);
    await ok(['domain', 'reshare', p('join.json'), '--domain', p('domain.json'), '--officer-key', p('alice.key'), '--identity', join.identityKey]);
    // dave's share is re-sealed inside device D (SHARE_RESEAL), with D's user PIN
    const viaD = await runCli(
      [
        'domain',
        'reshare',
        p('join.json'),
        '--domain',
        p('domain.json'),
        '--officer-device',
        d.device,
        '--key',
        String(dk.id),
        '--pin',
        'dave-pin-7731',
        '--identity',
        join.identityKey,
        '--trust',
        '--json',
      ],
      env(),
    );
    expect(viaD.code, viaD.stderr).toBe(0);
    expect(JSON.parse(readFileSync(p('join.json'), 'utf8')).shares.map((s: { label: string }) => s.label)).toEqual(['alice', 'dave']);
    await ok(['approval', 'request', 'domain-join', '--join', p('join.json'), '--out', p('join-req.json')], b);
    // one approval is not enough
    await ok(['approval', 'sign', p('join-req.json'), '--officer-key', p('bob.key')]);
    const short = await cli(['approval', 'submit', p('join-req.json')], b);
    expect(JSON.parse(short.stderr).error.status).toBe('APPROVAL_REQUIRED');
    await ok(['approval', 'request', 'domain-join', '--join', p('join.json'), '--out', p('join-req2.json')], b);
    for (const n of ['bob', 'carol']) await ok(['approval', 'sign', p('join-req2.json'), '--officer-key', p(n + '.key')]);
    await ok(['approval', 'submit', p('join-req2.json')], b);
    expect((await ok(['info'], b)).domainId).toBe(dom.domainId);

    // backup of key one with alice and bob, restored on B
    const backup = await ok(['backup', '--keys', String(k1.id), '--approve', p('alice.key'), '--approve', p('bob.key'), '--out', p('backup.json')], a);
    expect(backup.keyIds).toEqual([k1.id]);
    // the same backup as a ceremony file passed between officers; its blob is what `restore` takes
    await ok(['approval', 'request', 'backup', '--keys', String(k1.id), '--out', p('backup-req.json')], a);
    for (const n of ['bob', 'carol']) await ok(['approval', 'sign', p('backup-req.json'), '--officer-key', p(n + '.key')]);
    await ok(['approval', 'submit', p('backup-req.json'), '--out', p('backup-ceremony.json')], a);
    expect(JSON.parse(readFileSync(p('backup-ceremony.json'), 'utf8')).keyIds).toEqual([k1.id]);
    const restored = await ok(['restore', '--in', p('backup-ceremony.json'), '--approve', p('alice.key'), '--approve', p('carol.key')], b);
    expect(restored.restored).toEqual([k1.id]);
    // clone brings over what B lacks: key two only (the key without export-under-wrap never leaves)
    const clone = await ok(['clone', '--from', a.device, '--to', b.device, '--approve', p('alice.key'), '--approve', p('bob.key'), '--trust']);
    expect(clone.restored).toEqual([k2.id]);
    const listB = await ok(['list'], b);
    expect(listB.keys.map((k: { id: number; origin: string }) => [k.id, k.origin])).toEqual([
      [k1.id, 'restored-generated'],
      [k2.id, 'restored-generated'],
    ]);
    // the cloned P-256 key signs on B, checked against A's public key
    const msg = '68656c6c6f';
    const sig = await ok(['sign', '--key', String(k2.id), '--data', msg], b);
    const pub = nodePublicKey('ecdsa-p256', Buffer.from(k2.publicKey, 'hex'));
    expect(nodeVerify('sha256', Buffer.from(msg, 'hex'), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig.signature, 'hex'))).toBe(true);
  });
});

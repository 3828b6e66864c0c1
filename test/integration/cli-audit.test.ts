// `tinyhsm audit` on a pty simulator (docs/audit.md §9): pull (resumable, verified), verify a file and the device, tail, settings; an edited, dropped or reordered line and an older flash image written back are named; forced audit stops SIGN until `audit pull --ack`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient } from '../../host/client.ts';
import { freshKnownDevices, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';

const USER = 'user-pin-4821';
const SO = 'so-pin-93007';
const AUDITOR = 'audit-pin-5150';

let dir: string;
let known: string;
let sim: SimProcess;
const img = () => join(dir, 'a.img');
const p = (n: string) => join(dir, n);
const env = (extra: NodeJS.ProcessEnv = {}) => ({ HSM_KNOWN_DEVICES: known, HSM_PIN: USER, HSM_SO_PIN: SO, ...extra });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-audit-'));
  known = freshKnownDevices();
  // 8 pages: a ring of 68 entries (a quarter of the store), small enough to fill in the forced-audit test
  sim = await spawnSim(['--pty', '--flash', img(), '--flash-pages', '8'], { init: false });
});
afterAll(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const r = await runCli([...args, '--device', sim.device, '--trust', '--json'], env(extra));
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
  return JSON.parse(r.stderr.trim());
}
const lines = (f: string) =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const auditor = { HSM_AUDITOR_PIN: AUDITOR };

describe('tinyhsm audit', () => {
  it('pulls a verified log of keygen, sign, a wrong PIN and delete; resumes; verifies against the device; tails', async () => {
    await ok(['init', '--pin', USER, '--so-pin', SO]);
    const k = await ok(['keygen', '--alg', 'ed25519', '--label', 'audited']);
    await ok(['sign', '--key', String(k.id), '--data', '616263']);
    const wrong = await cli(['list', '--pin', 'not-the-pin-9']);
    expect(wrong.code).toBe(1);
    await ok(['delete', '--key', String(k.id), '--force']);
    // no auditor yet: reading works as user, acknowledging needs the auditor
    expect((await refused(['audit', 'pull', '--out', p('x.jsonl'), '--ack'], auditor)).error.message).toMatch(/no auditor PIN is set/);
    await ok(['audit', 'settings', '--new-auditor-pin', AUDITOR]);

    const first = await ok(['audit', 'pull', '--out', p('log.jsonl')], auditor);
    expect(first.from).toBe(0);
    const file = lines(p('log.jsonl'));
    expect(file[0].type).toBe('device');
    expect(file[file.length - 1].type).toBe('checkpoint');
    const es = file.filter((l) => l.type === 'entry');
    expect(es.length).toBe(first.pulled);
    expect(es.map((e) => e.index)).toEqual([...Array(es.length).keys()]);
    const seen = es.map((e) => `${e.command} ${e.status}`);
    for (const want of ['KEY_GENERATE OK', 'SIGN OK', 'LOGIN PIN_INCORRECT', 'KEY_DELETE OK', 'AUDIT_SET OK']) expect(seen).toContain(want);
    // the file on its own, and against the device
    expect((await ok(['audit', 'verify', '--in', p('log.jsonl'), '--offline'])).ok).toBe(true);
    const v = await ok(['audit', 'verify', '--in', p('log.jsonl')], auditor);
    expect(v.ok).toBe(true);
    // resumes where the file ends: the pull's own LOGIN and the verify's are new
    copyFileSync(img(), p('old.img'));
    await ok(['sign', '--key', String((await ok(['keygen', '--alg', 'ed25519'])).id), '--data', '00']);
    const second = await ok(['audit', 'pull', '--out', p('log.jsonl')], auditor);
    expect(second.from).toBe(es[es.length - 1].index + 1);
    expect(second.pulled).toBeGreaterThan(2);
    expect((await ok(['audit', 'verify', '--in', p('log.jsonl')], auditor)).ok).toBe(true);
    // tail: the newest entries, each checked against the one before
    const tail = await ok(['audit', 'tail', '--count', '5'], auditor);
    expect(tail.entries.length).toBe(5);
  });

  it('names an edited, dropped or reordered line, an edited field and a forged checkpoint (offline)', async () => {
    const all = readFileSync(p('log.jsonl'), 'utf8').trim().split('\n');
    const entryAt = all.findIndex((l) => JSON.parse(l).type === 'entry' && JSON.parse(l).index === 3);
    const variants: [string, string[], RegExp, string][] = [];
    // one byte of entry 3's bytes
    const e3 = JSON.parse(all[entryAt]);
    const bytes = e3.entry.split('');
    bytes[30] = bytes[30] === '0' ? '1' : '0';
    variants.push(['an edited entry', all.map((l, i) => (i === entryAt ? JSON.stringify({ ...e3, entry: bytes.join('') }) : l)), /entry [34]/, 'edit']);
    variants.push(['a dropped entry', all.filter((_l, i) => i !== entryAt), /entries 3\.\.3 are missing/, 'gap']);
    variants.push([
      'two entries swapped',
      all.map((l, i) => (i === entryAt ? all[entryAt + 1] : i === entryAt + 1 ? all[entryAt] : l)),
      /reordered/,
      'reorder',
    ]);
    variants.push([
      'a decoded field edited',
      all.map((l, i) => (i === entryAt ? JSON.stringify({ ...e3, status: 'OK', command: 'ECHO' }) : l)),
      /line was altered/,
      'edit',
    ]);
    const cpAt = all.findIndex((l) => JSON.parse(l).type === 'checkpoint');
    const cp = JSON.parse(all[cpAt]);
    const sig = cp.signature.split('');
    sig[0] = sig[0] === 'a' ? 'b' : 'a';
    variants.push([
      'a forged checkpoint',
      all.map((l, i) => (i === cpAt ? JSON.stringify({ ...cp, signature: sig.join('') }) : l)),
      /not signed by identity/,
      'checkpoint',
    ]);
    for (const [what, text, message, kind] of variants) {
      const f = p('tampered.jsonl');
      writeFileSync(f, text.join('\n') + '\n');
      const r = await cli(['audit', 'verify', '--in', f, '--offline']);
      expect(r.code, what).toBe(1);
      const j = JSON.parse(r.stderr.trim());
      expect(j.error.status, what).toBe('AUDIT_INVALID');
      expect(j.error.message, what).toMatch(message);
      expect(
        j.result.problems.map((x: { kind: string }) => x.kind),
        what,
      ).toContain(kind);
      // a pull refuses to append to a file that does not verify
      if (kind !== 'gap') expect((await cli(['audit', 'pull', '--out', f], auditor)).code, what + ': pull').toBe(1);
    }
  });

  it('names an older flash image written back (a board without a monotonic counter)', async () => {
    await sim.stop();
    copyFileSync(p('old.img'), img());
    // the simulator's counter would refuse the old image outright (docs/storage.md §12); a board without one takes it
    if (existsSync(img() + '.counter')) unlinkSync(img() + '.counter');
    sim = await spawnSim(['--pty', '--flash', img(), '--flash-pages', '8'], { init: false });
    const r = await cli(['audit', 'verify', '--in', p('log.jsonl')], auditor);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stderr.trim());
    expect(j.result.problems.map((x: { kind: string }) => x.kind)).toContain('rollback');
    expect(j.error.message).toMatch(/rolled back or replaced/);
    // a pull appends nothing to the file then
    const before = readFileSync(p('log.jsonl'), 'utf8');
    expect((await cli(['audit', 'pull', '--out', p('log.jsonl')], auditor)).code).toBe(1);
    expect(readFileSync(p('log.jsonl'), 'utf8')).toBe(before);
  });

  it('forced audit: with the ring full of unacknowledged entries SIGN is refused; `audit pull --ack` makes room', async () => {
    const k = await ok(['keygen', '--alg', 'ed25519', '--label', 'forced']);
    expect((await refused(['audit', 'settings', '--lock'])).error.message).toMatch(/needs forced audit on/);
    const s = await ok(['audit', 'settings', '--forced', 'on']);
    expect(s.forced).toBe(true);
    // fill the ring through the driver (many cheap recorded requests), until the device refuses
    const c = await HsmClient.open(sim.device, { knownDevices: known });
    await c.login('user', USER);
    let full: string | undefined;
    for (let i = 0; i < s.capacity + 2 && !full; i++) await c.listKeys().catch((e) => (full = e.statusName));
    await c.close();
    expect(full).toBe('AUDIT_FULL');
    const no = await refused(['sign', '--key', String(k.id), '--data', '00']);
    expect(no.error.status).toBe('AUDIT_FULL');
    expect(no.error.message).toMatch(/audit pull --ack/);
    const pulled = await ok(['audit', 'pull', '--out', p('forced.jsonl'), '--ack'], auditor);
    expect(pulled.acked).toBe(pulled.to + 1);
    await ok(['sign', '--key', String(k.id), '--data', '00']);
  });
});

// `tinyhsm sign` on a pty simulator: a message of any size from a file or standard input, signatures as hex, raw, DER and base64 that OpenSSL verifies, Ed25519ph, a progress bar on a terminal, and the usage errors (exit 2) for what cannot be.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ed25519ph } from '@noble/curves/ed25519.js';
import { SIM_PIN_ENV, freshKnownDevices, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';
import { onTerminal } from '../helpers/terminal.ts';

let dir: string;
let sim: SimProcess;
let known: string;
let ed: { id: number; publicKey: string };
let ec: { id: number; publicKey: string };
const p = (n: string) => join(dir, n);

async function cli(args: string[], input?: string) {
  const r = await runCli([...args, '--device', sim.device, '--trust'], { ...SIM_PIN_ENV, HSM_KNOWN_DEVICES: known }, input);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r;
}
async function ok(args: string[], input?: string) {
  const r = await cli([...args, '--json'], input);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim());
}
function openssl(args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return (r.stdout || '') + (r.stderr || '');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-sign-'));
  known = freshKnownDevices();
  sim = await spawnSim(['--pty']);
  ed = await ok(['keygen', '--alg', 'ed25519', '--label', 'files']);
  ec = await ok(['keygen', '--alg', 'ecdsa-p256', '--label', 'files-ec']);
  for (const k of [ed, ec]) writeFileSync(p(`${k.id}.pem`), (await cli(['pubkey', '--key', String(k.id), '--format', 'pem'])).stdout);
  // past one SIGN (1,984 bytes): the Ed25519 signature streams through the device, the ECDSA digest is made here
  writeFileSync(p('big'), randomBytes(300_000));
}, 60_000);
afterAll(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('tinyhsm sign', () => {
  it('a 300 kB file: Ed25519 as base64 and raw, ECDSA as DER, each verified by openssl', async () => {
    const b64 = await ok(['sign', '--key', String(ed.id), '--in', p('big'), '--format', 'base64']);
    expect(b64).toMatchObject({ id: ed.id, alg: 'ed25519', format: 'base64' });
    writeFileSync(p('ed.sig'), Buffer.from(b64.signature, 'base64'));
    expect(openssl(['pkeyutl', '-verify', '-pubin', '-inkey', p(`${ed.id}.pem`), '-rawin', '-in', p('big'), '-sigfile', p('ed.sig')])).toMatch(
      /Signature Verified Successfully/,
    );
    // raw: the 64 bytes, to --out; the same signature (Ed25519 is deterministic)
    const raw = await cli(['sign', '--key', String(ed.id), '--in', p('big'), '--format', 'raw', '--out', p('ed.raw')]);
    expect([raw.code, raw.stdout]).toEqual([0, '']);
    expect(readFileSync(p('ed.raw'))).toEqual(readFileSync(p('ed.sig')));

    const der = await cli(['sign', '--key', String(ec.id), '--in', p('big'), '--format', 'der', '--out', p('ec.der')]);
    expect(der.code, der.stderr).toBe(0);
    expect(readFileSync(p('ec.der'))[0]).toBe(0x30);
    expect(openssl(['dgst', '-sha256', '-verify', p(`${ec.id}.pem`), '-signature', p('ec.der'), p('big')])).toMatch(/Verified OK/);
  });

  it('--in - signs standard input; hex is the default text; --data still signs a short message', async () => {
    const text = 'a message from a pipe\n'.repeat(200);
    writeFileSync(p('piped'), text);
    const r = await cli(['sign', '--key', String(ed.id), '--in', '-'], text);
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(p('piped.sig'), Buffer.from(r.stdout.trim(), 'hex'));
    expect(openssl(['pkeyutl', '-verify', '-pubin', '-inkey', p(`${ed.id}.pem`), '-rawin', '-in', p('piped'), '-sigfile', p('piped.sig')])).toMatch(
      /Signature Verified Successfully/,
    );
    const short = await ok(['sign', '--key', String(ed.id), '--data', Buffer.from(text).toString('hex')]);
    expect(short.signature).toBe(r.stdout.trim());
  });

  it('--prehashed signs Ed25519ph of the message (host SHA-512), with a --context; noble ed25519ph verifies it', async () => {
    const msg = randomBytes(5000);
    writeFileSync(p('ph'), msg);
    const ctx = Buffer.from('release');
    const r = await ok(['sign', '--key', String(ed.id), '--in', p('ph'), '--prehashed', '--context', ctx.toString('hex')]);
    expect(r.prehashed).toBe(true);
    const sig = Buffer.from(r.signature, 'hex');
    expect(ed25519ph.verify(sig, msg, Buffer.from(ed.publicKey, 'hex'), { context: ctx })).toBe(true);
    expect(ed25519ph.verify(sig, msg, Buffer.from(ed.publicKey, 'hex'))).toBe(false);
  });

  it('on a terminal, a message of 1 MB or more shows a progress bar on standard error that ends at 100%; --json shows none', async () => {
    writeFileSync(p('mb'), randomBytes(1 << 20));
    const env = { ...SIM_PIN_ENV, HSM_KNOWN_DEVICES: known };
    const shown = await onTerminal(env, ['sign', '--key', String(ed.id), '--in', p('mb'), '--device', sim.device, '--format', 'base64']);
    expect(shown.code, shown.out).toBe(0);
    expect(shown.out).toMatch(/\rsigning 100% \[#{30}\] 3\.1\/3\.1 MB read/);
    const quiet = await onTerminal(env, ['sign', '--key', String(ed.id), '--in', p('mb'), '--device', sim.device, '--json']);
    expect(quiet.code, quiet.out).toBe(0);
    expect(quiet.out).not.toMatch(/signing/);
  });

  it('usage errors exit 2 before anything is signed: der of Ed25519, an unknown format, a context alone, a digest of the wrong size', async () => {
    writeFileSync(p('five'), 'hello');
    for (const [args, msg] of [
      [['--in', p('big'), '--format', 'der', '--key', String(ed.id)], /der is for ECDSA keys/],
      [['--in', p('big'), '--format', 'pem', '--key', String(ed.id)], /hex, raw, der, base64/],
      [['--in', p('big'), '--context', '00', '--key', String(ed.id)], /--context is for --prehashed/],
      [['--in', p('five'), '--digest', '--key', String(ec.id)], /32 \(SHA-256, ECDSA\) or 64/],
      [['--key', String(ed.id)], /exactly one of --data HEX and --in FILE/],
    ] as const) {
      const r = await cli(['sign', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    const missing = await cli(['sign', '--key', String(ed.id), '--in', p('no-such-file')]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/cannot read/)]);
  });
});

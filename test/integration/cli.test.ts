// The CLI end to end over a real pty: keys made on the simulated token, signatures and PEM checked by the real OpenSSL.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = 'bin/tinyhsm.js';
let sim: ChildProcess;
let pty: string;
let dir: string;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--device', pty], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function cliJson(args: string[]): { [k: string]: unknown } {
  const r = cli([...args, '--json']);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1); // exactly one JSON object
  return JSON.parse(lines[0]);
}

function openssl(args: string[]): { code: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** Raw r‖s (64 bytes) to the DER ECDSA-Sig-Value OpenSSL's dgst -verify expects (RFC 3279 §2.2.3). */
function rawToDer(sig: Buffer): Buffer {
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(sig.subarray(0, 32)), int(sig.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-'));
  sim = spawn(process.execPath, [BIN, 'sim', '--pty', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).once('line', resolve);
    sim.once('exit', (c) => reject(new Error('sim exited ' + c)));
  });
  pty = JSON.parse(first).pty;
  expect(pty).toMatch(/^\/dev\/pts\/\d+$/);
});

afterAll(async () => {
  if (sim && sim.exitCode === null) {
    const done = new Promise((r) => sim.once('exit', r));
    sim.kill('SIGTERM');
    await done;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('tinyhsm CLI over a pty', () => {
  it('info lists the four algorithms', () => {
    const info = cliJson(['info']);
    expect(info.algorithms).toEqual(expect.arrayContaining(['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1', 'x25519']));
    expect(info.deviceId).toMatch(/^[0-9a-f]{32}$/);
    expect(info.platform).toBe('node-sim');
  });

  it('Ed25519: keygen, pubkey --format pem, sign; OpenSSL accepts the key and verifies the signature', () => {
    const k = cliJson(['keygen', '--alg', 'ed25519', '--label', 'cli-test']);
    expect(k.publicKey).toMatch(/^[0-9a-f]{64}$/);
    const pem = cliJson(['pubkey', '--key', String(k.id), '--format', 'pem']).pem as string;
    const pemFile = join(dir, 'ed.pem');
    writeFileSync(pemFile, pem + '\n');
    const parsed = openssl(['pkey', '-pubin', '-in', pemFile, '-noout', '-text']);
    expect(parsed.code, parsed.out).toBe(0);
    expect(parsed.out).toContain('ED25519');
    const msgFile = join(dir, 'msg');
    writeFileSync(msgFile, 'signed by the token');
    const sig = Buffer.from(cliJson(['sign', '--key', String(k.id), '--in', msgFile]).signature as string, 'hex');
    writeFileSync(join(dir, 'ed.sig'), sig);
    const v = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', pemFile, '-rawin', '-in', msgFile, '-sigfile', join(dir, 'ed.sig')]);
    expect(v.code, v.out).toBe(0);
    // a flipped bit must not verify: the check above can fail
    sig[5] ^= 1;
    writeFileSync(join(dir, 'ed.sig'), sig);
    expect(openssl(['pkeyutl', '-verify', '-pubin', '-inkey', pemFile, '-rawin', '-in', msgFile, '-sigfile', join(dir, 'ed.sig')]).code).not.toBe(0);
  });

  it('P-256: keygen, sign (message and --digest); openssl dgst -sha256 -verify accepts both', () => {
    const k = cliJson(['keygen', '--alg', 'ecdsa-p256']);
    expect(k.publicKey).toMatch(/^04[0-9a-f]{128}$/);
    const pemFile = join(dir, 'p256.pem');
    writeFileSync(pemFile, (cliJson(['pubkey', '--key', String(k.id), '--format', 'pem']).pem as string) + '\n');
    const msgFile = join(dir, 'msg256');
    writeFileSync(msgFile, 'p-256 message');
    const sig = Buffer.from(cliJson(['sign', '--key', String(k.id), '--data', Buffer.from('p-256 message').toString('hex')]).signature as string, 'hex');
    writeFileSync(join(dir, 'p256.der'), rawToDer(sig));
    const v = openssl(['dgst', '-sha256', '-verify', pemFile, '-signature', join(dir, 'p256.der'), msgFile]);
    expect(v.code, v.out).toBe(0);
    expect(v.out).toContain('Verified OK');
    const digest = openssl(['dgst', '-sha256', '-r', msgFile]).out.split(' ')[0];
    const sig2 = Buffer.from(cliJson(['sign', '--key', String(k.id), '--data', digest, '--digest']).signature as string, 'hex');
    writeFileSync(join(dir, 'p256b.der'), rawToDer(sig2));
    expect(openssl(['dgst', '-sha256', '-verify', pemFile, '-signature', join(dir, 'p256b.der'), msgFile]).code).toBe(0);
  });

  it('list, pubkey --format ssh (ssh-keygen reads it), random, delete', () => {
    const k = cliJson(['keygen', '--alg', 'ed25519', '--label', 'ssh']);
    const list = cliJson(['list']).keys as { id: number; alg: string; label: string; origin: string; publicKey: string }[];
    expect(list).toContainEqual({ id: k.id, alg: 'ed25519', label: 'ssh', origin: 'generated', publicKey: k.publicKey });
    const ssh = cliJson(['pubkey', '--key', String(k.id), '--format', 'ssh']).ssh as string;
    expect(ssh).toMatch(/^ssh-ed25519 /);
    const sshFile = join(dir, 'id.pub');
    writeFileSync(sshFile, ssh + '\n');
    const fp = spawnSync('ssh-keygen', ['-l', '-f', sshFile], { encoding: 'utf8' });
    if (fp.error === undefined) expect(fp.status, fp.stderr).toBe(0);
    expect(cliJson(['random', '32']).random).toMatch(/^[0-9a-f]{64}$/);
    expect(cliJson(['delete', '--key', String(k.id)])).toEqual({ deleted: k.id });
    expect((cliJson(['list']).keys as { id: number }[]).map((x) => x.id)).not.toContain(k.id);
  });

  it('import marks the key imported and reproduces the RFC 8032 TEST 1 public key', () => {
    // RFC 8032 §7.1 TEST 1
    const k = cliJson(['import', '--alg', 'ed25519', '--private', '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60']);
    expect(k.publicKey).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = cliJson(['sign', '--key', String(k.id), '--data', '']);
    expect(sig.signature).toBe('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
    const list = cliJson(['list']).keys as { id: number; origin: string }[];
    expect(list.find((x) => x.id === k.id)?.origin).toBe('imported');
  });

  it('errors go to stderr with a non-zero exit, the status name and what to do', () => {
    const r = cli(['sign', '--key', '999', '--data', '00']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('KEY_NOT_FOUND');
    expect(r.stderr).toContain('tinyhsm list');
    const j = cli(['sign', '--key', '999', '--data', '00', '--json']);
    expect(j.code).not.toBe(0);
    expect(JSON.parse(j.stderr.trim()).error.status).toBe('KEY_NOT_FOUND');
    const u = cli(['keygen', '--alg', 'rsa']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('ed25519');
    const d = cli(['sign', '--key', '1', '--data', 'zz']);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain('hex');
    const x = cliJson(['keygen', '--alg', 'x25519']);
    const s = cli(['sign', '--key', String(x.id), '--data', '00']);
    expect(s.stderr).toContain('OPERATION_NOT_PERMITTED');
  });

  it('demo starts its own pty simulator and both node:crypto and OpenSSL verify its signatures', () => {
    const r = spawnSync(process.execPath, [BIN, 'demo', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.device).toMatch(/^\/dev\/pts\/\d+$/);
    expect(out.results.map((x: { alg: string }) => x.alg)).toEqual(['ed25519', 'ecdsa-p256']);
    for (const x of out.results) expect([x.verifiedByNode, x.verifiedByOpenssl]).toEqual([true, true]);
  });
});

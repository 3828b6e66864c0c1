// The CLI end to end over a real pty: pinning with --trust, keys made on the simulated token (initialized with test PINs, logged in from HSM_PIN / HSM_SO_PIN), signatures and PEM checked by the real OpenSSL.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIM_PIN_ENV, initDevice } from '../helpers/sim.ts';

const BIN = 'bin/tinyhsm.js';
let sim: ChildProcess;
let pty: string;
let dir: string;
/** This file's own known-devices file: the CLI never touches the user's real one here (docs/session.md §9). */
let known: string;

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--device', pty], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...SIM_PIN_ENV, HSM_KNOWN_DEVICES: known },
  });
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
  known = join(dir, 'config', 'known-devices.json');
  sim = spawn(process.execPath, [BIN, 'sim', '--pty', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: sim.stdout! }).once('line', resolve);
    sim.once('exit', (c) => reject(new Error('sim exited ' + c)));
  });
  pty = JSON.parse(first).pty;
  expect(pty).toMatch(/^\/dev\/pts\/\d+$/);
  // PINs set (pinned in memory only: this file's known-devices file stays untouched); the CLI logs in from SIM_PIN_ENV
  expect(await initDevice(pty)).toBe(true);
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
  it('info lists the four algorithms, needs no session and no pin, and says the device is not pinned', () => {
    const info = cliJson(['info']);
    expect(info.algorithms).toEqual(expect.arrayContaining(['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1', 'x25519']));
    expect(info.deviceId).toMatch(/^[0-9a-f]{32}$/);
    expect(info.platform).toBe('node-sim');
    expect(info.pinned).toBe('not-pinned');
    expect(info.knownDevices).toBe(known);
    expect(existsSync(known)).toBe(false); // INFO pins nothing
    expect(cli(['info']).stdout).toMatch(/pinned\s+no: run a command with --trust/);
  });

  it('an unpinned device is refused without --trust; --trust pins it; later commands need no --trust', () => {
    const r = cli(['list']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('UNKNOWN_DEVICE');
    expect(r.stderr).toContain('--trust');
    expect(r.stderr).toContain(known);
    expect(existsSync(known)).toBe(false);
    const j = cli(['keygen', '--alg', 'ed25519', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stderr.trim()).error.status).toBe('UNKNOWN_DEVICE');

    const info = cliJson(['info']);
    expect(cliJson(['list', '--trust'])).toEqual({ keys: [] }); // the refused keygen made no key
    const file = JSON.parse(readFileSync(known, 'utf8'));
    expect(file.version).toBe(1);
    expect(file.devices[info.deviceId as string].identityKey).toBe(info.identityPublicKey);
    expect(cliJson(['list'])).toEqual({ keys: [] });
    const after = cliJson(['info']);
    expect(after.pinned).toBe('pinned');
    expect(cli(['info']).stdout).toMatch(/pinned\s+yes, since \d{4}-/);
  });

  it('a device whose identity no longer matches its pin is refused, even with --trust, with what to do', () => {
    const info = cliJson(['info']);
    const original = readFileSync(known, 'utf8');
    // the file now claims this device id had another identity key: what a replaced or reset board, or an impostor, looks like
    const file = JSON.parse(original);
    const other = 'ab'.repeat(32);
    file.devices[info.deviceId as string].identityKey = other;
    writeFileSync(known, JSON.stringify(file));
    try {
      for (const extra of [[], ['--trust']]) {
        const r = cli(['list', ...extra]);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toContain('IDENTITY_CHANGED');
        expect(r.stderr).toContain(`the identity key of device ${info.deviceId} changed since`);
        expect(r.stderr).toContain('impersonating');
        expect(r.stderr).toContain(`remove its entry ("${info.deviceId}")`);
      }
      expect(JSON.parse(readFileSync(known, 'utf8')).devices[info.deviceId as string].identityKey).toBe(other); // --trust did not overwrite it
      expect(cliJson(['info']).pinned).toBe('changed');
      expect(cli(['info']).stdout).toMatch(/IDENTITY CHANGED/);
    } finally {
      writeFileSync(known, original);
    }
    expect(cliJson(['list'])).toEqual({ keys: [] });
  });

  it('a damaged known-devices file is reported and left alone', () => {
    const original = readFileSync(known, 'utf8');
    writeFileSync(known, '{ not json');
    try {
      const r = cli(['list', '--trust']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('KNOWN_DEVICES_FILE');
      expect(r.stderr).toContain('not valid');
      expect(readFileSync(known, 'utf8')).toBe('{ not json');
    } finally {
      writeFileSync(known, original);
    }
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
    expect(list).toContainEqual({
      id: k.id,
      alg: 'ed25519',
      label: 'ssh',
      origin: 'generated',
      publicKey: k.publicKey,
      // the default policy of a generated Ed25519 key (docs/security.md §6)
      capabilities: ['sign'],
      sensitive: true,
      touch: false,
      neverExtractable: true,
      local: true,
      protected: false,
    });
    const ssh = cliJson(['pubkey', '--key', String(k.id), '--format', 'ssh']).ssh as string;
    expect(ssh).toMatch(/^ssh-ed25519 /);
    const sshFile = join(dir, 'id.pub');
    writeFileSync(sshFile, ssh + '\n');
    const fp = spawnSync('ssh-keygen', ['-l', '-f', sshFile], { encoding: 'utf8' });
    if (fp.error === undefined) expect(fp.status, fp.stderr).toBe(0);
    expect(cliJson(['random', '32']).random).toMatch(/^[0-9a-f]{64}$/);
    expect(cliJson(['delete', '--key', String(k.id), '--force'])).toEqual({ deleted: k.id });
    expect((cliJson(['list']).keys as { id: number }[]).map((x) => x.id)).not.toContain(k.id);
  });

  it('import marks the key imported and reproduces the RFC 8032 TEST 1 public key', () => {
    // RFC 8032 §7.1 TEST 1
    const k = cliJson(['import', '--alg', 'ed25519', '--private', '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60']);
    expect(k.publicKey).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = cliJson(['sign', '--key', String(k.id), '--data', '']);
    expect(sig.signature).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    const list = cliJson(['list']).keys as { id: number; origin: string; local: boolean }[];
    expect(list.find((x) => x.id === k.id)?.origin).toBe('imported');
    expect(list.find((x) => x.id === k.id)?.local).toBe(false);
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
    // a policy flag that names no capability is a usage error listing the real ones
    const c = cli(['keygen', '--alg', 'ed25519', '--capabilities', 'sign,fly']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('unknown capability "fly"');
    expect(c.stderr).toContain('export-under-wrap');
    // no stack trace, ever
    for (const r of [s, c]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('demo starts its own pty simulator and both node:crypto and OpenSSL verify its signatures', () => {
    const demoKnown = join(dir, 'demo-known.json');
    const r = spawnSync(process.execPath, [BIN, 'demo', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, HSM_KNOWN_DEVICES: demoKnown },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.device).toMatch(/^\/dev\/pts\/\d+$/);
    // key use before INIT and before LOGIN is refused by the device itself
    expect(out.refused).toEqual({ beforeInit: 'NOT_INITIALIZED', beforeLogin: 'LOGIN_REQUIRED' });
    expect(out.results.map((x: { alg: string }) => x.alg)).toEqual(['ed25519', 'ecdsa-p256']);
    for (const x of out.results) {
      expect([x.verifiedByNode, x.verifiedByOpenssl]).toEqual([true, true]);
      // the attestation the demo verified is about this key, and its signature checks here too (independently)
      expect(x.attestation.verified).toBe(true);
      expect(x.attestation.statement).toMatchObject({ keyId: x.id, alg: x.alg, publicKey: x.publicKey, origin: 'generated', local: true });
      const signed = Buffer.concat([Buffer.from('tinyhsm/attest/v1\0'), Buffer.from(x.attestation.statementCbor, 'hex')]);
      const identity = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(x.attestation.identityKey, 'hex').toString('base64url') },
        format: 'jwk',
      });
      expect(nodeVerify(null, signed, identity, Buffer.from(x.attestation.signature, 'hex'))).toBe(true);
    }
    expect(existsSync(demoKnown)).toBe(false); // the demo's own throwaway simulator is pinned in memory only
  });
});

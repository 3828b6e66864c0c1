// The CLI with PINs on a real pty simulator (README.md "Using the CLI", docs/security.md): refused before init and before login, init, login from flags/env/terminal, the SO role, lockout across restarts, unblock, change-pin, policy, touch, and attestation checked against the pinned identity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient, verifyAttestation } from '../../host/index.ts';
import { cliCommand, freshKnownDevices, nodeBundle, runCli, spawnSim, verifyWithNode, type SimProcess } from '../helpers/sim.ts';
import { onTerminal } from '../helpers/terminal.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const USER = 'user-pin-4821';
const SO = 'so-pin-93007';
const message = Buffer.from('signed after login');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-auth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI against `sim` with this file's known-devices file; HSM_PIN / HSM_SO_PIN cleared unless `env` sets them. */
function tool(sim: () => SimProcess, known: string) {
  const run = async (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) => {
    const r = await runCli([...args, '--device', sim().device], { HSM_KNOWN_DEVICES: known, HSM_PIN: '', HSM_SO_PIN: '', ...env }, input);
    // whatever happened, never a stack trace
    expect(r.stderr).not.toMatch(/\n\s+at /);
    return r;
  };
  const json = async (args: string[], env: NodeJS.ProcessEnv = {}, input?: string) => {
    const r = await run([...args, '--json'], env, input);
    expect(r.stderr, r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout.trim());
  };
  /** A refusal: exit code 1, nothing on stdout, the JSON error on stderr. */
  const refused = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await run([...args, '--json'], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('');
    return JSON.parse(r.stderr.trim()).error as { status: string; message: string; hint?: string };
  };
  return { run, json, refused };
}

function openssl(args: string[]): { code: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

describe('tinyhsm CLI: initialization, login, roles, policy and attestation', () => {
  let sim: SimProcess;
  let known: string;
  let cli: ReturnType<typeof tool>;
  beforeAll(async () => {
    known = freshKnownDevices();
    sim = await spawnSim(['--pty', '--flash', join(dir, 'auth.img')], { init: false });
    cli = tool(() => sim, known);
  });
  afterAll(async () => {
    if (sim) await sim.stop();
  });

  /** `tinyhsm sign` with the user PIN in a child process; `asked` settles once the CLI asked for the button on stderr. */
  async function signAwaitingTouch(args: string[]) {
    const cmd = await cliCommand();
    const child = spawn(process.execPath, [...cmd, 'sign', ...args, '--device', sim.device], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TINYHSM_BUNDLE: await nodeBundle(), HSM_KNOWN_DEVICES: known, HSM_PIN: USER },
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const asked = new Promise<void>((resolve) =>
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes("touch the device's button")) resolve();
      }),
    );
    const code = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    return {
      child,
      asked,
      code,
      get out() {
        return out;
      },
      get err() {
        return err;
      },
    };
  }

  it('before init, key use is refused with a clear message, with or without a PIN, and by the device itself', async () => {
    const info = await cli.json(['info']);
    expect(info).toMatchObject({ initialized: false, label: null, userPinTries: null, soPinTries: null });
    for (const extra of [[], ['--pin', USER]]) {
      const r = await cli.run(['sign', '--key', '1', '--data', '00', '--trust', ...extra]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('NOT_INITIALIZED');
      expect(r.stderr).toContain('tinyhsm init --pin USER --so-pin SO');
    }
    expect((await cli.refused(['keygen', '--alg', 'ed25519', '--trust'])).status).toBe('NOT_INITIALIZED');
    // not just the CLI: the device refuses key use on a factory-new device
    const c = await HsmClient.open(sim.device, { knownDevices: known, trust: true });
    try {
      const e = await hsmFailure(c.sign(1, { message }));
      expect(e.code).toBe('NOT_INITIALIZED');
      expect(e.fromDevice).toBe(true);
    } finally {
      await c.close();
    }
  });

  it('init sets both PINs and the label once; info shows initialized, label and the tries left', async () => {
    const missing = await cli.run(['init', '--pin', USER]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--so-pin SO');
    expect(missing.stderr).toContain('HSM_SO_PIN');
    const short = await cli.refused(['init', '--pin', '12345', '--so-pin', SO]);
    expect(short.status).toBe('BAD_ARGUMENT');
    expect(short.message).toContain('6 to 64 bytes');
    expect((await cli.json(['info'])).initialized).toBe(false); // nothing was set by the refusals

    expect(await cli.json(['init', '--pin', USER, '--so-pin', SO, '--label', 'bench'])).toMatchObject({ initialized: true, label: 'bench' });
    const info = await cli.json(['info']);
    expect(info).toMatchObject({ initialized: true, label: 'bench', userPinTries: 8, soPinTries: 8, pinLocked: false });
    expect((await cli.run(['info'])).stdout).toMatch(/initialized\s+yes, label "bench"\nPINs\s+user 8 tries left, SO 8 tries left/);
    expect((await cli.refused(['init', '--pin', USER, '--so-pin', SO])).status).toBe('ALREADY_INITIALIZED');
    // the PINs may also come from the environment; a second init is refused all the same
    expect((await cli.refused(['init'], { HSM_PIN: USER, HSM_SO_PIN: SO })).status).toBe('ALREADY_INITIALIZED');
  });

  it('after init, without a PIN: refused with LOGIN_REQUIRED naming --pin and HSM_PIN; the device refuses too', async () => {
    const r = await cli.run(['keygen', '--alg', 'ed25519']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LOGIN_REQUIRED');
    expect(r.stderr).toContain('--pin');
    expect(r.stderr).toContain('HSM_PIN');
    expect(r.stderr).toContain('not a terminal');
    expect((await cli.refused(['sign', '--key', '1', '--data', '00'])).status).toBe('LOGIN_REQUIRED');
    expect((await cli.refused(['list'])).message).toMatch(/--pin or HSM_PIN.*--so-pin or HSM_SO_PIN/);
    // the device itself: a session without LOGIN cannot use keys
    const c = await HsmClient.open(sim.device, { knownDevices: known });
    try {
      for (const p of [c.sign(1, { message }), c.generateKey('ed25519'), c.listKeys()]) {
        const e = await hsmFailure(p);
        expect(e.code).toBe('LOGIN_REQUIRED');
        expect(e.fromDevice).toBe(true);
      }
    } finally {
      await c.close();
    }
    expect((await cli.json(['list', '--pin', USER])).keys).toEqual([]); // nothing was made
  });

  it('with the user PIN (flag or HSM_PIN) keygen and sign work, and OpenSSL verifies the signature', async () => {
    const k = await cli.json(['keygen', '--alg', 'ed25519', '--label', 'after-login', '--pin', USER]);
    const pemFile = join(dir, 'k.pem');
    writeFileSync(pemFile, (await cli.json(['pubkey', '--key', String(k.id), '--format', 'pem'], { HSM_PIN: USER })).pem + '\n');
    const msgFile = join(dir, 'msg');
    writeFileSync(msgFile, message);
    const sig = Buffer.from((await cli.json(['sign', '--key', String(k.id), '--in', msgFile], { HSM_PIN: USER })).signature, 'hex');
    const sigFile = join(dir, 'k.sig');
    writeFileSync(sigFile, sig);
    const v = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', pemFile, '-rawin', '-in', msgFile, '-sigfile', sigFile]);
    expect(v.code, v.out).toBe(0);
    sig[7] ^= 1; // the check can fail
    writeFileSync(sigFile, sig);
    expect(openssl(['pkeyutl', '-verify', '-pubin', '-inkey', pemFile, '-rawin', '-in', msgFile, '-sigfile', sigFile]).code).not.toBe(0);
    // a wrong PIN is refused and says how many tries are left; the right one still works (and restores the count)
    const wrong = await cli.refused(['list', '--pin', 'not-the-pin']);
    expect(wrong.status).toBe('PIN_INCORRECT');
    expect(wrong.message).toContain('7 tries left');
    expect((await cli.json(['info'])).userPinTries).toBe(7);
    expect((await cli.json(['list', '--pin', USER])).keys).toHaveLength(1);
    expect((await cli.json(['info'])).userPinTries).toBe(8);
  });

  it('import needs the SO PIN: the user role is refused, the SO imports, the key says imported', async () => {
    const seed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'; // RFC 8032 §7.1 TEST 1
    const noSo = await cli.refused(['import', '--alg', 'ed25519', '--private', seed, '--pin', USER]);
    expect(noSo.status).toBe('LOGIN_REQUIRED');
    expect(noSo.message).toContain('--so-pin or HSM_SO_PIN');
    // the device refuses KEY_IMPORT in a user session (the CLI never sends it that way)
    const c = await HsmClient.open(sim.device, { knownDevices: known, login: { role: 'user', pin: USER } });
    try {
      const e = await hsmFailure(c.importKey('ed25519', Buffer.from(seed, 'hex')));
      expect(e.code).toBe('WRONG_ROLE');
      expect(e.fromDevice).toBe(true);
    } finally {
      await c.close();
    }
    // the key from a file (kept out of ps and the shell history), not the command line
    const keyFile = join(dir, 'rfc8032-test1.hex');
    writeFileSync(keyFile, seed + '\n', { mode: 0o600 });
    const k = await cli.json(['import', '--alg', 'ed25519', '--private-file', keyFile, '--label', 'rfc8032'], { HSM_SO_PIN: SO });
    expect(k.publicKey).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    // and from standard input: RFC 8032 §7.1 TEST 2
    const k2 = await cli.json(
      ['import', '--alg', 'ed25519', '--private-file', '-'],
      { HSM_SO_PIN: SO },
      '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb\n',
    );
    expect(k2.publicKey).toBe('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
    // usage mistakes: both forms, neither, a file that is not hex: exit code 2; a file that cannot be read: 1 (I/O); nothing sent
    for (const [args, re, code] of [
      [['--private', seed, '--private-file', keyFile], /not both/, 2],
      [[], /--private-file FILE .* or --private HEX is required/, 2],
      [['--private-file', join(dir, 'missing.hex')], /cannot read/, 1],
      [['--private-file', '-'], /must hold the key in hex/, 2],
    ] as const) {
      const r = await cli.run(['import', '--alg', 'ed25519', ...args], { HSM_SO_PIN: SO }, 'not hex');
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toMatch(re);
    }
    const sig = await cli.json(['sign', '--key', String(k.id), '--data', ''], { HSM_PIN: USER });
    expect(sig.signature).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
    // the SO may list; the imported key is not local, for ever
    const keys = (await cli.json(['list'], { HSM_SO_PIN: SO })).keys as { id: number; origin: string; local: boolean }[];
    expect(keys.find((x) => x.id === k.id)).toMatchObject({ origin: 'imported', local: false });
    const att = await cli.json(['attest', '--key', String(k.id)], { HSM_SO_PIN: SO });
    // an imported key existed outside the device: PKCS#11 calls it neither local nor never-extractable
    expect(att.statement).toMatchObject({ keyId: k.id, origin: 'imported', local: false, neverExtractable: false, publicKey: k.publicKey });
  });

  it('attest verifies against the pinned identity; with another key pinned for the device it fails', async () => {
    const info = await cli.json(['info']);
    const k = await cli.json(['keygen', '--alg', 'ecdsa-p256', '--pin', USER]);
    const nonce = '00112233445566778899aabbccddeeff0011';
    const a = await cli.json(['attest', '--key', String(k.id), '--nonce', nonce], { HSM_PIN: USER });
    expect(a.verified).toBe(true);
    expect(a.identityKey).toBe(info.identityPublicKey);
    expect(JSON.parse(readFileSync(known, 'utf8')).devices[info.deviceId].identityKey).toBe(a.identityKey);
    expect(a.statement).toMatchObject({
      format: 'tinyhsm-attest-v1',
      deviceId: info.deviceId,
      keyId: k.id,
      alg: 'ecdsa-p256',
      publicKey: k.publicKey,
      origin: 'generated',
      capabilities: ['sign'],
      sensitive: true,
      touch: false,
      neverExtractable: true,
      local: true,
      nonce,
    });
    // checked here too, independently of the CLI: Ed25519 over "tinyhsm/attest/v1" 0x00 statement
    const identity = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(a.identityKey, 'hex').toString('base64url') }, format: 'jwk' });
    const signed = Buffer.concat([Buffer.from('tinyhsm/attest/v1\0'), Buffer.from(a.statementCbor, 'hex')]);
    expect(nodeVerify(null, signed, identity, Buffer.from(a.signature, 'hex'))).toBe(true);
    const answer = { statement: Buffer.from(a.statementCbor, 'hex'), signature: Buffer.from(a.signature, 'hex') };
    expect(() => verifyAttestation(answer, { identityKey: new Uint8Array(Buffer.from(a.identityKey, 'hex')) })).not.toThrow();
    const wrongKey = await hsmFailure(Promise.resolve().then(() => verifyAttestation(answer, { identityKey: createPublicKeyBytes() })));
    expect(wrongKey.code).toBe('ATTESTATION_INVALID');
    expect(wrongKey.message).toContain('not signed by the pinned identity key');
    // the text form says what was verified
    expect((await cli.run(['attest', '--key', String(k.id)], { HSM_PIN: USER })).stdout).toMatch(
      /^attestation\s+VERIFIED: signed by the pinned identity key [0-9a-f]{64}\n/,
    );

    // pin another identity key for this device id: the CLI no longer accepts the device, attest included
    const original = readFileSync(known, 'utf8');
    const edited = JSON.parse(original);
    edited.devices[info.deviceId].identityKey = Buffer.from(createPublicKeyBytes()).toString('hex');
    writeFileSync(known, JSON.stringify(edited));
    try {
      const e = await cli.refused(['attest', '--key', String(k.id)], { HSM_PIN: USER });
      expect(e.status).toBe('IDENTITY_CHANGED');
      expect(e.message).toContain(`the identity key of device ${info.deviceId} changed`);
    } finally {
      writeFileSync(known, original);
    }
    expect((await cli.json(['attest', '--key', String(k.id)], { HSM_PIN: USER })).verified).toBe(true);
    // a nonce outside 16..64 bytes is a usage error
    expect((await cli.run(['attest', '--key', String(k.id), '--nonce', '0011'], { HSM_PIN: USER })).code).toBe(2);
  });

  it('policy shows a key policy, tightens it, refuses loosening; a key without sign cannot sign', async () => {
    const k = await cli.json(['keygen', '--alg', 'ecdsa-p256', '--capabilities', 'sign,derive', '--exportable', '--pin', USER]);
    const shown = await cli.json(['policy', '--key', String(k.id)], { HSM_SO_PIN: SO }); // showing needs any role
    expect(shown).toMatchObject({
      id: k.id,
      capabilities: ['sign', 'derive', 'export-under-wrap'],
      sensitive: true,
      touch: false,
      neverExtractable: false,
      local: true,
    });
    // tightening needs the user role
    expect((await cli.refused(['policy', '--key', String(k.id), '--remove-capabilities', 'sign'], { HSM_SO_PIN: SO })).status).toBe('LOGIN_REQUIRED');
    const tightened = await cli.json(['policy', '--key', String(k.id), '--remove-capabilities', 'sign,export-under-wrap'], { HSM_PIN: USER });
    expect(tightened).toMatchObject({ capabilities: ['derive'], neverExtractable: false }); // it WAS extractable once
    const denied = await cli.refused(['sign', '--key', String(k.id), '--data', '00'], { HSM_PIN: USER });
    expect(denied.status).toBe('POLICY_DENIED');
    const loosen = await cli.refused(['policy', '--key', String(k.id), '--capabilities', 'sign,derive'], { HSM_PIN: USER });
    expect(loosen.status).toBe('POLICY_LOOSENING');
    expect((await cli.json(['policy', '--key', String(k.id)], { HSM_PIN: USER })).capabilities).toEqual(['derive']); // unchanged
    expect((await cli.run(['policy', '--key', String(k.id), '--exportable'], { HSM_PIN: USER })).code).toBe(2);
    const list = (await cli.json(['list'], { HSM_PIN: USER })).keys as { id: number; capabilities: string[] }[];
    expect(list.find((x) => x.id === k.id)!.capabilities).toEqual(['derive']);
  });

  it('a key with touch: the CLI asks for the button once, on stderr, and signs after a press', async () => {
    const k = await cli.json(['keygen', '--alg', 'ed25519', '--touch', '--pin', USER]);
    expect((await cli.json(['policy', '--key', String(k.id)], { HSM_PIN: USER })).touch).toBe(true);
    const run = await signAwaitingTouch(['--key', String(k.id), '--data', message.toString('hex'), '--json']);
    await run.asked; // the device waits (keepalives) and the CLI said so
    sim.press();
    expect(await run.code).toBe(0);
    expect(run.err.match(/touch the device's button/g)).toHaveLength(1);
    const sig = Buffer.from(JSON.parse(run.out.trim()).signature, 'hex');
    expect(verifyWithNode('ed25519', Buffer.from(k.publicKey, 'hex'), message, sig)).toBe(true);
  });

  it('Ctrl-C while the device waits for the button cancels the request on the device; the next command is served at once', async () => {
    const k = await cli.json(['keygen', '--alg', 'ed25519', '--touch', '--pin', USER]);
    const run = await signAwaitingTouch(['--key', String(k.id), '--data', '00']);
    await run.asked;
    run.child.kill('SIGINT');
    expect(await run.code).toBe(130);
    expect(run.out).toBe('');
    expect(run.err).toContain('ABORTED: SIGN was aborted');
    expect(run.err).not.toMatch(/\n\s+at /);
    // the device no longer waits (a waiting device answers BUSY), and nothing was signed meanwhile
    expect((await cli.json(['list'], { HSM_PIN: USER })).keys.some((x: { id: number }) => x.id === k.id)).toBe(true);
  });

  it('change-pin: the old user PIN stops working and the new one works; --so changes the SO PIN', async () => {
    const NEW_USER = 'user-pin-NEW-77';
    const NEW_SO = 'so-pin-NEW-88';
    const noNew = await cli.run(['change-pin', '--pin', USER]);
    expect(noNew.code).toBe(2);
    expect(noNew.stderr).toContain('--new-pin');
    expect((await cli.json(['change-pin', '--new-pin', NEW_USER], { HSM_PIN: USER })).changed).toBe('user');
    expect((await cli.refused(['list', '--pin', USER])).status).toBe('PIN_INCORRECT');
    expect((await cli.json(['list', '--pin', NEW_USER])).keys.length).toBeGreaterThan(0);
    expect((await cli.json(['change-pin', '--so', '--so-pin', SO, '--new-pin', NEW_SO])).changed).toBe('so');
    expect((await cli.refused(['list', '--so-pin', SO])).status).toBe('PIN_INCORRECT');
    expect((await cli.json(['list', '--so-pin', NEW_SO])).keys.length).toBeGreaterThan(0);
    // and back, so a wrong old PIN is refused and changes nothing
    expect((await cli.refused(['change-pin', '--pin', 'wrong-old-pin', '--new-pin', USER])).status).toBe('PIN_INCORRECT');
    expect((await cli.json(['change-pin', '--pin', NEW_USER, '--new-pin', USER])).changed).toBe('user');
    expect((await cli.json(['list', '--pin', USER])).keys.length).toBeGreaterThan(0);
  });

  it('on a terminal the PIN is asked for without echo', async () => {
    const env = { HSM_KNOWN_DEVICES: known, HSM_PIN: '', HSM_SO_PIN: '' };
    const got = await onTerminal(env, ['list', '--device', sim.device], [USER], 'PIN: ');
    expect(got.prompts).toBe(1);
    expect(got.out).toContain('user PIN: ');
    expect(got.out).not.toContain(USER); // not echoed
    expect(got.out).toMatch(/ed25519\s+imported/);
    expect(got.code).toBe(0);
  });
});

describe('tinyhsm CLI: init on a terminal', () => {
  it('asks for each new PIN twice without echo; two different entries change nothing', async () => {
    const known = freshKnownDevices();
    const sim = await spawnSim(['--pty'], { init: false });
    try {
      const env = { HSM_KNOWN_DEVICES: known, HSM_PIN: '', HSM_SO_PIN: '' };
      const onPty = (answers: string[]) => onTerminal(env, ['init', '--trust', '--device', sim.device], answers, 'PIN: ');
      const differ = await onPty([USER, 'typo-' + USER]);
      expect(differ.code).toBe(2);
      expect(differ.out).toContain('differ');
      expect(differ.out).not.toContain(USER);
      const cli = tool(() => sim, known);
      expect((await cli.json(['info'])).initialized).toBe(false);
      const ok = await onPty([USER, USER, SO, SO]);
      expect(ok.prompts).toBe(4);
      expect(ok.out).toMatch(/new user PIN: [\s\S]*repeat the new user PIN: [\s\S]*new SO PIN: [\s\S]*repeat the new SO PIN: /);
      expect(ok.out).not.toContain(USER);
      expect(ok.out).not.toContain(SO);
      expect(ok.code).toBe(0);
      expect((await cli.json(['info'])).initialized).toBe(true);
      expect((await cli.json(['list', '--pin', USER])).keys).toEqual([]);
      expect((await cli.json(['list', '--so-pin', SO])).keys).toEqual([]);
    } finally {
      await sim.stop();
    }
  });
});

describe('tinyhsm CLI: lockout across restarts (docs/security.md §4)', () => {
  it('8 wrong user PINs block it, even with the simulator restarted between tries; the SO unblocks it', async () => {
    const known = freshKnownDevices();
    const flash = join(dir, 'lockout.img');
    let sim = await spawnSim(['--pty', '--flash', flash], { init: false });
    const cli = tool(() => sim, known);
    const restart = async () => {
      expect((await sim.stop()).code).toBe(0);
      sim = await spawnSim(['--pty', '--flash', flash], { init: false });
    };
    try {
      await cli.json(['init', '--pin', USER, '--so-pin', SO, '--trust']);
      const k = await cli.json(['keygen', '--alg', 'ed25519', '--pin', USER]);
      const wrong = async (left: number) => {
        const e = await cli.refused(['list', '--pin', 'wrong-pin-000']);
        if (left > 0) {
          expect(e.status).toBe('PIN_INCORRECT');
          expect(e.message).toMatch(new RegExp(`\\b${left} (try|tries) left`));
        } else expect(e.status).toBe('PIN_BLOCKED');
        expect((await cli.json(['info'])).userPinTries).toBe(left);
      };
      // three in a row: then the device takes no PIN at all, right or wrong, and spends nothing, until a power cycle
      await wrong(7);
      await wrong(6);
      await wrong(5);
      for (const pin of ['wrong-pin-000', USER]) expect((await cli.refused(['list', '--pin', pin])).status).toBe('PIN_LOCKED_UNTIL_POWER_CYCLE');
      expect(await cli.json(['info'])).toMatchObject({ userPinTries: 5, pinLocked: true });
      // the rest with a restart before every try: the counter lives in flash and never comes back
      for (const left of [4, 3, 2, 1, 0]) {
        await restart();
        expect(await cli.json(['info'])).toMatchObject({ userPinTries: left + 1, pinLocked: false });
        await wrong(left);
      }
      await restart();
      expect((await cli.refused(['sign', '--key', String(k.id), '--data', '00', '--pin', USER])).status).toBe('PIN_BLOCKED');
      expect((await cli.json(['info'])).userPinTries).toBe(0);
      // unblock needs the SO PIN and a new user PIN
      expect((await cli.run(['unblock', '--so-pin', SO])).code).toBe(2);
      expect((await cli.refused(['unblock', '--new-pin', 'new-user-pin-1'])).status).toBe('LOGIN_REQUIRED');
      expect((await cli.refused(['unblock', '--so-pin', 'wrong-so-pin', '--new-pin', 'new-user-pin-1'])).status).toBe('PIN_INCORRECT');
      expect((await cli.refused(['unblock', '--pin', USER, '--new-pin', 'new-user-pin-1'])).status).toBe('LOGIN_REQUIRED');
      expect(await cli.json(['unblock', '--new-pin', 'new-user-pin-1'], { HSM_SO_PIN: SO })).toEqual({ unblocked: true, userPinTries: 8 });
      expect(await cli.json(['info'])).toMatchObject({ userPinTries: 8, soPinTries: 8 });
      // the new user PIN signs (node:crypto verifies), the old one is gone
      const sig = Buffer.from((await cli.json(['sign', '--key', String(k.id), '--data', message.toString('hex'), '--pin', 'new-user-pin-1'])).signature, 'hex');
      expect(verifyWithNode('ed25519', Buffer.from(k.publicKey, 'hex'), message, sig)).toBe(true);
      expect((await cli.refused(['list', '--pin', USER])).status).toBe('PIN_INCORRECT');
    } finally {
      await sim.stop();
    }
  }, 240_000); // ten CLI runs and nine simulator restarts: over a minute on a loaded 2-core machine
});

/** A fresh Ed25519 public key (32 bytes): some identity that is not the device's. */
function createPublicKeyBytes(): Uint8Array {
  const pub = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string;
  return new Uint8Array(Buffer.from(pub, 'base64url'));
}

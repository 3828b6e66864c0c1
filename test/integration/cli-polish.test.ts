// The CLI as people expect it (README "Using the CLI"): exit codes 0/1/2/130 across commands, --json errors as one object, --out FILE and --in -, ecdh --peer-file in PEM/DER/hex, trust list/remove, and --force or a typed confirmation for what destroys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Capability, HsmClient } from '../../host/index.ts';
import { SIM_PIN_ENV, SIM_USER_PIN, freshKnownDevices, runCli, spawnSim, type SimProcess } from '../helpers/sim.ts';
import { onTerminal } from '../helpers/terminal.ts';

interface Key {
  id: number;
  alg: string;
  publicKey: string;
}

let dir: string;
let known: string;
let sim: SimProcess;
/** The device's id and identity key, and keys made for the tests (by a client of this file, not the CLI: faster). */
let device: { deviceId: string; identityKey: string };
let keys: { ed: Key; p256: Key; x: Key; doomed: Key };
const p = (n: string) => join(dir, n);
/** This file's device and known-devices file, the PINs from the environment (test/helpers/sim.ts SIM_PIN_ENV). */
const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...SIM_PIN_ENV, HSM_KNOWN_DEVICES: known, HSM_DEVICE: sim.device, ...extra });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A client of this file on the device, pinned in memory only and logged in as the user, for `fn` alone. */
async function onDevice<T>(fn: (c: HsmClient) => Promise<T>): Promise<T> {
  const c = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false });
  try {
    await c.login('user', SIM_USER_PIN);
    return await fn(c);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-polish-'));
  known = freshKnownDevices();
  sim = await spawnSim(['--socket', p('hsm.sock')]);
  const pinned = await runCli(['list', '--trust', '--json'], env());
  expect(pinned.code, pinned.stderr).toBe(0);
  // the log while it is short: the RAM-only simulator's ring soon overwrites its oldest entries
  const pulled = await runCli(['audit', 'pull', '--out', p('audit.jsonl'), '--json'], env());
  expect(pulled.code, pulled.stderr).toBe(0);
  await onDevice(async (c) => {
    const info = await c.info();
    device = { deviceId: hex(info.deviceId), identityKey: hex(info.identityPublicKey!) };
    const key = async (alg: string, label?: string, capabilities?: number): Promise<Key> => {
      const k = await c.generateKey(alg, label, capabilities !== undefined ? { capabilities } : {});
      return { id: k.keyId, alg, publicKey: hex(k.publicKey) };
    };
    keys = {
      ed: await key('ed25519'),
      p256: await key('ecdsa-p256', undefined, Capability.SIGN | Capability.DERIVE),
      x: await key('x25519'),
      doomed: await key('ed25519', 'doomed'),
    };
  });
});
afterAll(async () => {
  await sim.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The CLI on this file's device: never a stack trace, whatever happened. */
async function cli(args: string[], extra: NodeJS.ProcessEnv = {}, input?: string) {
  const r = await runCli(args, env(extra), input);
  expect(r.stderr, r.stderr).not.toMatch(/\n\s+at /);
  return r;
}
async function ok(args: string[], extra: NodeJS.ProcessEnv = {}, input?: string) {
  const r = await cli([...args, '--json'], extra, input);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}
/** With --json a failure is exactly one JSON object {"error": {status, message}} on stderr, nothing on stdout. */
function oneJsonError(r: { code: number | null; stdout: string; stderr: string }, what: string) {
  expect(r.stdout, what).toBe('');
  const lines = r.stderr.trim().split('\n');
  expect(lines, what).toHaveLength(1);
  const e = JSON.parse(lines[0]).error as { status: string; message: string };
  expect(typeof e.status, what).toBe('string');
  expect(typeof e.message, what).toBe('string');
  return e;
}
/** At most `n` at a time (for runs that reach no device: the socket takes one client at a time). */
async function parallel<T>(items: T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await f(items[next++]);
    }),
  );
}
/** The index the device's next audit entry gets (docs/audit.md). */
const logEnd = () => onDevice(async (c) => (await c.auditCheckpoint()).next);
/** The commands the device logged from entry `from` on: what reached it. */
const deviceSaw = (from: number) =>
  onDevice(async (c) => {
    const got = await c.auditReadAll(from);
    expect(got.oldest).toBeLessThanOrEqual(from); // nothing since `from` was overwritten
    return got.entries.map((e) => e.command ?? '');
  });
const keyIds = () => onDevice(async (c) => (await c.listKeys()).map((k) => k.keyId));
const pinnedIds = () => Object.keys((JSON.parse(readFileSync(known, 'utf8')) as { devices: object }).devices);

describe('exit codes and --json errors', () => {
  it('usage mistakes across commands: exit 2, one line without --json (no usage dump), one JSON object with it', async () => {
    const bad: string[][] = [
      ['keygen', '--frob'],
      ['sign', '--key'],
      ['list', '--json=yes'],
      ['frobnicate'],
      ['--bogus'],
      ['keygen'],
      ['pubkey', '--key', '1', '--format', 'der'],
      ['attest', '--key', 'seven'],
      ['ecdh', '--key', '1'],
      ['ecdh', '--key', '1', '--peer', '00', '--peer-file', 'x.pem'],
      ['random', '0'],
      ['delete', '--key', '1'],
      ['reset'],
      ['trust', 'remove'],
      ['audit', 'nope'],
      ['init', '--pin', 'only-the-user-pin'],
      ['help', 'frobnicate'],
      ['sim', '--bogus'],
      ['sim', '--socket', p('x.sock'), '--seed', 'xyz'],
    ];
    // each with --json; a few also as a person sees them
    const asText = [0, 3, 5, 11, 17];
    const runs = [...bad.map((args) => [...args, '--json']), ...asText.map((i) => bad[i])];
    await parallel(runs, 3, async (args) => {
      const what = args.join(' ');
      const r = await cli(args, { HSM_PIN: '', HSM_SO_PIN: '' });
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      if (args.includes('--json')) expect(oneJsonError(r, what).status).toBe('USAGE');
      else {
        expect(r.stdout, what).toBe('');
        expect(r.stderr, `${what}: ${r.stderr}`).toMatch(/^tinyhsm[^\n]*\n$/);
      }
    });
    // a flag error names the flag and points at that command's help; a mistyped flag gets the nearest one
    const typo = await cli(['keygen', '--lable', 'x']);
    expect(typo.stderr.trim()).toBe('tinyhsm keygen: unknown option --lable. Did you mean --label? See `tinyhsm keygen --help`.');
    expect((await cli(['pubkey', '--key'])).stderr.trim()).toBe('tinyhsm pubkey: --key needs a value. See `tinyhsm pubkey --help`.');
    // no command at all: the usage for a person (exit 2), one JSON error for a program
    const none = await cli([]);
    expect([none.code, none.stdout.split('\n').length > 40]).toEqual([2, true]);
    expect(oneJsonError(await cli(['--json']), 'no command').status).toBe('USAGE');
  });

  it('what the device refuses and what fails on the host: exit 1, and with --json one object naming the status', async () => {
    const check = async ([args, status, extra]: [string[], string, NodeJS.ProcessEnv?], asText: boolean) => {
      const what = args.join(' ');
      const json = await cli([...args, '--json'], extra);
      expect(json.code, `${what} --json: ${json.stderr}`).toBe(1);
      expect(oneJsonError(json, `${what} --json`).status, what).toBe(status);
      if (!asText) return;
      const text = await cli(args, extra);
      expect(text.code, `${what}: ${text.stderr}`).toBe(1);
      expect(text.stdout, what).toBe('');
      expect(text.stderr, what).toMatch(new RegExp(`^tinyhsm ${args[0]}: [^\\n]+\\n$`));
    };
    // the device's refusals and the link's, one client at a time
    const refused: [string[], string, NodeJS.ProcessEnv?][] = [
      [['pubkey', '--key', '999'], 'KEY_NOT_FOUND'],
      [['delete', '--key', '999', '--force'], 'KEY_NOT_FOUND'],
      [['ecdh', '--key', String(keys.ed.id), '--peer', '09'.repeat(32)], 'OPERATION_NOT_PERMITTED'],
      [['list', '--pin', 'not-the-pin-000'], 'PIN_INCORRECT'],
      [['list'], 'LOGIN_REQUIRED', { HSM_PIN: '', HSM_SO_PIN: '' }],
      [['list'], 'UNKNOWN_DEVICE', { HSM_KNOWN_DEVICES: freshKnownDevices() }],
    ];
    for (const [i, row] of refused.entries()) await check(row, i === 0);
    // what fails on this side (files, the known-devices file, the simulator's socket), in parallel
    writeFileSync(p('not-a-socket'), 'precious');
    const host: [string[], string][] = [
      [['list', '--out', p('no-such-dir/keys.txt')], 'IO'],
      [['restore', '--in', p('missing.json'), '--approve', p('k.key')], 'IO'],
      [['audit', 'verify', '--in', p('missing.jsonl')], 'IO'],
      [['trust', 'remove', 'feedfacefeedface', '--force'], 'NOT_FOUND'],
      [['sim', '--socket', p('not-a-socket')], 'ERROR'],
    ];
    await parallel(
      host.map((row, i) => [row, i === 0] as const),
      3,
      ([row, asText]) => check(row, asText),
    );
  });
});

describe('--out FILE and --in -', () => {
  it('pubkey, list, random and ecdh write FILE instead of stdout (ecdh and random 0600, even over an older 0644 file)', async () => {
    const k = keys.p256;
    const pem = await cli(['pubkey', '--key', String(k.id), '--format', 'pem', '--out', p('k.pem')]);
    expect([pem.code, pem.stdout, pem.stderr]).toEqual([0, '', '']);
    const spki = createPublicKey(readFileSync(p('k.pem'), 'utf8')).export({ format: 'der', type: 'spki' });
    expect(spki.subarray(-65).toString('hex')).toBe(k.publicKey);

    const list = await cli(['list', '--json', '--out', p('keys.json')]);
    expect(JSON.parse(list.stdout)).toEqual({ out: p('keys.json') });
    expect((JSON.parse(readFileSync(p('keys.json'), 'utf8')).keys as { id: number }[]).map((x) => x.id)).toContain(k.id);

    writeFileSync(p('random.hex'), 'old', { mode: 0o644 });
    chmodSync(p('random.hex'), 0o644);
    const r = await cli(['random', '24', '--out', p('random.hex')]);
    expect([r.code, r.stdout]).toEqual([0, '']);
    expect(readFileSync(p('random.hex'), 'utf8')).toMatch(/^[0-9a-f]{48}\n$/);
    expect(statSync(p('random.hex')).mode & 0o777).toBe(0o600);

    const peer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(p('peer.pem'), peer.publicKey.export({ format: 'pem', type: 'spki' }));
    const e = await cli(['ecdh', '--key', String(k.id), '--peer-file', p('peer.pem'), '--out', p('shared.hex')]);
    expect([e.code, e.stdout, e.stderr]).toEqual([0, '', '']);
    expect(statSync(p('shared.hex')).mode & 0o777).toBe(0o600);
    expect(readFileSync(p('shared.hex'), 'utf8').trim()).toBe(diffieHellman({ privateKey: peer.privateKey, publicKey: nodeKey(k) }).toString('hex'));
  });

  it('--in - reads standard input (audit verify, restore)', async () => {
    const v = await ok(['audit', 'verify', '--in', '-', '--offline'], {}, readFileSync(p('audit.jsonl'), 'utf8'));
    expect([v.file, v.ok, v.entries > 0]).toEqual(['-', true, true]);
    // what came in on standard input is read as the backup file it should be
    const notBackup = await cli(['restore', '--in', '-', '--approve', p('k.key'), '--json'], {}, '{"format":"something else"}');
    expect(notBackup.code).toBe(2);
    expect(oneJsonError(notBackup, 'restore --in -').message).toBe('standard input is not a tinyhsm-backup-v1 file');
  });
});

describe('ecdh --peer-file', () => {
  it('takes the peer key as PEM, DER or hex, from a file or standard input, and gives the secret node:crypto computes', async () => {
    const { x, p256: ec } = keys;
    const xPeer = generateKeyPairSync('x25519');
    const ecPeer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const raw = (k: KeyObject) => k.export({ format: 'der', type: 'spki' }).subarray(-(k.asymmetricKeyType === 'x25519' ? 32 : 65));
    writeFileSync(p('x.pem'), xPeer.publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(p('ec.der'), ecPeer.publicKey.export({ format: 'der', type: 'spki' }));
    writeFileSync(p('x.hex'), raw(xPeer.publicKey).toString('hex') + '\n');
    const want = (deviceKey: Key, peer: KeyObject) => diffieHellman({ privateKey: peer, publicKey: nodeKey(deviceKey) }).toString('hex');
    const xWant = want(x, xPeer.privateKey);
    const ecWant = want(ec, ecPeer.privateKey);
    expect((await ok(['ecdh', '--key', String(x.id), '--peer-file', p('x.pem')])).sharedSecret).toBe(xWant);
    expect((await ok(['ecdh', '--key', String(x.id), '--peer-file', p('x.hex')])).sharedSecret).toBe(xWant);
    expect((await ok(['ecdh', '--key', String(ec.id), '--peer-file', p('ec.der')])).sharedSecret).toBe(ecWant);
    const pemIn = ecPeer.publicKey.export({ format: 'pem', type: 'spki' }) as string;
    expect((await ok(['ecdh', '--key', String(ec.id), '--peer-file', '-'], {}, pemIn)).sharedSecret).toBe(ecWant);
    // --peer HEX as before
    expect((await ok(['ecdh', '--key', String(x.id), '--peer', raw(xPeer.publicKey).toString('hex')])).sharedSecret).toBe(xWant);
  });

  it('a key of the other curve, an Ed25519 key or a private key is a usage error before ECDH reaches the device', async () => {
    const { x } = keys;
    writeFileSync(p('p256.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }));
    writeFileSync(p('ed.pem'), generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }));
    const priv = generateKeyPairSync('x25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    writeFileSync(p('priv.pem'), priv);
    const from = await logEnd();
    for (const [file, re] of [
      ['p256.pem', /key \d+ is x25519, so ECDH with it needs an X25519 public key; .*p256\.pem holds a P-256 key/],
      ['ed.pem', /needs an X25519 public key; .*ed\.pem holds a key of type ed25519/],
    ] as const) {
      const r = await cli(['ecdh', '--key', String(x.id), '--peer-file', p(file), '--json']);
      expect(r.code, r.stderr).toBe(2);
      expect(oneJsonError(r, file).message).toMatch(re);
    }
    // a private key: refused as such, and none of it in the message
    const r = await cli(['ecdh', '--key', String(x.id), '--peer-file', p('priv.pem')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/priv\.pem holds a PRIVATE key; give the peer's PUBLIC key/);
    expect(r.stderr).not.toContain(priv.split('\n')[1]);
    const saw = await deviceSaw(from);
    expect(saw).toContain('KEY_PUBLIC'); // the device was asked for its key's curve…
    expect(saw).not.toContain('ECDH'); // …and never for the ECDH
    // where the curve fits, ECDH does reach it
    writeFileSync(p('fits.pem'), generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }));
    const after = await logEnd();
    await ok(['ecdh', '--key', String(x.id), '--peer-file', p('fits.pem')]);
    expect(await deviceSaw(after)).toContain('ECDH');
  });
});

describe('trust list and trust remove', () => {
  it('lists the pinned device with its fingerprint; remove forgets it (--force), so --trust pins it again', async () => {
    const { deviceId, identityKey } = device;
    const listed = await ok(['trust', 'list']);
    expect(listed.file).toBe(known);
    const fingerprint = createHash('sha256').update(Buffer.from(identityKey, 'hex')).digest().subarray(0, 8).toString('hex');
    expect(listed.devices).toEqual([{ deviceId, identityKey, fingerprint, label: null, pinned: expect.stringMatching(/^\d{4}-/) }]);
    const text = await cli(['trust', 'list']);
    expect(text.stdout).toMatch(new RegExp(`^${deviceId} ${fingerprint} \\d{4}-\\S+ +-$`, 'm'));

    // without a terminal and without --force: refused, nothing removed
    const refused = await cli(['trust', 'remove', deviceId]);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/add --force/)]);
    expect(pinnedIds()).toEqual([deviceId]);
    // a changed identity names the way out
    const file = JSON.parse(readFileSync(known, 'utf8'));
    file.devices[deviceId].identityKey = 'ab'.repeat(32);
    writeFileSync(known, JSON.stringify(file));
    const changed = await cli(['list', '--trust']);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain(`tinyhsm trust remove ${deviceId}`);
    // removed by its first 8 digits: then the device is unknown until --trust pins it again
    expect(await ok(['trust', 'remove', deviceId.slice(0, 8), '--force'])).toEqual({ removed: deviceId, identityKey: 'ab'.repeat(32), file: known });
    expect(pinnedIds()).toEqual([]);
    expect(oneJsonError(await cli(['list', '--json']), 'unpinned').status).toBe('UNKNOWN_DEVICE');
    await ok(['list', '--trust']);
    expect(JSON.parse(readFileSync(known, 'utf8')).devices[deviceId].identityKey).toBe(identityKey);
  });
});

describe('destructive commands on a terminal', () => {
  it('delete asks for the key id, reset for "reset", trust remove for the id; anything else cancels (130) and changes nothing', async () => {
    const k = keys.doomed;
    const wrong = await onTerminal(env(), ['delete', '--key', String(k.id)], ['1' + String(k.id)]);
    expect(wrong.out).toContain(`this deletes key ${k.id} (ed25519 "doomed")`);
    expect(wrong.code).toBe(130);
    expect(wrong.out).toContain('not confirmed; nothing was deleted');
    expect(await keyIds()).toContain(k.id);
    const right = await onTerminal(env(), ['delete', '--key', String(k.id)], [String(k.id)]);
    expect(right.code, right.out).toBe(0);
    expect(right.out).toContain(`deleted key ${k.id}`);
    expect(await keyIds()).not.toContain(k.id);

    const reset = await onTerminal(env(), ['reset'], ['RESET please']);
    expect(reset.out).toContain('Type reset to go on');
    expect([reset.code, reset.out.includes('nothing was erased')]).toEqual([130, true]);
    expect(await keyIds()).toContain(keys.x.id);

    const keep = await onTerminal(env(), ['trust', 'remove', device.deviceId], ['no']);
    expect([keep.code, keep.out.includes('nothing was removed')]).toEqual([130, true]);
    expect(pinnedIds()).toEqual([device.deviceId]);
    const gone = await onTerminal(env(), ['trust', 'remove', device.deviceId], [device.deviceId.slice(0, 8)]);
    expect(gone.code, gone.out).toBe(0);
    expect(pinnedIds()).toEqual([]);
  });
});

/** A device key as node:crypto's public KeyObject. */
function nodeKey(k: Key): KeyObject {
  const raw = Buffer.from(k.publicKey, 'hex');
  if (k.alg === 'x25519') return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: raw.toString('base64url') }, format: 'jwk' });
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') },
    format: 'jwk',
  });
}

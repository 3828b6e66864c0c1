// OpenSC's pkcs11-tool through Debian's p11-kit-client.so against `tinyhsm pkcs11` (docs/pkcs11.md): listing, key pairs with CKA_ID and CKA_LABEL, ECDSA signatures checked by OpenSSL, the public-object cache, refusals, and the CLI's own start and stop.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HsmClient } from '../../host/client.ts';
import { P11_CLIENT, p11Workspace, type P11Workspace } from '../helpers/pkcs11.ts';
import { run } from '../helpers/openssh.ts';
import { SIM_USER_PIN, cliCommand, nodeBundle } from '../helpers/sim.ts';

let w: P11Workspace;
let deviceId: string;
const LOGIN = ['--login', '--pin', SIM_USER_PIN];

beforeAll(async () => {
  w = await p11Workspace('tinyhsm-p11tool-');
  const c = await HsmClient.open(w.sim.device, { knownDevices: null, closeOnExit: false });
  deviceId = Buffer.from((await c.info()).deviceId).toString('hex');
  await c.close();
}, 60_000);
afterAll(async () => {
  await w?.close();
});

const file = (name: string) => join(w.dir, name);

describe('pkcs11-tool via p11-kit-client.so', () => {
  it('-L shows the slot and the token: INIT label, device id as serial, login flags, PIN lengths', async () => {
    const r = await w.tool(['-L']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/token label\s+: test\n/);
    expect(r.stdout).toMatch(/token manufacturer\s+: tinyhsm/);
    expect(r.stdout).toContain(`serial num         : ${deviceId.slice(0, 16)}`);
    expect(r.stdout).toMatch(/token flags\s+: login required, token initialized, PIN initialized\n/);
    expect(r.stdout).toMatch(/pin min\/max\s+: 6\/64/);
    // each pkcs11-tool run was one application: its own link, closed at its end
    expect(w.linksOpened()).toBeGreaterThanOrEqual(1);
    // Debian's p11-kit-client 0.24.1 offers protocol version 0, which the server answers as it is
    expect(w.server.versionsOffered.length).toBeGreaterThanOrEqual(1);
    expect(new Set(w.server.versionsOffered)).toEqual(new Set([0]));
    expect(w.logs.filter((l) => l.includes('offered protocol version'))).toEqual([]);
  });

  it('-M lists the ECDSA mechanisms p11-kit 0.24 carries (it drops CKM_EDDSA and CKM_EC_EDWARDS_KEY_PAIR_GEN itself)', async () => {
    const r = await w.tool(['-M']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ECDSA-KEY-PAIR-GEN, keySize={256,256}, hw, generate_key_pair, EC F_P, EC OID, EC uncompressed');
    expect(r.stdout).toMatch(/\n {2}ECDSA, keySize=\{256,256\}, hw, sign/);
    expect(r.stdout).not.toMatch(/EDDSA|EC-EDWARDS/);
  });

  it('--keypairgen EC:prime256v1 with --id and --label, then -O before login lists the public object from the cache', async () => {
    const gen = await w.tool([...LOGIN, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', 'c0ffee01', '--label', 'ca-key']);
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(
      /Private Key Object; EC\n\s+label:\s+ca-key\n\s+ID:\s+c0ffee01\n\s+Usage:\s+sign, derive\n\s+Access:\s+sensitive, always sensitive, never extractable, local/,
    );
    expect(gen.stdout).toMatch(/EC_PARAMS:\s+06082a8648ce3d030107/);
    // the cache holds public data only, and only this user reads it
    expect(statSync(file('cache.json')).mode & 0o777).toBe(0o600);
    const cached = readFileSync(file('cache.json'), 'utf8');
    expect(JSON.parse(cached).devices[deviceId].keys.length).toBe(1);
    const before = await w.tool(['-O']);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/Public Key Object; EC {2}EC_POINT 256 bits[\s\S]*label:\s+ca-key\n\s+ID:\s+c0ffee01/);
    expect(before.stdout).not.toContain('Private Key Object');
    const after = await w.tool([...LOGIN, '-O']);
    expect(after.stdout).toContain('Private Key Object; EC\n  label:      ca-key');
  });

  it('--sign -m ECDSA signs a digest that OpenSSL verifies (SHA-256, and a SHA-384 digest cut to 32 bytes as bits2int does)', async () => {
    writeFileSync(file('data'), 'signed through p11-kit-client.so\n');
    const pub = await w.tool(['--read-object', '--type', 'pubkey', '--id', 'c0ffee01', '-o', file('pub.der')]);
    expect(pub.code, pub.stderr).toBe(0);
    const conv = await run('openssl', ['pkey', '-pubin', '-inform', 'DER', '-in', file('pub.der'), '-out', file('pub.pem')]);
    expect(conv.code, conv.stderr).toBe(0);
    for (const hash of ['sha256', 'sha384']) {
      writeFileSync(
        file('digest'),
        createHash(hash)
          .update(readFileSync(file('data')))
          .digest(),
      );
      const s = await w.tool([
        ...LOGIN,
        '--sign',
        '-m',
        'ECDSA',
        '--id',
        'c0ffee01',
        '-i',
        file('digest'),
        '-o',
        file('sig.der'),
        '--signature-format',
        'openssl',
      ]);
      expect(s.code, s.stderr).toBe(0);
      const v = await run('openssl', ['dgst', `-${hash}`, '-verify', file('pub.pem'), '-signature', file('sig.der'), file('data')]);
      expect(v.stdout.trim(), v.stderr).toBe('Verified OK');
    }
    // and a signature over another message does not verify (the check can fail)
    writeFileSync(file('other'), 'something else\n');
    const bad = await run('openssl', ['dgst', '-sha384', '-verify', file('pub.pem'), '-signature', file('sig.der'), file('other')]);
    expect(bad.stdout).toContain('Verification failure');
  });

  it('Ed25519 keys are listed as CKK_EC_EDWARDS; p11-kit-client refuses CKM_EDDSA and CKM_EC_EDWARDS_KEY_PAIR_GEN before our socket', async () => {
    const c = await HsmClient.open(w.sim.device, { knownDevices: null, closeOnExit: false });
    await c.login('user', SIM_USER_PIN);
    const { publicKey } = await c.generateKey('ed25519', 'ed-key');
    await c.close();
    const list = await w.tool([...LOGIN, '-O', '--type', 'pubkey', '--label', 'ed-key']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(`Public Key Object; EC_EDWARDS  EC_POINT 255 bits\n  EC_POINT:   0420${Buffer.from(publicKey).toString('hex')}`);
    expect(list.stdout).toContain('EC_PARAMS:  06032b6570 (OID 1.3.101.112)');
    const gen = await w.tool([...LOGIN, '--keypairgen', '--key-type', 'EC:edwards25519', '--label', 'ed2']);
    expect(gen.code).not.toBe(0);
    expect(gen.stderr).toContain('mechanism 1055 not supported');
    writeFileSync(file('msg'), 'ed25519 message');
    const sig = await w.tool([...LOGIN, '--sign', '-m', 'EDDSA', '--label', 'ed-key', '-i', file('msg'), '-o', file('ed.sig')]);
    expect(sig.code).not.toBe(0);
    expect(sig.stderr).toMatch(/mechanism|not supported/i);
    // the CKM_EDDSA path itself is exercised over the same wire in test/unit/p11-rpc-server.test.ts, verified by node:crypto
  });

  it('refusals: a wrong PIN is CKR_PIN_INCORRECT, C_GenerateRandom is CKR_FUNCTION_NOT_SUPPORTED', async () => {
    const wrong = await w.tool(['--login', '--pin', 'not-the-pin-1', '-O']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('C_Login failed: rv = CKR_PIN_INCORRECT (0xa0)');
    const rnd = await w.tool(['--generate-random', '16']);
    expect(rnd.code).not.toBe(0);
    expect(w.logs.some((l) => l.includes('C_GenerateRandom: not offered by this server → CKR_FUNCTION_NOT_SUPPORTED'))).toBe(true);
    // the right PIN still works: the wrong one spent one try of eight, and -L shows the count is low now
    const l = await w.tool(['-L']);
    expect(l.stdout).toMatch(/token flags\s+: login required, token initialized, user PIN count low, PIN initialized\n/);
    const ok = await w.tool([...LOGIN, '-O']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('--delete-object removes the key: both its objects, and from the cache', async () => {
    const del = await w.tool([...LOGIN, '--delete-object', '--type', 'privkey', '--id', 'c0ffee01']);
    expect(del.code, del.stderr).toBe(0);
    const after = await w.tool([...LOGIN, '-O']);
    expect(after.stdout).not.toContain('ca-key');
    expect(JSON.parse(readFileSync(file('cache.json'), 'utf8')).devices[deviceId].keys.map((k: { label: string }) => k.label)).toEqual(['ed-key']);
  });
});

describe('tinyhsm pkcs11 (the CLI)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    it(`prints the p11-kit address lines, serves on a 0600 socket and removes it on ${signal}`, async () => {
      const socket = file(`cli-${signal}.sock`);
      const child = spawn(
        process.execPath,
        [...(await cliCommand()), 'pkcs11', '--foreground', '--socket', socket, '--device', w.sim.device, '--cache', file('cli-cache.json')],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, TINYHSM_BUNDLE: await nodeBundle() },
        },
      );
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
      const lines: string[] = [];
      await new Promise<void>((res, rej) => {
        const rl = createInterface({ input: child.stdout! });
        rl.on('line', (l) => {
          lines.push(l);
          if (lines.length === 2) res();
        });
        exited.then(() => rej(new Error(`tinyhsm pkcs11 exited: ${err}`)));
      });
      expect(lines).toEqual([
        `P11_KIT_SERVER_ADDRESS=unix:path=${socket}; export P11_KIT_SERVER_ADDRESS;`,
        `P11_KIT_SERVER_PID=${child.pid}; export P11_KIT_SERVER_PID;`,
      ]);
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      const r = await run('pkcs11-tool', ['--module', P11_CLIENT, ...LOGIN, '-O', '--type', 'pubkey'], {
        env: { ...process.env, P11_KIT_SERVER_ADDRESS: `unix:path=${socket}` },
      });
      expect(r.code, r.stderr + err).toBe(0);
      expect(r.stdout).toContain('label:      ed-key');
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(existsSync(socket)).toBe(false);
      expect(err).toContain(`${signal}: stopping`);
    });

  it('without --foreground it detaches as `p11-kit server` does: the lines for eval, then it serves until killed', async () => {
    const socket = file('cli-detached.sock');
    const r = await run(
      process.execPath,
      [...(await cliCommand()), 'pkcs11', '--socket', socket, '--device', w.sim.device, '--cache', file('cli-cache.json')],
      {
        env: { ...process.env, TINYHSM_BUNDLE: await nodeBundle() },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const m = /^P11_KIT_SERVER_ADDRESS=unix:path=(.+); export P11_KIT_SERVER_ADDRESS;\nP11_KIT_SERVER_PID=(\d+); export P11_KIT_SERVER_PID;\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBe(null);
    expect(m![1]).toBe(socket);
    const pid = Number(m![2]);
    try {
      const listed = await run('pkcs11-tool', ['--module', P11_CLIENT, ...LOGIN, '-O', '--type', 'pubkey'], {
        env: { ...process.env, P11_KIT_SERVER_ADDRESS: `unix:path=${socket}` },
      });
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain('label:      ed-key');
      // -k as `p11-kit server -k`: stops the server the variable names, and has waited for its socket to go
      const k = await run(process.execPath, [...(await cliCommand()), 'pkcs11', '-k'], { env: { ...process.env, P11_KIT_SERVER_PID: String(pid) } });
      expect(k.code, k.stderr).toBe(0);
      expect(k.stdout).toBe('unset P11_KIT_SERVER_ADDRESS;\nunset P11_KIT_SERVER_PID;\n');
      expect(existsSync(socket)).toBe(false);
    } finally {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // stopped by -k
      }
    }
  });

  it('-k refuses without P11_KIT_SERVER_PID, and leaves alone a process that is not a tinyhsm pkcs11 server', async () => {
    const cli = [...(await cliCommand()), 'pkcs11', '-k'];
    const env = { ...process.env };
    delete env.P11_KIT_SERVER_PID;
    const none = await run(process.execPath, cli, { env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('P11_KIT_SERVER_PID is not set');
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const stale = await run(process.execPath, cli, { env: { ...env, P11_KIT_SERVER_PID: String(other.pid) } });
      expect(stale.code).toBe(1);
      expect(stale.stderr).toContain(`process ${other.pid} (P11_KIT_SERVER_PID) is not a tinyhsm pkcs11`);
      expect(other.exitCode).toBe(null);
      expect(other.signalCode).toBe(null);
    } finally {
      other.kill();
    }
  });

  it('refuses a socket in a directory others can write', async () => {
    const r = await run(process.execPath, [...(await cliCommand()), 'pkcs11', '--socket', '/tmp/tinyhsm-p11-test.sock', '--device', w.sim.device]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the directory /tmp is writable by others');
  });
});

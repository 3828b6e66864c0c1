// One simulated device behind one `tinyhsm connector`, used at once by CLI commands, ssh through `tinyhsm ssh-agent` and pkcs11-tool through `tinyhsm pkcs11`; then unplugged mid-request and plugged back (docs/connector.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HsmClient } from '../../host/index.ts';
import { SIM_PIN_ENV, SIM_USER_PIN, cliCommand, nodeBundle, runCli, spawnSim, verifyWithNode, type SimProcess } from '../helpers/sim.ts';
import { opensshSkip, run, sshOptions, startSshd, type Sshd } from '../helpers/openssh.ts';
import { P11_CLIENT } from '../helpers/pkcs11.ts';

const { skip, reason } = opensshSkip();
if (skip) console.warn(reason);

/** A long-running CLI child (connector, ssh-agent, pkcs11) and the first `lines` lines it printed. */
async function daemon(args: string[], lines: number, env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; lines: string[]; log: () => string }> {
  const cli = await cliCommand();
  const child = spawn(process.execPath, [...cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TINYHSM_BUNDLE: await nodeBundle(), ...env },
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const rl = createInterface({ input: child.stdout! });
  const got = await new Promise<string[]>((resolve, reject) => {
    const acc: string[] = [];
    rl.on('line', (l) => {
      acc.push(l);
      if (acc.length === lines) resolve(acc);
    });
    child.once('exit', (code) => reject(new Error(`tinyhsm ${args[0]} exited (${code}) before it was ready: ${log}`)));
  });
  return { child, lines: got, log: () => log };
}

function stop(child: ChildProcess | undefined): Promise<unknown> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

describe.skipIf(skip)('one device, one connector, many programs at once', () => {
  let dir: string;
  let sim: SimProcess;
  let simSocket: string;
  let flash: string;
  let connector: ChildProcess;
  let agent: ChildProcess;
  let p11: ChildProcess;
  let sshd: Sshd;
  let device: string;
  let agentSocket: string;
  let p11Env: NodeJS.ProcessEnv;
  const keys: { [name: string]: { keyId: number; publicKey: Uint8Array; pubFile?: string } } = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tinyhsm-shared-'));
    chmodSync(dir, 0o755); // sshd reads the key files in it; nobody else may write it (the pkcs11 socket's rule)
    simSocket = join(dir, 'sim.sock');
    flash = join(dir, 'device.flash');
    const sshdReady = startSshd(dir);
    sshdReady.catch(() => {});
    sim = await spawnSim(['--socket', simSocket, '--flash', flash]);
    const socket = join(dir, 'connector.sock');
    connector = (await daemon(['connector', '--socket', socket, '--device', sim.device], 1)).child;
    device = `connector:${socket}`;
    // the keys, made through the connector too
    const c = await HsmClient.open(device, { trust: true, closeOnExit: false });
    try {
      await c.login('user', SIM_USER_PIN);
      for (const [name, alg, policy] of [
        ['ssh', 'ed25519', {}],
        ['p11', 'ecdsa-p256', {}],
        ['touch', 'ed25519', { touch: true }],
      ] as const) {
        const { keyId, publicKey } = await c.generateKey(alg, `shared-${name}`, policy);
        keys[name] = { keyId, publicKey };
      }
    } finally {
      await c.close();
    }
    const line = await runCli(['pubkey', '--key', String(keys.ssh.keyId), '--format', 'ssh', '--device', device], SIM_PIN_ENV);
    expect(line.code, line.stderr).toBe(0);
    keys.ssh.pubFile = join(dir, 'ssh.pub');
    writeFileSync(keys.ssh.pubFile, line.stdout);
    sshd = await sshdReady;
    writeFileSync(sshd.authorizedKeys, line.stdout);
    agentSocket = join(dir, 'agent.sock');
    agent = (await daemon(['ssh-agent', '--foreground', '-a', agentSocket, '--device', device], 3, SIM_PIN_ENV)).child;
    const p11Socket = join(dir, 'p11.sock');
    p11 = (await daemon(['pkcs11', '--foreground', '--socket', p11Socket, '--device', device, '--cache', join(dir, 'p11-cache.json')], 2)).child;
    p11Env = { ...process.env, P11_KIT_SERVER_ADDRESS: `unix:path=${p11Socket}` };
  }, 90_000);

  afterAll(async () => {
    await Promise.all([stop(p11), stop(agent)]);
    await stop(connector);
    if (sshd) await sshd.stop();
    if (sim) await sim.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sshLogin = () =>
    run('ssh', [...sshOptions(sshd, ['-o', `IdentityAgent=${agentSocket}`, '-o', `IdentityFile=${keys.ssh.pubFile}`]), 'echo', 'ok'], {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
      timeoutMs: 40_000,
    });

  /** pkcs11-tool signs a SHA-256 digest with the P-256 key (found by its CKA_ID, the key id); node:crypto verifies r‖s. */
  async function p11Sign(i: number): Promise<string | undefined> {
    const message = Buffer.from(`pkcs11 round ${i}`);
    const input = join(dir, `digest-${i}`);
    const output = join(dir, `sig-${i}`);
    writeFileSync(input, createHash('sha256').update(message).digest());
    const id = keys.p11.keyId.toString(16).padStart(4, '0');
    const r = await run(
      'pkcs11-tool',
      ['--module', P11_CLIENT, '--login', '--pin', SIM_USER_PIN, '--sign', '-m', 'ECDSA', '--id', id, '-i', input, '-o', output],
      {
        env: p11Env,
        timeoutMs: 40_000,
      },
    );
    if (r.code !== 0) return `pkcs11-tool round ${i} exited ${r.code}: ${r.stderr}`;
    const ok = verifyWithNode('ecdsa-p256', keys.p11.publicKey, message, new Uint8Array(readFileSync(output)));
    return ok ? undefined : `pkcs11-tool round ${i}: the signature does not verify`;
  }

  async function p11Loop(rounds: number): Promise<string[]> {
    const failures: string[] = [];
    for (let i = 0; i < rounds; i++) {
      const f = await p11Sign(i);
      if (f) failures.push(f);
    }
    return failures;
  }

  it('three CLI commands, an ssh login through the agent and a pkcs11-tool signing loop, all at once: every one succeeds', async () => {
    const message = join(dir, 'message.txt');
    writeFileSync(message, 'signed by the CLI through the connector\n');
    const [list, sign, pubkey, ssh, p11Failures] = await Promise.all([
      runCli(['list', '--json', '--device', device], SIM_PIN_ENV),
      runCli(['sign', '--key', String(keys.ssh.keyId), '--in', message, '--format', 'hex', '--device', device], SIM_PIN_ENV),
      runCli(['pubkey', '--key', String(keys.p11.keyId), '--format', 'pem', '--device', device], SIM_PIN_ENV),
      sshLogin(),
      p11Loop(4),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { keys: { id: number }[] }).keys.map((k) => k.id).sort()).toEqual(
      Object.values(keys)
        .map((k) => k.keyId)
        .sort(),
    );
    expect(sign.code, sign.stderr).toBe(0);
    expect(verifyWithNode('ed25519', keys.ssh.publicKey, readFileSync(message), Buffer.from(sign.stdout.trim(), 'hex'))).toBe(true);
    expect(pubkey.code, pubkey.stderr).toBe(0);
    const spki = createPublicKey(pubkey.stdout).export({ format: 'der', type: 'spki' });
    expect(Buffer.from(spki.subarray(-65)).equals(Buffer.from(keys.p11.publicKey))).toBe(true);
    expect(ssh.code, ssh.stderr).toBe(0);
    expect(ssh.stdout.trim()).toBe('ok');
    expect(p11Failures).toEqual([]);
  }, 120_000);

  it('unplugged mid-request: the call at the device fails saying so, the programs stay up, and after the device is back the next calls work', async () => {
    // a SIGN with the touch key waits at the device for its button: the request the unplug interrupts
    const cli = await cliCommand();
    const waiting = spawn(process.execPath, [...cli, 'sign', '--key', String(keys.touch.keyId), '--data', '6e65766572', '--device', device], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...SIM_PIN_ENV, TINYHSM_BUNDLE: await nodeBundle() },
    });
    let waitingErr = '';
    const waited = new Promise<number | null>((resolve) => waiting.once('close', resolve));
    await new Promise<void>((resolve, reject) => {
      waiting.stderr!.on('data', (d: Buffer) => {
        waitingErr += d.toString();
        if (waitingErr.includes('touch the device')) resolve();
      });
      waiting.once('exit', (code) => reject(new Error(`sign exited (${code}) before it waited for the button: ${waitingErr}`)));
    });
    await sim.stop('SIGKILL'); // the board is pulled out
    expect(await waited).toBe(1);
    expect(waitingErr).toMatch(/went away .*may have run/);
    expect(connector.exitCode).toBe(null);
    expect(agent.exitCode).toBe(null);
    expect(p11.exitCode).toBe(null);

    // plugged back: the same device (its flash), on the same path; the connector opens it again by itself
    sim = await spawnSim(['--socket', simSocket, '--flash', flash], { init: false });
    const [list, ssh, p11Failures] = await Promise.all([runCli(['list', '--json', '--device', device], SIM_PIN_ENV), sshLogin(), p11Loop(2)]);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { keys: unknown[] }).keys).toHaveLength(3);
    // the agent kept its connection to the connector: its session is gone with the device, so it opened a new one and logged in again
    expect(ssh.code, ssh.stderr).toBe(0);
    expect(p11Failures).toEqual([]);
  }, 120_000);
});

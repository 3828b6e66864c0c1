// `tinyhsm sim --socket PATH`: the simulator on a unix socket (one client at a time), ended cleanly by SIGTERM or SIGINT.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient, HsmError, SocketTransport, algName } from '../../host/index.ts';
import { toHex } from '../../firmware/protocol/index.ts';
import { SIM_LOGIN, runCli, spawnSim, verifyWithNode, type SimProcess } from '../helpers/sim.ts';

const running: SimProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function socketPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'tinyhsm-sock-'));
  dirs.push(d);
  return join(d, 'hsm.sock');
}

async function serve(path: string, extra: string[] = []): Promise<SimProcess> {
  const p = await spawnSim(['--socket', path, ...extra]);
  running.push(p);
  return p;
}

describe('tinyhsm sim --socket', () => {
  it('prints {"socket": PATH}, serves INFO, keys and signatures node:crypto verifies, then SIGTERM removes the socket', async () => {
    const path = socketPath();
    const p = await serve(path);
    expect(p.json).toEqual({ socket: path });
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o077).toBe(0); // owner only: whoever connects can use the keys

    const client = await HsmClient.open(path, { trust: true, login: SIM_LOGIN }); // a socket path is recognised as one
    expect(client.transport).toBeInstanceOf(SocketTransport);
    const info = await client.info();
    expect(info.algorithms.map(algName).sort()).toEqual(['ecdsa-p256', 'ecdsa-secp256k1', 'ed25519', 'x25519']);
    const message = new TextEncoder().encode('over a unix socket');
    for (const alg of ['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1'] as const) {
      const k = await client.generateKey(alg);
      expect(verifyWithNode(alg, k.publicKey, message, await client.sign(k.keyId, { message })), alg).toBe(true);
    }
    await client.close();

    // 'unix:PATH' names it explicitly; the keys are still there for the next client, which must log in to see them
    // (docs/security.md §2: KEY_LIST needs a role)
    const again = await HsmClient.open('unix:' + path, { trust: true });
    await expect(again.listKeys()).rejects.toMatchObject({ name: 'HsmError', code: 'LOGIN_REQUIRED' });
    await again.login('user', SIM_LOGIN.pin);
    expect((await again.listKeys()).length).toBe(3);
    await again.close();

    expect(await p.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });

  it('SIGINT ends it cleanly too', async () => {
    const path = socketPath();
    const p = await serve(path);
    expect(await p.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(existsSync(path)).toBe(false);
  });

  it('serves one client at a time: a second connection is refused while the first works on', async () => {
    const path = socketPath();
    await serve(path);
    const first = await HsmClient.open(path, { trust: true });
    await first.info();
    const second = await HsmClient.open(path, { trust: true, timeoutMs: 3000, retries: 0 });
    const e = await second.info().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(HsmError);
    expect((e as HsmError).code).toBe('CLOSED');
    expect((await first.echo(new Uint8Array([1, 2]))).length).toBe(2);
    await second.close();
    await first.close();
  });

  it('a client may reconnect right after the previous one closed (its close and the new connect race)', async () => {
    const path = socketPath();
    await serve(path);
    for (let i = 0; i < 15; i++) {
      const c = await HsmClient.open(path, { trust: true, timeoutMs: 3000, retries: 0 });
      expect(await c.echo(Uint8Array.of(i))).toEqual(Uint8Array.of(i));
      await c.close();
    }
  });

  it('--seed makes two simulators the same device', async () => {
    const [a, b] = [socketPath(), socketPath()];
    await Promise.all([serve(a, ['--seed', '5eed']), serve(b, ['--seed', '5eed'])]);
    const ids: string[] = [];
    for (const path of [a, b]) {
      const c = await HsmClient.open(path, { trust: true });
      ids.push(toHex((await c.info()).deviceId));
      await c.close();
    }
    expect(ids[0]).toBe(ids[1]);
  });

  it('replaces a stale socket file but never a live socket or a regular file', async () => {
    const path = socketPath();
    const live = await serve(path);
    // a second simulator on the same live path refuses
    const clash = await runCli(['sim', '--socket', path, '--json']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/already serving/);
    // killed without cleanup: the socket file stays behind, and the next start replaces it
    await live.stop('SIGKILL');
    expect(existsSync(path)).toBe(true);
    const next = await serve(path);
    const c = await HsmClient.open(path, { trust: true });
    expect((await c.info()).platform).toBe('node-sim');
    await c.close();
    await next.stop('SIGTERM');

    const file = socketPath();
    writeFileSync(file, 'precious');
    const r = await runCli(['sim', '--socket', file, '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists and is not a socket/);
  });

  it('rejects bad arguments with exit 2 and a message', async () => {
    for (const [args, re] of [
      [['sim', '--pty', '--socket', '/tmp/x.sock'], /choose one of --pty and --socket/],
      [['sim', '--socket', '/tmp/x.sock', '--seed', 'xyz'], /--seed must be 1 to 64 bytes of hex/],
      [['sim', '--socket', '/tmp/x.sock', '--max-packet', '100'], /--max-packet must be an integer from 2048 to 65535/],
      [['sim', '--bogus'], /unknown option --bogus/],
    ] as const) {
      const r = await runCli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });
});

// The simulator's button (docs/security.md §7): the built bundle waits for pressButton() or a `press` line on `tinyhsm sim`'s stdin, sending keepalives meanwhile.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Alg, Command, FrameType } from '../../firmware/protocol/codes.ts';
import { encodeFrame } from '../../firmware/protocol/frame.ts';
import { Simulator } from '../../sim/simulator.ts';
import { cliCommand, nodeBundle } from '../helpers/sim.ts';
import { SimFrameHost, ed25519Verifies, isKeepalive, socketLink } from '../helpers/presence.ts';

const MSG = new Uint8Array(Buffer.from('a person pressed the button for this'));
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function inProcess(): Promise<{ sim: Simulator; host: SimFrameHost }> {
  const sim = new Simulator({ bundlePath: await nodeBundle(), log: () => {}, seed: '70726573656e6365' });
  const host = new SimFrameHost(sim);
  cleanup.push(() => {
    expect(sim.deviceFaults).toEqual([]);
    host.close();
    sim.close();
  });
  await host.setUp();
  return { sim, host };
}

async function touchKey(host: SimFrameHost, alg: number): Promise<{ keyId: number; publicKey: Uint8Array }> {
  const r = await host.call(Command.KEY_GENERATE, { 1: alg, 5: true });
  expect(r.statusName).toBe('OK');
  return { keyId: r.map.get(1) as number, publicKey: r.map.get(2) as Uint8Array };
}

const keepalive = (q: number) => (o: Parameters<typeof isKeepalive>[0]) => isKeepalive(o, q);

describe('the simulator button', () => {
  it('signs after sim.pressButton(), with keepalives while it waits; node:crypto verifies', async () => {
    const { sim, host } = await inProcess();
    const { keyId, publicKey } = await touchKey(host, Alg.ED25519);
    const q = host.sendSealed(Command.SIGN, { 1: keyId, 2: MSG });
    await host.next(q, keepalive(q));
    await host.next(q, keepalive(q)); // the periodic ones too, not only the first
    expect(host.drain(q).every((o) => isKeepalive(o, q))).toBe(true); // nothing but keepalives so far
    sim.pressButton();
    const r = host.inner(await host.answer(q));
    expect(r.statusName).toBe('OK');
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
  });

  it('does not take a button held down before the request; a fresh press after the release works', async () => {
    const { sim, host } = await inProcess();
    const { keyId, publicKey } = await touchKey(host, Alg.ED25519);
    sim.setButton(true);
    const q = host.sendSealed(Command.SIGN, { 1: keyId, 2: MSG });
    for (let i = 0; i < 3; i++) await host.next(q, keepalive(q));
    sim.setButton(false);
    // two more periods: at least one poll saw the button up
    for (let i = 0; i < 2; i++) await host.next(q, keepalive(q));
    expect(host.drain(q).every((o) => isKeepalive(o, q))).toBe(true);
    // a short tap between two polls is latched by the simulator, so it is not lost
    sim.pressButton(1);
    const r = host.inner(await host.answer(q));
    expect(r.statusName).toBe('OK');
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
  });

  it('ends the wait with CANCELLED on CANCEL, and answers BUSY meanwhile', async () => {
    const { sim, host } = await inProcess();
    const { keyId } = await touchKey(host, Alg.ED25519);
    const q = host.sendSealed(Command.SIGN, { 1: keyId, 2: MSG });
    await host.next(q, keepalive(q));
    const busy = await host.clear(Command.INFO, {});
    expect(busy.frame.type).toBe(FrameType.ERROR);
    expect(busy.statusName).toBe('BUSY');
    host.cancel(q);
    expect(host.inner(await host.answer(q)).statusName).toBe('CANCELLED');
    // a press now does nothing, and the device serves the session again
    sim.pressButton();
    expect((await host.call(Command.KEY_LIST)).statusName).toBe('OK');
  });

  it('`tinyhsm sim` presses the button on a `press` line on its standard input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-presence-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'sim.sock');
    const cmd = await cliCommand();
    const child: ChildProcess = spawn(process.execPath, [...cmd, 'sim', '--socket', path, '--json'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TINYHSM_BUNDLE: await nodeBundle() },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    cleanup.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    const lines = createInterface({ input: child.stdout! });
    const out: string[] = [];
    const first = await new Promise<string>((res, rej) => {
      lines.on('line', (l) => {
        out.push(l);
        if (out.length === 1) res(l);
      });
      exited.then((c) => rej(new Error('tinyhsm sim exited (' + c + '): ' + stderr)));
    });
    expect(JSON.parse(first)).toEqual({ socket: path });
    const sock: Socket = await new Promise((res, rej) => {
      const s = createConnection(path, () => res(s));
      s.once('error', rej);
    });
    cleanup.push(() => void sock.destroy());
    const host = new SimFrameHost(socketLink(sock));
    cleanup.push(() => host.close());
    await host.setUp();
    const { keyId, publicKey } = await touchKey(host, Alg.ED25519);
    const q = host.sendSealed(Command.SIGN, { 1: keyId, 2: MSG });
    await host.next(q, keepalive(q));
    child.stdin!.write('press\n');
    const r = host.inner(await host.answer(q));
    expect(r.statusName).toBe('OK');
    expect(ed25519Verifies(publicKey, MSG, r.map.get(1) as Uint8Array)).toBe(true);
    expect(stderr).toContain('button pressed');
    // an unknown line is named on stderr; stdout never carries more than the JSON line
    child.stdin!.write('prses\n');
    await new Promise<void>((res) => {
      const check = () => (stderr.includes('unknown input') ? res() : setTimeout(check, 20));
      check();
    });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toEqual([first]);
  });
});

// Issue 3 "Done when": for N = 1, 2, … through every word write of a KEY_GENERATE, `tinyhsm sim --pty --flash F
// --power-cut-after N` loses power, and a simulator restarted on F lists the old or the new key set, answers INFO,
// and every listed key signs (checked by node:crypto).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSim, verifyWithNode } from '../helpers/sim.ts';
import { HsmClient } from '../../host/index.ts';
import { ALG_NAMES, toHex } from '../../firmware/protocol/index.ts';

// CI cuts at every 3rd word (and always the first and last); `npm run test:powercut` sets POWERCUT_FULL=1 for every word.
const STRIDE = process.env.POWERCUT_FULL ? 1 : 3;
const message = new TextEncoder().encode('still signs after the power came back');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-cli-sweep-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type KeyView = { keyId: number; alg: number; label: string; origin: number; publicKey: string };

/** Open the simulator's pty, run `fn`, close. */
async function withDevice<T>(flash: string, extra: string[], fn: (c: HsmClient) => Promise<T>): Promise<{ result?: T; error?: unknown; exit: Promise<{ code: number | null }> }> {
  const sim = await spawnSim(['--pty', '--flash', flash, ...extra]);
  const client = await HsmClient.open(sim.json.pty as string, { trust: true, timeoutMs: 1500, retries: 0 });
  try {
    // a power cut ends the process: race the command against the exit so a cut never waits for a timeout
    const result = await Promise.race([fn(client), sim.exited.then(() => Promise.reject(new Error('power cut')))]);
    return { result, exit: sim.stop() };
  } catch (error) {
    return { error, exit: sim.exited };
  } finally {
    await client.close().catch(() => {});
  }
}

async function state(c: HsmClient) {
  const info = await c.info();
  const keys: KeyView[] = (await c.listKeys()).map((k) => ({ ...k, publicKey: toHex(k.publicKey) }));
  for (const k of keys) {
    const alg = ALG_NAMES[k.alg] as 'ed25519' | 'ecdsa-p256';
    const sig = await c.sign(k.keyId, { message });
    expect(verifyWithNode(alg, Buffer.from(k.publicKey, 'hex'), message, sig), `key ${k.keyId} signs after the cut`).toBe(true);
  }
  return { deviceId: toHex(info.deviceId), identity: toHex(info.identityPublicKey as Uint8Array), keys };
}

describe('power cut at every word write of a KEY_GENERATE, through the CLI simulator and its flash file', () => {
  it('the restarted device lists the old or the new key set, answers INFO, and every key signs', async () => {
    const base = join(dir, 'base.img');
    // a device with one P-256 key already on it
    const setup = await withDevice(base, [], async (c) => {
      await c.generateKey('ecdsa-p256', 'before');
      return state(c);
    });
    expect(setup.error).toBeUndefined();
    expect((await setup.exit).code).toBe(0);
    const before = setup.result!;
    expect(before.keys).toHaveLength(1);

    let after: KeyView[] | undefined;
    let cuts = 0;
    let olds = 0;
    let news = 0;
    for (let n = 1; ; n += n === 1 ? 1 : STRIDE) {
      const img = join(dir, `cut-${n}.img`);
      copyFileSync(base, img);
      const run = await withDevice(img, ['--power-cut-after', String(n)], (c) => c.generateKey('ed25519', 'during'));
      const { code } = await run.exit;
      if (run.error === undefined) {
        // N is past the last word this KEY_GENERATE writes: it completed, and this is the "new" state
        expect(code).toBe(0);
        after = (await withDevice(img, [], state)).result!.keys;
        break;
      }
      expect(code, `--power-cut-after ${n} exits with the power-cut status`).toBe(3);
      cuts++;
      const again = await withDevice(img, [], state);
      expect(again.error, `restart after a cut at word ${n}`).toBeUndefined();
      expect((await again.exit).code).toBe(0);
      const s = again.result!;
      expect(s.deviceId).toBe(before.deviceId);
      expect(s.identity).toBe(before.identity);
      const ids = s.keys.map((k) => k.keyId);
      if (s.keys.length === 1) {
        expect(s.keys).toEqual(before.keys);
        olds++;
      } else {
        expect(s.keys).toHaveLength(2);
        expect(s.keys[0]).toEqual(before.keys[0]);
        expect(s.keys[1]).toMatchObject({ alg: 1, label: 'during', origin: 1 });
        expect(ids[1]).toBeGreaterThan(ids[0]);
        news++;
      }
      if (n > 400) throw new Error('KEY_GENERATE never completed: the cut loop did not end');
    }
    expect(after).toHaveLength(2);
    // the sweep really cut inside the command, and saw the old state (early cuts) at least once
    expect(cuts).toBeGreaterThan(3);
    expect(olds).toBeGreaterThan(0);
    expect(olds + news).toBe(cuts);
  }, 600_000);
});

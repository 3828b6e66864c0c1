// The power-cut guarantee (docs/storage.md §1) end to end: for N = 1, 2, … through every word write of a KEY_GENERATE, `tinyhsm sim --pty --flash F
// --power-cut-after N` loses power, and a simulator restarted on F lists the old or the new key set, answers INFO,
// and every listed key signs (checked by node:crypto). The host logs in (LOGIN writes the retry counter,
// docs/security.md §4) before the KEY_GENERATE: the cut points that land in that LOGIN are told apart and checked too.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SIM_LOGIN, SIM_USER_PIN, spawnSim, startInProcess, verifyWithNode } from '../helpers/sim.ts';
import { HsmClient, type ClientOptions } from '../../host/index.ts';
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

/**
 * Open the simulator's pty, run `fn`, close. The client logs in as the user by itself unless `opts` says otherwise
 * (spawnSim INITs a factory-new file, but never one that is to be cut: the base image is initialized first).
 */
async function withDevice<T>(
  flash: string,
  extra: string[],
  fn: (c: HsmClient) => Promise<T>,
  opts: ClientOptions = { login: SIM_LOGIN },
): Promise<{ result?: T; error?: unknown; exit: Promise<{ code: number | null }> }> {
  const sim = await spawnSim(['--pty', '--flash', flash, ...extra]);
  const client = await HsmClient.open(sim.json.pty as string, { trust: true, timeoutMs: 1500, retries: 0, ...opts });
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
    // an initialized device with one P-256 key already on it; key use needs the user's LOGIN (docs/security.md §2)
    const setup = await withDevice(
      base,
      [],
      async (c) => {
        const refused = await c.generateKey('ed25519', 'no login').then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(refused).toMatchObject({ name: 'HsmError', code: 'LOGIN_REQUIRED' });
        expect((await c.info()).slotsUsed).toBe(0);
        await c.login('user', SIM_USER_PIN);
        await c.generateKey('ecdsa-p256', 'before');
        return state(c);
      },
      {},
    );
    expect(setup.error).toBeUndefined();
    expect((await setup.exit).code).toBe(0);
    const before = setup.result!;
    expect(before.keys).toHaveLength(1);

    let after: KeyView[] | undefined;
    let cuts = 0;
    let olds = 0;
    let news = 0;
    let loginCuts = 0;
    /**
     * Cut at word `n` (counted from the simulator's start, so the first words are the LOGIN's retry counter), restart
     * and judge. Returns where the cut fell: in the LOGIN, in the KEY_GENERATE, or nowhere (the command completed).
     */
    const cutAt = async (n: number): Promise<'login' | 'generate' | 'none'> => {
      const img = join(dir, `cut-${n}.img`);
      copyFileSync(base, img);
      let loggedIn = false;
      const run = await withDevice(
        img,
        ['--power-cut-after', String(n)],
        async (c) => {
          await c.login('user', SIM_USER_PIN);
          loggedIn = true;
          return c.generateKey('ed25519', 'during');
        },
        {},
      );
      const { code } = await run.exit;
      if (run.error === undefined) {
        // N is past the last word this KEY_GENERATE writes: it completed, and this is the "new" state (the cut may still
        // fall after it, in the audit entry of the SESSION_CLOSE the client sends as it closes: exit 3 then)
        expect([0, 3]).toContain(code);
        after = (await withDevice(img, [], state)).result!.keys;
        return 'none';
      }
      expect(code, `--power-cut-after ${n} exits with the power-cut status`).toBe(3);
      // a cut inside the LOGIN: the keys are the old ones and the right PIN still logs in (state() below); what such
      // cuts do to the retry counter is test/integration/powercut-login*.test.ts's to check
      if (loggedIn) cuts++;
      else loginCuts++;
      const again = await withDevice(img, [], state);
      expect(again.error, `restart after a cut at word ${n}`).toBeUndefined();
      expect((await again.exit).code).toBe(0);
      const s = again.result!;
      expect(s.deviceId).toBe(before.deviceId);
      expect(s.identity).toBe(before.identity);
      const ids = s.keys.map((k) => k.keyId);
      if (s.keys.length === 1) {
        expect(s.keys).toEqual(before.keys);
        if (loggedIn) olds++;
      } else {
        expect(loggedIn, `a cut at word ${n}, inside the LOGIN, made a key`).toBe(true);
        expect(s.keys).toHaveLength(2);
        expect(s.keys[0]).toEqual(before.keys[0]);
        expect(s.keys[1]).toMatchObject({ alg: 1, label: 'during', origin: 1 });
        expect(ids[1]).toBeGreaterThan(ids[0]);
        news++;
      }
      return loggedIn ? 'generate' : 'login';
    };
    // the words the restart itself writes before anything is sent: its BOOT audit entry (docs/audit.md §3.3), counted
    // on a copy by the same bundle in this process; a cut there is the boot's (test/integration/powercut-boot.test.ts)
    const probeFile = join(dir, 'probe.img');
    copyFileSync(base, probeFile);
    copyFileSync(base + '.counter', probeFile + '.counter');
    const probe = await startInProcess({ flash: probeFile }, { knownDevices: null }, 'none');
    await probe.client.info();
    const bootWords = probe.sim.wordWrites;
    await probe.close();
    probe.sim.close();
    expect(bootWords).toBeGreaterThan(0);
    // through the LOGIN at the same stride, up to the first cut that falls past it
    let lastLogin = bootWords;
    for (let n = bootWords + 1; ; n += n === bootWords + 1 ? 1 : STRIDE) {
      const where = await cutAt(n);
      if (where !== 'login') break;
      lastLogin = n;
    }
    // then the KEY_GENERATE from the word after the last cut inside the LOGIN: the first two words, then every
    // STRIDE-th, as the sweep did before there was a LOGIN (a word cut twice is judged twice: no harm)
    for (let n = lastLogin + 1, i = 0; after === undefined; n += i++ < 1 ? 1 : STRIDE) {
      await cutAt(n);
      if (n > 400) throw new Error('KEY_GENERATE never completed: the cut loop did not end');
    }
    expect(after).toHaveLength(2);
    // the sweep really cut inside the command, and saw the old state (early cuts) at least once
    expect(cuts).toBeGreaterThan(3);
    expect(olds).toBeGreaterThan(0);
    expect(olds + news).toBe(cuts);
    // and the first words written after the start were the LOGIN's: the sweep began inside it
    expect(loginCuts).toBeGreaterThan(0);
  }, 600_000);
});

// The simulator keeps its monotonic counter beside the image (FILE.counter), so an old image copied back over FILE is refused, through the built bundle, the host driver and the CLI (docs/storage.md §12).
import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient, HsmError } from '../../host/index.ts';
import { InProcessTransport } from '../../host/transports/inprocess.ts';
import { Simulator } from '../../sim/index.ts';
import { SIM_LABEL, SIM_SO_PIN, SIM_USER_PIN, nodeBundle } from '../helpers/sim.ts';

const sims: Simulator[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function boot(file: string, monotonic?: boolean): Promise<{ sim: Simulator; client: HsmClient }> {
  const sim = new Simulator({ bundlePath: await nodeBundle(), log: () => {}, flash: file, seed: 'ab', monotonic });
  sims.push(sim);
  return { sim, client: new HsmClient(new InProcessTransport(sim, false), { knownDevices: null }) };
}

async function close(sim: Simulator): Promise<void> {
  sim.close();
  sims.splice(sims.indexOf(sim), 1);
}

async function wrongPin(client: HsmClient): Promise<string> {
  try {
    await client.login('user', 'not-the-user-PIN');
    return 'OK';
  } catch (e) {
    return (e as HsmError).statusName;
  }
}

describe('the simulator refuses an old flash image written back', () => {
  it('PIN tries spent after a copy of the image do not come back: the copy boots refusing all but INFO and ECHO', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-rollback-'));
    dirs.push(dir);
    const file = join(dir, 'token.img');
    let { sim, client } = await boot(file);
    await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: SIM_LABEL });
    expect((await client.info()).rollbackProtection).toBe(true);
    await close(sim);
    copyFileSync(file, join(dir, 'old.img')); // the attacker's dump: 8 tries left
    ({ sim, client } = await boot(file));
    expect(await wrongPin(client)).toBe('PIN_INCORRECT');
    expect(await wrongPin(client)).toBe('PIN_INCORRECT');
    expect((await client.info()).userPinTries).toBe(6);
    await close(sim);
    expect(existsSync(file + '.counter')).toBe(true);
    copyFileSync(join(dir, 'old.img'), file); // written back
    ({ sim, client } = await boot(file));
    const info = await client.info();
    expect([info.rollbackProtection, info.rolledBack, info.userPinTries]).toEqual([true, true, 8]);
    const refused = await client.login('user', SIM_USER_PIN).then(
      () => 'OK',
      (e: HsmError) => e.statusName + ': ' + e.message,
    );
    expect(refused).toMatch(/^ROLLBACK_DETECTED: .*older flash image was written back/);
    await close(sim);
    // the simulator's way out: the image with its counter file gone is taken as it is (a reset would be the board's)
    rmSync(file + '.counter');
    ({ sim, client } = await boot(file));
    expect((await client.info()).rolledBack).toBeUndefined();
  });

  it('a simulator without a counter (monotonic: false) says rollbackProtection false and uses the old image', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-rollback-'));
    dirs.push(dir);
    const file = join(dir, 'token.img');
    let { sim, client } = await boot(file, false);
    await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
    const image = readFileSync(file);
    expect(await wrongPin(client)).toBe('PIN_INCORRECT');
    await close(sim);
    writeFileSync(file, image);
    ({ sim, client } = await boot(file, false));
    const info = await client.info();
    expect([info.rollbackProtection, info.userPinTries]).toEqual([false, 8]);
    expect(existsSync(file + '.counter')).toBe(false);
  });
});

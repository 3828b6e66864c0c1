// The PIN lockout of docs/security.md §4, on the real `tinyhsm sim --pty --flash F` process: eight wrong user PINs block the user PIN although the simulator is stopped, power-cut (--power-cut-after N at each word a LOGIN writes) and restarted between and during the tries; the SO unblocks it and the new user PIN signs (node:crypto verifies).
//
// The words a wrong-PIN LOGIN writes are counted first, on a copy of the flash file in an in-process simulator
// running the same bundle; then tries are cut at each of them (CI: one cut per run, each word once; POWERCUT_FULL=1
// from `npm run test:powercut`: every try at every word), with restarts and clean stops in between.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient, HsmError } from '../../host/index.ts';
import { SIM_SO_PIN, SIM_USER_PIN, spawnSim, startInProcess, verifyWithNode, type SimProcess } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const FULL = process.env.POWERCUT_FULL === '1';
const WRONG = 'wrong-pin-4711';
const NEW_PIN = 'new-user-pin-0815';
const message = new TextEncoder().encode('signed after the unblock');
const hex = (b: Uint8Array | undefined) => Buffer.from(b || new Uint8Array(0)).toString('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyhsm-powercut-login-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A client on the simulator's pty; pinned in memory (no known-devices file); never waits long for a dead device. */
const open = (sim: SimProcess, login?: { role: 'user' | 'so'; pin: string }) =>
  HsmClient.open(sim.device, { knownDevices: null, timeoutMs: 3000, retries: 0, closeOnExit: false, login });

describe('tinyhsm sim: the user PIN lockout survives stops, power cuts and restarts (docs/security.md §4)', () => {
  it('eight wrong user PINs with a power cut at the words of LOGINs and restarts between them block the PIN; the SO unblocks it; the new PIN signs', async () => {
    const flash = join(dir, 'lockout.img');

    // a device with PINs (spawnSim INITs it with SIM_USER_PIN / SIM_SO_PIN) and an Ed25519 key
    let sim = await spawnSim(['--pty', '--flash', flash]);
    let c = await open(sim, { role: 'user', pin: SIM_USER_PIN });
    const key = await c.generateKey('ed25519', 'lockout');
    const identity = hex((await c.info()).identityPublicKey);
    await c.close();
    expect((await sim.stop()).code).toBe(0);

    // How many words the next run's boot (with INFO) writes, and a wrong-PIN LOGIN after it: the N of
    // --power-cut-after counts from the start, boot included, and a boot after a cut may repair the torn record first.
    // Counted on a copy of the flash file by the same bundle in this process, before every run.
    const probeFile = join(dir, 'probe.img');
    const probe = async (): Promise<{ boot: number; login: number; all: number }> => {
      copyFileSync(flash, probeFile);
      // the same board: its monotonic counter comes with the copy (docs/storage.md §12), or the probe's own would be ahead
      copyFileSync(flash + '.counter', probeFile + '.counter');
      const p = await startInProcess({ flash: probeFile }, { knownDevices: null }, 'none');
      try {
        await p.client.info();
        const boot = p.sim.wordWrites;
        const e = await hsmFailure(p.client.login('user', WRONG));
        expect(['PIN_INCORRECT', 'PIN_BLOCKED']).toContain(e.statusName);
        const all = p.sim.wordWrites - boot;
        // the LOGIN's last words are its outcome's audit entry, written after the try is spent (docs/audit.md §3.2): as many
        // as one more recorded request writes (RANDOM, its entry alone). Cuts there spend the try, which
        // test/integration/powercut-audit.test.ts covers; this sweep cuts the words of the spend itself.
        const r0 = p.sim.wordWrites;
        await p.client.random(8);
        return { boot, login: all - (p.sim.wordWrites - r0), all };
      } finally {
        await p.close();
        p.sim.close();
      }
    };
    const words = (await probe()).login;
    expect(words, 'a wrong-PIN LOGIN writes its spent try (docs/security.md §4 step 3)').toBeGreaterThan(0);

    // Each step is one run of `tinyhsm sim`: restart, check the counter the restart found, then maybe a whole wrong
    // try, then maybe a wrong try cut at its j-th word (the process exits with the power-cut status), else a stop.
    // CI: every run makes a whole try and cuts the next one at a word not cut yet (then stops cleanly once all were);
    // POWERCUT_FULL=1: every try is first cut at each of its words in turn, each cut in a run of its own.
    let last = 8;
    let cuts = 0;
    const cutAt = new Set<number>();
    let fullWord = 1;
    for (let step = 1; last > 0; step++) {
      expect(step, 'the PIN blocks within a bounded number of runs (each spends a try or cuts a word not cut yet)').toBeLessThanOrEqual(
        FULL ? 8 * 3 * words : words + 9,
      );
      const w = FULL || cutAt.size < words ? await probe() : { boot: 0, login: 0, all: 0 };
      let whole = true;
      let cut: number | undefined;
      if (FULL) {
        // this try's LOGIN, cut at each of its words in turn (a LOGIN after a cut writes a few words more: it first
        // steps over the torn record), then run whole
        if (fullWord <= w.login) {
          whole = false;
          cut = fullWord++;
        } else fullWord = 1;
      } else if (cutAt.size < words) {
        cut = cuts + 1;
        // with as many words left to cut as tries left, this run cuts only: each word gets its cut before the PIN blocks
        if (words - cutAt.size >= last) whole = false;
      }
      // a whole try spends the counter to last - 1: when that is 0 the next LOGIN writes nothing and cannot be cut
      if (cut !== undefined && whole && last - 1 === 0) cut = undefined;
      const cutWord = cut === undefined ? undefined : w.boot + (whole ? w.all : 0) + cut;
      sim = await spawnSim(['--pty', '--flash', flash, ...(cutWord === undefined ? [] : ['--power-cut-after', String(cutWord)])], { init: false });
      c = await open(sim);
      const info = await c.info();
      expect(hex(info.identityPublicKey), 'the same device after every restart').toBe(identity);
      const now = info.userPinTries as number;
      expect(now, `run ${step}: the counter never comes back up after a cut or a stop`).toBeLessThanOrEqual(last);
      expect(now, `run ${step}: a cut LOGIN spends at most its own try`).toBeGreaterThanOrEqual(last - 1);
      last = now;
      if (whole && last > 0) {
        const e = await hsmFailure(c.login('user', WRONG));
        if (last > 1) {
          expect(e.statusName).toBe('PIN_INCORRECT');
          expect(e.deviceMessage).toMatch(new RegExp(`\\b${last - 1} (try|tries) left`));
        } else expect(e.statusName).toBe('PIN_BLOCKED');
        last--;
        expect((await c.info()).userPinTries).toBe(last);
      }
      if (cut !== undefined && last > 0) {
        // power fails at the cut-th word of this LOGIN: the process exits with the power-cut status, answering nothing
        const login = c.login('user', WRONG).then(
          () => 'answered OK',
          (e: unknown) => (e instanceof HsmError ? e.statusName : String(e)),
        );
        const exit = await sim.exited;
        expect(exit.code, `--power-cut-after ${cutWord} (word ${cut} of a LOGIN): ${sim.stderr()}`).toBe(3);
        await c.close().catch(() => {});
        expect(await login, 'no answer from a device whose power was cut').not.toMatch(/^PIN_/);
        cuts++;
        cutAt.add(cut);
      } else {
        // stopped between tries
        await c.close();
        expect((await sim.stop()).code).toBe(0);
      }
    }
    for (let j = 1; j <= words; j++) expect(cutAt.has(j), `word ${j} of a LOGIN was cut`).toBe(true);

    // blocked: the right PIN too, after another restart
    sim = await spawnSim(['--pty', '--flash', flash], { init: false });
    try {
      c = await open(sim);
      expect((await c.info()).userPinTries).toBe(0);
      expect((await hsmFailure(c.login('user', SIM_USER_PIN))).statusName).toBe('PIN_BLOCKED');
      await c.close();
      // the SO unblocks it with a new user PIN
      const so = await open(sim, { role: 'so', pin: SIM_SO_PIN });
      await so.unblock(NEW_PIN);
      expect(await so.info()).toMatchObject({ userPinTries: 8, soPinTries: 8 });
      await so.close();
    } finally {
      expect((await sim.stop()).code).toBe(0);
    }

    // after one more restart the new user PIN signs (node:crypto verifies); the old one is refused
    sim = await spawnSim(['--pty', '--flash', flash], { init: false });
    try {
      c = await open(sim);
      expect((await hsmFailure(c.login('user', SIM_USER_PIN))).statusName).toBe('PIN_INCORRECT');
      await c.close();
      const user = await open(sim, { role: 'user', pin: NEW_PIN });
      const sig = await user.sign(key.keyId, { message });
      expect(verifyWithNode('ed25519', key.publicKey, message, sig)).toBe(true);
      expect((await user.info()).userPinTries).toBe(8);
      await user.close();
    } finally {
      expect((await sim.stop()).code).toBe(0);
    }
  }, 600_000);
});

// Measurement run, not part of the suite: the whole flow in the Kaluma image twins built from probe bundles, with the JS heap and time of each boot stage, self-test and request (docs/boards.md "Kaluma").
//
// KALUMA_PROBE=1 npx vitest run test/engines/kaluma-probe.test.ts, after
//   node tools/engines/kaluma/probe_bundle.mjs dist/tinyhsm-kaluma.debug.js /tmp/p256.js
//   node tools/engines/kaluma/probe_bundle.mjs dist/tinyhsm-kaluma-pico.debug.js /tmp/p180.js
//   tools/engines/kaluma/build.sh build/engines/kaluma /tmp/p256.js /tmp/p180.js
// (and build.sh again with the real bundles afterwards). Each probe line says the heap after a collection, the time,
// and the highest heap use since the probe before: so a request's line has its own peak. The lines go to
// dist/kaluma-probe-<twin>.jsonl, each labelled with the request it belongs to.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Alg } from '../../firmware/protocol/index.ts';
import { HsmClient, algName } from '../../host/client.ts';
import { nodeVerifies } from './suite.ts';
import { kaluma180Image, kaluma256Image } from './kaluma.ts';
import type { EngineProfile } from './engine.ts';

interface Probe {
  probe: string;
  ms: number;
  peakSince: number;
  allocated: number;
  request?: string;
}

const OUT = join(import.meta.dirname, '..', '..', 'dist');

async function measure(profile: EngineProfile): Promise<Probe[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-kaluma-probe-'));
  const file = join(dir, 'probe.jsonl');
  const labels: { after: number; request: string }[] = [];
  const lines = (): Probe[] =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Probe)
      : [];
  const step = async <T>(request: string, fn: () => Promise<T>): Promise<T> => {
    const r = await fn();
    labels.push({ after: lines().length, request });
    return r;
  };
  process.env.TINYHSM_PROBE = file;
  const dev = await profile.powerOn({ flashFile: join(dir, 'flash.img') });
  try {
    const h = new HsmClient(dev.transport, { knownDevices: null, trust: true, timeoutMs: 180_000, retries: 0, closeOnExit: false });
    const info = await step('boot + INFO', () => h.info());
    // every signing algorithm the bundle offers (a measurement build may carry another bundle than the twin's own)
    const signing = info.algorithms.filter((a) => a !== Alg.X25519);
    await step('INIT (session open first)', () => h.init({ userPin: 'probe-user-pin', soPin: 'probe-so-pin-1' }));
    await step('LOGIN', () => h.login('user', 'probe-user-pin'));
    for (const alg of signing) {
      const k = await step(`KEY_GENERATE ${algName(alg)}`, () => h.generateKey(alg, 'probe'));
      const msg = new TextEncoder().encode('probe');
      const sig = await step(`SIGN ${algName(alg)}`, () => h.sign(k.keyId, { message: msg }));
      expect(nodeVerifies(alg, k.publicKey, msg, sig)).toBe(true);
      if (alg === signing[0]) await step('KEY_ATTEST', () => h.keyAttest(k.keyId, { publicKey: k.publicKey }));
    }
    const x = await step('KEY_GENERATE x25519', () => h.generateKey(Alg.X25519, 'probe-dh'));
    await step('ECDH x25519', () => h.ecdh(x.keyId, x.publicKey));
    await h.close();
    console.log(`${profile.name}: ${JSON.stringify(await dev.powerOff())}`);
  } finally {
    delete process.env.TINYHSM_PROBE;
  }
  const all = lines();
  let from = 0;
  for (const l of labels) {
    for (let i = from; i < l.after; i++) all[i].request = l.request;
    from = l.after;
  }
  rmSync(dir, { recursive: true, force: true });
  return all;
}

describe.runIf(process.env.KALUMA_PROBE === '1')('Kaluma image twins, probed', () => {
  for (const profile of [kaluma256Image, kaluma180Image]) {
    it(`${profile.name}: heap and time per stage`, async () => {
      const probes = await measure(profile);
      expect(probes.length).toBeGreaterThan(100);
      writeFileSync(join(OUT, `kaluma-probe-${profile.name}.jsonl`), probes.map((p) => JSON.stringify(p)).join('\n') + '\n');
      let prev: Probe | undefined;
      for (const p of probes) {
        if (!p.probe.startsWith('before ')) {
          const dt = prev ? p.ms - prev.ms : 0;
          console.log(
            `${profile.name} ${(p.request ?? '').padEnd(26)} ${p.probe.padEnd(30)} +${String(dt).padStart(6)} ms  peak ${p.peakSince}  after ${p.allocated}`,
          );
        }
        prev = p;
      }
    }, 900_000);
  }
});

// `tinyhsm sim --fast` (sim/fast-crypto.ts, docs/architecture.md §7): over a real pty it serves keys and signatures node:crypto verifies, streamed Ed25519 included; in-process it says what it is, and a broken fast HAL is caught by the power-on self-tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { HsmClient } from '../../host/index.ts';
import { Alg } from '../../firmware/protocol/codes.ts';
import { MAX_DATA } from '../../firmware/protocol/commands/limits.ts';
import type { Crypto } from '../../firmware/hal/index.ts';
import { SIM_LOGIN, inProcessSims, nodeBundle, spawnSim, verifyWithNode, type SimProcess } from '../helpers/sim.ts';

describe('tinyhsm sim --fast --pty', () => {
  let sim: SimProcess;
  let client: HsmClient;
  beforeAll(async () => {
    sim = await spawnSim(['--pty', '--fast']);
    client = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false, login: SIM_LOGIN });
  });
  afterAll(async () => {
    if (client) await client.close();
    if (sim) expect((await sim.stop()).code).toBe(0);
  });

  it('says in INFO that it is the fast simulator, and offers every algorithm', async () => {
    const info = await client.info();
    expect(info.platform).toBe('node-sim-fast');
    expect(info.selftestFailures ?? {}).toEqual({});
    expect(info.algorithms).toEqual([Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519]);
  });

  it('generates keys whose signatures node:crypto verifies: Ed25519 (one SIGN and streamed), P-256, secp256k1', async () => {
    const ed = await client.generateKey('ed25519', 'fast-ed');
    const short = randomBytes(100);
    const sig = await client.sign(ed.keyId, { message: short });
    expect(verifyWithNode('ed25519', ed.publicKey, short, sig)).toBe(true);
    expect(verifyWithNode('ed25519', ed.publicKey, randomBytes(100), sig)).toBe(false);
    // longer than one SIGN: SIGN_BEGIN and two passes of SIGN_UPDATE (docs/protocol.md §4.1)
    const long = randomBytes(MAX_DATA * 2 + 5);
    const streamed = await client.sign(ed.keyId, { message: long });
    expect(verifyWithNode('ed25519', ed.publicKey, long, streamed)).toBe(true);
    for (const [alg, name] of [
      ['ecdsa-p256', 'fast-p256'],
      ['ecdsa-secp256k1', 'fast-k1'],
    ] as const) {
      const k = await client.generateKey(alg, name);
      const m = randomBytes(300);
      const s = await client.sign(k.keyId, { message: m });
      expect(verifyWithNode(alg, k.publicKey, m, s), alg).toBe(true);
    }
  });
});

describe('the fast simulator in-process', () => {
  const sims = inProcessSims();

  it("HsmClient.open('sim', { simFast }) boots it; the default simulator stays on the device's noble code", async () => {
    const bundlePath = await nodeBundle();
    const fast = sims.track(await HsmClient.open('sim', { simFast: true, bundlePath, knownDevices: null }));
    expect((await fast.info()).platform).toBe('node-sim-fast');
    const plain = sims.track(await HsmClient.open('sim', { bundlePath, knownDevices: null }));
    expect((await plain.info()).platform).toBe('node-sim');
  });

  it('a deliberately broken fast HAL fails its self-test: INFO says why and the algorithm is not offered', async () => {
    // a P-256 public key one bit off, the kind of fault the self-tests exist for (docs/architecture.md §3)
    const broken = (c: Crypto): Crypto => ({
      ...c,
      ecdsaPublicKey(curve, sk) {
        const p = c.ecdsaPublicKey(curve, sk);
        if (curve === 'p256') p[7] ^= 1;
        return p;
      },
    });
    const sim = await sims.boot({ fast: broken });
    const c = sims.client(sim, { login: SIM_LOGIN });
    const info = await c.info();
    expect(info.platform).toBe('node-sim-fast');
    expect(Object.keys(info.selftestFailures ?? {})).toEqual([String(Alg.ECDSA_P256)]);
    expect(info.algorithms).toEqual([Alg.ED25519, Alg.ECDSA_SECP256K1, Alg.X25519]);
    await expect(c.generateKey('ecdsa-p256', 'refused')).rejects.toThrow(/not offered|self-test|UNSUPPORTED/i);
    const ed = await c.generateKey('ed25519', 'still-fine');
    const m = randomBytes(10);
    expect(verifyWithNode('ed25519', ed.publicKey, m, await c.sign(ed.keyId, { message: m }))).toBe(true);
  });

  it('a board.crypto that lacks functions is refused at boot with what is missing', async () => {
    await expect(sims.boot({ fast: (c) => ({ ...c, aeadOpen: undefined }) as unknown as Crypto }, false)).rejects.toThrow(/board\.crypto lacks aeadOpen/);
  });
});

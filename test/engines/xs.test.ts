// The generic bundle in Moddable XS (xsnap) end to end through HsmClient: session, INIT, LOGIN, keys, SIGN, KEY_ATTEST, ECDH, a power cycle on the same flash, and XS's memory figures.
import { describe, it, expect, afterAll } from 'vitest';
import { createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Alg } from '../../firmware/protocol/index.ts';
import { HsmClient } from '../../host/client.ts';
import { publicKeyToSpkiDer } from '../../host/pubkey-format.ts';
import type { EngineDevice, EngineStats } from './engine.ts';
import { xsProfile } from './xs.ts';

const why = xsProfile.unavailable();
const USER_PIN = 'xs-user-pin';
const SO_PIN = 'xs-so-pin-1';

const spki = (alg: number, pub: Uint8Array) => createPublicKey({ key: Buffer.from(publicKeyToSpkiDer(alg, pub)), format: 'der', type: 'spki' });

/** node:crypto's verdict: Ed25519 over the message, ECDSA P-256 raw r‖s over SHA-256 of it. */
function verifies(alg: number, pub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (alg === Alg.ED25519) return nodeVerify(null, msg, spki(alg, pub), sig);
  return nodeVerify('sha256', msg, { key: spki(alg, pub), dsaEncoding: 'ieee-p1363' }, sig);
}

describe.skipIf(why !== undefined)(`xs engine${why ? ` (skipped: ${why})` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-xs-test-'));
  const flashFile = join(dir, 'flash.img');
  const times: Record<string, number> = {};
  const runs: EngineStats[] = [];
  let dev: EngineDevice | undefined;
  let hsm: HsmClient | undefined;

  /** Each HsmClient call's wall time (ms), recorded under `name`. */
  async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}\nworker output:\n${dev?.diagnostics().slice(-2000) ?? ''}`, { cause: e });
    } finally {
      times[name] = Math.round((performance.now() - t0) * 10) / 10;
    }
  }

  async function powerOn(phase: string): Promise<HsmClient> {
    dev = await timed(`power on${phase}`, () => xsProfile.powerOn({ flashFile }));
    // the transport is selfHosted: the identity is pinned in memory, no known-devices file is written
    return new HsmClient(dev.transport, { timeoutMs: 30_000, retries: 1, closeOnExit: false });
  }

  async function powerOff(): Promise<void> {
    if (hsm) await hsm.close().catch(() => {});
    hsm = undefined;
    if (dev) runs.push(await dev.powerOff());
    dev = undefined;
  }

  afterAll(async () => {
    await powerOff();
    rmSync(dir, { recursive: true, force: true });
    for (const r of runs) console.log(`[xs] power-on: peak ${r.peak} B, after load ${r.afterLoad} B\n${JSON.stringify(r.extra, null, 1)}`);
    console.log(`[xs] ms per call: ${JSON.stringify(times)}`);
  });

  it('runs the whole flow, and the key survives a power cycle on the same flash file', async () => {
    let h = await powerOn('');
    const info = await timed('INFO', () => h.info());
    expect(info.algorithms).toEqual(expect.arrayContaining([Alg.ED25519, Alg.ECDSA_P256, Alg.X25519]));
    expect(info.initialized).toBe(false);
    await timed('INIT', () => h.init({ userPin: USER_PIN, soPin: SO_PIN, label: 'xs' }));
    await timed('LOGIN', () => h.login('user', USER_PIN));

    const keys: Array<{ alg: number; keyId: number; publicKey: Uint8Array }> = [];
    for (const [alg, name] of [
      [Alg.ED25519, 'ed25519'],
      [Alg.ECDSA_P256, 'ecdsa-p256'],
    ] as const) {
      const k = await timed(`KEY_GENERATE ${name}`, () => h.generateKey(alg, `xs-${name}`));
      const msg = new TextEncoder().encode(`signed in XS with ${name}`);
      const sig = await timed(`SIGN ${name}`, () => h.sign(k.keyId, { message: msg }));
      expect(verifies(alg, k.publicKey, msg, sig), `${name} signature verifies with node:crypto`).toBe(true);
      msg[0] ^= 1;
      expect(verifies(alg, k.publicKey, msg, sig)).toBe(false);
      keys.push({ alg, ...k });
    }

    // HsmClient checks the statement against the identity pinned at the handshake, the nonce and the key
    const att = await timed('KEY_ATTEST', () => h.keyAttest(keys[0].keyId, { publicKey: keys[0].publicKey }));
    expect(att.keyId).toBe(keys[0].keyId);

    const dh = await timed('KEY_GENERATE x25519', () => h.generateKey(Alg.X25519, 'xs-x25519'));
    const peer = generateKeyPairSync('x25519');
    const peerRaw = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    const shared = await timed('ECDH x25519', () => h.ecdh(dh.keyId, peerRaw));
    expect(Buffer.from(shared).equals(diffieHellman({ privateKey: peer.privateKey, publicKey: spki(Alg.X25519, dh.publicKey) }))).toBe(true);

    await powerOff();
    h = hsm = await powerOn(' (again)');
    expect((await timed('INFO (again)', () => h.info())).initialized).toBe(true);
    await timed('LOGIN (again)', () => h.login('user', USER_PIN));
    const msg = new TextEncoder().encode('after the power cycle');
    const sig = await timed('SIGN ed25519 (again)', () => h.sign(keys[0].keyId, { message: msg }));
    expect(verifies(keys[0].alg, keys[0].publicKey, msg, sig)).toBe(true);
    await powerOff();

    expect(runs).toHaveLength(2);
    for (const r of runs) {
      expect(r.engine).toBe('xs');
      expect(r.peak).toBeGreaterThan(r.afterLoad ?? 0);
      expect(r.extra?.failedDeliveries).toBe(0);
    }
  }, 90_000);
});

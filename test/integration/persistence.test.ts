// Keys, device id and identity survive power cycles of the simulator on the same flash, through the built bundle and the host driver (docs/storage.md §1).
import { afterEach, describe, expect, it } from 'vitest';
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../firmware/protocol/index.ts';
import { HsmClient, HsmError, algName } from '../../host/index.ts';
import { InProcessTransport } from '../../host/transports/inprocess.ts';
import { Simulator, SimFlash } from '../../sim/index.ts';
import { SIM_LABEL, SIM_LOGIN, SIM_SO_PIN, SIM_USER_PIN, asSo, nodeBundle, verifyWithNode } from '../helpers/sim.ts';

const sims: Simulator[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) {
    expect(s.deviceFaults).toEqual([]);
    s.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A simulator on `flash` and a client that logs in as the user by itself (in every new session, so also after a
 * reboot). A factory-new device is INITed first (docs/security.md §3); one that already is keeps its PINs.
 */
async function boot(flash: SimFlash | string, seed: string): Promise<{ sim: Simulator; client: HsmClient }> {
  const sim = new Simulator({ bundlePath: await nodeBundle(), log: () => {}, flash, seed });
  sims.push(sim);
  const client = new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN });
  if (!(await client.info()).initialized) await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: SIM_LABEL });
  return { sim, client };
}

interface Snapshot {
  deviceId: string;
  identity: string;
  keys: string[];
}

async function snapshot(client: HsmClient): Promise<Snapshot> {
  const info = await client.info();
  const keys = await client.listKeys();
  return {
    deviceId: toHex(info.deviceId),
    identity: info.identityPublicKey ? toHex(info.identityPublicKey) : 'none',
    keys: keys.map((k) => [k.keyId, algName(k.alg), k.label, k.origin, toHex(k.publicKey)].join(' ')),
  };
}

/** Every listed key proves its private half with OpenSSL as the judge (signature verify or ECDH agreement). */
async function expectKeysWork(client: HsmClient): Promise<void> {
  const message = new TextEncoder().encode('still here after a power cycle');
  for (const k of await client.listKeys()) {
    const name = algName(k.alg);
    if (name === 'x25519') {
      const peer = generateKeyPairSync('x25519');
      const peerPub = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
      const mine = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), k.publicKey]), format: 'der', type: 'spki' });
      expect(toHex(await client.ecdh(k.keyId, peerPub))).toBe(diffieHellman({ privateKey: peer.privateKey, publicKey: mine }).toString('hex'));
    } else {
      const sig = await client.sign(k.keyId, { message });
      expect(verifyWithNode(name as 'ed25519' | 'ecdsa-p256' | 'ecdsa-secp256k1', k.publicKey, message, sig), `key ${k.keyId} (${name})`).toBe(true);
    }
  }
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(HsmError);
  expect((e as HsmError).code).toBe(code);
}

describe('persistence across power cycles', () => {
  it('keys of every algorithm, the device id and the identity survive reboots; deleted keys stay deleted; ids are not reused', async () => {
    const flash = SimFlash.memory({ pages: 8 });
    const { sim, client } = await boot(flash, 'aa01');
    const info = await client.info();
    expect(info.flashVolatile).toBeUndefined();
    expect(info.identityPublicKey).toHaveLength(32);
    expect([info.flashPageSize, info.flashPages, info.flashEraseCounts.length]).toEqual([4096, 8, 8]);
    // the identity is a real Ed25519 public key
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(info.identityPublicKey!).toString('base64url') }, format: 'jwk' });

    const ids: number[] = [];
    for (const alg of ['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1', 'x25519']) ids.push((await client.generateKey(alg, 'gen ' + alg)).keyId);
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    // getPrivateKey() drops leading zero bytes (1 key in 256 is 31 bytes long); the device takes exactly 32
    const raw = ecdh.getPrivateKey();
    const imported = await asSo(client, () => client.importKey('ecdsa-p256', new Uint8Array(Buffer.concat([Buffer.alloc(32 - raw.length), raw])), 'imported'));
    expect(toHex(imported.publicKey)).toBe(ecdh.getPublicKey('hex'));
    ids.push(imported.keyId);
    const gone = (await client.generateKey('ed25519', 'to delete')).keyId;
    await client.deleteKey(gone);
    const before = await snapshot(client);
    expect(before.keys).toHaveLength(5);

    sim.reboot();
    expect(sim.bootCount).toBe(2);
    const after = await snapshot(client);
    expect(after).toEqual(before);
    await expectKeysWork(client);
    await expectCode(client.publicKey(gone), 'KEY_NOT_FOUND');
    await expectCode(client.deleteKey(gone), 'KEY_NOT_FOUND');
    const next = (await client.generateKey('ed25519', 'after reboot')).keyId;
    expect(next).toBeGreaterThan(gone);
    expect((await client.info()).slotsUsed).toBe(6);

    // power off for good, then a new simulator (a new board process) on the same flash chip
    await client.close();
    sim.close();
    const second = await boot(flash, 'bb02');
    const again = await snapshot(second.client);
    expect(again.deviceId).toBe(before.deviceId);
    expect(again.identity).toBe(before.identity);
    // the PINs came through too: boot() found the device initialized, and the user PIN set at INIT logs in
    expect((await second.client.info()).initialized).toBe(true);
    expect(again.keys.slice(0, 5)).toEqual(before.keys);
    expect(again.keys).toHaveLength(6);
    await expectKeysWork(second.client);
    await second.client.close();
  });

  it('a flash image file: stop the simulator, start it again on the file, everything is there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-persist-'));
    dirs.push(dir);
    const file = join(dir, 'dev.img');
    const a = await boot(file, 'cc03');
    const k = await a.client.generateKey('ecdsa-secp256k1', 'on file');
    const s1 = await snapshot(a.client);
    await a.client.close();
    a.sim.close();
    const b = await boot(file, 'dd04');
    expect(await snapshot(b.client)).toEqual(s1);
    const sig = await b.client.sign(k.keyId, { message: new Uint8Array([1, 2, 3]) });
    expect(verifyWithNode('ecdsa-secp256k1', k.publicKey, new Uint8Array([1, 2, 3]), sig)).toBe(true);
    await b.client.close();
  });

  it('without a flash the device says its store is volatile, and a reboot forgets everything (a new device id)', async () => {
    const sim = new Simulator({ bundlePath: await nodeBundle(), log: () => {}, seed: 'ee05' });
    sims.push(sim);
    const client = new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN });
    const info = await client.info();
    expect(info.flashVolatile).toBe(true);
    // a factory-new device makes no key before INIT (docs/security.md §2), and INIT alone does not log in (§3)
    expect(info.initialized).toBe(false);
    await expectCode(client.generateKey('ed25519'), 'NOT_INITIALIZED');
    await client.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
    await client.logout(); // the client forgets its PIN: the next key command goes without a LOGIN
    await expectCode(client.generateKey('ed25519'), 'LOGIN_REQUIRED');
    expect((await client.info()).slotsUsed).toBe(0);
    await client.login('user', SIM_USER_PIN);
    await client.generateKey('ed25519');
    expect((await client.info()).slotsUsed).toBe(1);
    sim.reboot();
    const after = await client.info();
    expect(after.slotsUsed).toBe(0);
    expect(toHex(after.deviceId)).not.toBe(toHex(info.deviceId));
    // the PINs were in RAM too: the rebooted device is factory-new again
    expect(after.initialized).toBe(false);
    await client.close();
  });

  it('a power cut in the simulator during KEY_GENERATE: no answer, and after power returns the device boots with the old keys', async () => {
    const flash = SimFlash.memory({ pages: 8 });
    const { sim, client } = await boot(flash, 'ff06');
    await client.generateKey('ed25519', 'first');
    const before = await snapshot(client);
    const cut = sim.schedulePowerCut(3);
    const pending = client.generateKey('ecdsa-p256', 'cut', { timeoutMs: 300, retries: 0 });
    await cut;
    expect(sim.isPoweredOff).toBe(true);
    await expectCode(pending, 'TIMEOUT');
    sim.reboot();
    expect(await snapshot(client)).toEqual(before);
    await expectKeysWork(client);
    await client.close();
  });
});

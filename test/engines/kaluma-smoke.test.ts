// Drives the whole device flow once in the Kaluma 256 KB image twin with HsmClient, power-cycles it on the same flash, and checks the link's 0x03 behaviour in both twin forms.
import { describe, it, expect } from 'vitest';
import { createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient } from '../../host/client.ts';
import { kaluma180Image, kaluma256Image, kaluma256Upload } from './kaluma.ts';
import type { EngineDevice, EngineProfile } from './engine.ts';

const USER_PIN = 'test-user-pin-0001';
const SO_PIN = 'test-so-pin-0002';
const SLOW = { timeoutMs: 120_000, retries: 0 };

function client(dev: EngineDevice): HsmClient {
  // knownDevices: null pins the identity in memory only (never the user's known-devices file)
  return new HsmClient(dev.transport, { ...SLOW, knownDevices: null, closeOnExit: false, login: { role: 'user', pin: USER_PIN } });
}

const ed25519Spki = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
const x25519Spki = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), pub]), format: 'der', type: 'spki' });

function skipUnless(p: EngineProfile): boolean {
  const why = p.unavailable();
  if (why) console.warn(why);
  return why === undefined;
}

/** Waits until `text()` matches `re` (or throws after `ms`). */
async function waitFor(text: () => string, re: RegExp, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(text())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${re}: ${text().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function fullFlow(profile: EngineProfile): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-kaluma-smoke-'));
  const flashFile = join(dir, 'flash.bin');
  let dev = await profile.powerOn({ flashFile });
  try {
    let c = client(dev);
    const info = await c.info();
    expect(info.initialized).toBe(false);
    await c.init({ userPin: USER_PIN, soPin: SO_PIN, label: 'kaluma' });
    await c.login('user', USER_PIN);
    const k = await c.generateKey('ed25519', 'sig');
    const msg = new TextEncoder().encode('hello from the kaluma twin');
    const sig = await c.sign(k.keyId, { message: msg });
    expect(nodeVerify(null, msg, ed25519Spki(k.publicKey), sig)).toBe(true);
    const att = await c.keyAttest(k.keyId);
    expect(att).toBeTruthy();
    const x = await c.generateKey('x25519', 'dh');
    const peer = generateKeyPairSync('x25519');
    const peerPub = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    const shared = await c.ecdh(x.keyId, peerPub);
    expect(Buffer.from(shared).toString('hex')).toBe(diffieHellman({ privateKey: peer.privateKey, publicKey: x25519Spki(x.publicKey) }).toString('hex'));
    await c.close();
    const s1 = await dev.powerOff();
    console.log(`${profile.name} run 1:`, JSON.stringify(s1));

    dev = await profile.powerOn({ flashFile });
    c = client(dev);
    await c.login('user', USER_PIN);
    const sig2 = await c.sign(k.keyId, { message: msg });
    expect(nodeVerify(null, msg, ed25519Spki(k.publicKey), sig2)).toBe(true);
    await c.close();
    const s2 = await dev.powerOff();
    console.log(`${profile.name} run 2:`, JSON.stringify(s2));
  } catch (e) {
    console.log(`${profile.name} diagnostics:\n${dev.diagnostics().slice(-3000)}`);
    await dev.powerOff().then(
      (s) => console.log(`${profile.name} stats at failure:`, JSON.stringify(s)),
      () => undefined,
    );
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Kaluma twins', () => {
  it.runIf(skipUnless(kaluma256Image))('kaluma-256-image serves the whole flow and keeps its key over a power cycle', async () => {
    await fullFlow(kaluma256Image);
  }, 900_000);

  it.runIf(process.env.KALUMA_ALL === '1' && skipUnless(kaluma180Image))('kaluma-180-image (record what happens)', async () => {
    await fullFlow(kaluma180Image);
  }, 900_000);

  it.runIf(skipUnless(kaluma256Image))('0x03 is data in the image twin: INFO still answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-kaluma-etx-'));
    const dev = await kaluma256Image.powerOn({ flashFile: join(dir, 'flash.bin') });
    try {
      const c = client(dev);
      await c.info();
      await dev.transport.write(new Uint8Array([0x03, 0x0a]));
      await new Promise((r) => setTimeout(r, 1000));
      expect((await c.info()).initialized).toBe(false);
      await c.close();
    } finally {
      await dev.powerOff();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it.runIf(skipUnless(kaluma256Upload))('0x03 stops the uploaded program in the upload twin and the REPL answers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-kaluma-etx-'));
    const dev = await kaluma256Upload.powerOn({ flashFile: join(dir, 'flash.bin') });
    try {
      // the program is running once it has printed the line break that starts its armor output
      await new Promise((r) => setTimeout(r, 20000));
      await dev.transport.write(new Uint8Array([0x03]));
      await waitFor(dev.diagnostics, /Aborted|Error/, 60000);
      await new Promise((r) => setTimeout(r, 500));
      await dev.transport.write(new TextEncoder().encode('print(6*7)\r'));
      await waitFor(dev.diagnostics, /42/, 30000);
      console.log('upload twin after 0x03:\n' + dev.diagnostics().slice(-1500));
    } finally {
      console.log('upload stats:', JSON.stringify(await dev.powerOff()));
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

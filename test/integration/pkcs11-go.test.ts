// Go's crypto11 (the library Teleport's PKCS#11 keystore uses) through p11-kit-client.so against `tinyhsm pkcs11` (docs/pkcs11.md §2): test/go/crypto11 configures by token label and PIN, makes a P-256 key pair with an id and a label, finds it by both and by label alone, signs a digest; ecdsa.VerifyASN1 and node:crypto both accept the signature. Once with a short label and id (the plain form of §4.1), once in Teleport's shape (16 random bytes and a 36-character UUID: the digest form), then that key again through a new server whose cache file was deleted (stand-ins).
import { createHash, createPublicKey, randomBytes, randomUUID, verify as nodeVerify } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P11_CLIENT, p11Workspace, type P11Workspace } from '../helpers/pkcs11.ts';
import { run } from '../helpers/openssh.ts';
import { ROOT, SIM_LABEL, SIM_USER_PIN } from '../helpers/sim.ts';
import { openTransport } from '../../host/open-device.ts';
import { Pkcs11Server } from '../../host/pkcs11/server.ts';
import { publicKeyToPem } from '../../host/pubkey-format.ts';
import { Alg } from '../../firmware/protocol/index.ts';

interface GoResult {
  publicKey: string;
  digest: string;
  signature: string;
  verified: boolean;
  found: boolean;
  byLabel: number;
  byLabelFound: boolean;
  readLabel: string;
  readId: string;
}

let w: P11Workspace;
let bin: string;
// its own build cache, so the test does not depend on $HOME (go refuses to build without one); kept between runs
const goEnv = { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '', GOCACHE: process.env.GOCACHE || join(tmpdir(), 'tinyhsm-go-build') };

beforeAll(async () => {
  w = await p11Workspace('tinyhsm-p11go-');
  // built once, run three times
  bin = join(w.dir, 'crypto11-test');
  const started = Date.now();
  const b = await run('go', ['build', '-o', bin, join(ROOT, 'test', 'go', 'crypto11', 'main.go')], { env: { ...process.env, ...goEnv }, timeoutMs: 170_000 });
  expect(b.code, b.stderr).toBe(0);
  console.log(`go build of test/go/crypto11 took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 180_000);
afterAll(async () => {
  await w?.close();
});

/** The program against the server whose environment is `env`: P11_GENERATE=0 finds without making. */
async function crypto11(env: NodeJS.ProcessEnv, id: Uint8Array, label: string, generate = true): Promise<GoResult> {
  const r = await run(bin, [], {
    env: {
      ...env,
      P11_MODULE: P11_CLIENT,
      P11_TOKEN_LABEL: SIM_LABEL,
      P11_PIN: SIM_USER_PIN,
      P11_KEY_ID: Buffer.from(id).toString('hex'),
      P11_KEY_LABEL: label,
      P11_GENERATE: generate ? '1' : '0',
    },
    timeoutMs: 60_000,
  });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as GoResult;
}

/** ecdsa.VerifyASN1 said yes; node:crypto checks the same signature independently, and its negative side. */
function checkSignature(out: GoResult): void {
  expect(out.verified).toBe(true);
  const key = createPublicKey(publicKeyToPem(Alg.ECDSA_P256, Buffer.from(out.publicKey, 'hex')));
  const message = Buffer.from('signed by crypto11 through p11-kit-client.so');
  expect(out.digest).toBe(createHash('sha256').update(message).digest('hex'));
  const sig = Buffer.from(out.signature, 'hex');
  const check = (m: Buffer) => nodeVerify('sha256', m, { key, dsaEncoding: 'der' }, sig);
  expect(check(message)).toBe(true);
  expect(check(Buffer.from('another message'))).toBe(false);
}

describe('crypto11 via p11-kit-client.so', () => {
  it('GenerateECDSAKeyPairWithLabel, FindKeyPair, Sign: ecdsa.VerifyASN1 and node:crypto accept', async () => {
    const out = await crypto11(w.env, Buffer.from('7e1e9047', 'hex'), 'teleport');
    expect(out.found).toBe(true);
    expect(out).toMatchObject({ byLabel: 1, byLabelFound: true, readLabel: Buffer.from('teleport').toString('hex'), readId: '7e1e9047' });
    checkSignature(out);
    // the key is on the device under the id and label crypto11 gave
    const list = await w.tool(['--login', '--pin', SIM_USER_PIN, '-O', '--type', 'privkey']);
    expect(list.stdout).toMatch(/label:\s+teleport\n\s+ID:\s+7e1e9047\n\s+Usage:\s+sign\n\s+Access:\s+sensitive, always sensitive, never extractable, local/);
  }, 90_000);

  // Teleport's keystore: CKA_ID the 16 raw bytes of a random UUID, CKA_LABEL the host UUID as text (59 bytes in the plain form)
  const teleportId = new Uint8Array(randomBytes(16));
  const hostUuid = randomUUID();
  let made: GoResult;

  it("Teleport's shape (16-byte id, 36-character UUID label): made in the digest form, found by id and label and by label alone, signs; the originals read back", async () => {
    expect(hostUuid).toHaveLength(36);
    made = await crypto11(w.env, teleportId, hostUuid);
    expect(made.found).toBe(true);
    expect(made).toMatchObject({
      byLabel: 1,
      byLabelFound: true,
      readLabel: Buffer.from(hostUuid).toString('hex'),
      readId: Buffer.from(teleportId).toString('hex'),
    });
    checkSignature(made);
    expect(w.logs.some((l) => /CKA_LABEL \(36 bytes\) and CKA_ID \(16 bytes\) do not fit the device label's 32 bytes/.test(l))).toBe(true);
    // the cache holds the originals beside the key
    const cache = JSON.parse(readFileSync(join(w.dir, 'cache.json'), 'utf8')) as {
      devices: { [d: string]: { keys: { label: string; p11Label?: string; p11Id?: string }[] } };
    };
    const entry = Object.values(cache.devices)[0].keys.find((k) => k.p11Label === Buffer.from(hostUuid).toString('hex'));
    expect(entry && entry.p11Id).toBe(Buffer.from(teleportId).toString('hex'));
    expect(entry && /^\u001f[A-Za-z0-9_-]{12}\u001f[A-Za-z0-9_-]{12}$/.test(entry.label)).toBe(true);
    // pkcs11-tool through the same server shows them too, and finds the key by that label
    const list = await w.tool(['--login', '--pin', SIM_USER_PIN, '-O', '--type', 'privkey', '--label', hostUuid]);
    expect(list.stdout).toContain(`label:      ${hostUuid}\n  ID:         ${Buffer.from(teleportId).toString('hex')}\n`);
  }, 90_000);

  it('the same key through a new server with the cache file deleted: stand-ins read back, FindKeyPair and FindKeyPairs by the originals find it, it signs', async () => {
    expect(made).toBeDefined();
    await w.server.close();
    rmSync(join(w.dir, 'cache.json'));
    const logs: string[] = [];
    const server = new Pkcs11Server({
      openLink: () => openTransport(w.sim.device),
      clientOptions: { trust: true },
      cachePath: join(w.dir, 'cache.json'),
      log: (l) => logs.push(l),
    });
    const socket = join(w.dir, 'p11-new.sock');
    await server.listen(socket);
    try {
      const out = await crypto11({ ...process.env, P11_KIT_SERVER_ADDRESS: `unix:path=${socket}` }, teleportId, hostUuid, false);
      expect(out.publicKey).toBe(made.publicKey);
      expect(out).toMatchObject({ byLabel: 1, byLabelFound: true });
      checkSignature(out);
      // the stand-ins: the device label as stored (26 bytes, starting with U+001F) and the 9 bytes of the id digest
      const label = Buffer.from(out.readLabel, 'hex').toString('utf8');
      expect(label).toMatch(/^\u001f[A-Za-z0-9_-]{12}\u001f[A-Za-z0-9_-]{12}$/);
      expect(out.readId).toBe(Buffer.from(label.slice(14), 'base64url').toString('hex'));
      expect(logs.some((l) => /CKA_LABEL and CKA_ID are stored as digests and the public-object cache holds no originals/.test(l))).toBe(true);
    } finally {
      await server.close();
    }
  }, 90_000);
});

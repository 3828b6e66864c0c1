// Go's crypto11 (the library Teleport's PKCS#11 keystore uses) through p11-kit-client.so against `tinyhsm pkcs11` (docs/pkcs11.md §2): test/go/crypto11 configures by token label and PIN, makes a P-256 key pair with an id and a label, finds it, signs a digest; ecdsa.VerifyASN1 and node:crypto both accept the signature.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P11_CLIENT, p11Workspace, type P11Workspace } from '../helpers/pkcs11.ts';
import { run } from '../helpers/openssh.ts';
import { ROOT, SIM_LABEL, SIM_USER_PIN } from '../helpers/sim.ts';
import { publicKeyToPem } from '../../host/pubkey-format.ts';
import { Alg } from '../../firmware/protocol/index.ts';

let w: P11Workspace;
beforeAll(async () => {
  w = await p11Workspace('tinyhsm-p11go-');
}, 60_000);
afterAll(async () => {
  await w?.close();
});

describe('crypto11 via p11-kit-client.so', () => {
  it('GenerateECDSAKeyPairWithLabel, FindKeyPair, Sign: ecdsa.VerifyASN1 and node:crypto accept', async () => {
    const started = Date.now();
    const r = await run('go', ['run', join(ROOT, 'test', 'go', 'crypto11', 'main.go')], {
      env: {
        ...w.env,
        GO111MODULE: 'off',
        GOPATH: '/usr/share/gocode',
        GOFLAGS: '',
        // its own build cache, so the test does not depend on $HOME (go refuses to build without one); kept between runs
        GOCACHE: process.env.GOCACHE || join(tmpdir(), 'tinyhsm-go-build'),
        P11_MODULE: P11_CLIENT,
        P11_TOKEN_LABEL: SIM_LABEL,
        P11_PIN: SIM_USER_PIN,
        P11_KEY_ID: '7e1e9047',
        P11_KEY_LABEL: 'teleport',
      },
      timeoutMs: 170_000,
    });
    const seconds = (Date.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { publicKey: string; digest: string; signature: string; verified: boolean; found: boolean };
    expect(out.verified).toBe(true);
    expect(out.found).toBe(true);
    // an independent check of the same signature, and its negative side
    const key = createPublicKey(publicKeyToPem(Alg.ECDSA_P256, Buffer.from(out.publicKey, 'hex')));
    const message = Buffer.from('signed by crypto11 through p11-kit-client.so');
    expect(out.digest).toBe(createHash('sha256').update(message).digest('hex'));
    const sig = Buffer.from(out.signature, 'hex');
    const check = (m: Buffer) => nodeVerify('sha256', m, { key, dsaEncoding: 'der' }, sig);
    expect(check(message)).toBe(true);
    expect(check(Buffer.from('another message'))).toBe(false);
    // the key is on the device under the id and label crypto11 gave
    const list = await w.tool(['--login', '--pin', SIM_USER_PIN, '-O', '--type', 'privkey']);
    expect(list.stdout).toMatch(/label:\s+teleport\n\s+ID:\s+7e1e9047\n\s+Usage:\s+sign\n\s+Access:\s+sensitive, always sensitive, never extractable, local/);
    console.log(`go run of test/go/crypto11 took ${seconds.toFixed(1)} s`);
  }, 180_000);
});

// A 50 MB file signed through a device bundle in constant memory: the Ed25519 signature (streamed twice through the device, docs/protocol.md §4.1) verified by `openssl pkeyutl -verify -rawin`, the ECDSA one (hashed on the host) by `openssl dgst -verify`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileSource } from '../../host/index.ts';
import { publicKeyToPem } from '../../host/pubkey-format.ts';
import { rawSignatureToDer } from '../../host/signature-format.ts';
import { SIM_LOGIN, inProcessSims } from '../helpers/sim.ts';
import { setSpyEnabled } from '../helpers/secret-spy.ts';

const sims = inProcessSims();
// The response scan (test/setup/secret-scan.ts) keeps every inner answer of the file for its scan at the end: for
// 52,000 chunk answers that is the very memory this file measures. test/integration/sign-stream.test.ts streams
// with the scan on.
beforeAll(() => setSpyEnabled(false));
const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-large-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SIZE = 50 * 1024 * 1024;
const file = join(dir, 'big.bin');
{
  // written in 1 MiB pieces, so the test's own memory stays small too
  const fd = openSync(file, 'w');
  for (let i = 0; i < SIZE / (1 << 20); i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
}

function openssl(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status, out: (r.stdout || '') + (r.stderr || '') };
}

// a full collection on demand, so that what is measured is what is held, not garbage not yet collected
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What this process holds after a full collection: JS heap and ArrayBuffers, host and simulated device alike. */
function held(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('a 50 MB file', () => {
  it('Ed25519: streamed through the device in constant memory; openssl pkeyutl -verify -rawin accepts the signature', { timeout: 240_000 }, async () => {
    const c = sims.client(await sims.boot(), { login: SIM_LOGIN });
    const { keyId, publicKey } = await c.generateKey('ed25519', 'large');
    const base = held();
    let peak = 0;
    let calls = 0;
    const sig = await c.sign(
      keyId,
      { message: fileSource(file) },
      {
        onProgress: () => {
          if (++calls % 5000 === 0) peak = Math.max(peak, held() - base);
        },
      },
    );
    // 50 MB went through three times (host SHA-256, device passes 1 and 2), and what was held stayed flat at about 1–3 MB
    // over the run (stream buffers, compiled code), under a tenth of the file; holding the message would be 50 MB
    expect(calls).toBeGreaterThan(50_000);
    expect(peak).toBeLessThan(SIZE / 10);
    writeFileSync(join(dir, 'ed.pem'), publicKeyToPem(1, publicKey));
    writeFileSync(join(dir, 'ed.sig'), sig);
    const v = openssl(['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'ed.pem'), '-rawin', '-in', file, '-sigfile', join(dir, 'ed.sig')]);
    expect(v.out).toMatch(/Signature Verified Successfully/);
    // and not some other file's
    const flipped = Uint8Array.from(sig);
    flipped[40] ^= 1;
    writeFileSync(join(dir, 'bad.sig'), flipped);
    expect(openssl(['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'ed.pem'), '-rawin', '-in', file, '-sigfile', join(dir, 'bad.sig')]).out).not.toMatch(
      /Signature Verified Successfully/,
    );
  });

  it('ECDSA P-256: hashed on the host, signed on the device; openssl dgst -sha256 -verify accepts it', { timeout: 120_000 }, async () => {
    const c = sims.client(await sims.boot(), { login: SIM_LOGIN });
    const { keyId, publicKey } = await c.generateKey('ecdsa-p256', 'large-ec');
    const sig = await c.sign(keyId, { message: fileSource(file) });
    writeFileSync(join(dir, 'ec.pem'), publicKeyToPem(2, publicKey));
    writeFileSync(join(dir, 'ec.der'), rawSignatureToDer(sig));
    const v = openssl(['dgst', '-sha256', '-verify', join(dir, 'ec.pem'), '-signature', join(dir, 'ec.der'), file]);
    expect(v.out).toMatch(/Verified OK/);
  });
});

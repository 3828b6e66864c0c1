// Powers on the 12,000-JsVar Espruino twin with dist/tinyhsm-espruino.js and drives INFO, ECHO and RANDOM through HsmClient over its USB link.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmClient } from '../../host/client.ts';
import { espruino12000 } from './espruino.ts';
import type { EngineDevice } from './engine.ts';

const why = espruino12000.unavailable();
const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-espruino-test-'));
let device: EngineDevice | undefined;

afterAll(async () => {
  if (device) console.log(`${espruino12000.name}:`, JSON.stringify(await device.powerOff()));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(why !== undefined)(`${espruino12000.name}${why ? ` (skipped: ${why})` : ''}`, () => {
  it('answers INFO, ECHO and RANDOM', { timeout: 120_000 }, async () => {
    device = await espruino12000.powerOn({ flashFile: join(dir, 'flash.bin') });
    const client = new HsmClient(device.transport, { timeoutMs: 20_000, retries: 1, knownDevices: null, trust: true, closeOnExit: false });
    try {
      const info = await client.info();
      expect(info, device.diagnostics()).toBeTruthy();
      const data = new Uint8Array([0, 1, 2, 3, 4, 0x03, 0x04, 0xff]);
      expect(await client.echo(data)).toEqual(data);
      // RANDOM needs a session, and a session needs X25519/Ed25519, which Espruino (no BigInt) lacks (docs/session.md)
      await expect(client.random(16)).rejects.toThrow();
    } catch (e) {
      throw new Error(`${String(e)}\n--- ${espruino12000.name} console ---\n${device.diagnostics()}`);
    }
  });
});

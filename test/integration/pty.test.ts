// `tinyhsm sim --pty`: a real pseudo-terminal that serialport opens exactly as it opens a board; keys, signatures checked by node:crypto.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { FrameReader, FrameType, cborEncode, encodeFrame, toHex } from '../../firmware/protocol/index.ts';
import { HsmClient, HsmError, SerialTransport, algName, discoverDevices } from '../../host/index.ts';
import { ROOT, SIM_LOGIN, spawnSim, verifyWithNode, type SimProcess } from '../helpers/sim.ts';

let sim: SimProcess;
let pty: string;

beforeAll(async () => {
  sim = await spawnSim(['--pty']);
  pty = sim.json.pty as string;
});
afterAll(async () => {
  if (sim) await sim.stop('SIGKILL');
});

describe('tinyhsm sim --pty', () => {
  it('prints exactly {"pty": PATH} first, and PATH is a character device', () => {
    expect(Object.keys(sim.json)).toEqual(['pty']);
    expect(pty).toMatch(/^\/dev\/(pts\/\d+|ttys\d+)$/);
    expect(statSync(pty).isCharacterDevice()).toBe(true);
  });

  it('HsmClient opens the pty with serialport; INFO lists the four algorithms', async () => {
    const client = await HsmClient.open(pty, { trust: true });
    try {
      expect(client.transport).toBeInstanceOf(SerialTransport);
      const info = await client.info();
      expect(info.platform).toBe('node-sim');
      expect(info.algorithms.map(algName).sort()).toEqual(['ecdsa-p256', 'ecdsa-secp256k1', 'ed25519', 'x25519']);
    } finally {
      await client.close();
    }
  });

  it('generates Ed25519 and P-256 keys and signs; node:crypto verifies; keys outlive the connection', async () => {
    const message = new TextEncoder().encode('signed over a real pty');
    const made: { alg: 'ed25519' | 'ecdsa-p256'; keyId: number; publicKey: Uint8Array }[] = [];
    // spawnSim INITed the device; a client without the user PIN is refused key use (docs/security.md §2)
    let client = await HsmClient.open(pty, { trust: true });
    try {
      const e = await client.generateKey('ed25519', 'no login').then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(HsmError);
      expect((e as HsmError).code).toBe('LOGIN_REQUIRED');
      expect((await client.info()).slotsUsed).toBe(0);
    } finally {
      await client.close();
    }
    client = await HsmClient.open(pty, { trust: true, login: SIM_LOGIN });
    try {
      for (const alg of ['ed25519', 'ecdsa-p256'] as const) {
        const k = await client.generateKey(alg, 'pty');
        const sig = await client.sign(k.keyId, { message });
        expect(verifyWithNode(alg, k.publicKey, message, sig), alg).toBe(true);
        made.push({ alg, ...k });
      }
    } finally {
      await client.close();
    }
    // a second connection (another process would do the same) sees the same device and keys
    client = await HsmClient.open(pty, { trust: true, login: SIM_LOGIN });
    try {
      const listed = await client.listKeys();
      for (const m of made) expect(listed.some((k) => k.keyId === m.keyId && toHex(k.publicKey) === toHex(m.publicKey))).toBe(true);
      const sig = await client.sign(made[1].keyId, { message });
      expect(verifyWithNode('ecdsa-p256', made[1].publicKey, message, sig)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('is a raw link: every byte value crosses unchanged, and noise before a frame is ignored', async () => {
    // written with serialport directly, as a board's host program would
    const port = new SerialPort({ path: pty, baudRate: 115200, autoOpen: false });
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    try {
      const data = Uint8Array.from({ length: 256 }, (_, i) => i); // includes 0x03, 0x0a, 0x0d, 0x11, 0x13, 0x7f
      const body = new Uint8Array([0x02, ...cborEncode(new Map([[1, data]]))]);
      const reader = new FrameReader(65535);
      const answer = new Promise<Uint8Array>((res) =>
        port.on('data', (b: Buffer) => {
          for (const ev of reader.push(b)) if (ev.kind === 'frame' && ev.frame.seq === 0x4242 && ev.frame.type === FrameType.RESPONSE) res(ev.frame.body);
        }),
      );
      port.write(Buffer.from('line noise \x03\r\n\x00'));
      port.write(Buffer.from(encodeFrame(FrameType.REQUEST, 0x4242, body)));
      const got = await answer;
      expect(got[0]).toBe(0); // OK
      expect(toHex(got.subarray(1))).toBe(toHex(cborEncode(new Map([[1, data]]))));
    } finally {
      await new Promise<void>((res) => port.close(() => res()));
    }
  });

  it('discovery confirms the pty as a tinyhsm with INFO', async () => {
    const found = await discoverDevices({ candidates: [pty], timeoutMs: 1500 });
    expect(found.length).toBe(1);
    expect(found[0].path).toBe(pty);
    expect(found[0].linkMode).toBe('binary');
    expect(found[0].platform).toBe('node-sim');
    const client = await HsmClient.open(pty, { trust: true });
    try {
      expect(found[0].deviceId).toBe(toHex((await client.info()).deviceId));
    } finally {
      await client.close();
    }
  });

  it('SIGTERM ends it cleanly: exit 0, and the pty is gone', async () => {
    // devpts stamps a pty's ctime when it is allocated: a test file running beside this one may open a new pty
    // that gets the freed number, which is a different device, not ours left open
    const born = statSync(pty, { bigint: true }).ctimeNs;
    const r = await sim.stop('SIGTERM');
    expect(r).toEqual({ code: 0, signal: null });
    const after = statSync(pty, { bigint: true, throwIfNoEntry: false })?.ctimeNs;
    expect(after === undefined || after !== born).toBe(true); // the re-executed child closed it too
  });
});

describe('tinyhsm sim --pty --armor (the Kaluma link)', () => {
  it('serves the text armor; "armor:PATH" opens it and discovery finds it in armor mode', async () => {
    const p = await spawnSim(['--pty', '--armor']);
    try {
      const path = p.json.pty as string;
      const client = await HsmClient.open('armor:' + path, { trust: true, login: SIM_LOGIN });
      expect(client.transport.mode).toBe('armor');
      const k = await client.generateKey('ed25519');
      const message = new Uint8Array([0x03, 0x0a, 0x00]);
      expect(verifyWithNode('ed25519', k.publicKey, message, await client.sign(k.keyId, { message }))).toBe(true);
      await client.close();
      const found = await discoverDevices({ candidates: [path], timeoutMs: 1500 });
      expect(found.map((d) => [d.path, d.linkMode])).toEqual([[path, 'armor']]);
    } finally {
      expect(await p.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    }
  });
});

describe('tinyhsm sim --pty through each entry point', () => {
  // the re-exec must work however the CLI was started: bin/tinyhsm.js, dist/cli.js (both made by `npm run build`)
  for (const entry of [join(ROOT, 'bin', 'tinyhsm.js'), join(ROOT, 'dist', 'cli.js')]) {
    it.runIf(existsSync(join(ROOT, 'dist', 'cli.js')))(`node ${entry.slice(ROOT.length + 1)} sim --pty, then SIGINT`, async () => {
      const p = await spawnSim(['--pty', '--seed', 'c0ffee'], { cli: entry }).catch((e: Error) => {
        // dist/cli.js only exports main(); run directly it must also call it when it is the entry module
        throw new Error(`${entry} did not start the simulator (does it run main() when executed directly?): ${e.message}`);
      });
      try {
        const client = await HsmClient.open(p.json.pty as string, { trust: true });
        const info = await client.info();
        await client.close();
        expect(info.deviceId).toHaveLength(16);
      } finally {
        expect(await p.stop('SIGINT')).toEqual({ code: 0, signal: null });
      }
    });
  }
});

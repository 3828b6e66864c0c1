// The simulator in-process: the built bundle in an isolated context, every command through HsmClient, results checked by node:crypto and cbor-x.
import { afterEach, describe, expect, it } from 'vitest';
import { createECDH, createHash, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { Decoder, Encoder } from 'cbor-x';
import { ALG_NAMES, Capability, Command, FrameReader, FrameType, Origin, STATUS_HINTS, Status, cborDecode, toHex } from '../../firmware/protocol/index.ts';
import { HsmClient, HsmError, InProcessTransport, algName } from '../../host/index.ts';
import { SIM_SO_PIN, SIM_USER_PIN, asSo, startInProcess, verifyWithNode, type InProcessHandle } from '../helpers/sim.ts';

// the group order n of P-256 and secp256k1, for the low-S check (SEC 2 §2.4.1 and §2.4.2)
const N_P256 = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const N_K256 = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const open: InProcessHandle[] = [];
async function start(...args: Parameters<typeof startInProcess>): Promise<InProcessHandle> {
  const h = await startInProcess(...args);
  open.push(h);
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) {
    // a firmware exception escaping into the board would be a firmware bug
    expect(h.sim.deviceFaults).toEqual([]);
    await h.close();
  }
});

const big = (b: Uint8Array) => BigInt('0x' + toHex(b));

/** The settled outcome of a call, attached at once: a rejection is never left unhandled, even if an assertion fails first. */
const outcome = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (x: unknown) => x,
  );

describe('simulator, in-process', () => {
  it('runs the firmware with board globals only: nothing of Node reaches the device', async () => {
    const { sim } = await start();
    const names = sim.globalNames();
    expect(names).toContain('board');
    expect(names).toContain('Uint8Array');
    for (const node of [
      'process',
      'require',
      'module',
      'Buffer',
      'global',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'queueMicrotask',
      'TextEncoder',
      'fetch',
      'performance',
    ])
      expect(names, node).not.toContain(node);
    // the RNG shim the firmware installed from board.random (noble's blinding needs it)
    expect(names).toContain('crypto');
  });

  it('answers INFO as the node simulator with the four algorithms', async () => {
    const { client } = await start();
    const info = await client.info();
    expect(info.platform).toBe('node-sim');
    expect(info.protocolVersion).toBe(1);
    expect(info.deviceId).toHaveLength(16);
    expect(info.maxPacket).toBe(2048);
    expect(info.algorithms.map(algName).sort()).toEqual(['ecdsa-p256', 'ecdsa-secp256k1', 'ed25519', 'x25519']);
    expect(info.selftestFailures).toBeUndefined();
    expect(info.slotsUsed).toBe(0);
    expect(info.slotsFree).toBeGreaterThan(0);
  });

  it('signs with generated keys; node:crypto verifies Ed25519, P-256 and secp256k1 signatures', async () => {
    const { client } = await start();
    const message = new TextEncoder().encode('tinyhsm in-process signing test');
    for (const alg of ['ed25519', 'ecdsa-p256', 'ecdsa-secp256k1'] as const) {
      const { keyId, publicKey } = await client.generateKey(alg, `sig-${alg}`);
      const sig = await client.sign(keyId, { message });
      expect(sig).toHaveLength(64);
      expect(verifyWithNode(alg, publicKey, message, sig), alg).toBe(true);
      // a different message must not verify (the check is not vacuous)
      expect(verifyWithNode(alg, publicKey, new TextEncoder().encode('another message'), sig), alg).toBe(false);
      if (alg !== 'ed25519') {
        const n = alg === 'ecdsa-p256' ? N_P256 : N_K256;
        expect(big(sig.subarray(32)) <= n / 2n, `${alg} low-S`).toBe(true);
        // the digest form: the device signs the given SHA-256 digest, node:crypto hashes the message itself
        const digest = createHash('sha256').update(message).digest();
        const sig2 = await client.sign(keyId, { digest: new Uint8Array(digest) });
        expect(verifyWithNode(alg, publicKey, message, sig2), `${alg} digest`).toBe(true);
      }
    }
  });

  it('derives the same ECDH secrets as node:crypto (X25519 and P-256)', async () => {
    const { client } = await start();
    const x = await client.generateKey('x25519');
    const peer = generateKeyPairSync('x25519');
    const peerRaw = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    const devRaw = Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), Buffer.from(x.publicKey)]);
    const expected = diffieHellman({
      privateKey: peer.privateKey,
      publicKey: createPublicKey({ key: devRaw, format: 'der', type: 'spki' }),
    });
    expect(toHex(await client.ecdh(x.keyId, peerRaw))).toBe(expected.toString('hex'));

    // a P-256 key only signs unless it is made with `derive` (docs/security.md §6): the default key is refused ECDH
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const signOnly = await client.generateKey('ecdsa-p256');
    const denied = await outcome(client.ecdh(signOnly.keyId, new Uint8Array(ecdh.getPublicKey())));
    expect(denied).toBeInstanceOf(HsmError);
    expect((denied as HsmError).code).toBe('POLICY_DENIED');
    const p = await client.generateKey('ecdsa-p256', 'kex', { capabilities: ['derive'] });
    const secret = await client.ecdh(p.keyId, new Uint8Array(ecdh.getPublicKey()));
    expect(toHex(secret)).toBe(ecdh.computeSecret(Buffer.from(p.publicKey)).toString('hex'));
  });

  it('imports, lists, reads and deletes keys; a deleted key is KEY_NOT_FOUND with its hint', async () => {
    const { client } = await start();
    // an Ed25519 key made by node:crypto: the device must derive the same public key from its seed
    const kp = generateKeyPairSync('ed25519');
    const jwk = kp.privateKey.export({ format: 'jwk' });
    const seed = new Uint8Array(Buffer.from(jwk.d as string, 'base64url'));
    // KEY_IMPORT needs the SO role (docs/security.md §2): the user's session is refused and nothing is stored
    const refused = await outcome(client.importKey('ed25519', seed, 'from node'));
    expect(refused).toBeInstanceOf(HsmError);
    expect((refused as HsmError).code).toBe('WRONG_ROLE');
    expect(await client.listKeys()).toEqual([]);
    const imported = await asSo(client, () => client.importKey('ed25519', seed, 'from node'));
    expect(Buffer.from(imported.publicKey).toString('base64url')).toBe(jwk.x);
    const gen = await client.generateKey('x25519', 'kex');

    const keys = await client.listKeys();
    expect(keys.map((k) => [k.keyId, ALG_NAMES[k.alg], k.label, k.origin])).toEqual([
      [imported.keyId, 'ed25519', 'from node', Origin.IMPORTED],
      [gen.keyId, 'x25519', 'kex', Origin.GENERATED],
    ]);
    // KEY_PUBLIC now also carries the label, origin and policy (docs/protocol.md §4, docs/security.md §6): an x25519 key derives by default
    expect(await client.publicKey(gen.keyId)).toEqual({
      alg: 4,
      publicKey: gen.publicKey,
      label: 'kex',
      origin: Origin.GENERATED,
      capabilities: Capability.DERIVE,
      sensitive: true,
      touch: false,
      neverExtractable: true,
      local: true,
    });

    await client.deleteKey(imported.keyId);
    expect((await client.listKeys()).map((k) => k.keyId)).toEqual([gen.keyId]);
    const e = await client.sign(imported.keyId, { message: new Uint8Array(1) }).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(HsmError);
    const he = e as HsmError;
    expect(he.status).toBe(Status.KEY_NOT_FOUND);
    expect(he.statusName).toBe('KEY_NOT_FOUND');
    expect(he.code).toBe('KEY_NOT_FOUND');
    expect(he.hint).toBe(STATUS_HINTS.KEY_NOT_FOUND);
    expect(he.deviceMessage).toMatch(String(imported.keyId));
    expect(he.message).toBe(`KEY_NOT_FOUND: ${he.deviceMessage} (${STATUS_HINTS.KEY_NOT_FOUND})`);
    expect(he.command).toBe('SIGN');
    // no private byte ever crosses back: the seed is not in any error text
    expect(he.message).not.toContain(toHex(seed));
  });

  it('turns every device refusal into an HsmError with the right status', async () => {
    const { client } = await start();
    const x = await client.generateKey('x25519');
    const p = await client.generateKey('ecdsa-p256');
    // all queued at once, as before; outcome() attaches a handler to each right away, so when one assertion fails the
    // requests still queued behind it do not end as unhandled rejections
    const cases: [Promise<unknown>, keyof typeof Status][] = [
      [client.sign(x.keyId, { message: new Uint8Array(3) }), 'OPERATION_NOT_PERMITTED'],
      // a P-256 key made without `derive` (docs/security.md §6)
      [client.ecdh(p.keyId, p.publicKey), 'POLICY_DENIED'],
      // KEY_IMPORT in a user session: the gate refuses it before the bad key is looked at (docs/security.md §2)
      [client.importKey('ecdsa-p256', new Uint8Array(32), 'zero'), 'WRONG_ROLE'],
      [client.generateKey(77), 'UNSUPPORTED_ALGORITHM'],
      [client.call(0x7f, new Map()), 'INVALID_COMMAND'],
      [
        client.call(
          Command.RANDOM,
          new Map([
            [1, 5],
            [9, 1],
          ]),
        ),
        'UNKNOWN_PARAMETER',
      ],
      [client.call(Command.RANDOM, {}), 'MISSING_PARAMETER'],
      [client.random(5000), 'INVALID_PARAMETER'],
    ].map(([q, status]) => [outcome(q as Promise<unknown>), status as keyof typeof Status]);
    const check = (e: unknown, status: keyof typeof Status) => {
      expect(e, status).toBeInstanceOf(HsmError);
      expect((e as HsmError).statusName, status).toBe(status);
      expect((e as HsmError).status).toBe(Status[status]);
    };
    for (const [q, status] of cases) check(await q, status);
    // the SO's import of a zero scalar gets past the gate, and the key itself is refused (after the queue above: a
    // role switch must not overtake requests already made in the user's role)
    check(await asSo(client, () => outcome(client.importKey('ecdsa-p256', new Uint8Array(32), 'zero'))), 'INVALID_KEY');
    // and none of them changed the store
    expect((await client.listKeys()).map((k) => k.keyId)).toEqual([x.keyId, p.keyId]);
  });

  it('echoes and serves random bytes', async () => {
    const { client } = await start();
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    expect(await client.echo(data)).toEqual(data);
    const r = await client.random(64);
    expect(r).toHaveLength(64);
    expect(toHex(r)).not.toBe(toHex(await client.random(64)));
  });

  it('is reproducible with a seed, and different without', async () => {
    const a = await start({ seed: '00112233' });
    const b = await start({ seed: '00112233' });
    const c = await start({ seed: '00112234' });
    const d = await start();
    const [ia, ib, ic, id] = await Promise.all([a, b, c, d].map((h) => h.client.info()));
    expect(toHex(ia.deviceId)).toBe(toHex(ib.deviceId));
    expect(toHex(ia.deviceId)).not.toBe(toHex(ic.deviceId));
    expect(toHex(ia.deviceId)).not.toBe(toHex(id.deviceId));
    const ka = await a.client.generateKey('ed25519');
    const kb = await b.client.generateKey('ed25519');
    expect(toHex(ka.publicKey)).toBe(toHex(kb.publicKey));
    expect(toHex(await a.client.random(32))).toBe(toHex(await b.client.random(32)));
  });

  it('reboot re-runs the bundle: RAM keys are gone, the device answers again', async () => {
    const { sim, client } = await start();
    const before = await client.info();
    await client.generateKey('ed25519');
    expect((await client.listKeys()).length).toBe(1);
    sim.reboot();
    expect(sim.bootCount).toBe(2);
    const after = await client.info();
    expect(after.slotsUsed).toBe(0);
    expect(toHex(after.deviceId)).not.toBe(toHex(before.deviceId)); // without flash, every boot is a new device
    // so the client that opened a session with the old identity refuses the new one (docs/session.md §9)
    await expect(client.listKeys()).rejects.toMatchObject({ code: 'IDENTITY_CHANGED', message: expect.stringMatching(/another device answers/) });
    const fresh = new HsmClient(new InProcessTransport(sim, false));
    try {
      // the new device is factory-new: its PINs went with the RAM store, so nothing is listed before INIT
      expect(after.initialized).toBe(false);
      await expect(fresh.listKeys()).rejects.toMatchObject({ code: 'NOT_INITIALIZED' });
      await fresh.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN });
      await fresh.login('user', SIM_USER_PIN);
      expect(await fresh.listKeys()).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it('speaks the text armor when the board does (Kaluma mode)', async () => {
    const { sim, client } = await start({ linkMode: 'armor' });
    const lines: string[] = [];
    sim.onWire((dir, b) => {
      if (dir === 'toHost') lines.push(Buffer.from(b).toString('latin1'));
    });
    const k = await client.generateKey('ed25519');
    const message = new Uint8Array([1, 2, 3]);
    expect(verifyWithNode('ed25519', k.publicKey, message, await client.sign(k.keyId, { message }))).toBe(true);
    expect(lines.join('')).toMatch(/^(\*[A-Za-z0-9+/=]+\r?\n)+$/);
  });

  it('passes the board a larger packet size when asked', async () => {
    const { client } = await start({ maxPacket: 4096 });
    expect((await client.info()).maxPacket).toBe(4096);
  });

  it('has a button tests can press and an LED the firmware drives', async () => {
    const { sim } = await start();
    expect(sim.buttonPressed).toBe(false);
    sim.setButton(true);
    expect(sim.buttonPressed).toBe(true);
    sim.setButton(false);
    sim.pressButton(10_000);
    expect(sim.buttonPressed).toBe(true);
    sim.setButton(false);
    expect(sim.buttonPressed).toBe(false);
    expect(typeof sim.led).toBe('boolean');
  });

  it('an aborted request rejects at once, and the client goes on working', async () => {
    const { sim, client } = await start({}, { timeoutMs: 60_000 });
    sim.faults.dropFrames(1, 'toHost'); // the answer never comes: only the abort can end this call
    const ac = new AbortController();
    const pending = client.generateKey('ed25519', undefined, { signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await expect(pending).rejects.toMatchObject({ name: 'HsmError', code: 'ABORTED' });
    expect((await client.info()).platform).toBe('node-sim');
  });

  it('HsmClient.open: "sim" and HSM_DEVICE boot an in-process simulator; a missing path is NO_DEVICE', async () => {
    const { nodeBundle } = await import('../helpers/sim.ts');
    const { HsmClient, InProcessTransport, discoverDevices } = await import('../../host/index.ts');
    const bundlePath = await nodeBundle();
    const a = await HsmClient.open('sim', { seed: '01', bundlePath });
    expect(a.transport).toBeInstanceOf(InProcessTransport);
    const saved = process.env.HSM_DEVICE;
    process.env.HSM_DEVICE = 'sim';
    try {
      const b = await HsmClient.open(undefined, { seed: '01', bundlePath });
      expect(toHex((await b.info()).deviceId)).toBe(toHex((await a.info()).deviceId));
      await b.close();
      await expect(HsmClient.open('/dev/does-not-exist')).rejects.toMatchObject({ code: 'NO_DEVICE' });
      delete process.env.HSM_DEVICE;
      // nothing given, nothing set: discovery; on a machine without boards that is a clear NO_DEVICE
      if ((await discoverDevices({ timeoutMs: 300 })).length === 0)
        await expect(HsmClient.open()).rejects.toMatchObject({ code: 'NO_DEVICE', message: expect.stringMatching(/HSM_DEVICE/) });
    } finally {
      if (saved === undefined) delete process.env.HSM_DEVICE;
      else process.env.HSM_DEVICE = saved;
      await a.close();
    }
  });

  it('every request decodes with cbor-x to the same map, and cbor-x re-encodes every response byte for byte', async () => {
    const { sim, client } = await start();
    const readers = { toDevice: new FrameReader(65535), toHost: new FrameReader(65535) };
    const frames: { dir: 'toDevice' | 'toHost'; type: number; body: Uint8Array }[] = [];
    sim.onWire((dir, bytes) => {
      for (const ev of readers[dir].push(bytes)) if (ev.kind === 'frame') frames.push({ dir, type: ev.frame.type, body: ev.frame.body });
    });
    const message = new Uint8Array([9, 8, 7]);
    await client.info();
    await client.echo(new Uint8Array(40).fill(0xab));
    await client.random(24);
    const ed = await client.generateKey('ed25519', 'ünïcode label');
    // an SO import (LOGOUT + LOGIN there and back), with `derive` so the ECDH below is allowed (docs/security.md §6)
    const ec = await asSo(client, () => client.importKey('ecdsa-p256', new Uint8Array(32).fill(3), undefined, { capabilities: ['sign', 'derive'] }));
    await client.generateKey('x25519');
    await client.listKeys();
    await client.publicKey(ec.keyId);
    await client.sign(ed.keyId, { message });
    await client.sign(ec.keyId, { digest: new Uint8Array(32).fill(1) });
    await client.ecdh(ec.keyId, ec.publicKey);
    await client.deleteKey(ed.keyId);
    await client.sign(ed.keyId, { message }).catch(() => {}); // an error response too

    const cborx = new Decoder({ mapsAsObjects: false, useRecords: false });
    const canonical = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
    const plain = (v: unknown): unknown =>
      v instanceof Uint8Array ? { bytes: toHex(v) } : v instanceof Map ? [...v.entries()].map(([k, x]) => [k, plain(x)]) : Array.isArray(v) ? v.map(plain) : v;
    const requests = frames.filter((f) => f.dir === 'toDevice' && f.type === FrameType.REQUEST);
    const responses = frames.filter((f) => f.dir === 'toHost' && f.type === FrameType.RESPONSE);
    // 13 commands and the two role switches around the import (LOGOUT + LOGIN each); the session was opened (INIT,
    // LOGIN) before the wire was watched. Every gated one travels as a SESSION_MESSAGE envelope, so here the outer
    // maps are checked (inner bodies are sealed; the device tests check those)
    expect(requests.length).toBe(17);
    expect(responses.length).toBe(17);
    expect(requests.filter((f) => f.body[0] === Command.SESSION_MESSAGE).length).toBe(15);
    for (const f of requests) {
      const payload = f.body.subarray(1);
      const ours = cborDecode(payload);
      expect(ours.ok).toBe(true);
      expect(plain(cborx.decode(Buffer.from(payload)))).toEqual(plain((ours as { value: unknown }).value));
    }
    for (const f of responses) {
      const payload = f.body.subarray(1);
      expect(toHex(canonical.encode(cborx.decode(Buffer.from(payload))))).toBe(toHex(payload));
    }
  });
});

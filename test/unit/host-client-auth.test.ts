// HsmClient with roles against the real firmware (in-process, and one child process on a pty): init, login, logging in again in a new session, the kept PIN wiped, change-pin, unblock, policy, attestation verified, touch with keepalives and cancel, and the session closed at process exit (docs/security.md §3–§8).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { Command, FrameReader, FrameType } from '../../firmware/protocol/index.ts';
import { HsmClient, type KeepaliveEvent } from '../../host/index.ts';
import { Simulator, SimFlash } from '../../sim/index.ts';
import { ROOT, SIM_SO_PIN, SIM_USER_PIN, freshKnownDevices, inProcessSims, spawnSim, verifyWithNode } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const sims = inProcessSims();
const { client } = sims;

/** A simulator on a 16-page flash, INITed (label 'auth') unless `init` is false. */
const boot = (opts: { seed?: string; init?: boolean } = {}): Promise<Simulator> =>
  sims.boot({ flash: SimFlash.memory({ pages: 16 }), seed: opts.seed }, opts.init === false ? false : { label: 'auth' });

/** Requests of one command code sent in the clear, and envelopes (SESSION_MESSAGE), as seen on the link. */
function record(sim: Simulator): { opens: () => number; envelopes: () => number } {
  const reader = new FrameReader(65535);
  const seen: number[] = [];
  sim.onWire((dir, bytes) => {
    if (dir !== 'toDevice') return;
    for (const ev of reader.push(bytes)) if (ev.kind === 'frame' && ev.frame.type === FrameType.REQUEST) seen.push(ev.frame.body[0]);
  });
  return { opens: () => seen.filter((c) => c === Command.SESSION_OPEN).length, envelopes: () => seen.filter((c) => c === Command.SESSION_MESSAGE).length };
}

/** The client's kept PIN buffer (private), to check that it is wiped. */
const kept = (c: HsmClient) => (c as unknown as { credentials?: { pin: Uint8Array } }).credentials;

const message = new TextEncoder().encode('signed by a logged-in client');

describe('HsmClient: init, login, and logging in again', () => {
  it('init, then nothing without login; login as user: keygen and sign (node:crypto verifies)', async () => {
    const sim = await boot({ init: false });
    const c = client(sim);
    expect((await c.info()).initialized).toBe(false);
    await c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN, label: 'lab' });
    expect(await c.info()).toMatchObject({ initialized: true, label: 'lab', userPinTries: 8, soPinTries: 8 });
    expect((await hsmFailure(c.generateKey('ed25519'))).code).toBe('LOGIN_REQUIRED'); // INIT does not log in
    await c.login('user', SIM_USER_PIN);
    expect(c.role).toBe('user');
    const k = await c.generateKey('ed25519', 'mine');
    expect(verifyWithNode('ed25519', k.publicKey, message, await c.sign(k.keyId, { message }))).toBe(true);
    expect((await hsmFailure(c.init({ userPin: SIM_USER_PIN, soPin: SIM_SO_PIN }))).code).toBe('ALREADY_INITIALIZED');
  });

  it('calls issued before a role switch reach the device before it, in the role they were made in', async () => {
    const sim = await boot();
    const c = client(sim);
    await c.login('user', SIM_USER_PIN);
    // not awaited in between: generateKey still waits for its session when login('so') starts
    const rnd = c.random(8);
    const gen = c.generateKey('ed25519', 'before the switch');
    const so = c.login('so', SIM_SO_PIN);
    const imported = c.importKey('x25519', new Uint8Array(32).fill(7), 'after the switch');
    expect((await rnd).length).toBe(8);
    const k = await gen; // as user: a user-only command
    await so;
    expect((await imported).keyId).toBeGreaterThan(k.keyId); // as SO: an SO-only command
    expect(c.role).toBe('so');
    const listed = await c.listKeys();
    expect(listed.map((e) => e.label)).toEqual(['before the switch', 'after the switch']);
  });

  it('a client with the login option logs in only when a command needs a role, and again after the device restarted', async () => {
    const sim = await boot();
    const wire = record(sim);
    const c = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
    await c.random(8); // needs a session, not a role
    expect([wire.opens(), wire.envelopes()]).toEqual([1, 1]);
    const k = await c.generateKey('ecdsa-p256');
    expect([wire.opens(), wire.envelopes()]).toEqual([1, 3]); // LOGIN, then KEY_GENERATE
    sim.reboot(); // sessions (and their roles) are gone; the key is in flash
    const sig = await c.sign(k.keyId, { message });
    expect(verifyWithNode('ecdsa-p256', k.publicKey, message, sig)).toBe(true);
    // SIGN refused as SESSION_INVALID, then SESSION_OPEN, LOGIN, SIGN: no LOGIN_REQUIRED ever reached the caller
    expect([wire.opens(), wire.envelopes()]).toEqual([2, 6]);
    expect((await c.info()).userPinTries).toBe(8); // the right PIN each time
  });

  it('logout and close wipe the kept PIN; after logout the session has no role', async () => {
    const sim = await boot();
    const c = client(sim);
    await c.login('user', SIM_USER_PIN);
    const pin = kept(c)!.pin;
    expect(Buffer.from(pin).toString()).toBe(SIM_USER_PIN);
    await c.logout();
    expect(pin.every((b) => b === 0)).toBe(true);
    expect(kept(c)).toBeUndefined();
    expect(c.role).toBeUndefined();
    expect((await hsmFailure(c.listKeys())).code).toBe('LOGIN_REQUIRED');
    await c.login('so', SIM_SO_PIN);
    expect(c.role).toBe('so');
    expect(await c.listKeys()).toEqual([]); // the SO may list
    // switching role logs out first (a session holds one role)
    await c.login('user', SIM_USER_PIN);
    expect((await hsmFailure(c.importKey('ed25519', new Uint8Array(32).fill(1)))).code).toBe('WRONG_ROLE');
    const pin2 = kept(c)!.pin;
    await c.close();
    expect(pin2.every((b) => b === 0)).toBe(true);
  });

  it('a PIN the device refuses when logging in again is forgotten at once: one try spent, not more', async () => {
    const sim = await boot();
    const a = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
    expect(await a.listKeys()).toEqual([]);
    // someone else changes the user PIN, then the device restarts
    await client(sim).changePin('user', SIM_USER_PIN, 'another-user-pin');
    sim.reboot();
    const e = await hsmFailure(a.listKeys());
    expect(e.code).toBe('PIN_INCORRECT');
    expect(kept(a)).toBeUndefined();
    expect((await hsmFailure(a.listKeys())).code).toBe('LOGIN_REQUIRED'); // not a second wrong try
    expect((await a.info()).userPinTries).toBe(7);
  });

  it('changePin logs in with the old PIN, keeps the new one, and logs in again with it after a restart', async () => {
    const sim = await boot();
    const c = client(sim);
    await c.changePin('user', SIM_USER_PIN, 'new-user-pin-22');
    expect(Buffer.from(kept(c)!.pin).toString()).toBe('new-user-pin-22');
    sim.reboot();
    expect(await c.listKeys()).toEqual([]);
    expect((await hsmFailure(client(sim).login('user', SIM_USER_PIN))).code).toBe('PIN_INCORRECT');
    await client(sim).login('user', 'new-user-pin-22');
  });

  it('a blocked user PIN: the SO unblocks it with a new one', async () => {
    const sim = await boot();
    for (let i = 0; i < 8; i++) {
      if (i % 3 === 0) sim.reboot(); // three wrong in a row need a power cycle
      const e = await hsmFailure(client(sim).login('user', 'wrong-pin-' + i));
      expect(e.code).toBe(i === 7 ? 'PIN_BLOCKED' : 'PIN_INCORRECT');
    }
    sim.reboot();
    expect((await hsmFailure(client(sim).login('user', SIM_USER_PIN))).code).toBe('PIN_BLOCKED');
    const so = client(sim);
    expect((await hsmFailure(so.unblock('unblocked-pin-1'))).code).toBe('LOGIN_REQUIRED');
    await so.login('so', SIM_SO_PIN);
    await so.unblock('unblocked-pin-1');
    expect((await so.info()).userPinTries).toBe(8);
    const u = client(sim);
    await u.login('user', 'unblocked-pin-1');
    expect(await u.listKeys()).toEqual([]);
  });
});

describe('HsmClient: policy and attestation', () => {
  it('creation policy, publicKey with its policy, tighten only', async () => {
    const sim = await boot();
    const c = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
    const k = await c.generateKey('ecdsa-p256', 'p', { capabilities: ['sign', 'derive', 'export-under-wrap'], touch: false });
    const pub = await c.publicKey(k.keyId);
    expect(pub).toMatchObject({ alg: 2, label: 'p', origin: 1, capabilities: 0x13, sensitive: true, touch: false, neverExtractable: false, local: true });
    expect(await c.keySetPolicy(k.keyId, { capabilities: ['derive'] })).toMatchObject({ capabilities: 0x02, neverExtractable: false });
    expect((await hsmFailure(c.keySetPolicy(k.keyId, { capabilities: ['sign', 'derive'] }))).code).toBe('POLICY_LOOSENING');
    expect((await hsmFailure(c.sign(k.keyId, { message }))).code).toBe('POLICY_DENIED');
    expect((await c.listKeys())[0]).toMatchObject({ keyId: k.keyId, capabilities: 0x02, touch: false });
  });

  it('keyAttest returns a statement verified against the pinned identity; node:crypto agrees independently', async () => {
    const sim = await boot({ seed: 'a77e57' });
    const known = freshKnownDevices();
    const c = client(sim, { knownDevices: known, trust: true, login: { role: 'user', pin: SIM_USER_PIN } });
    const info = await c.info();
    const k = await c.generateKey('ed25519', 'attested');
    const nonce = new Uint8Array(24).fill(0x5c);
    const a = await c.keyAttest(k.keyId, { nonce, publicKey: k.publicKey });
    expect(a).toMatchObject({ keyId: k.keyId, alg: 1, origin: 1, local: true, capabilities: 1 });
    expect(Buffer.from(a.nonce).equals(Buffer.from(nonce))).toBe(true);
    expect(Buffer.from(a.deviceId).equals(Buffer.from(info.deviceId))).toBe(true);
    expect(c.pinnedIdentity!.identityKey).toBe(Buffer.from(info.identityPublicKey!).toString('hex'));
    const identity = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(info.identityPublicKey!).toString('base64url') }, format: 'jwk' });
    expect(nodeVerify(null, Buffer.concat([Buffer.from('tinyhsm/attest/v1\0'), a.statementBytes]), identity, a.signature)).toBe(true);
    // fresh random nonce by default, a different statement each time
    const b = await c.keyAttest(k.keyId);
    expect(Buffer.from(b.nonce).equals(Buffer.from(a.nonce))).toBe(false);
    // the host checks what it asked: another public key expected → refused
    expect((await hsmFailure(c.keyAttest(k.keyId, { publicKey: new Uint8Array(32) }))).code).toBe('ATTESTATION_INVALID');
    // and it checks against the PINNED identity: with another key pinned, the same device's statement is refused
    (c as unknown as { pinned: { identityKey: string } }).pinned.identityKey = 'ab'.repeat(32);
    const e = await hsmFailure(c.keyAttest(k.keyId));
    expect(e.code).toBe('ATTESTATION_INVALID');
    expect(e.message).toContain('not signed by the pinned identity key ' + 'ab'.repeat(32));
  });

  it('an imported key (SO) attests as imported, not local', async () => {
    const sim = await boot();
    const so = client(sim, { login: { role: 'so', pin: SIM_SO_PIN } });
    const k = await so.importKey('ed25519', Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'));
    const a = await so.keyAttest(k.keyId);
    expect([a.origin, a.local]).toEqual([2, false]);
  });
});

describe('HsmClient: touch keys and cancel', () => {
  it('keepalives say the device waits for its button; a press lets the signature through', async () => {
    const sim = await boot();
    const c = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
    const k = await c.generateKey('ed25519', 'touch', { touch: true });
    const seen: KeepaliveEvent[] = [];
    const sig = await c.sign(
      k.keyId,
      { message },
      {
        onKeepalive: (e) => {
          seen.push(e);
          if (seen.length === 1) sim.pressButton();
        },
      },
    );
    expect(verifyWithNode('ed25519', k.publicKey, message, sig)).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toMatchObject({ command: 'SIGN', presence: true });
  });

  it('abort while the device waits: ABORTED at once, CANCEL sent, and the next request is served (not BUSY)', async () => {
    const sim = await boot();
    const reader = new FrameReader(65535);
    const cancels: number[] = [];
    sim.onWire((dir, b) => {
      if (dir === 'toDevice') for (const ev of reader.push(b)) if (ev.kind === 'frame' && ev.frame.type === FrameType.CANCEL) cancels.push(ev.frame.seq);
    });
    const c = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
    const k = await c.generateKey('ed25519', 'touch', { touch: true });
    const ac = new AbortController();
    const e = await hsmFailure(c.sign(k.keyId, { message }, { signal: ac.signal, onKeepalive: () => ac.abort() }));
    expect(e.code).toBe('ABORTED');
    expect(cancels).toHaveLength(1);
    expect((await c.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
    // and the key still signs after a press: the cancelled request left nothing behind
    const sig = await c.sign(k.keyId, { message }, { onKeepalive: () => sim.pressButton() });
    expect(verifyWithNode('ed25519', k.publicKey, message, sig)).toBe(true);
  });
});

describe('HsmClient: the session ends with the process', () => {
  it('closeSync() (what the exit hook runs) frees the device slot at once and wipes the PIN', async () => {
    const sim = await boot();
    const four = [];
    for (let i = 0; i < 4; i++) {
      const c = client(sim, { login: { role: 'user', pin: SIM_USER_PIN } });
      await c.listKeys();
      four.push(c);
    }
    expect((await hsmFailure(client(sim).random(1))).code).toBe('SESSION_LIMIT');
    const pin = kept(four[0])!.pin;
    four[0].closeSync();
    expect(pin.every((b) => b === 0)).toBe(true);
    expect((await client(sim).random(4)).length).toBe(4);
  });

  it('a process that exits, or dies of SIGTERM, without close() still closes its session on the device', async () => {
    const script = join(ROOT, 'tmp', 'sim-test-build', 'exit-client.mjs');
    await esbuild.build({
      stdin: {
        contents: `
          import { HsmClient } from './host/index.ts';
          const [device, how] = process.argv.slice(2);
          const c = await HsmClient.open(device, { knownDevices: null, login: { role: 'user', pin: ${JSON.stringify(SIM_USER_PIN)} } });
          await c.listKeys();
          process.stdout.write('listed\\n');
          if (how === 'exit') process.exit(0);
          else process.kill(process.pid, 'SIGTERM');
          setTimeout(() => {}, 10000);
        `,
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile: script,
      logLevel: 'silent',
    });
    for (const how of ['exit', 'signal']) {
      const sim = await spawnSim(['--pty']);
      try {
        const child = spawn(process.execPath, [script, sim.device, how], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.stderr!.on('data', (d: Buffer) => (err += d));
        const end = await new Promise<{ code: number | null; signal: string | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
        expect(out, err).toBe('listed\n');
        expect(end).toEqual(how === 'exit' ? { code: 0, signal: null } : { code: null, signal: 'SIGTERM' });
        // a serial port has one user at a time, so take all four session slots with raw SESSION_OPENs from one client.
        // Had the child's logged-in session stayed, the fourth open would have taken the slot of the first (the
        // oldest that never logged in, docs/session.md §6): the first must still be there, so the child's
        // SESSION_CLOSE arrived and freed its slot
        const c = await HsmClient.open(sim.device, { knownDevices: null, closeOnExit: false });
        try {
          const ids: number[] = [];
          for (let i = 0; i < 4; i++) {
            const hostEphemeral = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }).x as string;
            const r = await c.callClear(Command.SESSION_OPEN, { hostEphemeral: new Uint8Array(Buffer.from(hostEphemeral, 'base64url')) });
            expect(r.sessionId, `slot ${i + 1} after "${how}"`).toBeGreaterThan(0);
            ids.push(r.sessionId as number);
          }
          // an envelope with a wrong tag: a live session says SESSION_AUTH_FAILED, an evicted one SESSION_INVALID
          const probe = await hsmFailure(c.callClear(Command.SESSION_MESSAGE, { sessionId: ids[0], counter: 1, ciphertext: new Uint8Array(16) }));
          expect(probe.code, probe.message).toBe('SESSION_AUTH_FAILED');
        } finally {
          await c.close();
        }
      } finally {
        await sim.stop();
      }
    }
  });
});

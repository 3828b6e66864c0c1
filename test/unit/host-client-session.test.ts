// HsmClient's secure session against the real firmware in-process: opened by itself, pinned (file or memory), verified, sealed with rising counters, reopened once on SESSION_INVALID (and logged in again), closed and wiped (docs/session.md).
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, FrameReader, FrameType, cborDecode, encodeFrame, toHex, type Frame } from '../../firmware/protocol/index.ts';
import { HsmClient, InProcessTransport, type HostTransport } from '../../host/index.ts';
import { Simulator, SimFlash } from '../../sim/index.ts';
import { SIM_LOGIN, SIM_USER_PIN, freshKnownDevices, inProcessSims, verifyWithNode } from '../helpers/sim.ts';
import { hsmFailure } from '../helpers/hsm-error.ts';

const sims = inProcessSims();
const { track } = sims;

/** A simulator INITed with the test PINs, so clients with `login: SIM_LOGIN` can use keys. */
const boot = (opts: { seed?: string; flash?: SimFlash } = {}): Promise<Simulator> => sims.boot(opts);

interface WireFrame {
  dir: 'toDevice' | 'toHost';
  type: number;
  seq: number;
  body: Uint8Array;
}

/** Every frame on the simulator's link, decoded. */
function record(sim: Simulator): WireFrame[] {
  const seen: WireFrame[] = [];
  const readers = { toDevice: new FrameReader(65535), toHost: new FrameReader(65535) };
  sim.onWire((dir, bytes) => {
    for (const ev of readers[dir].push(bytes)) if (ev.kind === 'frame') seen.push({ dir, type: ev.frame.type, seq: ev.frame.seq, body: ev.frame.body });
  });
  return seen;
}

const requests = (seen: WireFrame[], command: number) => seen.filter((f) => f.dir === 'toDevice' && f.type === FrameType.REQUEST && f.body[0] === command);

/** The outer CBOR map of a request or response body (after the command or status byte). */
function outerMap(body: Uint8Array): Map<number, unknown> {
  const d = cborDecode(body.subarray(1));
  if (!d.ok || !(d.value instanceof Map)) throw new Error('not a CBOR map');
  return d.value as Map<number, unknown>;
}

/**
 * A man in the middle on the device → host direction: `mutate` may rewrite a response body (then the frame is
 * re-encoded with a valid CRC, as an active attacker would). Requests pass unchanged.
 */
class MitmTransport implements HostTransport {
  readonly mode = 'binary' as const;
  readonly description = 'mitm';
  mutate: ((f: Frame) => Uint8Array | undefined) | undefined;
  private rx: (b: Uint8Array) => void = () => {};
  private readonly reader = new FrameReader(65535);
  private readonly inner: InProcessTransport;
  constructor(sim: Simulator) {
    this.inner = new InProcessTransport(sim, false);
    this.inner.onData((b) => {
      for (const ev of this.reader.push(b)) {
        if (ev.kind !== 'frame') continue;
        const body = this.mutate ? this.mutate(ev.frame) : undefined;
        this.rx(encodeFrame(ev.frame.type, ev.frame.seq, body || ev.frame.body));
      }
    });
  }
  write(b: Uint8Array): Promise<void> {
    return this.inner.write(b);
  }
  onData(cb: (b: Uint8Array) => void): void {
    this.rx = cb;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('HsmClient sessions', () => {
  it('opens a session before the first gated command only; gated commands travel sealed with counters 1, 2, 3, …', async () => {
    const sim = await boot();
    const seen = record(sim);
    const client = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
    await client.info();
    await client.echo(new Uint8Array([1, 2]));
    expect(requests(seen, Command.SESSION_OPEN)).toHaveLength(0); // INFO and ECHO are clear
    expect(client.sessionId).toBeUndefined();

    const k = await client.generateKey('ed25519', 'sealed');
    const message = new TextEncoder().encode('through the envelope');
    const sig = await client.sign(k.keyId, { message });
    expect(verifyWithNode('ed25519', k.publicKey, message, sig)).toBe(true);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);

    expect(requests(seen, Command.SESSION_OPEN)).toHaveLength(1);
    const envelopes = requests(seen, Command.SESSION_MESSAGE).map((f) => outerMap(f.body));
    expect(envelopes.map((m) => m.get(2))).toEqual([1, 2, 3, 4]); // LOGIN, KEY_GENERATE, SIGN, KEY_LIST
    expect(new Set(envelopes.map((m) => m.get(1)))).toEqual(new Set([client.sessionId]));
    // no gated command went in the clear, and neither the label nor the message is visible on the wire
    for (const c of [Command.KEY_GENERATE, Command.SIGN, Command.KEY_LIST]) expect(requests(seen, c)).toHaveLength(0);
    const wire = seen.map((f) => Buffer.from(f.body).toString('latin1')).join('');
    expect(wire).not.toContain('sealed');
    expect(wire).not.toContain(SIM_USER_PIN); // nor the PIN
    expect(wire).not.toContain('through the envelope');
  });

  it('a gated command sent in the clear (callClear) is refused with SESSION_REQUIRED and does nothing', async () => {
    const sim = await boot();
    const client = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
    const e = await hsmFailure(client.callClear(Command.KEY_GENERATE, { alg: 1 }));
    expect(e.code).toBe('SESSION_REQUIRED');
    expect(e.fromDevice).toBe(true);
    expect(e.message).toContain('SESSION_OPEN');
    expect((await client.callClear(Command.ECHO, { data: new Uint8Array([9]) })).data).toEqual(new Uint8Array([9]));
    expect(await client.listKeys()).toEqual([]); // the refused KEY_GENERATE made no key
  });

  it('an inner error becomes the same HsmError as before sessions (status, name, device message, hint, command)', async () => {
    const sim = await boot();
    const client = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
    const e = await hsmFailure(client.sign(999, { message: new Uint8Array(1) }));
    expect(e.code).toBe('KEY_NOT_FOUND');
    expect(e.command).toBe('SIGN');
    expect(e.fromDevice).toBe(true);
    expect(e.hint).toMatch(/tinyhsm list/);
    expect(e.message).toMatch(/^KEY_NOT_FOUND: .*999/);
  });

  it('pins in the known-devices file: refused without trust, pinned with it, then known', async () => {
    const known = freshKnownDevices();
    const sim = await boot({ seed: '5e55' });
    const info = await track(new HsmClient(new InProcessTransport(sim, false), { knownDevices: known })).info();

    const refused = track(new HsmClient(new InProcessTransport(sim, false), { knownDevices: known }));
    const e = await hsmFailure(refused.listKeys());
    expect(e.code).toBe('UNKNOWN_DEVICE');
    expect(e.message).toContain('--trust');
    expect(e.message).toContain(toHex(info.deviceId));
    expect(existsSync(known)).toBe(false);
    expect(refused.sessionId).toBeUndefined();

    const trusting = track(new HsmClient(new InProcessTransport(sim, false), { knownDevices: known, trust: true, login: SIM_LOGIN }));
    expect(await trusting.listKeys()).toEqual([]);
    const file = JSON.parse(readFileSync(known, 'utf8'));
    expect(file.devices[toHex(info.deviceId)].identityKey).toBe(toHex(info.identityPublicKey!));
    expect(trusting.pinState(info.deviceId, info.identityPublicKey!)).toMatchObject({ state: 'pinned', path: known });

    const later = track(new HsmClient(new InProcessTransport(sim, false), { knownDevices: known, login: SIM_LOGIN }));
    expect(await later.listKeys()).toEqual([]);
  });

  it('a device whose identity changed is refused, even with trust, and a refused handshake does not use up session slots', async () => {
    const known = freshKnownDevices();
    const a = await boot({ seed: 'a1' });
    const b = await boot({ seed: 'b2' });
    const ia = await new HsmClient(new InProcessTransport(a, false)).info();
    const ib = await new HsmClient(new InProcessTransport(b, false), { login: SIM_LOGIN }).info();
    expect(toHex(ib.identityPublicKey!)).not.toBe(toHex(ia.identityPublicKey!));
    // the pin file says b's device id belongs to a's identity key: what an impostor of b (or a reset b) looks like
    writeFileSync(
      known,
      JSON.stringify({ version: 1, devices: { [toHex(ib.deviceId)]: { identityKey: toHex(ia.identityPublicKey!), firstSeen: '2025-01-02T03:04:05.000Z' } } }),
    );
    // more refusals than the device has session slots: each refused session is closed again
    for (let i = 0; i < 6; i++) {
      const c = track(new HsmClient(new InProcessTransport(b, false), { knownDevices: known, trust: i % 2 === 0 }));
      const e = await hsmFailure(c.generateKey('ed25519'));
      expect(e.code).toBe('IDENTITY_CHANGED');
      expect(e.message).toContain('changed since 2025-01-02T03:04:05.000Z');
      expect(e.message).toContain('impersonating');
    }
    expect(JSON.parse(readFileSync(known, 'utf8')).devices[toHex(ib.deviceId)].identityKey).toBe(toHex(ia.identityPublicKey!));
    // nothing executed, and b still has free slots for a client that pins it in memory
    const ok = track(new HsmClient(new InProcessTransport(b, false), { login: SIM_LOGIN }));
    expect(await ok.listKeys()).toEqual([]);
  });

  it('the in-process simulator ("sim") is trusted without the file but still verified; a forged signature is refused', async () => {
    const sim = await boot();
    const mitm = new MitmTransport(sim);
    mitm.mutate = (f) => {
      if (f.type !== FrameType.RESPONSE || f.body[0] !== 0) return undefined;
      const m = outerMap(f.body);
      if (!(m.get(3) instanceof Uint8Array) || (m.get(3) as Uint8Array).length !== 64) return undefined; // only SESSION_OPEN's answer
      const at = Buffer.from(f.body).indexOf(Buffer.from(m.get(3) as Uint8Array));
      const body = f.body.slice();
      body[at + 10] ^= 1; // one bit of the identity signature
      return body;
    };
    const client = track(new HsmClient(mitm, { knownDevices: null, login: SIM_LOGIN }));
    const e = await hsmFailure(client.generateKey('ed25519'));
    expect(e.code).toBe('SESSION_REFUSED');
    expect(e.message).toMatch(/not signed by the pinned identity key/);
    expect(client.sessionId).toBeUndefined();
    mitm.mutate = undefined;
    // nothing was sent under the refused session: no key exists
    expect(await client.listKeys()).toEqual([]);
  });

  it('a tampered response envelope is refused and the command is NOT sent again (it may have executed)', async () => {
    const sim = await boot();
    const seen = record(sim);
    const mitm = new MitmTransport(sim);
    const client = track(new HsmClient(mitm, { knownDevices: null, login: SIM_LOGIN }));
    expect(await client.listKeys()).toEqual([]);
    const first = client.sessionId;
    let armed = true;
    mitm.mutate = (f) => {
      if (!armed || f.type !== FrameType.RESPONSE) return undefined;
      armed = false;
      const body = f.body.slice();
      body[body.length - 1] ^= 0x80; // the last byte of the tag
      return body;
    };
    const before = requests(seen, Command.SESSION_MESSAGE).length;
    const e = await hsmFailure(client.generateKey('ed25519'));
    expect(e.code).toBe('SESSION_REFUSED');
    expect(e.message).toMatch(/does not authenticate/);
    expect(requests(seen, Command.SESSION_MESSAGE).length - before).toBe(1);
    // the device did execute it once; the next call opens a new session (the old one is no longer trusted)
    const keys = await client.listKeys();
    expect(keys).toHaveLength(1);
    expect(client.sessionId).not.toBe(first);
    expect(requests(seen, Command.SESSION_OPEN)).toHaveLength(2);
  });

  it('SESSION_INVALID (the device restarted) → a command that may run twice goes again in one new session, transparently', async () => {
    const sim = await boot({ flash: SimFlash.memory({ pages: 8 }), seed: 'f1' });
    const seen = record(sim);
    const client = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
    const k = await client.generateKey('ecdsa-p256');
    sim.reboot(); // sessions live in RAM; the identity and the key live in flash
    const message = new Uint8Array([1, 2, 3]);
    expect(verifyWithNode('ecdsa-p256', k.publicKey, message, await client.sign(k.keyId, { message }))).toBe(true);
    expect(requests(seen, Command.SESSION_OPEN)).toHaveLength(2);
    const invalid = seen.filter((f) => f.dir === 'toHost' && f.body[0] === 0x10); // Status.SESSION_INVALID
    expect(invalid).toHaveLength(1);
    expect((await client.listKeys()).map((x) => x.keyId)).toEqual([k.keyId]);
  });

  it('SESSION_INVALID after a command that must not run twice: MAY_HAVE_RUN, never sent again, and the message says how to check', async () => {
    const sim = await boot({ flash: SimFlash.memory({ pages: 8 }), seed: 'f3' });
    const mitm = new MitmTransport(sim);
    const seen = record(sim);
    const client = track(new HsmClient(mitm, { knownDevices: null, login: SIM_LOGIN }));
    expect(await client.listKeys()).toEqual([]);
    // the attack: let KEY_GENERATE run, drop its sealed answer and forge the (unauthenticated) outer SESSION_INVALID
    let armed = true;
    mitm.mutate = (f) => {
      if (!armed || f.type !== FrameType.RESPONSE || f.body[0] !== 0) return undefined;
      if (outerMap(f.body).get(4) instanceof Uint8Array) return undefined; // a SESSION_OPEN answer passes
      armed = false;
      return Uint8Array.of(0x10, 0xa2, 0x01, 0x18, 0x67, 0x02, 0x01); // SESSION_INVALID {1: SESSION_UNKNOWN, 2: 1}
    };
    const generates = () => seen.filter((f) => f.dir === 'toDevice' && f.type === FrameType.REQUEST && f.body[0] === Command.SESSION_MESSAGE).length;
    const before = generates();
    const e = await hsmFailure(client.generateKey('ed25519'));
    expect(e.code).toBe('MAY_HAVE_RUN');
    expect(e.command).toBe('KEY_GENERATE');
    expect(e.message).toMatch(/may have run; it was not sent again.*tinyhsm list/);
    expect(generates() - before).toBe(1);
    // it did run, once: one key, and the client works on in a new session
    expect(await client.listKeys()).toHaveLength(1);
  });

  it('SESSION_INVALID twice in a row is not retried forever: the second one is the answer', async () => {
    const sim = await boot({ flash: SimFlash.memory({ pages: 8 }), seed: 'f2' });
    const mitm = new MitmTransport(sim);
    const client = track(new HsmClient(mitm, { knownDevices: null, login: SIM_LOGIN }));
    expect(await client.listKeys()).toEqual([]);
    let opens = 0;
    // every envelope answer is replaced by SESSION_INVALID: what a device that keeps dropping sessions looks like
    mitm.mutate = (f) => {
      if (f.type !== FrameType.RESPONSE) return undefined;
      if (outerMap(f.body).get(4) instanceof Uint8Array) {
        opens++;
        return undefined; // SESSION_OPEN's answer passes
      }
      return Uint8Array.of(0x10, 0xa1, 0x01, 0x61, 0x78);
    };
    const e = await hsmFailure(client.listKeys());
    expect(e.code).toBe('SESSION_INVALID');
    expect(opens).toBe(1);
  });

  it('close() sends SESSION_CLOSE, wipes the session keys, and frees the device slot', async () => {
    const sim = await boot();
    const seen = record(sim);
    for (let i = 0; i < 6; i++) {
      // six clients one after the other on a device with four slots: each close() freed its slot
      const c = new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN });
      expect(await c.listKeys()).toEqual([]);
      const session = (c as unknown as { session: { keyOut: Buffer; keyIn: Buffer; closed: boolean } }).session;
      await c.close();
      expect(session.closed).toBe(true);
      expect(session.keyOut.every((b) => b === 0)).toBe(true);
      expect(session.keyIn.every((b) => b === 0)).toBe(true);
    }
    expect(requests(seen, Command.SESSION_OPEN)).toHaveLength(6);
    expect(requests(seen, Command.SESSION_MESSAGE)).toHaveLength(18); // LOGIN, LIST and CLOSE per client
    const answers = seen.filter((f) => f.dir === 'toHost' && f.type === FrameType.RESPONSE);
    expect(answers.every((f) => f.body[0] === 0)).toBe(true);
  });

  it('a fifth concurrent session is refused with SESSION_LIMIT; closing one makes room', async () => {
    const sim = await boot();
    const four = [];
    for (let i = 0; i < 4; i++) {
      const c = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
      await c.listKeys();
      four.push(c);
    }
    const fifth = track(new HsmClient(new InProcessTransport(sim, false), { login: SIM_LOGIN }));
    const e = await hsmFailure(fifth.listKeys());
    expect(e.code).toBe('SESSION_LIMIT');
    await four[0].close();
    expect(await fifth.listKeys()).toEqual([]);
  });
});

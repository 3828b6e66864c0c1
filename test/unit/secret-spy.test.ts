// The response scan can fail (docs/security.md §5): planted responses and flash images holding a recorded secret are reported with the command that leaked; clean ones are not; the identity seed alone is allowed in flash.
import { describe, it, expect } from 'vitest';
import { Alg, Command, FrameType } from '../../firmware/protocol/codes.ts';
import { cborEncode } from '../../firmware/protocol/cbor.ts';
import { encodeFrame } from '../../firmware/protocol/frame.ts';
import { HostSession } from '../../host/session.ts';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import { startTestDevice } from '../helpers/loopback.ts';
import { NorFlash, bytesFrom } from '../helpers/nor-flash.ts';
import { WINDOW, describeLeak, findLeaks, identitySeedOf, isolated, recordedSecrets, scanAll, type Output } from '../helpers/secret-spy.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** A response body (status OK + {1: bytes}) carrying `payload`. */
const body = (payload: Uint8Array) => {
  const map = cborEncode(new Map([[1, payload]]));
  const b = new Uint8Array(1 + map.length);
  b.set(map, 1);
  return b;
};
const fake = (bytes: Uint8Array, command = 'KEY_PUBLIC'): Output => ({ bytes, kind: 'a planted response', command: () => command });

describe('the secret spy records what the devices of this file hold', () => {
  it('the setup file is active: a device that signs leaves its seed and its session keys in the records', () => {
    const seed = bytesFrom(4242, 32);
    const t = startTestDevice();
    expect(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'spied', 3: seed }).status).toBe(0);
    expect(t.call(Command.SIGN, { 1: 1, 2: new Uint8Array([1, 2, 3]) }).status).toBe(0);
    const all = recordedSecrets();
    expect(all.some((s) => hex(s.value) === hex(seed) && /ed25519 seed/.test(s.what))).toBe(true);
    expect(all.some((s) => /AEAD key/.test(s.what))).toBe(true);
    expect(
      all.some((s) => /X25519 private scalar/.test(s.what)),
      'the session ephemeral scalar',
    ).toBe(true);
    expect((HostSession.prototype as unknown as { __spied?: boolean }).__spied).toBe(true);
    expect((NorFlash.prototype as unknown as { __spied?: boolean }).__spied).toBe(true);
  });
});

describe('the scan can fail', () => {
  it('a planted response with a whole secret, or any 12-byte window of one, is reported naming its command; 11 bytes and clean responses are not', () => {
    isolated(() => {
      const seed = bytesFrom(77, 32);
      const t = startTestDevice();
      expect(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'k', 3: seed }).status).toBe(0);
      const secret = recordedSecrets().find((s) => hex(s.value) === hex(seed));
      expect(secret).toBeDefined();
      // a clean run: nothing the real device said or kept holds a secret
      expect(scanAll().map(describeLeak)).toEqual([]);

      const whole = findLeaks([fake(body(seed))]);
      expect(whole).toHaveLength(1);
      expect(whole[0].command).toBe('KEY_PUBLIC');
      expect(whole[0].length).toBe(32);
      expect(describeLeak(whole[0])).toMatch(/response to KEY_PUBLIC leaks the whole 32-byte ed25519 seed/);
      for (const at of [0, 7, 32 - WINDOW]) {
        const part = findLeaks([fake(body(seed.slice(at, at + WINDOW)), 'SIGN')]);
        expect(part, 'window at ' + at).toHaveLength(1);
        expect(part[0].secretOffset).toBe(at);
        expect(describeLeak(part[0])).toMatch(/response to SIGN leaks 12 bytes/);
      }
      expect(findLeaks([fake(body(seed.slice(3, 3 + WINDOW - 1)))])).toEqual([]);
      expect(findLeaks([fake(body(bytesFrom(78, 64)))])).toEqual([]);
    });
  });

  it("ECHO answers with the host's own data: a secret the host sends in an ECHO is no leak there, and still one in any other answer", () => {
    isolated(() => {
      const seed = bytesFrom(5150, 32);
      const t = startTestDevice();
      expect(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'k', 3: seed }).status).toBe(0);
      expect(t.call(Command.ECHO, { 1: seed }).status).toBe(0);
      const sealed = t.sealedFrame(Command.ECHO, { 1: seed });
      expect(t.openReply(t.raw(sealed)[0]).status).toBe(0);
      expect(scanAll().map(describeLeak)).toEqual([]);
      // the same bytes in the answer to KEY_LIST (planted after a real KEY_LIST request) are a leak
      expect(t.call(Command.KEY_LIST).status).toBe(0);
      t.link.env.transport.write(encodeFrame(FrameType.RESPONSE, 77, body(seed)));
      expect(scanAll().map((l) => l.command)).toContain('SESSION_MESSAGE(KEY_LIST)');
    });
  });

  it('a planted frame on the wire after a real SIGN request fails the scan and names SESSION_MESSAGE(SIGN)', () => {
    isolated(() => {
      const seed = bytesFrom(91, 32);
      const t = startTestDevice();
      expect(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'k', 3: seed }).status).toBe(0);
      expect(t.call(Command.SIGN, { 1: 1, 2: new Uint8Array([9]) }).status).toBe(0);
      expect(scanAll()).toEqual([]);
      // the device "answers" with its seed; the decoded packet shows it whole (COBS may split the raw bytes at zeros)
      t.link.env.transport.write(encodeFrame(FrameType.RESPONSE, 9, body(seed)));
      const leaks = scanAll();
      expect(leaks.map((l) => l.where)).toContain('a response packet');
      for (const l of leaks) expect(l.command).toBe('SESSION_MESSAGE(SIGN)');
    });
  });

  it('a generated key (drawn from the seeded RNG, where replays are excused) is still reported when a response or the flash holds it', () => {
    isolated(() => {
      const t = startTestDevice({ seed: 'spy generated key' });
      const g = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'drawn' });
      expect(g.status).toBe(0);
      const pub = hex(g.map.get(2) as Uint8Array);
      const c = createNobleCrypto();
      const seed = recordedSecrets().find((s) => s.value.length === 32 && /ed25519 seed/.test(s.what) && hex(c.ed25519PublicKey(s.value)) === pub);
      expect(seed, 'the generated seed is recorded').toBeDefined();
      expect(scanAll()).toEqual([]);
      const leaks = findLeaks([fake(body((seed as { value: Uint8Array }).value.slice(5, 5 + WINDOW)), 'KEY_LIST')]);
      expect(leaks.map(describeLeak)).toEqual([expect.stringMatching(/^the response to KEY_LIST leaks 12 bytes \(at 5\) of a 32-byte ed25519 seed/)]);
      const img = new NorFlash({ pageSize: 2048, pageCount: 2 });
      img.write(0, 256, (seed as { value: Uint8Array }).value);
      expect(scanAll().map((l) => l.command)).toEqual(['flash']);
    });
  });

  it("a seeded-RNG replay is no leak: the next boot on the same seed draws the first boot's device id as its session scalar", () => {
    isolated(() => {
      const flash = new NorFlash({ pageSize: 2048, pageCount: 6 });
      const a = startTestDevice({ flash, seed: 'spy replay' });
      const id = hex(a.device.deviceId);
      // the second boot draws nothing for its name (it is in flash): its first draw, a session scalar, starts with the id
      const b = startTestDevice({ flash, seed: 'spy replay' });
      expect(b.call(Command.KEY_LIST).status).toBe(0);
      const scalar = recordedSecrets().find((s) => /X25519 private scalar/.test(s.what) && hex(s.value).startsWith(id));
      expect(scalar, 'the replayed bytes are recorded as a secret').toBeDefined();
      // INFO of either boot carries the id: the bytes were drawn for a public use, so no leak
      expect(hex(b.callClear(Command.INFO).map.get(3) as Uint8Array)).toBe(id);
      expect(scanAll().map(describeLeak)).toEqual([]);
      // the part of that scalar never drawn for a public use is still a secret (it is the first boot's identity seed too)
      const tail = (scalar as { value: Uint8Array }).value.slice(18, 32);
      const leaks = findLeaks([fake(body(tail), 'ECHO')]);
      expect(leaks.some((l) => l.secret === scalar)).toBe(true);
      for (const l of leaks) expect(l.command).toBe('ECHO');
    });
  });

  it('flash: a planted key in a NOR image is reported; the identity seed the store holds is the one secret allowed there', () => {
    isolated(() => {
      const flash = new NorFlash({ pageSize: 2048, pageCount: 6 });
      const t = startTestDevice({ flash });
      expect(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }).status).toBe(0);
      const identity = identitySeedOf(flash) as Uint8Array;
      expect(identity).toBeDefined();
      // the identity seed is recorded (the device derived its public key from it) and is in the image in the clear …
      expect(recordedSecrets().some((s) => hex(s.value) === hex(identity))).toBe(true);
      expect(Buffer.from(flash.bytes).indexOf(Buffer.from(identity))).toBeGreaterThanOrEqual(0);
      // … and not reported; nothing else is there
      expect(scanAll().map(describeLeak)).toEqual([]);
      // a generated key's seed written into a free page of the image is
      const keySeed = recordedSecrets().find((s) => /ed25519 seed/.test(s.what) && s.value.length === 32 && hex(s.value) !== hex(identity));
      expect(keySeed).toBeDefined();
      const other = new NorFlash({ pageSize: 2048, pageCount: 2 });
      const planted = new Uint8Array(36).fill(0xff);
      planted.set((keySeed as { value: Uint8Array }).value, 4);
      other.write(1, 64, planted);
      const leaks = scanAll();
      expect(leaks).toHaveLength(1);
      expect(describeLeak(leaks[0])).toMatch(/^the flash leaks the whole 32-byte ed25519 seed .*page 1, offset 68\)/);
    });
  });
});

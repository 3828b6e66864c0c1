// RANDOM's gate (dispatch.ts Gate.SESSION_IF_CAPABLE; docs/protocol.md §6, docs/security.md §2): in the clear only on a device that cannot open sessions at all, never on one that can.
import { COMMANDS, Gate } from '../../firmware/protocol/commands/index.ts';
import { describe, it, expect } from 'vitest';
import type { Crypto } from '../../firmware/hal/index.ts';
import { Alg, Command, Status } from '../../firmware/protocol/codes.ts';
import { canOpenSessions } from '../../firmware/core/dispatch.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { DEVICE_ID_RECORD, IDENTITY_RECORD } from '../../firmware/core/records.ts';
import { createNoBigIntCrypto } from '../../firmware/platform/espruino/crypto.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { field, nobleCrypto, seededRng, startTestDevice, type TestDevice } from '../helpers/loopback.ts';

/** noble with one algorithm's code taken away, as an engine where it fails its self-test. */
function without(alg: 'x25519' | 'ed25519'): Crypto {
  const c = nobleCrypto();
  const broken = (): never => {
    throw new Error('not on this engine');
  };
  return alg === 'x25519'
    ? { ...c, x25519: broken, x25519PublicKey: broken }
    : { ...c, ed25519PublicKey: broken, ed25519Sign: broken, ed25519Verify: broken, ed25519Expand: undefined };
}

/** The RNG's call count, to tell whether a refused request drew randomness. */
const rngCalls = (t: TestDevice): number => (t.link.env.rng as unknown as { calls: number }).calls;

/** Every command but those the clear always allows and RANDOM: each must still say SESSION_REQUIRED in the clear. */
const gatedInTheClear = Object.entries(Command).filter(
  ([, code]) => COMMANDS[code].gate !== Gate.CLEAR && COMMANDS[code].gate !== Gate.OUTER && code !== Command.RANDOM,
);

describe('RANDOM on a device that cannot open sessions (no BigInt: the Espruino crypto)', () => {
  const boot = () => startTestDevice({ crypto: createNoBigIntCrypto(), seed: 'sessionless', autoAuth: false });

  it('the self-tests offer neither Ed25519 nor X25519, SESSION_OPEN is refused, and the gate knows it', () => {
    const t = boot();
    expect(t.device.selftest.passed).toEqual([]);
    const open = t.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) });
    expect(open.statusName).toBe('UNSUPPORTED_ALGORITHM');
  });

  it('answers RANDOM in the clear with bytes of its RNG, for every length the schema allows', () => {
    const t = boot();
    const ref = seededRng('sessionless');
    ref.fill(new Uint8Array(16)); // the device id, drawn at first boot (no identity seed: Ed25519 is not offered)
    const a = t.callClear(Command.RANDOM, { 1: 48 });
    expect(a.statusName, a.message).toBe('OK');
    const want = new Uint8Array(48);
    ref.fill(want);
    expect(Buffer.from(field<Uint8Array>(a, 1)).equals(Buffer.from(want))).toBe(true);
    expect(field<Uint8Array>(t.callClear(Command.RANDOM, { 1: 1 }), 1).length).toBe(1);
    expect(field<Uint8Array>(t.callClear(Command.RANDOM, { 1: 1024 }), 1).length).toBe(1024);
    // the schema still bounds it
    expect(t.callClear(Command.RANDOM, { 1: 1025 }).statusName).toBe('INVALID_PARAMETER');
    expect(t.callClear(Command.RANDOM, {}).statusName).toBe('MISSING_PARAMETER');
  });

  it('every other gated command is still refused in the clear with SESSION_REQUIRED, drawing no randomness', () => {
    const t = boot();
    expect(gatedInTheClear.length).toBeGreaterThan(10);
    for (const [name, code] of gatedInTheClear) {
      const before = rngCalls(t);
      const r = t.callClear(code, {});
      expect(r.statusName, name).toBe('SESSION_REQUIRED');
      expect(rngCalls(t), name + ': randomness drawn').toBe(before);
    }
  });

  it('a device with Ed25519 but no X25519 cannot open sessions either (the handshake needs both): RANDOM in the clear', () => {
    const t = startTestDevice({ crypto: without('x25519'), seed: 'no-x25519', autoAuth: false });
    expect(t.device.selftest.passed).not.toContain(Alg.X25519);
    expect(t.device.selftest.passed).toContain(Alg.ED25519);
    expect(t.callClear(Command.RANDOM, { 1: 8 }).statusName).toBe('OK');
  });

  it('a device with X25519 but no Ed25519 (no identity): RANDOM in the clear', () => {
    const t = startTestDevice({ crypto: without('ed25519'), seed: 'no-ed25519', autoAuth: false });
    expect(t.device.selftest.passed).toContain(Alg.X25519);
    expect(t.callClear(Command.RANDOM, { 1: 8 }).statusName).toBe('OK');
  });
});

describe('RANDOM on a device that can open sessions: never in the clear', () => {
  it('refused in the clear with SESSION_REQUIRED (reason SESSION_NEEDED), no randomness drawn; inside a session it runs', () => {
    const t = startTestDevice({ seed: 'capable', autoAuth: false });
    const before = rngCalls(t);
    const r = t.callClear(Command.RANDOM, { 1: 32 });
    expect(r.status).toBe(Status.SESSION_REQUIRED);
    expect(r.message).toMatch(/secure session/);
    expect(rngCalls(t)).toBe(before);
    const inSession = t.call(Command.RANDOM, { 1: 32 });
    expect(inSession.statusName).toBe('OK');
    expect(field<Uint8Array>(inSession, 1).length).toBe(32);
  });

  it('an identity record that does not decode does not turn it into a session-less device: still SESSION_REQUIRED', () => {
    const flash = new NorFlash();
    const store = Store.open(flash);
    expect(
      store.commit([
        { key: DEVICE_ID_RECORD, value: new Uint8Array(16).fill(3) },
        { key: IDENTITY_RECORD, value: new Uint8Array([0xa0]) },
      ]).ok,
    ).toBe(true);
    const t = startTestDevice({ flash, seed: 'broken identity', autoAuth: false });
    expect(t.device.identityPublicKey).toBeUndefined();
    expect(t.callClear(Command.SESSION_OPEN, { 1: new Uint8Array(32).fill(9) }).statusName).toBe('OPERATION_NOT_PERMITTED');
    expect(t.callClear(Command.RANDOM, { 1: 32 }).statusName).toBe('SESSION_REQUIRED');
  });
});

describe('canOpenSessions', () => {
  it('is true exactly when both Ed25519 and X25519 passed their self-tests', () => {
    const ctx = (offered: number[]) => {
      const o: boolean[] = [];
      for (const a of offered) o[a] = true;
      return { offered: o } as unknown as Parameters<typeof canOpenSessions>[0];
    };
    expect(canOpenSessions(ctx([Alg.ED25519, Alg.X25519]))).toBe(true);
    expect(canOpenSessions(ctx([Alg.ED25519, Alg.X25519, Alg.ECDSA_P256]))).toBe(true);
    expect(canOpenSessions(ctx([Alg.ED25519, Alg.ECDSA_P256]))).toBe(false);
    expect(canOpenSessions(ctx([Alg.X25519]))).toBe(false);
    expect(canOpenSessions(ctx([]))).toBe(false);
  });
});

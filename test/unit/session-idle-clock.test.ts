// The session idle clock counts from the device's answer (docs/session.md §6): a command slower than the idle timeout, on a slow simulated clock, does not expire its own session.
import { describe, it, expect } from 'vitest';
import { Command, Role, Status } from '../../firmware/protocol/index.ts';
import type { Crypto } from '../../firmware/hal/index.ts';
import { TEST_SO_PIN, TEST_USER_PIN, nobleCrypto, startTestDevice } from '../helpers/loopback.ts';

const IDLE = 60000;

/**
 * noble's crypto on a slow engine: every PBKDF2 (a PIN check) and every X25519 key generation (a handshake) takes
 * `cost` ms of the device's clock, as LOGIN took 51–120 s under an emulated RP2040's JerryScript.
 */
function slowCrypto(clock: { now: number }, cost: number): Crypto {
  const c = nobleCrypto();
  return {
    ...c,
    pbkdf2Sha256(password, salt, iterations, length) {
      clock.now += cost;
      return c.pbkdf2Sha256(password, salt, iterations, length);
    },
    x25519PublicKey(privateKey) {
      clock.now += cost;
      return c.x25519PublicKey(privateKey);
    },
  };
}

function slowDevice(cost: number) {
  const clock = { now: 1000 };
  const t = startTestDevice({ now: () => clock.now, crypto: slowCrypto(clock, cost), autoAuth: false, sessionLimits: { idleTimeoutMs: IDLE } });
  return { t, clock };
}

describe('session idle clock on a slow engine', () => {
  it('a LOGIN that takes longer than the idle timeout does not expire its own session', () => {
    const { t, clock } = slowDevice(90000);
    expect(t.openSession().status).toBe(Status.OK);
    expect(t.call(Command.INIT, { 1: new Uint8Array(TEST_USER_PIN), 2: new Uint8Array(TEST_SO_PIN) }).status).toBe(Status.OK);
    const before = clock.now;
    expect(t.call(Command.LOGIN, { 1: Role.USER, 2: new Uint8Array(TEST_USER_PIN) }).status).toBe(Status.OK);
    expect(clock.now - before).toBeGreaterThan(IDLE); // the LOGIN itself outlasted the timeout
    clock.now += 1000;
    // the same session carries on, still logged in
    expect(t.call(Command.KEY_LIST).status).toBe(Status.OK);
  });

  it('a SESSION_OPEN slower than the idle timeout is not refused for its own duration', () => {
    const { t, clock } = slowDevice(70000);
    expect(t.openSession().status).toBe(Status.OK);
    clock.now += 1000;
    expect(t.call(Command.RANDOM, { 1: 8 }).status).toBe(Status.OK);
  });

  it('the timeout still ends a session idle for longer than it after the slow answer', () => {
    const { t, clock } = slowDevice(90000);
    expect(t.openSession().status).toBe(Status.OK);
    expect(t.call(Command.INIT, { 1: new Uint8Array(TEST_USER_PIN), 2: new Uint8Array(TEST_SO_PIN) }).status).toBe(Status.OK);
    expect(t.call(Command.LOGIN, { 1: Role.USER, 2: new Uint8Array(TEST_USER_PIN) }).status).toBe(Status.OK);
    clock.now += IDLE + 1;
    expect(t.call(Command.KEY_LIST).statusName).toBe('SESSION_INVALID');
  });
});

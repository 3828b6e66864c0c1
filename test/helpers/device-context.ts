// A DeviceContext put together as startDevice does (a real store, keystore and AuthState; no identity key), for tests that call the dispatcher and the handlers directly.
import type { Answer } from '../../firmware/core/dispatch.ts';
import type { DeviceContext } from '../../firmware/core/context.ts';
import { AuthState } from '../../firmware/core/auth/state.ts';
import { KeyStore } from '../../firmware/core/keystore.ts';
import { SessionTable, type SessionLimits } from '../../firmware/core/session/index.ts';
import { Store } from '../../firmware/core/store/index.ts';
import type { Flash } from '../../firmware/hal/index.ts';
import { createLoopbackEnv } from './loopback.ts';
import { ramSizedFlash } from './nor-flash.ts';

export interface DeviceContextOptions {
  /** Default: a new flash of the geometry the device uses without a flash HAL (test/helpers/nor-flash.ts ramSizedFlash). */
  flash?: Flash;
  /** What the context reports as ctx.flashVolatile (default: true on the default flash, as a device without a flash HAL reports; false on a given one). */
  flashVolatile?: boolean;
  /** The device clock in ms (default: the loopback's). */
  now?: () => number;
  /** Default: 16 zero bytes. */
  deviceId?: Uint8Array;
  limits?: Partial<SessionLimits>;
}

/** A context with 4 key slots, PINs derived with 2 PBKDF2 iterations, firmware version 'test'. */
export function deviceContext(o: DeviceContextOptions = {}): DeviceContext {
  const link = createLoopbackEnv(o.now ? { now: o.now } : {});
  const store = Store.open(o.flash || ramSizedFlash());
  const keystore = KeyStore.load(4, store);
  const deviceId = o.deviceId || new Uint8Array(16);
  return {
    env: link.env,
    keystore,
    store,
    flashVolatile: o.flashVolatile === undefined ? o.flash === undefined : o.flashVolatile,
    selftest: { passed: [1, 2, 3, 4], failures: {}, sha256: true },
    offered: [false, true, true, true, true],
    deviceId,
    identity: undefined,
    firmwareVersion: 'test',
    maxPacket: 2048,
    sessions: new SessionTable(o.limits),
    auth: AuthState.load({ env: link.env, store, deviceId, keys: keystore, pinIterations: 2 }),
    rollback: { protection: false, rolledBack: undefined },
  };
}

/** A dispatcher's answer that must not wait for the button (core/presence.ts): its response body. */
export function answered(a: Answer): Uint8Array {
  if (!(a instanceof Uint8Array)) throw new Error('expected a response body, but the request waits for a button press (key ' + a.presenceFor + ')');
  return a;
}


// Where tests get a device: one entry per level, from the handlers' context to the simulator as a process; the handler level is built here.
//
// | level            | entry                                   | what it is                                                        | use it to test                                   |
// |------------------|-----------------------------------------|-------------------------------------------------------------------|--------------------------------------------------|
// | handlers         | handlerContext()      (here)            | the DeviceContext startDevice builds (core/device.ts createContext) | a handler, dispatch() or auth called directly: no frames, no session |
// |                  |                                         | on a loopback Env, without the frame loop                         | crypto; state read and changed in place          |
// | frames           | startTestDevice()     (loopback.ts)     | the firmware source booted by startDevice on a loopback Env:       | the wire: frames, sessions, the reply cache,     |
// |                  |                                         | frames in and out, call() opens a session and logs in by itself   | gates, power cuts (sweepCommand)                 |
// | simulator        | startInProcess(), inProcessSims()       | the built node bundle in this process, with HsmClients            | the host library and the bundle as shipped       |
// |                  |   (sim.ts)                              |                                                                   |                                                  |
// | simulator,       | spawnSim(), runCli()  (sim.ts)          | `tinyhsm sim` / the CLI as child processes (pty or socket)        | the CLI, serial transports, signals, files       |
// | process          |                                         |                                                                   |                                                  |
//
// The handler and frame levels take the same options (TestDeviceOptions: flash, seed, clock, slots, …) and boot the same
// device: startDevice itself only adds the frame loop to createContext. startDevice is called directly only by tests of
// its own argument checks and defaults (core-device, core-auth). sim.ts is not re-exported here: importing it makes a
// known-devices file and registers hooks, which handler and frame tests do not need.
import { createContext, type Device } from '../../firmware/core/device.ts';
import type { Answer } from '../../firmware/core/dispatch.ts';
import type { DeviceContext } from '../../firmware/core/context.ts';
import { type Outcome, waitsForPress } from '../../firmware/core/presence.ts';
import { IDENTITY_RECORD } from '../../firmware/core/records.ts';
import { Store } from '../../firmware/core/store/index.ts';
import { Role } from '../../firmware/protocol/codes.ts';
import type { Result } from '../../firmware/protocol/result.ts';
import { renderDetail } from '../../host/render.ts';
import { TEST_SO_PIN, TEST_USER_PIN, createLoopbackEnv, testDeviceOptions, type Loopback, type TestDeviceOptions } from './loopback.ts';
import { ramSizedFlash } from './nor-flash.ts';

export { startTestDevice, type TestDevice, type TestDeviceOptions } from './loopback.ts';

export interface HandlerContextOptions extends TestDeviceOptions {
  /**
   * true: INIT the device with TEST_USER_PIN / TEST_SO_PIN if it is not yet, and LOGIN as user, so that ctx.auth holds
   * the master key as after a LOGIN (the key commands need it). Default false: the device as it booted.
   */
  login?: boolean;
  /**
   * false: a device that runs without an identity key although Ed25519 is offered, as one whose identity record does
   * not decode (core/identity.ts): such a record is put on the flash before boot (a new RAM-sized NorFlash if none is given).
   */
  identity?: false;
}

/** The master key's lifetime as a test drives it: lock() as when the last session logs out, unlock() as a LOGIN. */
export interface MasterKeyControl {
  /** ctx.auth.lock(): the master key and the keystore's opened private keys are wiped. */
  lock(): void;
  /** LOGIN as user with TEST_USER_PIN; throws unless it unlocks exactly `masterKey` (HandlerContext.masterKey, with `login`). */
  unlock(masterKey: Uint8Array | undefined): void;
}

export interface HandlerContext {
  /** What every handler receives: the device's own context (core/device.ts createContext). */
  readonly ctx: DeviceContext;
  /** What startDevice would have returned for this boot (boot problems, skipped records, …). */
  readonly device: Device;
  readonly link: Loopback;
  /** With `login`: a copy of the master key the LOGIN unlocked (undefined without). */
  readonly masterKey: Uint8Array | undefined;
  readonly auth: MasterKeyControl;
}

/**
 * The handler level: a device booted as startTestDevice boots it (same options and defaults), but without the frame
 * loop, for tests that call handlers, dispatch() or ctx.auth directly.
 */
export function handlerContext(o: HandlerContextOptions = {}): HandlerContext {
  let flash = o.flash;
  if (o.identity === false) flash = withUnreadableIdentity(flash);
  const link = createLoopbackEnv({ ...o, flash });
  const booted = createContext(link.env, testDeviceOptions(o));
  const ctx = booted.ctx;
  const login = (): void => {
    const r = ctx.auth.login(Role.USER, new Uint8Array(TEST_USER_PIN));
    if (!r.ok) throw new Error('handlerContext: LOGIN failed: ' + renderDetail(r));
  };
  let masterKey: Uint8Array | undefined;
  if (o.login) {
    if (!ctx.auth.initialized) {
      const r = ctx.auth.init(new Uint8Array(TEST_USER_PIN), new Uint8Array(TEST_SO_PIN), undefined);
      if (!r.ok) throw new Error('handlerContext: INIT failed: ' + renderDetail(r));
    }
    login();
    masterKey = (ctx.auth.masterKey() as Uint8Array).slice();
  }
  const auth: MasterKeyControl = {
    lock: () => ctx.auth.lock(),
    unlock(key) {
      login();
      const now = ctx.auth.masterKey();
      if (!now || !key || Buffer.compare(Buffer.from(now), Buffer.from(key)) !== 0) throw new Error('handlerContext: the LOGIN unlocked another master key');
    },
  };
  return { ctx, device: booted.device, link, masterKey, auth };
}

/** `flash` (or a new RAM-sized one) holding an identity record that does not decode: the device then runs without one. */
function withUnreadableIdentity(flash: TestDeviceOptions['flash']): NonNullable<TestDeviceOptions['flash']> {
  const f = flash || ramSizedFlash();
  const r = Store.open(f).commit([{ key: IDENTITY_RECORD, value: new Uint8Array([0xff]) }]);
  if (!r.ok) throw new Error('handlerContext: could not write the identity record: ' + renderDetail(r));
  return f;
}

/** A dispatcher's answer that must not wait for the button (core/presence.ts): its response body. */
export function answered(a: Answer): Uint8Array {
  if (!(a instanceof Uint8Array)) throw new Error('expected a response body, but the request waits for a button press (key ' + a.presenceFor + ')');
  return a;
}

/** A handler's answer that must not wait for the button (core/presence.ts): its Result. */
export function done<T>(o: Outcome<T>): Result<T> {
  if (waitsForPress(o)) throw new Error('expected an answer, but the request waits for a button press (key ' + o.presenceFor + ')');
  return o;
}

/** The value of an OK result, or a thrown Error with the status and the host's words for the reason. */
export function okOf<T>(o: Outcome<T>): T {
  const r = done(o);
  if (!r.ok) throw new Error('expected OK, got status 0x' + r.status.toString(16) + ': ' + renderDetail(r));
  return r.value;
}

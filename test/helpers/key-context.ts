// A DeviceContext for calling key command handlers directly (no frames, no session): a real store on the given flash, a real keystore and identity, and a stand-in auth that holds a master key.
import { renderDetail } from '../../host/render.ts';
import { createHash } from 'node:crypto';
import type { DeviceContext } from '../../firmware/core/context.ts';
import { KeyStore } from '../../firmware/core/keystore.ts';
import { type Outcome, waitsForPress } from '../../firmware/core/presence.ts';
import { SessionTable } from '../../firmware/core/session/index.ts';
import { Store } from '../../firmware/core/store/index.ts';
import type { Flash, Presence } from '../../firmware/hal/index.ts';
import type { Result } from '../../firmware/protocol/result.ts';
import { createLoopbackEnv } from './loopback.ts';
import { ramSizedFlash } from './nor-flash.ts';

/**
 * The part of auth (firmware/core/auth/state.ts) the key commands use: `initialized` and `masterKey()`.
 * `lock()` here stands for the wipe of the master key: it forgets it and locks the keystore, as auth does.
 */
export interface FakeAuth {
  initialized: boolean;
  masterKey(): Uint8Array | undefined;
  unlock(key: Uint8Array): void;
  lock(): void;
}

export interface KeyContext {
  readonly ctx: DeviceContext;
  readonly auth: FakeAuth;
  readonly flash: Flash;
  /** Fresh 32-byte master key used by this context (a copy; auth holds its own). */
  readonly masterKey: Uint8Array;
}

export interface KeyContextOptions {
  flash?: Flash;
  /** The master key (default: SHA-256 of `seed`). */
  masterKey?: Uint8Array;
  seed?: string;
  /** The device id (default: 16 bytes derived from `seed`); a reboot of the same device passes the same one. */
  deviceId?: Uint8Array;
  /** false: a device without an identity key. */
  identity?: boolean;
  /** A button on the board (env.presence); absent by default. */
  presence?: Presence;
  slots?: number;
}

const sha = (s: string) => new Uint8Array(createHash('sha256').update(s).digest());

/** Boot a context on `flash` (by default a new one of the RAM flash's geometry, reported volatile): the keystore loads what the flash holds. */
export function keyContext(o: KeyContextOptions = {}): KeyContext {
  const seed = o.seed || 'key context';
  const link = createLoopbackEnv({ seed });
  const env = o.presence ? { ...link.env, presence: o.presence } : link.env;
  const flash = o.flash || ramSizedFlash();
  const store = Store.open(flash);
  const keystore = KeyStore.load(o.slots || 16, store);
  const masterKey = o.masterKey ? o.masterKey.slice() : sha('master ' + seed);
  let held: Uint8Array | undefined = masterKey.slice();
  const auth: FakeAuth = {
    initialized: true,
    masterKey: () => held,
    unlock(k) {
      held = k.slice();
    },
    lock() {
      if (held) held.fill(0);
      held = undefined;
      keystore.lock();
    },
  };
  const identitySeed = sha('identity ' + seed);
  const ctx: DeviceContext = {
    env,
    keystore,
    store,
    flashVolatile: o.flash === undefined,
    selftest: { passed: [1, 2, 3, 4], failures: {}, sha256: true },
    offered: [false, true, true, true, true],
    deviceId: o.deviceId || sha('device ' + seed).subarray(0, 16),
    identity: o.identity === false ? undefined : { seed: identitySeed, publicKey: env.crypto.ed25519PublicKey(identitySeed) },
    firmwareVersion: 'test',
    maxPacket: 2048,
    sessions: new SessionTable(),
    auth: auth as unknown as DeviceContext['auth'],
    rollback: { protection: false, rolledBack: undefined },
  };
  return { ctx, auth, flash, masterKey };
}

/** The value of an OK result, or a thrown Error with the status and message. */
/** A handler's answer that must not wait for the button (core/presence.ts): its Result. */
export function done<T>(o: Outcome<T>): Result<T> {
  if (waitsForPress(o)) throw new Error('expected an answer, but the request waits for a button press (key ' + o.presenceFor + ')');
  return o;
}

export function okOf<T>(o: Outcome<T>): T {
  const r = done(o);
  if (!r.ok) throw new Error('expected OK, got status 0x' + r.status.toString(16) + ': ' + renderDetail(r));
  return r.value;
}

// The device's name: a random device id and an Ed25519 identity key, made once at first boot and never changed (docs/architecture.md §5).
//
// First boot (no DEVICE_ID record): the id (16 random bytes) and, when Ed25519 passed its self-test,
// the identity seed (32 random bytes) are committed in ONE transaction, so a power cut leaves either
// nothing (the next boot starts over) or both. Where Ed25519 is not offered (Espruino has no BigInt) the
// id is committed alone and the identity is made at the first boot that offers Ed25519. An existing
// record is never replaced: if one does not decode (a firmware bug or a newer format), the device runs
// without it rather than overwrite its name.
import type { Env } from '../hal/index.ts';
import type { ErrorDetail, Result } from '../protocol/result.ts';
import { Reason } from '../protocol/reasons.ts';
import type { Store } from './store/index.ts';
import { DEVICE_ID_LENGTH, DEVICE_ID_RECORD, IDENTITY_RECORD, PRIVATE_KEY_LENGTH, decodeDeviceId, decodeIdentity, encodeIdentity } from './records.ts';

export interface Identity {
  /** Secret: the Ed25519 seed; used later to sign session transcripts and attestations. */
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

export interface DeviceName {
  readonly deviceId: Uint8Array;
  /** Absent where Ed25519 is not offered yet, or the record could not be made or read. */
  readonly identity: Identity | undefined;
  /** False when the id lives in RAM only this boot (its record did not decode, or could not be committed). */
  readonly deviceIdPersisted: boolean;
  /** Why the name is incomplete, for the boot report (reasons.ts; the host words them); undefined when all is well. */
  readonly problem: ErrorDetail[] | undefined;
}

/**
 * Read the device id and identity from the store, making what is missing. A commit that throws (power
 * cut) propagates: the device has not booted. Self-tests must have run: `ed25519` says whether to make
 * an identity.
 */
export function loadOrMakeIdentity(env: Env, store: Store, ed25519: boolean): DeviceName {
  let problem: ErrorDetail[] | undefined;
  const note = (reason: Reason, args: number[]) => {
    if (problem === undefined) problem = [];
    problem.push({ reason, args });
  };
  const idRec = store.get(DEVICE_ID_RECORD);
  let deviceId = idRec === undefined ? undefined : decodeDeviceId(idRec);
  const identRec = store.get(IDENTITY_RECORD);
  let seed = identRec === undefined ? undefined : decodeIdentity(identRec);
  if (identRec !== undefined) identRec.fill(0); // it holds the seed; decodeIdentity made its own copy
  if (identRec !== undefined && seed === undefined) note(Reason.IDENTITY_UNREADABLE, []);

  const entries: { key: number; value: Uint8Array }[] = [];
  let newId: Uint8Array | undefined;
  let newSeed: Uint8Array | undefined;
  if (idRec === undefined) {
    newId = new Uint8Array(DEVICE_ID_LENGTH);
    env.rng.fill(newId);
    entries.push({ key: DEVICE_ID_RECORD, value: newId.slice() });
  }
  if (identRec === undefined && ed25519) {
    newSeed = new Uint8Array(PRIVATE_KEY_LENGTH);
    env.rng.fill(newSeed);
    entries.push({ key: IDENTITY_RECORD, value: encodeIdentity(newSeed) });
  }
  let committed: Result<void> | undefined;
  if (entries.length > 0) {
    try {
      committed = store.commit(entries);
    } finally {
      // the encoded identity record holds the seed
      for (let i = 0; i < entries.length; i++) if (entries[i].key === IDENTITY_RECORD) entries[i].value.fill(0);
    }
    if (committed.ok) {
      if (newId) deviceId = newId;
      if (newSeed) seed = newSeed;
    } else {
      // 1 the device id (it lives in RAM only until the next boot), 2 the identity (the device runs without one), 3 both
      note(Reason.IDENTITY_NOT_STORED, [(newId ? 1 : 0) + (newSeed ? 2 : 0), committed.reason]);
      if (newSeed) newSeed.fill(0);
    }
  }

  let deviceIdPersisted = true;
  if (deviceId === undefined) {
    // never persisted this boot: a RAM-only id (the record on flash, if any, is left alone)
    deviceIdPersisted = false;
    if (newId) deviceId = newId;
    else {
      deviceId = new Uint8Array(DEVICE_ID_LENGTH);
      env.rng.fill(deviceId);
      note(Reason.DEVICE_ID_UNREADABLE, []);
    }
  }
  // A stored identity is only used while Ed25519 passes its self-test: a wrong engine would give a wrong name.
  let identity: Identity | undefined;
  if (seed !== undefined && ed25519) identity = { seed, publicKey: env.crypto.ed25519PublicKey(seed) };
  else if (seed !== undefined) seed.fill(0);
  return { deviceId, identity, deviceIdPersisted, problem };
}

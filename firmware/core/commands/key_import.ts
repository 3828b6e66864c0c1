// KEY_IMPORT (SO role, checked by the dispatcher's gate): store a private key made elsewhere, validated first, sealed under the master key and committed before the answer, marked IMPORTED for ever (docs/security.md §5–§6).
import { Origin, Status, type AlgId } from '../../protocol/codes.ts';
import { type Err, type Result, ok, err } from '../../protocol/result.ts';
import type { KeyImportRequest, KeyImportResponse } from '../../protocol/commands/key_import.ts';
import type { DeviceContext } from '../context.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { Reason } from '../../protocol/reasons.ts';
import { keyCrypto } from '../keystore.ts';
import { policyAtCreation } from '../policy.ts';

export function keyImport(ctx: DeviceContext, req: KeyImportRequest): Result<KeyImportResponse> {
  const { env, keystore } = ctx;
  const { alg, label, privateKey } = req;
  // The decoded byte string is a fresh buffer (cborDecode slices) that only this request holds: the
  // keystore takes it over as its RAM cache without another copy; every refusal below wipes it first.
  const sk = privateKey;
  const refuse = (e: Err): Err => {
    sk.fill(0);
    return e;
  };
  const m = offeredMechanism(ctx, alg);
  if (!m.ok) return refuse(m);
  const policy = policyAtCreation(alg, req, Origin.IMPORTED);
  if (!policy.ok) return refuse(policy);
  const kc = keyCrypto(ctx);
  if (!kc.ok) return refuse(kc);
  // a cheap early answer before any key work; keystore.add checks slots and flash room again
  if (keystore.free === 0) return refuse(err(Status.STORAGE_FULL, Reason.SLOTS_FULL, [keystore.capacity]));
  let publicKey: Uint8Array;
  try {
    publicKey = m.value.publicKey(env.crypto, sk);
  } catch (e) {
    // never echo the exception: it could quote the key (for ECDSA the scalar is not in 1..n-1)
    return refuse(err(Status.INVALID_KEY, Reason.PRIVATE_KEY_INVALID, [alg]));
  }
  const stored = keystore.add(alg as AlgId, label === undefined ? '' : label, Origin.IMPORTED, policy.value, sk, publicKey, kc.value);
  if (!stored.ok) return refuse(stored);
  return ok({ keyId: stored.value.id, publicKey: stored.value.publicKey });
}

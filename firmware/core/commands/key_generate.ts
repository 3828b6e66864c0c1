// KEY_GENERATE: a new key pair made inside the device from its RNG, with its policy, sealed under the master key and committed to flash before the answer; only the public key leaves (docs/security.md §5–§6).
import { Origin, Status, type AlgId } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { KeyGenerateRequest, KeyGenerateResponse } from '../../protocol/commands/key_generate.ts';
import type { DeviceContext } from '../context.ts';
import { generateKeyPair, offeredMechanism } from '../mechanisms/index.ts';
import { keyCrypto } from '../keystore.ts';
import { policyAtCreation } from '../policy.ts';

export function keyGenerate(ctx: DeviceContext, req: KeyGenerateRequest): Result<KeyGenerateResponse> {
  const { env, keystore } = ctx;
  const { alg, label } = req;
  const m = offeredMechanism(ctx, alg);
  if (!m.ok) return m;
  const policy = policyAtCreation(alg, req, Origin.GENERATED);
  if (!policy.ok) return policy;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  // a cheap early answer before any key work; keystore.add checks slots and flash room again
  if (keystore.free === 0) return err(Status.STORAGE_FULL, Reason.SLOTS_FULL, [keystore.capacity]);
  const pair = generateKeyPair(env, m.value, alg);
  if (!pair.ok) return pair;
  const stored = keystore.add(
    alg as AlgId,
    label === undefined ? '' : label,
    Origin.GENERATED,
    policy.value,
    pair.value.privateKey,
    pair.value.publicKey,
    kc.value,
  );
  if (!stored.ok) {
    pair.value.privateKey.fill(0);
    return stored;
  }
  return ok({ keyId: stored.value.id, publicKey: stored.value.publicKey });
}

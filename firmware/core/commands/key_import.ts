// KEY_IMPORT: store a private key made elsewhere, validated first, committed to flash before the answer, marked IMPORTED for ever (DESIGN.md "Keys").
import { Origin, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import type { KeyImportRequest, KeyImportResponse } from '../../protocol/messages/key_import.ts';
import type { DeviceContext } from '../context.ts';
import { algLabel, isEcdsa, offeredAlg, publicKeyOf } from '../algorithms.ts';

export function keyImport(ctx: DeviceContext, req: KeyImportRequest): Result<KeyImportResponse> {
  const { env, keystore } = ctx;
  const { alg, label, privateKey } = req;
  const a = offeredAlg(ctx, alg);
  if (!a.ok) return a;
  // a cheap early answer before any key work; keystore.add checks slots and flash room again
  if (keystore.free === 0) return err(Status.STORAGE_FULL, 'all ' + keystore.capacity + ' key slots are in use; delete a key first');
  // The decoded byte string is a fresh buffer (cborDecode slices) that only this request holds: the
  // store takes it over without another copy, and wipes it on delete or when the import fails.
  const sk = privateKey;
  let publicKey: Uint8Array;
  try {
    publicKey = publicKeyOf(env.crypto, a.value, sk);
  } catch (e) {
    sk.fill(0);
    // never echo the exception: it could quote the key
    const why = isEcdsa(a.value) ? 'the scalar must be in 1..n-1 (big-endian, 32 bytes)' : 'it was rejected by the crypto engine';
    return err(Status.INVALID_KEY, 'privateKey is not a valid ' + algLabel(a.value) + ' private key: ' + why);
  }
  const stored = keystore.add(a.value, label === undefined ? '' : label, Origin.IMPORTED, sk, publicKey);
  if (!stored.ok) {
    sk.fill(0);
    return stored;
  }
  return ok({ keyId: stored.value.id, publicKey: stored.value.publicKey });
}

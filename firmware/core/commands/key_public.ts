// KEY_PUBLIC: one key's algorithm and public key.
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import type { KeyPublicRequest, KeyPublicResponse } from '../../protocol/messages/key_public.ts';
import type { DeviceContext } from '../context.ts';

export function keyPublic(ctx: DeviceContext, req: KeyPublicRequest): Result<KeyPublicResponse> {
  const { keystore } = ctx;
  const { keyId } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, 'no key with id ' + keyId);
  return ok({ alg: key.alg, publicKey: key.publicKey });
}

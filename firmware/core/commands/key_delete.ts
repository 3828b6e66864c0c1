// KEY_DELETE: remove a key and wipe its private bytes from memory (fill(0)).
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import type { KeyDeleteRequest, KeyDeleteResponse } from '../../protocol/messages/key_delete.ts';
import type { DeviceContext } from '../context.ts';

export function keyDelete(ctx: DeviceContext, req: KeyDeleteRequest): Result<KeyDeleteResponse> {
  const { keystore } = ctx;
  const { keyId } = req;
  if (!keystore.remove(keyId)) return err(Status.KEY_NOT_FOUND, 'no key with id ' + keyId);
  return ok({});
}

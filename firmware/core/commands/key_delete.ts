// KEY_DELETE: commit the deletion to flash (the store wipes the record's bytes), then drop the key from RAM and wipe its cached private key (docs/storage.md §6).
import { type Result, ok } from '../../protocol/result.ts';
import type { KeyDeleteRequest, KeyDeleteResponse } from '../../protocol/commands/key_delete.ts';
import type { DeviceContext } from '../context.ts';

export function keyDelete(ctx: DeviceContext, req: KeyDeleteRequest): Result<KeyDeleteResponse> {
  const { keystore } = ctx;
  const { keyId } = req;
  const r = keystore.remove(keyId);
  if (!r.ok) return r;
  return ok({});
}

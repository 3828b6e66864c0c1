// KEY_LIST: id, algorithm, label, origin and public key of every key, in id order (never private material).
import { type Result, ok } from '../../protocol/result.ts';
import type { KeyListEntry, KeyListRequest, KeyListResponse } from '../../protocol/messages/key_list.ts';
import type { DeviceContext } from '../context.ts';

export function keyList(ctx: DeviceContext, _req: KeyListRequest): Result<KeyListResponse> {
  const { keystore } = ctx;
  const recs = keystore.list();
  const keys: KeyListEntry[] = [];
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    keys.push({ keyId: r.id, alg: r.alg, label: r.label, origin: r.origin, publicKey: r.publicKey });
  }
  return ok({ keys });
}

// KEY_LIST: id, algorithm, label, origin, public key and policy of every key, in id order, from the clear metadata loaded at boot (never private material; no key is opened).
import { type Result, ok } from '../../protocol/result.ts';
import type { KeyListEntry, KeyListRequest, KeyListResponse } from '../../protocol/messages/key_list.ts';
import type { DeviceContext } from '../context.ts';
import { wirePolicy } from '../policy.ts';

export function keyList(ctx: DeviceContext, _req: KeyListRequest): Result<KeyListResponse> {
  const { keystore } = ctx;
  const recs = keystore.list();
  const keys: KeyListEntry[] = [];
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    const p = wirePolicy(r.policy, r.origin);
    keys.push({
      keyId: r.id,
      alg: r.alg,
      label: r.label,
      origin: r.origin,
      publicKey: r.publicKey,
      capabilities: p.capabilities,
      sensitive: p.sensitive,
      touch: p.touch,
      neverExtractable: p.neverExtractable,
      local: p.local,
    });
  }
  return ok({ keys });
}

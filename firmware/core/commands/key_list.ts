// KEY_LIST: id, algorithm, label, origin, public key and policy of every key, in id order, from the clear metadata loaded at boot (never private material; no key is opened).
import { type Result, ok } from '../../protocol/result.ts';
import type { KeyListEntry, KeyListRequest, KeyListResponse } from '../../protocol/commands/key_list.ts';
import type { DeviceContext } from '../context.ts';
import { wirePolicy, wireProtected } from '../policy.ts';

export function keyList(ctx: DeviceContext, _req: KeyListRequest): Result<KeyListResponse> {
  const { keystore } = ctx;
  const recs = keystore.list();
  const keys: KeyListEntry[] = [];
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    keys.push(
      Object.assign(
        { keyId: r.id, alg: r.alg, label: r.label, origin: r.origin, publicKey: r.publicKey },
        wirePolicy(r.policy, r.origin),
        wireProtected(r.policy),
      ),
    );
  }
  return ok({ keys });
}

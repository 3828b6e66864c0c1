// DOMAIN_CREATE: a fresh wrap key, its Shamir shares (threshold M) each sealed to one officer, the key itself kept only sealed under the master key (docs/quorum.md §8.1).
import { Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { DomainCreateRequest, DomainCreateResponse } from '../../protocol/commands/domain_create.ts';
import { WRAP_KEY_BYTES, domainIdOf, sealShare } from '../../protocol/commands/domain.ts';
import type { DeviceContext } from '../context.ts';
import { keyCrypto } from '../keystore.ts';
import { shamirSplit } from '../shamir.ts';

export function domainCreate(ctx: DeviceContext, _req: DomainCreateRequest): Result<DomainCreateResponse> {
  const { env, officers, domain, store } = ctx;
  if (domain.present) return err(Status.OPERATION_NOT_PERMITTED, Reason.DOMAIN_EXISTS);
  const keys = officers.publicKeys(Command.DOMAIN_CREATE);
  if (!keys.ok) return keys;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  const wrap = new Uint8Array(WRAP_KEY_BYTES);
  env.rng.fill(wrap);
  const xs: number[] = [];
  for (let i = 0; i < keys.value.length; i++) xs.push(i + 1);
  const ys = shamirSplit(env.rng, wrap, officers.threshold, xs);
  try {
    const domainId = domainIdOf(env.crypto, wrap);
    const shares: { sealed: Uint8Array }[] = [];
    for (let i = 0; i < ys.length; i++) {
      const e = new Uint8Array(32);
      env.rng.fill(e);
      shares.push({ sealed: sealShare(env.crypto, e, keys.value[i], domainId, xs[i], ys[i]) });
    }
    const rec = domain.entry(kc.value, domainId, wrap);
    const done = store.commit([rec.entry]);
    if (!done.ok) return done;
    domain.apply(domainId, rec.sealed);
    return ok({ domainId, shares });
  } finally {
    wrap.fill(0);
    for (let i = 0; i < ys.length; i++) ys[i].fill(0);
  }
}

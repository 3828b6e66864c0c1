// DOMAIN_JOIN: open M shares sealed to this device's identity key, rebuild the wrap key, check it against the domain id, keep it sealed under the master key (docs/quorum.md §8.2).
import { Alg, Command, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import { type DomainJoinRequest, type DomainJoinResponse, DomainJoinRequestSchema } from '../../protocol/commands/domain_join.ts';
import { domainIdOf, openShare } from '../../protocol/commands/domain.ts';
import type { DeviceContext } from '../context.ts';
import { keyCrypto } from '../keystore.ts';
import { shamirCombine } from '../shamir.ts';

export function domainJoin(ctx: DeviceContext, req: DomainJoinRequest): Result<DomainJoinResponse> {
  const { env, officers, domain, store, identity } = ctx;
  const { domainId, shares } = req;
  if (domain.present) return err(Status.OPERATION_NOT_PERMITTED, Reason.DOMAIN_EXISTS);
  if (identity === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ALG_SELFTEST_FAILED, [Alg.ED25519]);
  const approved = officers.check(env.crypto, ctx.deviceId, Command.DOMAIN_JOIN, DomainJoinRequestSchema, req);
  if (!approved.ok) return approved;
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  const xs: number[] = [];
  const ys: Uint8Array[] = [];
  try {
    for (let i = 0; i < shares.length; i++) {
      const s = openShare(env.crypto, identity.seed, domainId, shares[i].sealed);
      if (s === undefined) return err(Status.INVALID_PARAMETER, Reason.SHARE_UNREADABLE, [i]);
      ys.push(s.share);
      if (xs.indexOf(s.index) >= 0) return err(Status.INVALID_PARAMETER, Reason.SHARES_WRONG, [shares.length]);
      xs.push(s.index);
    }
    if (xs.length === 0) return err(Status.INVALID_PARAMETER, Reason.SHARES_WRONG, [0]);
    const wrap = shamirCombine(xs, ys);
    try {
      // too few shares, or shares of another domain, rebuild some other key
      if (!equalBytes(domainIdOf(env.crypto, wrap), domainId)) return err(Status.INVALID_PARAMETER, Reason.SHARES_WRONG, [shares.length]);
      const rec = domain.entry(kc.value, domainId, wrap);
      const done = store.commit([rec.entry]);
      if (!done.ok) return done;
      domain.apply(domainId, rec.sealed);
      return ok({ domainId });
    } finally {
      wrap.fill(0);
    }
  } finally {
    for (let i = 0; i < ys.length; i++) ys[i].fill(0);
  }
}

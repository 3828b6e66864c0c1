// SHARE_RESEAL: open a domain share sealed to an Ed25519 key of this device and seal it again to another Ed25519 key, in the device, after the key's policy and button (docs/quorum.md §8.2).
import { Alg, Capability, Status } from '../../protocol/codes.ts';
import { ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { ShareResealRequest, ShareResealResponse } from '../../protocol/commands/share_reseal.ts';
import { openShare, sealShare } from '../../protocol/commands/domain.ts';
import type { DeviceContext } from '../context.ts';
import { authorizeUse } from '../keystore.ts';
import type { Outcome } from '../presence.ts';

export function shareReseal(ctx: DeviceContext, req: ShareResealRequest): Outcome<ShareResealResponse> {
  const { env, keystore } = ctx;
  const { keyId, domainId, sealed, recipient } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  if (key.alg !== Alg.ED25519) return err(Status.OPERATION_NOT_PERMITTED, Reason.NOT_ED25519, [keyId, key.alg]);
  try {
    env.crypto.ed25519PublicToX25519(recipient);
  } catch (e) {
    return err(Status.INVALID_PARAMETER, Reason.RECIPIENT_INVALID);
  }
  return authorizeUse(ctx, key, Capability.SIGN, (kc) => {
    const sk = keystore.privateKeyOf(key, kc);
    if (!sk.ok) return sk;
    const s = openShare(env.crypto, sk.value, domainId, sealed);
    if (s === undefined) return err(Status.INVALID_PARAMETER, Reason.SHARE_UNREADABLE, [0]);
    try {
      const e = new Uint8Array(32);
      env.rng.fill(e);
      return ok({ sealed: sealShare(env.crypto, e, recipient, domainId, s.index, s.share) });
    } finally {
      s.share.fill(0);
    }
  });
}

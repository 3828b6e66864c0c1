// ECDH: X25519 (RFC 7748) with a 32-byte peer key, or P-256 (SEC 1 §3.3.1) with a SEC1 peer point; returns the 32-byte secret; only with a key whose policy has `derive`, after a button press if it has `touch` (docs/security.md §6–§7).
import { Capability, Status } from '../../protocol/codes.ts';
import { ok, err } from '../../protocol/result.ts';
import type { EcdhRequest, EcdhResponse } from '../../protocol/commands/ecdh.ts';
import type { DeviceContext } from '../context.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { Reason } from '../../protocol/reasons.ts';
import { authorizeUse } from '../keystore.ts';
import type { Outcome } from '../presence.ts';

export function ecdh(ctx: DeviceContext, req: EcdhRequest): Outcome<EcdhResponse> {
  const { env, keystore } = ctx;
  const { keyId, publicKey } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const a = offeredMechanism(ctx, key.alg);
  if (!a.ok) return a;
  // what the algorithm cannot do at all comes first (OPERATION_NOT_PERMITTED), then the peer key's shape,
  // then what this key may do (POLICY_DENIED), then the button, and only then the private key
  const dh = a.value.ecdh;
  if (dh === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_ECDH, [keyId, key.alg]);
  // x25519: a 32-byte u-coordinate (RFC 7748); P-256: SEC1, 33 bytes compressed or 65 uncompressed
  const n = publicKey.length;
  if (dh.peerLengths.indexOf(n) < 0) return err(Status.INVALID_KEY, Reason.PEER_KEY_LENGTH, [key.alg, n]);
  return authorizeUse(ctx, key, Capability.DERIVE, (kc) => {
    const sk = keystore.privateKeyOf(key, kc);
    if (!sk.ok) return sk;
    try {
      return ok({ sharedSecret: dh.derive(env.crypto, sk.value, publicKey) });
    } catch (e) {
      return err(Status.INVALID_KEY, dh.refused);
    }
  });
}

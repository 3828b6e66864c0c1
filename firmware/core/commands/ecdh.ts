// ECDH: X25519 (RFC 7748) with a 32-byte peer key, or P-256 (SEC 1 §3.3.1) with a SEC1 peer point; returns the 32-byte secret; only with a key whose policy has `derive`, after a button press if it has `touch` (docs/security.md §6–§7).
import { Alg, Capability, Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import type { EcdhRequest, EcdhResponse } from '../../protocol/messages/ecdh.ts';
import type { DeviceContext } from '../context.ts';
import { algLabel, offeredAlg } from '../algorithms.ts';
import { authorizeUse } from '../keystore.ts';

export function ecdh(ctx: DeviceContext, req: EcdhRequest): Result<EcdhResponse> {
  const { env, keystore } = ctx;
  const { keyId, publicKey } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, 'no key with id ' + keyId);
  const a = offeredAlg(ctx, key.alg);
  if (!a.ok) return a;
  // what the algorithm cannot do at all comes first (OPERATION_NOT_PERMITTED), then the peer key's shape,
  // then what this key may do (POLICY_DENIED), then the button, and only then the private key
  if (key.alg !== Alg.X25519 && key.alg !== Alg.ECDSA_P256)
    return err(Status.OPERATION_NOT_PERMITTED, 'key ' + keyId + ' is an ' + algLabel(key.alg) + ' key: ECDH needs an x25519 or ecdsa-p256 key');
  if (key.alg === Alg.X25519 && publicKey.length !== 32)
    return err(Status.INVALID_KEY, 'publicKey: an x25519 public key is 32 bytes (RFC 7748 u-coordinate), got ' + publicKey.length);
  if (key.alg === Alg.ECDSA_P256 && publicKey.length !== 33 && publicKey.length !== 65)
    return err(Status.INVALID_KEY, 'publicKey: a P-256 point is SEC1, 33 bytes compressed or 65 uncompressed, got ' + publicKey.length);
  const kc = authorizeUse(ctx, key, Capability.DERIVE, 'ECDH');
  if (!kc.ok) return kc;
  const sk = keystore.privateKeyOf(key, kc.value);
  if (!sk.ok) return sk;
  if (key.alg === Alg.X25519) {
    try {
      return ok({ sharedSecret: env.crypto.x25519(sk.value, publicKey) });
    } catch (e) {
      return err(Status.INVALID_KEY, 'publicKey is a low-order x25519 point: the shared secret would be all zeros (RFC 7748 §6.1)');
    }
  }
  try {
    return ok({ sharedSecret: env.crypto.ecdhP256(sk.value, publicKey) });
  } catch (e) {
    return err(Status.INVALID_KEY, 'publicKey is not a valid P-256 point (bad SEC1 encoding or not on the curve)');
  }
}

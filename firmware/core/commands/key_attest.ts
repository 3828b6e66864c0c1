// KEY_ATTEST: a statement about one key (device id, key id, algorithm, public key, origin, policy, host nonce) signed by the device's identity key (docs/security.md §8).
//
// The record is opened first (it proves its clear part is what was sealed); nothing of the private key is used.
// signature = Ed25519(identity seed, utf8(ATTEST_CONTEXT) ‖ 0x00 ‖ statement), statement = the deterministic CBOR
// of AttestationStatementSchema. The context label and the 0x00 keep an attestation from ever being the bytes of
// a session transcript ("tinyhsm/session/v1" ‖ …), which the same key signs (docs/session.md §2).
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { cborEncode } from '../../protocol/cbor.ts';
import { concatBytes, utf8Encode } from '../../protocol/bytes.ts';
import { encodeMessage } from '../../protocol/schema.ts';
import { ATTEST_CONTEXT, ATTEST_FORMAT, AttestationStatementSchema, type AttestationStatement } from '../../protocol/commands/attestation.ts';
import type { KeyAttestRequest, KeyAttestResponse } from '../../protocol/commands/key_attest.ts';
import type { DeviceContext } from '../context.ts';
import { keyCrypto } from '../keystore.ts';
import { wirePolicy, wireProtected } from '../policy.ts';

export function keyAttest(ctx: DeviceContext, req: KeyAttestRequest): Result<KeyAttestResponse> {
  const { env, keystore, identity, deviceId } = ctx;
  const { keyId, nonce } = req;
  if (identity === undefined) return err(Status.UNSUPPORTED_ALGORITHM, Reason.ATTEST_NO_IDENTITY);
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  // The device signs only what the master key vouches for: a record whose clear part (origin, policy, public key)
  // was edited on flash does not open, and must not be attested as if it were what the device made.
  const kc = keyCrypto(ctx);
  if (!kc.ok) return kc;
  const opened = keystore.privateKeyOf(key, kc.value);
  if (!opened.ok) return opened;
  const st: AttestationStatement = Object.assign(
    { format: ATTEST_FORMAT, deviceId, keyId, alg: key.alg, publicKey: key.publicKey, origin: key.origin, nonce },
    wirePolicy(key.policy, key.origin),
    wireProtected(key.policy),
  );
  const statement = cborEncode(encodeMessage(AttestationStatementSchema, st));
  const signature = env.crypto.ed25519Sign(concatBytes(utf8Encode(ATTEST_CONTEXT), new Uint8Array([0]), statement), identity.seed);
  return ok({ statement, signature });
}

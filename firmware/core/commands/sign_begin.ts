// SIGN_BEGIN: check the key's policy and button once, then hold a two-pass Ed25519 signer in this session for the message SIGN_UPDATE streams (docs/protocol.md §4.1).
import { Capability, Role, Status } from '../../protocol/codes.ts';
import { ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import type { SignBeginRequest, SignBeginResponse } from '../../protocol/commands/sign_begin.ts';
import type { Caller, DeviceContext } from '../context.ts';
import { offeredMechanism } from '../mechanisms/index.ts';
import { authorizeUse } from '../keystore.ts';
import type { Outcome } from '../presence.ts';
import { SignStream } from '../sign_stream.ts';

export function signBegin(ctx: DeviceContext, req: SignBeginRequest, caller: Caller): Outcome<SignBeginResponse> {
  const { env, keystore, sessions } = ctx;
  const { keyId, length, sha256 } = req;
  const key = keystore.get(keyId);
  if (key === undefined) return err(Status.KEY_NOT_FOUND, Reason.KEY_NOT_FOUND, [keyId]);
  const a = offeredMechanism(ctx, key.alg);
  if (!a.ok) return a;
  const m = a.value;
  if (m.sign === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.CANNOT_SIGN, [keyId, key.alg]);
  const streamWith = m.stream;
  if (streamWith === undefined) return err(Status.OPERATION_NOT_PERMITTED, Reason.STREAM_ED25519_ONLY, [keyId, key.alg]);
  // the policy, then the button for a touch key, both before the private key is opened (docs/security.md §7): one
  // press approves this one signature
  return authorizeUse(ctx, key, Capability.SIGN, (kc) => {
    // after a button wait the session may have ended or logged out: the stream belongs to a live user login
    const session = sessions.get(caller.sessionId);
    if (session === undefined || session.ended !== undefined || session.role !== Role.USER) return err(Status.LOGIN_REQUIRED, Reason.LOGIN_NEEDED, [Role.USER]);
    const sk = keystore.privateKeyOf(key, kc);
    if (!sk.ok) return sk;
    const signer = streamWith(env.crypto, key, sk.value);
    if (!signer.ok) return signer;
    // one stream per session: a new SIGN_BEGIN ends the one before
    const old = session.work;
    if (old !== undefined) old.wipe();
    session.work = new SignStream(key, length, sha256.slice(), signer.value, env.crypto.sha256Stream());
    return ok({});
  });
}

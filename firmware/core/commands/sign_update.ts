// SIGN_UPDATE: feed the next chunk of a streamed signature's message; at the end of each pass check it against SIGN_BEGIN's SHA-256, and release the signature only after pass 2 (docs/protocol.md §4.1).
import { Status } from '../../protocol/codes.ts';
import { type Result, ok, err } from '../../protocol/result.ts';
import { Reason } from '../../protocol/reasons.ts';
import { equalBytes } from '../../protocol/bytes.ts';
import type { SignUpdateRequest, SignUpdateResponse } from '../../protocol/commands/sign_update.ts';
import type { Caller, DeviceContext } from '../context.ts';
import { SignStream } from '../sign_stream.ts';

export function signUpdate(ctx: DeviceContext, req: SignUpdateRequest, caller: Caller): Result<SignUpdateResponse> {
  const { env, keystore, sessions } = ctx;
  const { pass, offset, data } = req;
  const session = sessions.get(caller.sessionId);
  const st = session !== undefined ? session.work : undefined;
  if (session === undefined || !(st instanceof SignStream)) return err(Status.OPERATION_NOT_PERMITTED, Reason.NO_SIGN_STREAM);
  const end = () => {
    session.work = undefined;
    st.wipe();
  };
  // deleted, or its policy changed (a new record): the use SIGN_BEGIN authorized is gone
  if (keystore.get(st.key.id) !== st.key) {
    end();
    return err(Status.KEY_NOT_FOUND, Reason.STREAM_KEY_CHANGED, [st.key.id]);
  }
  // a chunk out of place changes nothing: the host may resend the right one
  if (pass !== st.pass || offset !== st.offset) return err(Status.INVALID_PARAMETER, Reason.STREAM_POSITION, [st.pass, st.offset]);
  if (offset + data.length > st.length) return err(Status.INVALID_PARAMETER, Reason.STREAM_PAST_END, [st.length]);
  st.check.update(data);
  if (pass === 1) st.signer.nonce(data);
  else st.signer.challenge(data);
  st.offset = offset + data.length;
  if (st.offset < st.length) return ok({});
  // a pass is whole: it must be the message SIGN_BEGIN named, so that both passes read the same bytes
  if (!equalBytes(st.check.digest(), st.expect)) {
    end();
    return err(Status.INVALID_PARAMETER, Reason.STREAM_MISMATCH, [pass]);
  }
  if (pass === 1) {
    st.signer.commit();
    st.pass = 2;
    st.offset = 0;
    st.check = env.crypto.sha256Stream();
    return ok({});
  }
  const signature = st.signer.finish();
  end();
  return ok({ signature });
}
